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
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/clearinghttp"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/adminapi"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/walletapi"
)

// network is the card network's running parts: the issuer hosts, the
// switch's listener, the expiry sweep.
type network struct {
	// banks are the wings (issuer_<bankid>: ledger and host tables) of
	// the banks whose issuer hosts this process runs (startIssuers).
	banks   map[string]*issuerstore.Store
	tokens  *tspstore.Store
	records *netstore.Store // the network's wing (closes its database)
	promo   promoParty      // the promo wing and the switch's campaigns (promo.go)
	// journal is the parties' shared journal file (journal.go);
	// deferWrites: the hot path writes on it without waiting.
	journal     *journal.Shared
	deferWrites bool
	// host and clearing are the network–issuer secrets (LinkSecrets).
	host, clearing keystore.Secret
	ctx            context.Context // the goroutines' (networkContext)
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

// sweepEvery is how often the issuers' expired holds are released.
const sweepEvery = time.Hour

// newNetwork builds the card network's storage (the issuers' ledger with
// group commit in the issuers' database, the switch's records in the
// network's) and mounts its API routes.
func (p *Platform) newNetwork(ctx context.Context, cfg Config) error {
	var err error
	if p.net.host, p.net.clearing, err = LinkSecrets(ctx, p.KeyStore); err != nil {
		return err
	}
	var journaled []netstore.Option
	if soleNetwork(cfg) {
		// Every role here (serve, demo, bench): the only network process.
		// On SQLite the switch's records go on the network's journal,
		// written behind to SQL; on PostgreSQL, and with --roles, on SQL.
		journaled = append(append(journaled, netstore.Journaled()), p.netJournal()...)
	}
	if p.net.records, err = netstore.Open(ctx, p.Place.DSN, p.Place.Dir, journaled...); err != nil {
		return err
	}
	p.net.records.DB.Now = cfg.Now
	p.NetworkDB, p.Records = p.net.records.DB, p.net.records
	if err := p.newPromo(ctx, cfg); err != nil {
		return err
	}
	token, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	if p.API != nil {
		// The phone's payment history and key sync read the network's
		// records; the operator's clearing and promotions routes only where
		// the network runs.
		p.API.MountNetwork(walletapi.Network{Payments: p.walletPayments(p.Promotions())})
		p.MountPromotions()
		if cfg.Roles.Has(RoleNetwork) {
			p.API.Handle("/v1/admin/", adminapi.New(func(ctx context.Context, date string) (clearing.Report, error) {
				return p.Clear(ctx, date, filepath.Join(cfg.DataDir, "clearing"))
			}, token, p.Log, adminapi.WithBankOperators(p.bankOperator(cfg.DataDir)), adminapi.WithPromotions(p.Promotions(), p.RefreshPromotions)))
		}
	}
	return nil
}

// operatorToken is the token of the admin routes: Config.OperatorToken,
// or the file operator-token in the data folder (made at first start).
func operatorToken(cfg Config) (string, error) {
	if cfg.OperatorToken != "" {
		return cfg.OperatorToken, nil
	}
	return secretFile(cfg.DataDir, "operator-token", "operator_token", true)
}

// secretFile reads the secret kept in the data folder's file name; when
// the file is missing it makes a fresh random one if create is set (whole,
// by a link: a process racing to make it reads the winner's), else returns
// "". It fails with fault.Unavailable code when the file cannot be read or
// written.
func secretFile(dataDir, name, code string, create bool) (string, error) {
	path := filepath.Join(dataDir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fault.Wrap(err, fault.Unavailable, code, "cannot read %s", path)
	}
	if !create {
		return "", nil
	}
	var r [24]byte
	rand.Read(r[:])
	tok := hex.EncodeToString(r[:])
	tmp, err := os.CreateTemp(dataDir, "."+name+"-*")
	if err != nil {
		return "", fault.Wrap(err, fault.Unavailable, code, "cannot write %s", path)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(tok + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return secretFile(dataDir, name, code, false)
	}
	if err != nil {
		return "", fault.Wrap(err, fault.Unavailable, code, "cannot write %s", path)
	}
	return tok, nil
}

// Clear runs the end-of-day clearing of a business date (YYYYMMDD) and
// writes its report and clearing files into dir (none when dir is empty).
// It fails like clearing.Run and clearing.Write.
//
// Each bank posts its own file: the banks named in Config.ClearingAt at
// their issuer process over HTTP (issuer/clearinghttp), the others at the
// hosts of this process — the issuers role's (Start), or, for a platform
// built by New that runs the issuers role (tapwallet clear), a host opened
// on each of its banks' storage for the run.
func (p *Platform) Clear(ctx context.Context, date, dir string) (clearing.Report, error) {
	local := issuer.ClearingHosts{}
	if p.Issuers != nil {
		local = p.Issuers.Hosts
	} else {
		mine := localBanks(p.cfg, p.Banks)
		for i, b := range p.Banks.Banks {
			if _, remote := p.cfg.ClearingAt[b.ID]; remote || !mine[b.ID] {
				continue
			}
			st, h, err := p.openBank(ctx, i)
			if err != nil {
				return clearing.Report{}, err
			}
			defer st.Close()
			local[b.ID] = h
		}
	}
	iss := &clearinghttp.Client{At: p.cfg.ClearingAt, Secret: p.ClearingSecret(), Local: local}
	rep, err := clearing.Run(ctx, clearing.Config{Store: p.Records, Issuers: iss, Promotions: p.Promotions(), Now: p.cfg.Now}, date)
	if err != nil || dir == "" {
		return rep, err
	}
	return clearing.Write(dir, rep)
}

// ClearingSecret is the network–issuer shared secret that signs the
// clearing files and the banks' answers (issuer/clearinghttp), derived
// from the key store (LinkSecrets).
func (p *Platform) ClearingSecret() []byte {
	return p.net.clearing.Reveal()
}

// LinkSecrets derives the network–issuer shared secrets from the key store
// st, as keyed hashes under its index key — the key file's, or the
// PKCS#11 token's with --keys — so every process given the same key store
// derives the same: host keys the issuer hosts' card-account ids and auth
// codes, clearing signs the clearing files and the banks' answers
// (clearinghttp.KeyPurpose). It fails with the key store's error.
func LinkSecrets(ctx context.Context, st keystore.Store) (host, clearing keystore.Secret, err error) {
	h, err := st.Index(ctx, "issuer-host", []byte("v1"))
	if err != nil {
		return host, clearing, err
	}
	c, err := st.Index(ctx, clearinghttp.KeyPurpose, []byte("v1"))
	if err != nil {
		return host, clearing, err
	}
	host, clearing = keystore.NewSecret(h), keystore.NewSecret(c)
	clear(h)
	clear(c)
	return host, clearing, nil
}

// openBank opens the n-th bank's own wing (issuer_<bankid>: its ledger and
// its host's tables) and its issuer host, the only reader of the bank's
// card holders.
func (p *Platform) openBank(ctx context.Context, n int) (*issuerstore.Store, *issuer.Host, error) {
	b := &p.Banks.Banks[n]
	var opts []issuerstore.Option
	if soleNetwork(p.cfg) {
		// Every role here: the only process placing this bank's holds.
		// On SQLite they go on the bank's journal, written behind to its
		// ledger; on PostgreSQL, and with --roles, on SQL.
		opts = append(append(opts, issuerstore.Journaled()), p.bankJournal()...)
	}
	st, err := issuerstore.Open(ctx, p.Place.DSN, p.Place.Dir, b.ID, opts...)
	if err != nil {
		return nil, nil, err
	}
	st.DB.Now = p.cfg.Now
	h, err := issuer.NewHost(ctx, st.HostConfig(issuer.HostConfig{Bank: b, Holders: p.Banks.Holders(b.ID),
		Secret: p.net.host.Reveal(), Now: p.cfg.Now, Log: p.Log, Meter: p.cfg.Metrics.Party("issuer")}))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, h, nil
}

// startNetwork starts the roles of the card network this process runs:
// the issuer hosts (startIssuers) and the switch, dialling the issuer
// hosts wherever they run, with its acquirer listener on cfg.ISOAddr.
func (p *Platform) startNetwork(ctx context.Context) error {
	if p.cfg.Roles.Has(RoleIssuers) {
		if err := p.startIssuers(ctx); err != nil {
			return err
		}
	}
	if !p.cfg.Roles.Has(RoleNetwork) {
		return nil
	}
	cfg := p.cfg
	addrs, err := p.issuerAddrs()
	if err != nil {
		return err
	}
	sw, err := netswitch.New(ctx, netswitch.Config{Banks: p.Banks.Directory(), Tokens: p.tokenCheck, Store: p.Records, Keys: keystore.Plain{S: p.KeyStore},
		Issuers: addrs, Local: p.localIssuers(), IssuerTimeout: cfg.IssuerTimeout, Log: p.Log, Now: cfg.Now, Meter: cfg.Metrics.Party("network"), Risk: p.switchRisk(),
		Promotions: p.switchPromotions(), MaxConns: cfg.ISOMaxConns, MaxConnsPerSource: cfg.ISOMaxConnsPerSource})
	if err != nil {
		return err
	}
	addr := cfg.ISOAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		sw.Close()
		return fault.Wrap(err, fault.Unavailable, "listen", "cannot listen on %s", addr)
	}
	p.Switch, p.ISOAddr = sw, ln.Addr().String()
	nctx := p.networkContext(ctx)
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		_ = sw.Serve(nctx, ln)
	}()
	p.Log.Info("card network listening", "iso8583", p.ISOAddr)
	return nil
}

// localIssuers are the issuer hosts of this process the switch calls
// instead of dialling (Config.IssuersOverTCP: none): every host this
// process runs but those Config.IssuersAt sends elsewhere.
func (p *Platform) localIssuers() map[string]netswitch.IssuerHost {
	if p.cfg.IssuersOverTCP || p.Issuers == nil {
		return nil
	}
	out := map[string]netswitch.IssuerHost{}
	for id, h := range p.Issuers.Hosts {
		if _, elsewhere := p.cfg.IssuersAt[id]; !elsewhere {
			out[id] = h
		}
	}
	return out
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
	p.closePromo()
	for _, st := range p.net.banks {
		st.Close()
	}
	p.net.banks = nil
	if p.net.records != nil {
		p.net.records.Close()
	}
	if p.net.tokens != nil {
		p.net.tokens.Close()
	}
	p.closeJournal()
}
