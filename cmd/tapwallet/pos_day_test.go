package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/platform"
)

// posTap runs `tapwallet pos CMD … --json` against the platform's network
// while the phone taps with a fingerprint, and returns the receipt.
func posTap(t *testing.T, envv map[string]string, network string, args ...string) receipt {
	t.Helper()
	addr := freeAddr(t)
	type result struct {
		out, errs string
		err       error
	}
	done := make(chan result, 1)
	go func() {
		out, errs, err := runCLI(t, envv, append(args, "--listen", addr, "--network", network, "--json", "--timeout", "20s", "--answer-timeout", "5s", "--merchant", "CORNER SHOP")...)
		done <- result{out, errs, err}
	}()
	if out, errs, err := tapUntilListening(t, envv, "phone", "tap", "--reader", addr, "--finger", "right-thumb"); err != nil {
		t.Fatalf("phone tap: %v\n%s%s", err, out, errs)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("%v: %v\n%s%s", args, res.err, res.out, res.errs)
	}
	return decodeReceipt(t, res.out)
}

func decodeReceipt(t *testing.T, out string) receipt {
	t.Helper()
	var r receipt
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("receipt %q: %v", out, err)
	}
	return r
}

// posExit runs a pos command and checks its exit status and that its
// error says want.
func posExit(t *testing.T, envv map[string]string, code int, want string, args ...string) string {
	t.Helper()
	out, errs, err := runCLI(t, envv, args...)
	var ee *exitError
	if code == 0 {
		if err != nil {
			t.Fatalf("%v: got %v, want success\n%s%s", args, err, out, errs)
		}
		return out
	}
	if !errors.As(err, &ee) || ee.code != code || !strings.Contains(err.Error(), want) {
		t.Fatalf("%v: got %v, want exit status %d saying %q\n%s%s", args, err, code, want, out, errs)
	}
	return out
}

// TestPosStoreDay is a store terminal's day against the platform's card
// network, each tap by the phone through the kernel: a sale refunded in
// two parts and an over-refund refused; a sale voided (the hold released
// at the issuer) and voided again refused; a pre-authorization, a
// completion above it refused, its completion at a lower amount (the
// hold reduced) and clearing posting the completion amount; refunds of
// unknown RRNs refused; the batch totals; the batch closed and a void
// after it refused.
func TestPosStoreDay(t *testing.T) {
	ctx := context.Background()
	p, err := platform.Start(ctx, platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv, green := phoneWithCard(t, p, "shop@example.com", func(c *bank.Cardholder) bool { return c.Funds().Minor > 1000_00 })
	net := p.ISOAddr
	led, ok := p.IssuerLedger(green.Bank)
	if !ok {
		t.Fatalf("no ledger of %s in this process", green.Bank)
	}
	// holdOf returns the issuer's current hold of a sale of the terminal.
	holdOf := func(rrn string) ledger.Transfer {
		t.Helper()
		st, err := acqsql.Open(ctx, "", envv["TAPWALLET_POS_STATE"])
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		c, err := st.FindCharge(ctx, "T0000001", rrn, "")
		if err != nil {
			t.Fatal(err)
		}
		h, err := issuer.CurrentHold(ctx, led, issuer.HoldID(green.Bank, c.Transmission, c.STAN, c.Terminal))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	pos := func(args ...string) []string {
		return append(append([]string{"pos"}, args...), "--network", net)
	}

	// A sale, refunded 30.00 then the rest; a cent more is refused.
	sale := posTap(t, envv, net, "pos", "sale", "--amount", "100.00")
	if sale.Result != "approved" || sale.Type != "sale" || sale.AmountMinor != 100_00 || len(sale.AuthCode) != 6 || len(sale.RRN) != 12 ||
		sale.STAN == "" || sale.Merchant != "CORNER SHOP" || !strings.HasPrefix(sale.ARPC, "ok: ARPC present") {
		t.Fatalf("sale receipt: got %+v", sale)
	}
	// The card's first purchase of 100.00: the network's new-user offer
	// takes 50.00 off (DE124 of the 0110); the merchant is settled 100.00.
	if sale.Discount == nil || *sale.Discount != "¥50.00 off" || sale.DiscountMinor != 50_00 || sale.ChargedMinor != 50_00 ||
		sale.Charged != "50.00 CNY" || sale.Campaign != "network-new-user-100-50" || sale.CampaignName != "新用户满100减50" {
		t.Errorf("sale receipt's promotion: got %+v", sale)
	}
	if !strings.Contains(sale.Token, "******") || len(sale.Token) < 16 || strings.Contains(sale.Token, green.PAN.Digits()) {
		t.Errorf("sale receipt token %q, want the token masked to its first 6 and last 4", sale.Token)
	}
	r1 := decodeReceipt(t, posExit(t, envv, 0, "", pos("refund", "--rrn", sale.RRN, "--amount", "30.00", "--json")...))
	if r1.Result != "approved" || r1.Type != "refund" || r1.AmountMinor != 30_00 || r1.Original == nil || r1.Original.RRN != sale.RRN || r1.STAN == sale.STAN {
		t.Errorf("partial refund: got %+v", r1)
	}
	text := posExit(t, envv, 0, "", pos("refund", "--auth-code", sale.AuthCode)...) // the rest, found by its auth code
	for _, w := range []string{"------ REFUND ------", "AMOUNT", "70.00 CNY", "RRN", sale.RRN, sale.Token, "RESPONSE", "00 approved", "------ APPROVED ------"} {
		if !strings.Contains(text, w) {
			t.Errorf("refund receipt lacks %q:\n%s", w, text)
		}
	}
	posExit(t, envv, 1, "exceeds what the charge RRN "+sale.RRN+" has left: 0.00 CNY of 100.00 CNY", pos("refund", "--rrn", sale.RRN, "--amount", "0.01")...)
	posExit(t, envv, 1, "no approved charge with RRN 999999999999", pos("refund", "--rrn", "999999999999")...)
	posExit(t, envv, 2, "--rrn RRN or --auth-code CODE", pos("refund")...)

	// A sale voided: the issuer releases its hold; voiding it again is
	// refused.
	voided := posTap(t, envv, net, "pos", "sale", "--amount", "20.00")
	if h := holdOf(voided.RRN); h.Status != ledger.StatusPending || h.Amount != charged(voided) {
		t.Fatalf("before the void: hold %s of %d, want pending %d (what the receipt charges)", h.Status, h.Amount, charged(voided))
	}
	v := decodeReceipt(t, posExit(t, envv, 0, "", pos("void", "--rrn", voided.RRN, "--json")...))
	if v.Result != "approved" || v.Type != "void" || v.AmountMinor != 20_00 {
		t.Errorf("void: got %+v", v)
	}
	if h := holdOf(voided.RRN); h.Status != ledger.StatusVoided {
		t.Errorf("after the void: hold %s, want voided (released)", h.Status)
	}
	posExit(t, envv, 1, "was voided already", pos("void", "--rrn", voided.RRN)...)
	posExit(t, envv, 1, "was voided: nothing to refund", pos("refund", "--rrn", voided.RRN)...)

	// A pre-authorization completed below its hold.
	pre := posTap(t, envv, net, "pos", "preauth", "--amount", "80.00")
	if pre.Result != "approved" || pre.Type != "preauth" {
		t.Fatalf("preauth: got %+v", pre)
	}
	if h := holdOf(pre.RRN); h.Status != ledger.StatusPending || h.Amount != charged(pre) {
		t.Fatalf("the pre-authorization's hold: %s of %d, want pending %d", h.Status, h.Amount, charged(pre))
	}
	posExit(t, envv, 1, "at most the pre-authorization's 80.00 CNY (got 90.00 CNY)", pos("complete", "--rrn", pre.RRN, "--amount", "90.00")...)
	posExit(t, envv, 1, "is a sale, not a pre-authorization", pos("complete", "--rrn", sale.RRN, "--amount", "1.00")...)
	c := decodeReceipt(t, posExit(t, envv, 0, "", pos("complete", "--rrn", pre.RRN, "--amount", "61.50", "--json")...))
	if c.Result != "approved" || c.Type != "completion" || c.AmountMinor != 61_50 || c.AuthCode != pre.AuthCode {
		t.Errorf("completion: got %+v", c)
	}
	// A discount on the pre-authorization stands on the completed amount:
	// the issuer holds 61.50 less it.
	completed := 61_50 - (pre.AmountMinor - charged(pre))
	if h := holdOf(pre.RRN); h.Status != ledger.StatusPending || h.Amount != completed {
		t.Errorf("after the completion: hold %s of %d, want pending %d", h.Status, h.Amount, completed)
	}

	// The batch: 1 sale 100.00, 1 completion 61.50, 2 refunds 100.00, 1
	// void 20.00, net 61.50.
	want := acquirer.Totals{Currency: 156, Sales: acquirer.Line{Count: 1, Amount: 100_00}, Completions: acquirer.Line{Count: 1, Amount: 61_50},
		Refunds: acquirer.Line{Count: 2, Amount: 100_00}, Voids: acquirer.Line{Count: 1, Amount: 20_00}, Net: 61_50}
	var open acquirer.Batch
	if err := json.Unmarshal([]byte(posExit(t, envv, 0, "", "pos", "batch", "--json")), &open); err != nil || len(open.Totals) != 1 || open.Totals[0] != want || open.Number != 0 {
		t.Fatalf("open batch: got %+v (%v), want %+v", open, err, want)
	}
	var closed acquirer.Batch
	if err := json.Unmarshal([]byte(posExit(t, envv, 0, "", "pos", "batch", "--close", "--json")), &closed); err != nil || closed.Number != 1 || len(closed.Totals) != 1 || closed.Totals[0] != want {
		t.Fatalf("closed batch: got %+v (%v), want batch 1 with %+v", closed, err, want)
	}
	if out := posExit(t, envv, 0, "", "pos", "batch"); !strings.Contains(out, "no transactions") {
		t.Errorf("the open batch after the close: got %q, want no transactions", out)
	}
	if out := posExit(t, envv, 0, "", "pos", "batch", "--list", "5"); !strings.Contains(out, "batch 1 closed") || !strings.Contains(out, "61.50 CNY") {
		t.Errorf("batch --list: got %q, want batch 1 with its net", out)
	}
	posExit(t, envv, 1, "was settled in batch 1: a void is no longer possible, refund it instead", pos("void", "--rrn", pre.RRN)...)

	// Clearing presents the completion amount, and not the voided sale.
	date := time.Now().UTC().Format("20060102")
	rep, err := p.Clear(ctx, date, "")
	if err != nil {
		t.Fatal(err)
	}
	amounts := map[string]int64{}
	for _, it := range rep.Items {
		amounts[it.AuthID] = it.Amount
	}
	id := func(rc receipt) string {
		st, err := acqsql.Open(ctx, "", envv["TAPWALLET_POS_STATE"])
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ch, err := st.FindCharge(ctx, "T0000001", rc.RRN, "")
		if err != nil {
			t.Fatal(err)
		}
		return netswitch.AuthID(ch.Terminal, ch.STAN, ch.Transmission)
	}
	if got := amounts[id(pre)]; got != completed {
		t.Errorf("clearing presents the pre-authorization for %d, want the completion's %d (what the issuer posts)", got, completed)
	}
	if got, ok := amounts[id(voided)]; ok && got != 0 {
		t.Errorf("clearing presents the voided sale for %d, want nothing", got)
	}
	if h := holdOf(pre.RRN); h.Status != ledger.StatusPosted {
		t.Errorf("after clearing: the completion's hold is %s, want posted", h.Status)
	}
}

// charged is what a receipt says the card holder is charged: the amount
// less an instant discount the network applied (the issuer holds it).
func charged(r receipt) int64 {
	if r.Discount != nil {
		return r.ChargedMinor
	}
	return r.AmountMinor
}
