package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
)

// TestTransitCLI runs the real program: a phone adds a Shanghai card, tops
// it up, taps two gates (entry and exit) that upload to the operator, and
// shows its balance and history.
func TestTransitCLI(t *testing.T) {
	dir := t.TempDir()
	p, err := platform.Start(context.Background(), platform.Config{DataDir: filepath.Join(dir, "platform"), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	env := map[string]string{"TAPWALLET_PASSWORD": "correct horse battery", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(dir, "phone")}
	green, _ := pickCards(p.Banks)
	c := green[0]
	for _, args := range [][]string{
		{"phone", "signup", "--email", "t@example.com"},
		{"phone", "login", "--email", "t@example.com"},
		{"phone", "register"},
		{"phone", "add-card", "--pan", c.PAN.Digits(), "--expiry", c.Expiry.MMYY(), "--cvn2", c.CVN2.Digits()},
		{"phone", "enroll-finger"},
		{"phone", "transit", "add", "--city", "shanghai", "--finger", "right-thumb"},
		{"phone", "transit", "topup", "--card", "shanghai", "--amount", "50", "--finger", "right-thumb"},
	} {
		if out, errs, err := runCLI(t, env, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errs)
		}
	}
	// Without a fresh fingerprint the payment applet makes no cryptogram.
	if _, _, err := runCLI(t, env, "phone", "transit", "topup", "--card", "shanghai", "--amount", "5"); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("a top-up without a fingerprint: got %v, want refused for the fingerprint", err)
	}
	// The payments went over the card network as authorizations.
	if auths, err := p.Records.PhoneAuths(context.Background(), phoneID(t, env), 10); err != nil || len(auths) != 2 {
		t.Errorf("the network's records of the phone: got %d, %v; want 2 (issue, top-up)", len(auths), err)
	}
	// The gates run from their own key file, exported for a gate of the city.
	keys := filepath.Join(dir, "gate-keys.json")
	if out, errs, err := runCLI(t, env, "keys", "export", "--role", "gate", "--city", "shanghai", "--out", keys, "--data", filepath.Join(dir, "platform")); err != nil {
		t.Fatalf("keys export: %v\n%s%s", err, out, errs)
	}
	gateRun := func(station string) (string, func() (string, error)) {
		addr := freeAddr(t)
		type res struct {
			out string
			err error
		}
		done := make(chan res, 1)
		go func() {
			out, errs, err := runCLI(t, env, "gate", "--city", "shanghai", "--line", "L2", "--station", station, "--mode", "metro",
				"--listen", addr, "--keys", keys, "--server", p.URL, "--data", filepath.Join(dir, "gate-"+station), "--count", "1")
			done <- res{out + errs, err}
		}()
		return addr, func() (string, error) {
			select {
			case r := <-done:
				return r.out, r.err
			case <-time.After(20 * time.Second):
				return "", errors.New("the gate did not finish")
			}
		}
	}
	tapAt := func(station, want, phoneWants string) {
		t.Helper()
		addr, wait := gateRun(station)
		var err error
		var phoneOut string
		for i := 0; i < 100; i++ {
			if phoneOut, _, err = runCLI(t, env, "phone", "tap", "--reader", addr, "--timeout", "5s"); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("tap at %s: %v", station, err)
		}
		if !strings.Contains(phoneOut, phoneWants) {
			t.Errorf("the phone after the tap at %s says %q, want %q", station, phoneOut, phoneWants)
		}
		out, err := wait()
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "uploaded") {
			t.Fatalf("gate at %s: got %v\n%s\nwant %q and an upload", station, err, out, want)
		}
	}
	tapAt("peoples-square", "entered, gate opens", "entry People's Square")
	tapAt("century-avenue", "exited, gate opens — Paid ¥3.00", "exit Century Avenue, Line 2, 3.00 CNY — balance 47.00 CNY")
	out, _, err := runCLI(t, env, "phone", "transit", "balance", "--card", "shanghai")
	if err != nil || !strings.Contains(out, "balance 47.00 CNY") || !strings.Contains(out, "cleared rides down to 47.00 CNY") {
		t.Errorf("balance: got %v\n%s", err, out)
	}
	out, _, err = runCLI(t, env, "phone", "transit", "history")
	if err != nil || !strings.Contains(out, "Century Avenue (Line 2)") || !strings.Contains(out, "+50.00 CNY") {
		t.Errorf("history: got %v\n%s", err, out)
	}
}

func TestGateUsage(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "missing-keys.json")
	tests := []struct {
		name string
		args []string
	}{
		{"no flags", []string{"gate"}},
		{"unknown city", []string{"gate", "--city", "atlantis", "--line", "L1", "--station", "x", "--listen", "127.0.0.1:0"}},
		{"unknown station", []string{"gate", "--city", "beijing", "--line", "L1", "--station", "nowhere", "--listen", "127.0.0.1:0"}},
		{"mode not the line's", []string{"gate", "--city", "beijing", "--line", "L1", "--station", "xidan", "--mode", "bus", "--listen", "127.0.0.1:0"}},
		{"bad direction", []string{"gate", "--city", "beijing", "--line", "L1", "--station", "xidan", "--direction", "up", "--listen", "127.0.0.1:0"}},
		{"no key file", []string{"gate", "--city", "beijing", "--line", "L1", "--station", "xidan", "--listen", "127.0.0.1:0", "--keys", keys}},
		{"transit without a command", []string{"phone", "transit"}},
		{"topup without an amount", []string{"phone", "--profile", t.TempDir(), "transit", "topup", "--card", "shanghai"}},
		{"bench gate count", []string{"bench", "gate", "--count", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, nil, tt.args...)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("got %v, want a usage error (exit 2)", err)
			}
		})
	}
}

func TestBenchGate(t *testing.T) {
	out, errs, err := runCLI(t, nil, "bench", "gate", "--count", "6", "--city", "wuhan", "--json")
	if err != nil {
		t.Fatalf("bench gate: %v\n%s", err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f gateFigures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("last line is not the JSON figures: %v\n%s", err, out)
	}
	if f.Taps != 6 || f.Bytes != 242 || f.APDUs != 5 || f.Air <= 0 || f.P50 <= 0 || f.P99 < f.P50 {
		t.Errorf("got %+v, want 6 taps of 5 APDUs, 242 bytes, some air time and p99 ≥ p50 > 0", f)
	}
}

func phoneID(t *testing.T, env map[string]string) string {
	t.Helper()
	ph, err := phone.Open(env["TAPWALLET_PROFILE"], "")
	if err != nil {
		t.Fatal(err)
	}
	return ph.Profile.PhoneID
}
