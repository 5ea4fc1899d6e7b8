package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/platform"
)

// tapUntilListening runs `phone tap` until the terminal listens (a refused
// dial makes no tap).
func tapUntilListening(t *testing.T, envv map[string]string, args ...string) (string, string, error) {
	t.Helper()
	for i := 0; ; i++ {
		out, errs, err := runCLI(t, envv, args...)
		if err == nil || !strings.Contains(err.Error(), "refused") || i == 100 {
			return out, errs, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPosChargeAndPhoneTap runs `tapwallet pos charge` and `tapwallet phone
// tap` against each other: the first tap without a fingerprint gets "see
// phone", the second with one pays, and the terminal prints the masked
// trace and the authorization request.
func TestPosChargeAndPhoneTap(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv := map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
	var green *bank.Cardholder
	for i := range p.Banks.Cards {
		if c := &p.Banks.Cards[i]; c.IDV == bank.Green && c.Expiry.Year >= 2028 {
			green = c
			break
		}
	}
	for _, args := range [][]string{
		{"phone", "signup", "--email", "pat@example.com"},
		{"phone", "login", "--email", "pat@example.com"},
		{"phone", "register"},
		{"phone", "add-card", "--pan", green.PAN.Digits(), "--expiry", green.Expiry.MMYY(), "--cvn2", green.CVN2.Digits()},
		{"phone", "enroll-finger", "--finger", "right-thumb"},
	} {
		if out, errs, err := runCLI(t, envv, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errs)
		}
	}
	addr := freeAddr(t)
	type result struct {
		out string
		err error
	}
	posDone := make(chan result, 1)
	go func() {
		out, _, err := runCLI(t, envv, "pos", "charge", "--amount", "12.34", "--listen", addr, "--trace", "--timeout", "20s", "--merchant", "CORNER SHOP")
		posDone <- result{out, err}
	}()

	out, _, err := tapUntilListening(t, envv, "phone", "tap", "--reader", addr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "see phone: verify your fingerprint and tap again (12.34 CNY at CORNER SHOP)") {
		t.Fatalf("tap without fingerprint: got %q, %v; want see phone and exit code 1", out, err)
	}
	out, _, err = runCLI(t, envv, "phone", "tap", "--reader", addr, "--finger", "right-thumb")
	if err != nil || !strings.Contains(out, "paid 12.34 CNY at CORNER SHOP with card ending "+green.PAN.Last4()) {
		t.Fatalf("tap with fingerprint: got %q, %v; want paid", out, err)
	}
	pos := <-posDone
	if pos.err != nil {
		t.Fatalf("pos charge: %v\n%s", pos.err, pos.out)
	}
	for _, want := range []string{
		"[terminal] verify on your phone and tap again",
		"← 6986 see phone",
		"→ GET PROCESSING OPTIONS",
		"4 APDUs",
		"estimated air time",
		"0100 DE2=",
		"DE22=072",
		"DE43=CORNER SHOP",
		"DE55=[",
	} {
		if !strings.Contains(pos.out, want) {
			t.Errorf("pos output lacks %q:\n%s", want, pos.out)
		}
	}
	var tokenDigits string
	cards, _, _ := runCLI(t, envv, "phone", "cards")
	for _, f := range strings.Fields(cards) {
		if len(f) == 4 && strings.Contains(pos.out, "******"+f) {
			tokenDigits = f
		}
	}
	if tokenDigits == "" {
		t.Errorf("pos output shows no masked token ending in one of the phone's tokens:\n%s", pos.out)
	}
	if strings.Contains(pos.out, green.PAN.Digits()) || strings.Contains(pos.out, "D3012") {
		t.Errorf("pos output shows card data unmasked:\n%s", pos.out)
	}
}

func TestFingerLockCLI(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv := map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
	for _, args := range [][]string{
		{"phone", "signup", "--email", "lee@example.com"},
		{"phone", "login", "--email", "lee@example.com"},
		{"phone", "enroll-finger"},
	} {
		if _, _, err := runCLI(t, envv, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for i := 1; i <= 5; i++ {
		_, _, err := runCLI(t, envv, "phone", "verify-finger", "--finger", "left-thumb")
		want := "fingerprint not recognised"
		if i == 5 {
			want = "payments are locked"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("wrong finger %d: got %v, want %q", i, err, want)
		}
	}
	if _, _, err := runCLI(t, envv, "phone", "verify-finger"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("right finger while locked: got %v, want locked", err)
	}
	bad := map[string]string{"TAPWALLET_PASSWORD": "wrong", "TAPWALLET_SERVER": envv["TAPWALLET_SERVER"], "TAPWALLET_PROFILE": envv["TAPWALLET_PROFILE"]}
	if _, _, err := runCLI(t, bad, "phone", "unlock"); err == nil {
		t.Errorf("unlock with a wrong password: got nil, want an error")
	}
	if out, _, err := runCLI(t, envv, "phone", "unlock"); err != nil || !strings.Contains(out, "unlocked") {
		t.Fatalf("unlock: got %q, %v", out, err)
	}
	if out, _, err := runCLI(t, envv, "phone", "verify-finger"); err != nil || !strings.Contains(out, "verified") {
		t.Errorf("right finger after unlock: got %q, %v", out, err)
	}
}

func TestTapCommandsUsage(t *testing.T) {
	envv := map[string]string{"TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
	for _, args := range [][]string{
		{"pos"},
		{"pos", "refund"},
		{"pos", "charge", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "12.345", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "-1", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "1", "--listen", "127.0.0.1:0", "--currency", "1000"},
		{"pos", "charge", "--amount", "1", "--listen", "127.0.0.1:0", "--terminal", "TOO-LONG-ID"},
		{"pos", "charge", "--amount", "1"},
		{"phone", "tap"},
		{"phone", "tap", "--reader", "127.0.0.1:1", "--timeout", "0s"},
		{"phone", "enroll-finger", "--finger", ""},
		{"bench", "tap", "--count", "0"},
	} {
		_, _, err := runCLI(t, envv, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: got %v, want exit code 2", args, err)
		}
	}
}

func TestBenchTapJSON(t *testing.T) {
	out, _, err := runCLI(t, nil, "bench", "tap", "--count", "5", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f struct {
		Taps  int     `json:"taps"`
		P50   float64 `json:"p50_ms"`
		P99   float64 `json:"p99_ms"`
		Bytes int     `json:"bytes"`
		Air   float64 `json:"air_ms"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if f.Taps != 5 || f.Bytes == 0 || f.Air <= 0 || f.P99 < f.P50 {
		t.Errorf("figures: got %+v, want 5 taps, bytes, air time and p99 >= p50", f)
	}
}
