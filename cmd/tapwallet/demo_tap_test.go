package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/platform"
)

// TestDemoTells runs `tapwallet demo` end to end and checks the tap
// chapter: "see phone" without the fingerprint, a payment with it, and the
// trace summary.
func TestDemoTells(t *testing.T) {
	out, errs, err := runCLI(t, nil, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, errs)
	}
	for _, want := range []string{
		`6986 "see phone"`,
		`the terminal shows "verify on your phone and tap again"`,
		"phone: sent 12.34 CNY at TAPWALLET MART with card ending",
		"the fingerprint consents to what the phone showed: 12.34 CNY at TAPWALLET MART",
		"4 APDUs",
		"the 500 ms a contactless payment may take",
		"0100 DE2=",
		"The story went as it should.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestPhoneTapLearnsBankAnswer (issue 9 item 13) runs `tapwallet pos
// charge --network` against the platform's card network and `tapwallet
// phone tap`: the terminal tells the phone the bank's answer on the held
// link, so the phone says "approved", "declined: 51 insufficient funds"
// (exit 1) or, when the terminal cannot reach the network, "not paid"
// (exit 1) — never "paid" for a payment the bank refused.
func TestPhoneTapLearnsBankAnswer(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv, green := phoneWithCard(t, p, "ada@example.com", func(c *bank.Cardholder) bool { return c.Funds().Minor < 1_000_000_00 })
	tooMuch := money.FormatMinor(green.Funds().Minor+100, 2)
	for _, tc := range []struct {
		name, amount, network string
		want                  []string // in the phone's output
		exit                  int
		pos                   string // in the terminal's output
	}{
		{"approved", "12.34", p.ISOAddr, []string{"paid 12.34 CNY at CORNER SHOP with card ending " + green.PAN.Last4(), "approved by the bank"}, 0, "APPROVED"},
		{"insufficient funds", tooMuch, p.ISOAddr, []string{"declined: 51 insufficient funds (" + tooMuch + " CNY at CORNER SHOP"}, 1, "DECLINED  51"},
		{"network down", "1.00", freeAddr(t), []string{"not paid: the terminal could not reach the bank (1.00 CNY at CORNER SHOP"}, 1, "does not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			posDone := make(chan string, 1)
			go func() {
				out, _, err := runCLI(t, envv, "pos", "charge", "--amount", tc.amount, "--listen", addr, "--network", tc.network,
					"--timeout", "20s", "--answer-timeout", "3s", "--merchant", "CORNER SHOP")
				posDone <- fmt.Sprintf("%s\nerr: %v", out, err)
			}()
			out, errs, err := tapUntilListening(t, envv, "phone", "tap", "--reader", addr, "--finger", "right-thumb")
			var ee *exitError
			errors.As(err, &ee)
			if (err == nil) != (tc.exit == 0) || (err != nil && (ee == nil || ee.code != tc.exit)) {
				t.Errorf("phone tap: got %v, want exit %d", err, tc.exit)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("phone output lacks %q:\n%s%s", w, out, errs)
				}
			}
			if strings.Contains(out, "paid") && tc.exit != 0 && !strings.Contains(out, "not paid") {
				t.Errorf("phone says paid for a refused payment:\n%s", out)
			}
			if pos := <-posDone; !strings.Contains(pos, tc.pos) {
				t.Errorf("pos output lacks %q:\n%s", tc.pos, pos)
			}
		})
	}
}

// phoneWithCard signs a phone up on p (profile and terminal state in temp
// folders), adds the first green card with a far expiry that ok accepts
// (any, if ok is nil) and enrolls the right thumb. It returns the
// environment of the CLI and the card.
func phoneWithCard(t *testing.T, p *platform.Platform, email string, ok func(*bank.Cardholder) bool) (map[string]string, *bank.Cardholder) {
	t.Helper()
	envv := map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone"),
		"TAPWALLET_POS_STATE": filepath.Join(t.TempDir(), "pos")}
	var green *bank.Cardholder
	for i := range p.Banks.Cards {
		if c := &p.Banks.Cards[i]; c.IDV == bank.Green && c.Expiry.Year >= 2028 && (ok == nil || ok(c)) {
			green = c
			break
		}
	}
	for _, args := range [][]string{
		{"phone", "signup", "--email", email},
		{"phone", "login", "--email", email},
		{"phone", "register"},
		{"phone", "add-card", "--pan", green.PAN.Digits(), "--expiry", green.Expiry.MMYY(), "--cvn2", green.CVN2.Digits()},
		{"phone", "enroll-finger", "--finger", "right-thumb"},
	} {
		if out, errs, err := runCLI(t, envv, args...); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errs)
		}
	}
	return envv, green
}
