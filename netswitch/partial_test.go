package netswitch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// partialReversal builds the terminal's 0400 that reverses an approved
// 0100 down to remaining (DE95: the amount that stays authorised).
func (e *env) partialReversal(t testing.TB, orig *iso8583.Message, remaining int64) *iso8583.Message {
	t.Helper()
	rev, err := e.term.Reversal(orig, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := rev.SetString(iso8583.DEReplacement, fmt.Sprintf("%012d%012dC00000000C00000000", remaining, remaining)); err != nil {
		t.Fatal(err)
	}
	return rev
}

// account returns a card account at its issuer.
func (e *env) account(t testing.TB, bankID, pan string) ledger.Account {
	t.Helper()
	id, _ := e.hosts.Hosts[bankID].AccountFor(e.cardholder(t, pan).PAN)
	as, err := e.ledger.LookupAccounts(context.Background(), []string{id})
	if err != nil || len(as) != 1 {
		t.Fatalf("lookup account: %v", err)
	}
	return as[0]
}

// TestPartialReversalIsClearedForWhatRemains is issue 9's scenario: approve
// 12.34; refund 1.00; an 0400 with DE95 reverses it to 5.00; refund 4.00;
// clear. The 5.00 that remains is presented and posted (the hold reduced
// to 5.00 at the reversal, not voided), both refunds are credited, the
// card holder is back where they started, every position nets to zero,
// and the record is partially reversed, not reversed (the phone's history
// shows ¥5.00 approved, not "¥12.34 reversed").
func TestPartialReversalIsClearedForWhatRemains(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]
		start := e.account(t, "icbc", icbcDebit)

		purchase := e.auth(t, c, 1234, nettest.Tap{})
		if got := rcOf(e.send(t, purchase)); got != "00" {
			t.Fatalf("purchase: got %s, want 00 (logs: %s)", got, e.logs)
		}
		if got := rcOf(e.send(t, e.refundOf(t, purchase, 100))); got != "00" {
			t.Fatalf("refund 1.00: got %s, want 00", got)
		}
		if got := rcOf(e.send(t, e.partialReversal(t, purchase, 500))); got != "00" {
			t.Fatalf("partial reversal to 5.00: got %s, want 00 (logs: %s)", got, e.logs)
		}
		holdID := issuer.HoldID("icbc", str(purchase, iso8583.DETransmission), str(purchase, iso8583.DESTAN), "T0000001")
		hold, err := issuer.CurrentHold(ctx, e.ledger, holdID)
		if err != nil || hold.Status != ledger.StatusPending || hold.Amount != 500 {
			t.Fatalf("after the partial reversal: got hold %s of %d (%v), want pending 500", hold.Status, hold.Amount, err)
		}
		if got := e.account(t, "icbc", icbcDebit).DebitsPending - start.DebitsPending; got != 500 {
			t.Errorf("card holds %d after the partial reversal, want 500", got)
		}
		if got := rcOf(e.send(t, e.partialReversal(t, purchase, 500))); got != "00" {
			t.Errorf("the partial reversal again: got %s, want 00", got)
		}
		if got := rcOf(e.send(t, e.refundOf(t, purchase, 401))); got != "13" {
			t.Errorf("refund 4.01 of the 4.00 left: got %s, want 13", got)
		}
		if got := rcOf(e.send(t, e.refundOf(t, purchase, 400))); got != "00" {
			t.Fatalf("refund 4.00: got %s, want 00", got)
		}
		if got := rcOf(e.send(t, e.partialReversal(t, purchase, 499))); got != "13" {
			t.Errorf("a partial reversal below the 5.00 refunded: got %s, want 13", got)
		}

		origID := netswitch.AuthID("T0000001", str(purchase, iso8583.DESTAN), str(purchase, iso8583.DETransmission))
		rec, err := e.store.Auth(ctx, origID)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.Captured() || !rec.PartiallyReversed() || rec.ClearAmount != 500 {
			t.Fatalf("got record captured %v partial %v clear %d, want captured, partially reversed, 500", rec.Captured(), rec.PartiallyReversed(), rec.ClearAmount)
		}
		if rec.Reversed() {
			t.Error("the record says reversed (the history would show ¥12.34 reversed)")
		}

		rep, err := clearing.Run(ctx, clearing.Config{Store: e.store, Issuers: issuer.ClearingHosts(e.hosts.Hosts)}, rec.BusinessDate)
		if err != nil {
			t.Fatal(err)
		}
		var item *clearing.Item
		for i := range rep.Items {
			if rep.Items[i].AuthID == origID {
				item = &rep.Items[i]
			}
		}
		if item == nil || item.Outcome != clearing.Posted || item.Amount != 500 {
			t.Fatalf("clearing: got %+v, want the purchase posted for 500", item)
		}
		var bankNet, refunds int64
		for _, l := range rep.Banks {
			if l.Bank == "icbc" {
				bankNet, refunds = l.Net, l.RefundAmount
			}
		}
		if refunds != 500 || bankNet != 0 || rep.Network != 0 {
			t.Errorf("clearing: got icbc refunds %d net %d, network %d; want 500, 0 (−5.00 posted +5.00 refunded), 0", refunds, bankNet, rep.Network)
		}
		end := e.account(t, "icbc", icbcDebit)
		if got := (end.CreditsPosted - end.DebitsPosted - end.DebitsPending) - (start.CreditsPosted - start.DebitsPosted - start.DebitsPending); got != 0 {
			t.Errorf("the card holder's balance moved by %d, want 0 (paid 5.00, refunded 5.00)", got)
		}
		if got := end.DebitsPosted - start.DebitsPosted; got != 500 {
			t.Errorf("card posted %d, want 500", got)
		}
	})
}
