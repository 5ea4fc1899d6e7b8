package platform_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/platform"
)

// TestRolesRefused: a process never quietly runs in-process a party it
// was not asked to run; it refuses to start and says what is missing.
func TestRolesRefused(t *testing.T) {
	for _, tc := range []struct {
		roles string
		cfg   platform.Config
		want  string
	}{
		{"wallet", platform.Config{}, "needs the token service: add tsp to --roles, or give its address (--tsp-url)"},
		{"wallet", platform.Config{TSPURL: "http://127.0.0.1:1"}, "a token service in another process is not supported yet"},
		{"network,tsp", platform.Config{}, "20 bank(s) run nowhere in this process and have no address"},
		{"network,tsp,issuers", platform.Config{IssuerBanks: []string{"icbc"}}, "19 bank(s) run nowhere"},
		{"portal,tsp", platform.Config{}, "the portal role needs the wallet role"},
		{"tsp", platform.Config{}, "the tsp role alone offers no door yet"},
		{"transit,wallet,tsp", platform.Config{}, "the transit role sends its charges to the card network as an acquirer"},
		{"transit,network,tsp", platform.Config{}, "the transit role needs the wallet role"},
		{"network,tsp", platform.Config{IssuerBanks: []string{"icbc"}, IssuersBase: "127.0.0.1:9100"}, "which this process does not run"},
		{"issuers", platform.Config{IssuerBanks: []string{"nosuchbank"}}, `no bank "nosuchbank"`},
	} {
		t.Run(tc.roles, func(t *testing.T) {
			rs, err := platform.ParseRoles(tc.roles)
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg
			cfg.Roles, cfg.DataDir, cfg.Log = rs, t.TempDir(), slog.New(slog.DiscardHandler)
			p, err := platform.New(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatalf("roles %s started, want refused with %q", tc.roles, tc.want)
			}
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(fault.MessageOf(err), tc.want) {
				t.Errorf("got %v, want fault.Invalid saying %q", err, tc.want)
			}
		})
	}
	if _, err := platform.ParseRoles("wallet,bank"); err == nil || !strings.Contains(err.Error(), `unknown role "bank"`) {
		t.Errorf("ParseRoles(wallet,bank) = %v, want unknown role", err)
	}
	if rs, err := platform.ParseRoles("all"); err != nil || rs.String() != "wallet,tsp,network,issuers,transit,portal" {
		t.Errorf("ParseRoles(all) = %v, %v, want every role", rs, err)
	}
}

// TestRolesSplit runs the banks' issuer hosts in one platform (roles
// issuers, half the banks each in two of them) and the wallet, token
// service and network in another that knows them only by address: a tap
// is approved by the issuer host of the other process, and the front
// process runs no issuer host of its own.
func TestRolesSplit(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	first, second := []string{"icbc", "ccb", "abc"}, []string{"boc"}
	banks := map[string]string{}
	for _, ids := range [][]string{first, second} {
		p, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", Roles: platform.Roles{platform.RoleIssuers: true},
			IssuerBanks: ids, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		if p.Switch != nil || p.API != nil || len(p.Issuers.Hosts) != len(ids) {
			t.Fatalf("an issuers process runs a switch (%v), an API (%v) or %d hosts, want %d hosts alone", p.Switch != nil, p.API != nil, len(p.Issuers.Hosts), len(ids))
		}
		for id, a := range p.Issuers.Addrs {
			banks[id] = a
		}
	}
	// The banks no issuers process runs are named at a dead address: the
	// front must not run them itself.
	rs, _ := platform.ParseRoles("wallet,tsp,network,portal")
	front, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1, Roles: rs,
		IssuersAt: banks, IssuersBase: "127.0.0.1:1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	if front.Issuers != nil {
		t.Fatalf("the front runs issuer hosts %v, want none", front.Issuers.Addrs)
	}
	e := &env{p: front, data: data}
	ph, card, c := e.payingPhone(t, "split@example.com")
	if rc := tap(t, c, ph.SE, card, 4321); rc != "00" {
		t.Fatalf("got %s for a tap through the split network, want 00", rc)
	}
	// 6222020000000007 is ICBC's, whose host is in the first issuers
	// process; CMB's host runs nowhere (the dead address): 91.
	ph2, err := ph.AddCard(ctx, "6214830000000009", "0832", "375")
	if err != nil {
		t.Fatal(err)
	}
	if rc := tap(t, c, ph.SE, *ph2.Card, 100); rc != "91" {
		t.Errorf("got %s for a bank whose host runs nowhere, want 91", rc)
	}
}
