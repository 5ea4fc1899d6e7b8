package platform

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/tsp/tsphttp"
	"github.com/tapwallet/tapwallet/wallet"
)

// tspSecretFile is the file in the data folder that holds the token
// service link's shared secret when Config.TSPSecret is not given.
const tspSecretFile = "tsp-secret"

// newTokens builds the token service as this process reaches it. With the
// tsp role it opens the token service's own storage wing (tsp.db on
// SQLite, the schema tsp on PostgreSQL) and builds the service over it —
// its ID&V through iss, its security findings handed to the wallet's audit
// trail — which the HTTP listener also serves to other processes
// (tsphttp, under tsphttp.Prefix, behind the shared secret). Without it,
// the roles that use the token service (wallet, network, transit) reach it
// at Config.TSPURL with tsphttp.Client, checked once here: it fails with
// fault.Invalid "tsp_url" or "tsp_secret" on a bad address or a missing
// secret, fault.Unavailable "tsp_unreachable" when nothing answers there as
// a token service, fault.Unauthorized "tsp_secret" when it refuses the
// secret; and like tspstore.Open.
func (p *Platform) newTokens(ctx context.Context, cfg Config, iss bank.IDV) error {
	if cfg.Roles.Has(RoleTSP) {
		secret, err := tspSecret(cfg, true)
		if err != nil {
			return err
		}
		// The single-process platform (no --roles: serve, demo, bench) is
		// the one token service on its store: on SQLite its authorization
		// path reads from memory and journals its key uses (tspstore.Sole).
		// With --roles, as on PostgreSQL, the store reads and writes SQL.
		var opts []tspstore.Option
		if cfg.Roles == nil {
			opts = append(append(opts, tspstore.Sole()), p.tspJournal()...)
		}
		st, err := tspstore.Open(ctx, cfg.DSN, cfg.DataDir, opts...)
		if err != nil {
			return err
		}
		st.DB.Now = cfg.Now
		p.net.tokens = st
		p.Tokens = tsp.New(st, p.KeyStore, iss, tsp.EMVKeys{}, cfg.Log)
		p.Tokens.Now = cfg.Now
		p.Tokens.Security = tokenSecurity{p.Wallet} // a suspected clone is a security event of the account
		p.Tokens.Risk = p.bindingRisk()
		p.Tokens.Meter = cfg.Metrics.TokenService()
		p.Requestor, p.tokenCheck, p.tspSecret = p.Tokens, p.Tokens, secret
		return nil
	}
	if !cfg.Roles.Has(RoleWallet) && !cfg.Roles.Has(RoleNetwork) && !cfg.Roles.Has(RoleTransit) {
		return nil // no party of this process speaks to the token service
	}
	c, err := tspClient(ctx, cfg)
	if err != nil {
		return err
	}
	p.Requestor, p.tokenCheck = c, c
	return nil
}

// tspClient is the token service at cfg.TSPURL, asked once for an empty
// device's cards to see that it answers and takes the secret.
func tspClient(ctx context.Context, cfg Config) (*tsphttp.Client, error) {
	u, err := url.Parse(cfg.TSPURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.E(fault.Invalid, "tsp_url", "--tsp-url: want the token service's address as http://HOST:PORT or https://HOST:PORT")
	}
	if u.User != nil {
		return nil, fault.E(fault.Invalid, "tsp_url", "--tsp-url holds a user or password: the token service's secret goes in TAPWALLET_TSP_SECRET or the data folder's %s file", tspSecretFile)
	}
	secret, err := tspSecret(cfg, false)
	if err != nil {
		return nil, err
	}
	// Every authorization of a network process crosses this link: keep
	// enough connections open to it.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	c := &tsphttp.Client{URL: strings.TrimSuffix(u.String(), "/"), Secret: secret, HTTP: &http.Client{Timeout: 10 * time.Second, Transport: tr}}
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = c.Cards(probe, "")
	if err == nil {
		return c, nil
	}
	switch fault.KindOf(err) {
	case fault.Invalid, fault.NotFound:
		return c, nil
	case fault.Unauthorized:
		return nil, fault.E(fault.Unauthorized, "tsp_secret", "the token service at %s refuses this process's shared secret: give every process the tsp process's secret (TAPWALLET_TSP_SECRET, or its data folder's %s file)", c.URL, tspSecretFile)
	default:
		return nil, fault.Wrap(err, fault.Unavailable, "tsp_unreachable", "the token service at %s does not answer as one: start the tsp role there first, or correct --tsp-url", c.URL)
	}
}

// tspSecret is the token service link's shared secret: Config.TSPSecret,
// else the data folder's tsp-secret file — made at first start by the tsp
// role (create), copied by the operator to the processes that reach it.
// It fails with fault.Invalid "tsp_secret" when the secret is too short or,
// without create, missing.
func tspSecret(cfg Config, create bool) (string, error) {
	s := cfg.TSPSecret
	if s == "" {
		var err error
		if s, err = secretFile(cfg.DataDir, tspSecretFile, "tsp_secret", create); err != nil {
			return "", err
		}
	}
	if s == "" {
		return "", fault.E(fault.Invalid, "tsp_secret", "the token service's shared secret is missing: set TAPWALLET_TSP_SECRET, or copy the %s file of the tsp process's data folder into this one", tspSecretFile)
	}
	if len(s) < 16 {
		return "", fault.E(fault.Invalid, "tsp_secret", "the token service's shared secret is too short: want at least 16 characters")
	}
	return s, nil
}

// mountTSP serves the token service of this process (the tsp role) to the
// processes that run the wallet, network or transit role without it.
func (p *Platform) mountTSP(mux *http.ServeMux) {
	if p.Tokens != nil && p.tspSecret != "" {
		mux.Handle(tsphttp.Prefix, tsphttp.Handler(p.Tokens, p.tspSecret))
	}
}

// tokenSecurity hands the token service's security findings to the
// wallet's audit trail.
type tokenSecurity struct{ w *wallet.Service }

func (s tokenSecurity) SecurityEvent(ctx context.Context, e tsp.SecurityEvent) {
	s.w.Record(ctx, wallet.Event{AccountID: e.AccountID, PhoneID: e.DeviceID, Kind: e.Kind, Detail: e.Detail, Source: e.Source})
}
