// Package platform assembles the parties that `tapwallet serve` runs in one
// process — wallet service, token service, issuers' ID&V, and (as they land)
// the card network, issuer hosts, transit operators and the portal — on one
// database and one key store, behind one HTTP listener.
package platform

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/clearinghttp"
	"github.com/tapwallet/tapwallet/issuer/idvhttp"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/metrics"
	"github.com/tapwallet/tapwallet/netswitch"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi"
)

// Config is how to run the platform.
type Config struct {
	DataDir   string // data folder: SQLite database and key file
	DSN       string // "" (SQLite in DataDir) or postgres://…
	HTTPAddr  string // e.g. 127.0.0.1:8080; port 0 picks a free port
	BankFile  string // "" for the shipped 20 banks
	Log       *slog.Logger
	Now       func() time.Time
	ArgonTime uint32 // password hashing passes (0: default)
	// PortalURL is the lost-phone portal's public address; passkeys are
	// bound to its host name (default http://localhost:PORT).
	PortalURL string
	// KeyStore is the key store the token service uses, as operations
	// (a keystore/pkcs11 store from serve --keys; the caller closes it);
	// nil: the key file in DataDir (keystore/soft). See docs/keys.md.
	KeyStore keystore.Store
	// ISOAddr is where the card network listens for acquirers (ISO 8583
	// over TCP), e.g. 127.0.0.1:8583; "" picks a free loopback port.
	ISOAddr string
	// ISOMaxConns and ISOMaxConnsPerSource bound the acquirer connections
	// open at once, in total and from one source IP address (0: the
	// defaults of isolink.ConnLimits; negative: no bound). A connection
	// beyond them is closed at once with a log line.
	ISOMaxConns, ISOMaxConnsPerSource int
	// IssuerTimeout is how long the network waits for an issuer (default 2s).
	IssuerTimeout time.Duration
	// OperatorToken guards the admin API routes (default: the file
	// operator-token in the data folder, made at first start).
	OperatorToken string
	// IssuersAt names banks whose issuer host runs elsewhere (bank id →
	// host:port); the network dials it instead of the in-process host.
	IssuersAt map[string]string
	// ClearingAt names banks whose issuer host runs in another process
	// for clearing (bank id → the process's http://HOST:PORT): the
	// network POSTs each its clearing file there (issuer/clearinghttp).
	ClearingAt map[string]string
	// IDVAt names banks whose issuer host runs in another process for
	// the token service's ID&V (bank id → the process's http://HOST:PORT):
	// the tsp role asks them there (issuer/idvhttp) and never reads their
	// card holders; the other banks' ID&V runs in this process.
	IDVAt map[string]string

	// Roles are the parties this process runs (nil: every role). A role
	// whose partner runs elsewhere needs the partner's address; New
	// refuses roles it cannot run as asked (see checkRoles).
	Roles Roles
	// IssuerBanks are the banks whose issuer hosts the issuers role runs
	// (nil: every bank of the directory).
	IssuerBanks []string
	// IssuersListen is where the issuers role listens, HOST:PORT: the n-th
	// bank of the directory (from 0) on PORT+n; PORT 0 gives each a free
	// port (default 127.0.0.1:0).
	IssuersListen string
	// IssuersBase is where the network finds issuer hosts that run in
	// other processes, HOST:PORT as IssuersListen (IssuersAt wins for the
	// banks it names).
	IssuersBase string
	// TSPURL is the token service's address (http://HOST:PORT) for the
	// wallet, network and transit roles when the tsp role runs elsewhere.
	TSPURL string
	// TSPSecret is the shared secret of the token service link (tsphttp),
	// the same in the tsp process and the processes that reach it
	// (default: the data folder's tsp-secret file, made by the tsp role).
	TSPSecret string
	// NetworkAddr is the card network's acquirer port (HOST:PORT, ISO
	// 8583) for the transit role when the network role runs elsewhere.
	NetworkAddr string
	// Metrics is where the platform's metrics go, served at /metrics
	// (nil: a registry of its own).
	Metrics *metrics.Registry
	// RiskOff runs the network and the token service without the risk
	// engine (docs/risk.md; tapwallet bench auth --risk off).
	RiskOff bool
	// PromoOff runs the network without promotions (docs/promotions.md):
	// no campaign is matched, Platform.Promotions is nil.
	PromoOff bool
	// IssuersOverTCP has the switch reach the issuer hosts of its own
	// process over ISO 8583 on TCP, as it reaches those of other
	// processes; by default it calls them (netswitch.Config.Local) — the
	// same messages and answers without the encoding, framing and system
	// calls (bench auth --issuer-link measures the difference).
	IssuersOverTCP bool
}

// Platform is the running platform.
type Platform struct {
	// Place is where the parties' storage wings live (Config.DSN and
	// DataDir); each party opens its own wing there.
	Place sqldb.Place
	Keys  *keystore.File // the key file (transit keys, SM4)
	// KeyStore is the key store (Config.KeyStore or the key file's
	// operations) of the token service, the network's record sealing, the
	// portal's keyed hashes and the network–issuer secrets.
	KeyStore keystore.Store
	Banks    *bank.Config
	Wallet   *wallet.Service
	Tokens   *tsp.Service // the token service, when this process runs the tsp role
	API      *walletapi.API
	Lost     *lostphone.Service // the lost-phone switch
	Transit  *transit.Service   // the six city transit operators
	Portal   *portal.Portal     // the lost-phone web portal (set by Start)
	Records  *netstore.Store    // the card network's authorization records (its wing)

	// Requestor is the token service as the wallet, lost-phone switch,
	// portal and transit use it: Tokens, or the tsp role of another
	// process at Config.TSPURL (tsphttp).
	Requestor tsp.Requestor

	// NetworkDB is the card network's own database (its wing). Each
	// bank's is its own wing too (IssuerLedger).
	NetworkDB *sqldb.DB

	Switch  *netswitch.Switch // the card network switch (set by Start)
	Issuers *IssuerHosts      // the issuer hosts this process runs (set by Start)
	ISOAddr string            // where the switch listens for acquirers (set by Start)
	net     network
	transit transitParty // the transit role's wings and network link
	wings   walletWings  // the wallet's and the portal's wings
	risk    riskParty    // the risk engine and its wing
	Log     *slog.Logger
	URL     string // http://host:port
	httpSrv *http.Server
	ln      net.Listener
	cfg     Config
	done    chan error
	close   sync.Once
	closed  error

	// tokenCheck is the token service as the switch uses it (Tokens, or
	// the remote one); tspSecret guards the tsp role's HTTP side.
	tokenCheck tsp.TokenCheck
	tspSecret  string
}

// New opens storage and keys and builds the services, without listening.
func New(ctx context.Context, cfg Config) (*Platform, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.DataDir == "" {
		return nil, fault.E(fault.Invalid, "no_data_dir", "a data folder is needed (--data)")
	}
	var banks *bank.Config
	var err error
	if cfg.BankFile != "" {
		banks, err = bank.Load(cfg.BankFile)
	} else {
		banks, err = bank.Default()
	}
	if err != nil {
		return nil, err
	}
	if err := checkRoles(cfg, banks); err != nil {
		return nil, err
	}
	keys, err := keystore.OpenFile(filepath.Join(cfg.DataDir, "keys.json"))
	if err != nil {
		return nil, err
	}
	place, err := sqldb.NewPlace(cfg.DSN, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	p := &Platform{Place: place, Keys: keys, KeyStore: cfg.KeyStore, Banks: banks, Log: cfg.Log}
	if p.KeyStore == nil {
		p.KeyStore = soft.New(keys)
	}
	if err := p.newWallet(ctx, cfg); err != nil {
		return nil, err
	}
	if err := p.newRisk(ctx, cfg); err != nil {
		return nil, err
	}
	idv, err := p.tokenIDV(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := p.openJournal(cfg); err != nil {
		return nil, err
	}
	if err := p.newTokens(ctx, cfg, idv); err != nil {
		p.closeJournal()
		return nil, err
	}
	if cfg.Roles.Has(RoleWallet) {
		p.newWalletAPI(ctx, cfg, p.Requestor, walletapi.New(p.Wallet, p.Requestor, cfg.Log))
		p.mountAlerts(cfg)
	}
	if cfg.Roles.Has(RoleTransit) {
		if err := p.newTransit(cfg); err != nil {
			return nil, err
		}
	}
	p.cfg = cfg
	if err := p.newNetwork(ctx, cfg); err != nil {
		p.stopNetwork()
		return nil, err
	}
	return p, nil
}

// Start builds the platform and serves HTTP on cfg.HTTPAddr.
func Start(ctx context.Context, cfg Config) (*Platform, error) {
	p, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		p.Close()
		return nil, fault.Wrap(err, fault.Unavailable, "listen", "cannot listen on %s", cfg.HTTPAddr)
	}
	p.ln = ln
	p.URL = "http://" + ln.Addr().String()
	if cfg.Roles.Has(RolePortal) {
		if err := p.startPortal(); err != nil {
			ln.Close()
			p.stopNetwork()
			return nil, err
		}
	}
	if err := p.startNetwork(ctx); err != nil {
		ln.Close()
		p.stopNetwork()
		return nil, err
	}
	p.meterWings()
	p.httpSrv = &http.Server{Handler: p.serveHTTP(p.handler()), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	p.done = make(chan error, 1)
	go func() {
		err := p.httpSrv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		p.done <- err
	}()
	p.Log.Info("platform listening", "http", p.URL, "db", p.Place.Dialect().String(), "roles", cfg.Roles.String())
	return p, nil
}

// Close stops serving (letting requests in flight finish, up to 10 s) and
// closes the parties' wings.
func (p *Platform) Close() error {
	p.close.Do(func() { p.closed = p.shutdown() })
	return p.closed
}

func (p *Platform) shutdown() error {
	var err error
	if p.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = p.httpSrv.Shutdown(ctx)
		cancel()
		<-p.done
	}
	p.stopNetwork()
	p.stopTransit()
	p.closeRisk()
	if cerr := p.closeWallet(); err == nil {
		err = cerr
	}
	return err
}

// startPortal builds the lost-phone portal for the address the platform
// listens on.
func (p *Platform) startPortal() error {
	u := p.cfg.PortalURL
	if u == "" {
		_, port, _ := net.SplitHostPort(p.ln.Addr().String())
		u = "http://localhost:" + port
	}
	var err error
	var records portal.Records
	if p.Records != nil {
		records = p.Records
	}
	p.Portal, err = portal.New(portal.Config{Wallet: p.Wallet, Tokens: p.Requestor, Lost: p.Lost, Store: p.wings.portal,
		Keys: keystore.Plain{S: p.KeyStore, OnError: func(err error) {
			p.Log.Error("portal: a keyed hash the key store did not make", "err", fault.MessageOf(err))
		}}, Records: records, URL: u, Log: p.Log, Now: p.cfg.Now,
		Risk: p.PortalRisk(), Promotions: p.PortalPromotions(p.Promotions()), Points: p.PortalPoints()})
	return err
}

// handler routes the wallet API (/v1/, /healthz) and the portal (the
// rest), as far as this process runs them; a process without the wallet
// role answers /healthz alone.
func (p *Platform) handler() http.Handler {
	mux := http.NewServeMux()
	p.mountOps(mux)
	if p.API != nil {
		mux.Handle("/v1/", p.API)
		mux.Handle("/healthz", p.API)
	} else {
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok","roles":"` + p.cfg.Roles.String() + `"}` + "\n"))
		})
	}
	p.mountTSP(mux)
	p.MountRewards(mux)   // the banks of this process answer for their points
	if p.Issuers != nil { // the network hands the banks of this process their clearing files here
		mux.Handle(clearinghttp.Path, clearinghttp.Handler(issuer.ClearingHosts(p.Issuers.Hosts), p.ClearingSecret()))
		mux.Handle(idvhttp.Path, idvhttp.Handler(p.hostedIDV(), p.ClearingSecret(), p.Log)) // and the token service asks them for ID&V
	}
	if p.Portal != nil {
		mux.Handle("/", p.Portal)
	}
	return mux
}
