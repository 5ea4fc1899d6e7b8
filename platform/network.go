package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi"
)

// network is the card network's running parts: the issuer hosts, the
// switch's listener, the expiry sweep.
type network struct {
	// issuersDB and networkDB are the issuers' and the switch's own
	// databases (on SQLite their own files, so that their writers do not
	// take turns on one write lock; on PostgreSQL the platform's DB).
	issuersDB *sqldb.DB
	networkDB *sqldb.DB
	tokens    *tspstore.Store
	ledger    *sqldb.BatchLedger
	records   *sqldb.SwitchStore
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Event kind of a payment the network declined as suspicious.
const EventPaymentSuspicious = "payment_suspicious"

// sweepEvery is how often the issuers' expired holds are released.
const sweepEvery = time.Hour

// newNetwork builds the card network's storage (the issuers' ledger with
// group commit in the issuers' database, the switch's records in the
// network's) and mounts its API routes.
func (p *Platform) newNetwork(ctx context.Context, cfg Config) error {
	var err error
	if p.net.issuersDB, err = p.DB.Party(ctx, "issuers"); err != nil {
		return err
	}
	if p.net.networkDB, err = p.DB.Party(ctx, "network"); err != nil {
		return err
	}
	p.IssuersDB, p.NetworkDB = p.net.issuersDB, p.net.networkDB
	p.net.ledger = sqldb.NewBatchLedger(p.IssuersDB, sqldb.NewLedgerStore(p.IssuersDB))
	p.net.records = sqldb.NewSwitchStore(p.NetworkDB)
	p.Ledger, p.Records = p.net.ledger, p.net.records
	token, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	p.API.MountNetwork(walletapi.Network{Payments: p.Records, OperatorToken: token, Clear: func(ctx context.Context, date string) (clearing.Report, error) {
		return p.Clear(ctx, date, filepath.Join(cfg.DataDir, "clearing"))
	}})
	return nil
}

// operatorToken is the token of the admin routes: Config.OperatorToken,
// or the file operator-token in the data folder (made at first start).
func operatorToken(cfg Config) (string, error) {
	if cfg.OperatorToken != "" {
		return cfg.OperatorToken, nil
	}
	path := filepath.Join(cfg.DataDir, "operator-token")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fault.Wrap(err, fault.Unavailable, "operator_token", "cannot read %s", path)
	}
	var r [24]byte
	rand.Read(r[:])
	tok := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fault.Wrap(err, fault.Unavailable, "operator_token", "cannot write %s", path)
	}
	return tok, nil
}

// Clear runs the end-of-day clearing of a business date (YYYYMMDD) and
// writes its report and clearing files into dir (none when dir is empty).
// It fails like clearing.Run and clearing.Write.
func (p *Platform) Clear(ctx context.Context, date, dir string) (clearing.Report, error) {
	rep, err := clearing.Run(ctx, clearing.Config{Store: p.Records, Ledger: p.Ledger, Banks: p.Banks, Now: p.cfg.Now}, date)
	if err != nil || dir == "" {
		return rep, err
	}
	return clearing.Write(dir, rep)
}

// startNetwork starts the 20 issuer hosts (each on its own 127.0.0.1:0
// listener), the switch dialling them, its acquirer listener on
// cfg.ISOAddr, and the hourly expiry sweep of the issuers' holds.
func (p *Platform) startNetwork(ctx context.Context) error {
	cfg := p.cfg
	hosts, err := issuer.StartHosts(ctx, issuer.HostConfig{Banks: p.Banks, Ledger: p.Ledger, Reversals: &sqldb.IssuerReversals{DB: p.IssuersDB},
		Secret: p.Keys.Index("issuer-host", []byte("v1")), Now: cfg.Now, Log: p.Log}, "127.0.0.1:0")
	if err != nil {
		return err
	}
	addrs := map[string]string{}
	for id, a := range hosts.Addrs {
		addrs[id] = a
	}
	for id, a := range cfg.IssuersAt {
		addrs[id] = a
	}
	sw, err := netswitch.New(ctx, netswitch.Config{Banks: p.Banks, Tokens: p.Tokens, Store: p.Records, Keys: p.Keys,
		Issuers: addrs, IssuerTimeout: cfg.IssuerTimeout, Log: p.Log, Now: cfg.Now, Observe: p.observe})
	if err != nil {
		hosts.Close()
		return err
	}
	addr := cfg.ISOAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		sw.Close()
		hosts.Close()
		return fault.Wrap(err, fault.Unavailable, "listen", "cannot listen on %s", addr)
	}
	ln = isolink.LimitListener(ln, isolink.ConnLimits{Total: cfg.ISOMaxConns, PerSource: cfg.ISOMaxConnsPerSource}, p.Log)
	p.Issuers, p.Switch, p.ISOAddr = hosts, sw, ln.Addr().String()
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.net.cancel = cancel
	p.net.wg.Add(2)
	go func() {
		defer p.net.wg.Done()
		_ = sw.Serve(nctx, ln)
	}()
	go func() {
		defer p.net.wg.Done()
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-nctx.Done():
				return
			case <-t.C:
				if n, err := p.Ledger.ExpirePending(nctx, cfg.Now()); err != nil {
					p.Log.Error("issuers: expiry sweep failed", "err", fault.MessageOf(err))
				} else if n > 0 {
					p.Log.Info("issuers: expired holds released", "holds", n)
				}
			}
		}
	}()
	p.Log.Info("card network listening", "iso8583", p.ISOAddr)
	return nil
}

// observe records a security event for a payment declined as suspicious
// (a replayed or out-of-order counter, a used key, a failed cryptogram).
func (p *Platform) observe(ctx context.Context, a netswitch.Auth) {
	if a.AccountID == "" || (a.ResponseCode != "59" && a.ResponseCode != "88") {
		return
	}
	p.Wallet.Record(ctx, wallet.Event{AccountID: a.AccountID, PhoneID: a.PhoneID, Kind: EventPaymentSuspicious,
		Detail: "payment with the token ending " + a.TokenLast4 + " declined " + a.ResponseCode + ": " + strings.ReplaceAll(a.Reason, "_", " "),
		Source: "network"})
}

// stopNetwork stops the switch and the issuer hosts, letting answers in
// flight go out, and the batch workers.
func (p *Platform) stopNetwork() {
	if p.net.cancel != nil {
		p.net.cancel()
		p.net.wg.Wait()
	}
	if p.Switch != nil {
		p.Switch.Close()
	}
	if p.Issuers != nil {
		p.Issuers.Close()
	}
	if p.net.ledger != nil {
		p.net.ledger.Close()
	}
	if p.net.records != nil {
		p.net.records.Close()
	}
	if p.net.tokens != nil {
		p.net.tokens.Close()
	}
	for _, db := range []*sqldb.DB{p.net.issuersDB, p.net.networkDB} {
		if db != nil && db != p.DB {
			db.Close()
		}
	}
	p.net.issuersDB, p.net.networkDB = nil, nil
}
