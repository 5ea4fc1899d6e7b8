package platform_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
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
		{"network,issuers", platform.Config{}, "the network role needs the token service"},
		{"wallet,tsp", platform.Config{TSPURL: "http://127.0.0.1:1"}, "--tsp-url names a token service elsewhere, but this process runs the tsp role"},
		{"network,tsp", platform.Config{}, "20 bank(s) run nowhere in this process and have no address"},
		{"network,tsp,issuers", platform.Config{IssuerBanks: []string{"icbc"}}, "19 bank(s) run nowhere"},
		{"portal,tsp", platform.Config{}, "the portal role needs the wallet role"},
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

// TestRolesTSPApart runs the token service alone in one platform (role
// tsp, its own data folder) and the wallet, network, issuers and portal in
// another that reaches it only over HTTP/JSON at its address: a card added
// over the wallet API is bound in the token service's wing, a tap over ISO
// 8583 is approved after the switch's token check over HTTP, a sync
// replenishes over HTTP, the phone list counts the card, and switching the
// wallet off reaches the token service (the next tap is declined). The
// shared secret is in no log; a wrong one, none, or a dead address stops
// the front from starting with an error that says so.
func TestRolesTSPApart(t *testing.T) {
	ctx := context.Background()
	tspData, frontData := t.TempDir(), t.TempDir()
	tspLogs, frontLogs := &syncBuffer{}, &syncBuffer{}
	back, err := platform.Start(ctx, platform.Config{DataDir: tspData, HTTPAddr: "127.0.0.1:0", Roles: platform.Roles{platform.RoleTSP: true},
		Log: slog.New(slog.NewJSONHandler(tspLogs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	if back.Tokens == nil || back.API != nil || back.Switch != nil || back.Issuers != nil {
		t.Fatalf("a tsp process runs a token service (%v), an API (%v), a switch (%v), issuers (%v); want the token service alone",
			back.Tokens != nil, back.API != nil, back.Switch != nil, back.Issuers != nil)
	}
	fi, err := os.Stat(filepath.Join(tspData, "tsp-secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the tsp role's secret file: %v %v, want one readable by its owner alone", fi, err)
	}
	secret, _ := os.ReadFile(filepath.Join(tspData, "tsp-secret"))

	// The front has its own data folder: the operator copies the key
	// store and the secret into it.
	for _, f := range []string{"keys.json", "tsp-secret"} {
		b, err := os.ReadFile(filepath.Join(tspData, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(frontData, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	frontRoles, _ := platform.ParseRoles("wallet,network,issuers,portal")
	frontCfg := platform.Config{DataDir: frontData, HTTPAddr: "127.0.0.1:0", ArgonTime: 1, Roles: frontRoles, TSPURL: back.URL,
		Log: slog.New(slog.NewJSONHandler(frontLogs, nil))}
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			url    string
			secret string
			kind   fault.Kind
			want   string
		}{
			{"wrong secret", back.URL, "not-the-secret-0123456789", fault.Unauthorized, "refuses this process's shared secret"},
			{"short secret", back.URL, "short", fault.Invalid, "too short"},
			{"dead address", "http://127.0.0.1:1", "", fault.Unavailable, "does not answer"},
			{"not a token service", back.URL + "/elsewhere", "", fault.Unavailable, "does not answer"},
			{"password in the URL", "http://me:pw@127.0.0.1:1", "", fault.Invalid, "holds a user or password"},
			{"no scheme", "127.0.0.1:1", "", fault.Invalid, "want the token service's address"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := frontCfg
				cfg.TSPURL, cfg.TSPSecret = tc.url, tc.secret
				p, err := platform.New(ctx, cfg)
				if err == nil {
					p.Close()
					t.Fatalf("started, want refused with %q", tc.want)
				}
				if fault.KindOf(err) != tc.kind || !strings.Contains(fault.MessageOf(err), tc.want) {
					t.Errorf("got %v (%s), want %s saying %q", err, fault.KindOf(err), tc.kind, tc.want)
				}
				if strings.Contains(fault.MessageOf(err), string(secret[:16])) {
					t.Errorf("the error shows the secret: %v", err)
				}
			})
		}
		cfg := frontCfg
		cfg.DataDir = t.TempDir() // no secret file, none given
		keys, _ := os.ReadFile(filepath.Join(tspData, "keys.json"))
		os.WriteFile(filepath.Join(cfg.DataDir, "keys.json"), keys, 0o600)
		if _, err := platform.New(ctx, cfg); fault.KindOf(err) != fault.Invalid || !strings.Contains(fault.MessageOf(err), "shared secret is missing") {
			t.Errorf("without a secret: got %v, want fault.Invalid saying the shared secret is missing", err)
		}
	})

	front, err := platform.Start(ctx, frontCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	if front.Tokens != nil {
		t.Fatal("the front runs a token service of its own")
	}
	if _, err := os.Stat(filepath.Join(frontData, "tsp.db")); err == nil {
		t.Fatal("the front opened a token service database (tsp.db) in its data folder")
	}
	e := &env{p: front, data: frontData}
	ph, card, c := e.payingPhone(t, "apart@example.com")
	toks, err := back.Tokens.Cards(ctx, ph.Profile.PhoneID)
	if err != nil || len(toks) != 1 || toks[0].Number.Digits() != card.Token {
		t.Fatalf("the token service's own wing has %v (%v), want the card just added", toks, err)
	}
	if rc := tap(t, c, ph.SE, card, 4321); rc != "00" {
		t.Fatalf("got %s for a tap checked by the token service over HTTP, want 00", rc)
	}
	if _, err := ph.Sync(ctx); err != nil {
		t.Fatalf("sync through the remote token service: %v", err)
	}
	phones, err := ph.Phones(ctx)
	if err != nil || len(phones) != 1 || phones[0].Cards != 1 {
		t.Fatalf("phone list %+v (%v), want one phone with 1 card (the token service's count)", phones, err)
	}
	if _, err := ph.WalletOff(ctx, ph.Profile.PhoneID, "lost it"); err != nil {
		t.Fatalf("wallet off: %v", err)
	}
	if rc := tap(t, c, ph.SE, card, 100); rc == "00" {
		t.Fatal("a tap after the wallet went off was approved: the token service was not told")
	}
	for _, call := range []string{"add-card", "authorize", "arpc", "replenish", "device-off"} {
		if !strings.Contains(tspLogs.String(), `"path":"/tsp/v1/`+call+`"`) {
			t.Errorf("the token service's log has no %s call over HTTP", call)
		}
	}
	for name, logs := range map[string]*syncBuffer{"tsp": tspLogs, "front": frontLogs} {
		if strings.Contains(logs.String(), strings.TrimSpace(string(secret))) {
			t.Errorf("the %s process's log shows the shared secret", name)
		}
	}
}
