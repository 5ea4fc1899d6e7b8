package platform

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/idvhttp"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/ledger"
)

// Role is one party of the payment system that a process runs
// (tapwallet serve --roles). Any number of processes may run a role on one
// PostgreSQL database; see docs/operations.md for which roles are
// stateless and which need one writer.
type Role string

// The roles, in the order they are listed.
const (
	RoleWallet  Role = "wallet"  // wallet service and API (accounts, phones), lost-phone switch
	RoleTSP     Role = "tsp"     // token service; serves the other processes over HTTP/JSON (tsphttp)
	RoleNetwork Role = "network" // card network: switch, acquirer port (ISO 8583), clearing
	RoleIssuers Role = "issuers" // the banks' issuer hosts (ISO 8583), their ledgers
	RoleTransit Role = "transit" // the six city transit operators
	RolePortal  Role = "portal"  // the lost-phone web portal
)

// AllRoles are every role, as `serve` runs them by default.
var AllRoles = []Role{RoleWallet, RoleTSP, RoleNetwork, RoleIssuers, RoleTransit, RolePortal}

// Roles is a set of roles; the nil set means every role.
type Roles map[Role]bool

// Has reports whether r holds role (the nil set holds every role).
func (r Roles) Has(role Role) bool { return r == nil || r[role] }

// String lists the roles, comma-separated, in AllRoles' order.
func (r Roles) String() string {
	var s []string
	for _, role := range AllRoles {
		if r.Has(role) {
			s = append(s, string(role))
		}
	}
	return strings.Join(s, ",")
}

// ParseRoles reads a comma-separated list of roles ("" or "all": every
// role). It fails with fault.Invalid "roles" naming an unknown role.
func ParseRoles(s string) (Roles, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return nil, nil
	}
	r := Roles{}
	for _, part := range strings.Split(s, ",") {
		role := Role(strings.TrimSpace(part))
		known := false
		for _, k := range AllRoles {
			known = known || k == role
		}
		if !known {
			return nil, fault.E(fault.Invalid, "roles", "unknown role %q: want some of wallet, tsp, network, issuers, transit, portal (or all)", role)
		}
		r[role] = true
	}
	return r, nil
}

// checkRoles refuses a set of roles this process cannot run as asked: a
// role whose partner party runs elsewhere needs that party's address, and
// the remote side of the interface between them; a role is never quietly
// given an in-process partner it was not asked to run. It fails with
// fault.Invalid "roles" saying what is missing.
func checkRoles(cfg Config, dir *bank.Config) error {
	r := cfg.Roles
	bad := func(format string, args ...any) error { return fault.E(fault.Invalid, "roles", format, args...) }
	if len(r) == 0 && r != nil {
		return bad("no role to run")
	}
	if !r.Has(RoleTSP) {
		// The wallet, the network and transit reach the token service
		// over HTTP/JSON (tsphttp) when it runs elsewhere.
		for _, role := range []Role{RoleWallet, RoleNetwork, RoleTransit} {
			if r.Has(role) && cfg.TSPURL == "" {
				return bad("the %s role needs the token service: add tsp to --roles, or give its address (--tsp-url)", role)
			}
		}
	} else if cfg.TSPURL != "" {
		return bad("--tsp-url names a token service elsewhere, but this process runs the tsp role: drop tsp from --roles, or the address")
	}
	if r.Has(RolePortal) && !r.Has(RoleWallet) {
		return bad("the portal role needs the wallet role in the same process (it uses the wallet service and the lost-phone switch)")
	}
	if r.Has(RoleTransit) && !r.Has(RoleWallet) {
		return bad("the transit role needs the wallet role in the same process (the phones' transit routes are on the wallet API)")
	}
	if r.Has(RoleTransit) && !r.Has(RoleNetwork) && cfg.NetworkAddr == "" {
		return bad("the transit role sends its charges to the card network as an acquirer (ISO 8583): add network to --roles, or give the network's acquirer port (--network-addr)")
	}
	if len(cfg.IssuerBanks) > 0 && !r.Has(RoleIssuers) {
		return bad("--issuer-banks names the banks of the issuers role, which this process does not run")
	}
	for _, id := range cfg.IssuerBanks {
		if _, ok := dir.BankByID(id); !ok {
			return bad("--issuer-banks: no bank %q (tapwallet banks list)", id)
		}
	}
	if r.Has(RoleNetwork) {
		local := localBanks(cfg, dir)
		var missing []string
		for _, b := range dir.Banks {
			if !local[b.ID] && cfg.IssuersAt[b.ID] == "" && cfg.IssuersBase == "" {
				missing = append(missing, b.ID)
			}
		}
		if len(missing) > 0 {
			return bad("the network role needs every bank's issuer host: %d bank(s) run nowhere in this process and have no address (%s): add issuers to --roles, or give --issuers-at HOST:PORT or --issuer-at BANK=HOST:PORT", len(missing), strings.Join(missing, ", "))
		}
	}
	return nil
}

// localBanks are the banks whose hosts this process runs.
func localBanks(cfg Config, dir *bank.Config) map[string]bool {
	out := map[string]bool{}
	if !cfg.Roles.Has(RoleIssuers) {
		return out
	}
	for _, b := range dir.Banks {
		out[b.ID] = len(cfg.IssuerBanks) == 0
	}
	for _, id := range cfg.IssuerBanks {
		out[id] = true
	}
	return out
}

// bankAddr is where the n-th bank of the directory listens under a base
// address HOST:PORT: HOST:PORT+n, or HOST:0 (a free port) when PORT is 0.
func bankAddr(base string, n int) (string, error) {
	host, port, err := net.SplitHostPort(base)
	if err != nil {
		return "", fault.E(fault.Invalid, "issuers_addr", "issuer address %q: want HOST:PORT", base)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p+n > 65535 {
		return "", fault.E(fault.Invalid, "issuers_addr", "issuer address %q: want a port below %d", base, 65535-n)
	}
	if p == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+n)), nil
}

// issuerAddrs is where the network dials each bank: the hosts this process
// runs, else IssuersAt, else the bank's port under IssuersBase.
func (p *Platform) issuerAddrs() (map[string]string, error) {
	addrs := map[string]string{}
	for i, b := range p.Banks.Banks {
		switch {
		case p.Issuers != nil && p.Issuers.Addrs[b.ID] != "":
			addrs[b.ID] = p.Issuers.Addrs[b.ID]
		case p.cfg.IssuersAt[b.ID] != "":
			addrs[b.ID] = p.cfg.IssuersAt[b.ID]
		case p.cfg.IssuersBase != "":
			a, err := bankAddr(p.cfg.IssuersBase, i)
			if err != nil {
				return nil, err
			}
			addrs[b.ID] = a
		}
	}
	// A bank named in IssuersAt wins over the in-process host (as before
	// roles: --issuer-at points one bank elsewhere).
	for id, a := range p.cfg.IssuersAt {
		addrs[id] = a
	}
	return addrs, nil
}

// startIssuers starts the issuer hosts of the banks this process runs
// (every bank, or Config.IssuerBanks), each on its own listener under
// Config.IssuersListen, and the hourly expiry sweep of their holds.
func (p *Platform) startIssuers(ctx context.Context) error {
	cfg := p.cfg
	local := localBanks(cfg, p.Banks)
	listen := cfg.IssuersListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	hs := &IssuerHosts{Addrs: map[string]string{}, Hosts: map[string]*issuer.Host{}}
	type served struct {
		h  *issuer.Host
		ln net.Listener
	}
	var run []served
	fail := func(err error) error {
		for _, r := range run {
			r.ln.Close()
		}
		return err
	}
	for i, b := range p.Banks.Banks {
		if !local[b.ID] {
			continue
		}
		// Each bank its own wing (issuer_<bankid>): its ledger and its
		// host's tables; only this host reads the bank's card holders.
		st, h, err := p.openBank(ctx, i)
		if err != nil {
			return fail(err)
		}
		if p.net.banks == nil {
			p.net.banks = map[string]*issuerstore.Store{}
		}
		p.net.banks[b.ID] = st
		addr, err := bankAddr(listen, i)
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fault.Wrap(err, fault.Unavailable, "listen", "issuer host %s cannot listen on %s", b.ID, addr))
		}
		run = append(run, served{h, ln})
		hs.Hosts[b.ID], hs.Addrs[b.ID] = h, ln.Addr().String()
	}
	nctx := p.networkContext(ctx)
	for _, r := range run {
		p.net.wg.Add(1)
		go func() {
			defer p.net.wg.Done()
			_ = r.h.Serve(nctx, r.ln)
		}()
	}
	p.Issuers = hs
	p.net.wg.Add(1)
	go func() {
		defer p.net.wg.Done()
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-nctx.Done():
				return
			case <-t.C:
				for id, st := range p.net.banks {
					if n, err := st.Ledger.ExpirePending(nctx, cfg.Now()); err != nil {
						p.Log.Error("issuers: expiry sweep failed", "bank", id, "err", fault.MessageOf(err))
					} else if n > 0 {
						p.Log.Info("issuers: expired holds released", "bank", id, "holds", n)
					}
				}
				p.ExpirePoints(nctx)
			}
		}
	}()
	p.Log.Info("issuer hosts listening", "banks", len(hs.Hosts))
	return nil
}

// networkContext is the context the network's and issuers' goroutines run
// in, cancelled by stopNetwork.
func (p *Platform) networkContext(ctx context.Context) context.Context {
	if p.net.ctx == nil {
		p.net.ctx, p.net.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	return p.net.ctx
}

// IssuerLedger returns the ledger of a bank whose issuer host this process
// runs (its own wing); false for another bank.
func (p *Platform) IssuerLedger(bankID string) (ledger.Store, bool) {
	st, ok := p.net.banks[bankID]
	if !ok {
		return nil, false
	}
	return st.Ledger, true
}

// IssuerHosts are the issuer hosts a process runs (the issuers role).
type IssuerHosts struct {
	Addrs map[string]string       // bank id → where its host listens
	Hosts map[string]*issuer.Host // bank id → its host
}

// tokenIDV is the ID&V the tsp role asks: the banks of Config.IDVAt over
// HTTP at their issuer process (idvhttp, under the network–issuer secret),
// the others in this process — which reads the card holders of those
// others alone. nil when this process does not run the tsp role.
func (p *Platform) tokenIDV(ctx context.Context, cfg Config) (bank.IDV, error) {
	if !cfg.Roles.Has(RoleTSP) {
		return nil, nil
	}
	local := &issuer.IDV{Directory: p.Banks.Directory(), Holders: map[string]*bank.Holders{}, Now: cfg.Now}
	for _, b := range p.Banks.Banks {
		if _, remote := cfg.IDVAt[b.ID]; !remote {
			local.Holders[b.ID] = p.Banks.Holders(b.ID)
		}
	}
	if len(cfg.IDVAt) == 0 {
		return local, nil
	}
	for id := range cfg.IDVAt {
		if _, ok := local.Directory.BankByID(id); !ok {
			return nil, fault.E(fault.Invalid, "roles", "--issuer-idv: no bank %q (tapwallet banks list)", id)
		}
	}
	_, secret, err := LinkSecrets(ctx, p.KeyStore)
	if err != nil {
		return nil, err
	}
	return &idvhttp.Client{Directory: local.Directory, At: cfg.IDVAt, Secret: secret.Reveal(), Local: local}, nil
}

// hostedIDV is the ID&V of the banks whose issuer hosts this process runs,
// each against its own card holders (served at idvhttp.Path).
func (p *Platform) hostedIDV() *issuer.IDV {
	d := &issuer.IDV{Directory: p.Banks.Directory(), Holders: map[string]*bank.Holders{}, Now: p.cfg.Now}
	for id := range p.Issuers.Hosts {
		d.Holders[id] = p.Banks.Holders(id)
	}
	return d
}
