package netswitch_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestPreAuthCompletedLower: a pre-authorization (0100, DE3 030000) is
// routed and held at the issuer like a purchase; its completion below the
// amount held (a partial reversal, DE95 the final amount) reduces the hold
// and clearing posts the final amount. An authorization with another DE3
// (010000, cash) is still answered 12.
func TestPreAuthCompletedLower(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]

		cash := e.auth(t, c, 100, nettest.Tap{})
		_ = cash.SetString(iso8583.DEProcessingCode, "010000")
		if got := rcOf(e.send(t, cash)); got != "12" {
			t.Errorf("DE3 010000: got %s, want 12", got)
		}

		pre := e.auth(t, c, 8000, nettest.Tap{})
		if err := pre.SetString(iso8583.DEProcessingCode, netswitch.PreAuthProcessingCode); err != nil {
			t.Fatal(err)
		}
		if got := rcOf(e.send(t, pre)); got != "00" {
			t.Fatalf("pre-authorization: got %s, want 00 (logs: %s)", got, e.logs)
		}
		holdID := issuer.HoldID("icbc", str(pre, iso8583.DETransmission), str(pre, iso8583.DESTAN), "T0000001")
		if hold, err := issuer.CurrentHold(ctx, e.ledger, holdID); err != nil || hold.Status != ledger.StatusPending || hold.Amount != 8000 {
			t.Fatalf("after the pre-authorization: got hold %s of %d (%v), want pending 8000", hold.Status, hold.Amount, err)
		}
		if got := rcOf(e.send(t, e.partialReversal(t, pre, 6150))); got != "00" {
			t.Fatalf("completion at 61.50: got %s, want 00 (logs: %s)", got, e.logs)
		}
		if hold, err := issuer.CurrentHold(ctx, e.ledger, holdID); err != nil || hold.Status != ledger.StatusPending || hold.Amount != 6150 {
			t.Fatalf("after the completion: got hold %s of %d (%v), want pending 6150", hold.Status, hold.Amount, err)
		}
		id := netswitch.AuthID("T0000001", str(pre, iso8583.DESTAN), str(pre, iso8583.DETransmission))
		rec, err := e.store.Auth(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := clearing.Run(ctx, clearing.Config{Store: e.store, Issuers: issuer.ClearingHosts(e.hosts.Hosts)}, rec.BusinessDate)
		if err != nil {
			t.Fatal(err)
		}
		var item *clearing.Item
		for i := range rep.Items {
			if rep.Items[i].AuthID == id {
				item = &rep.Items[i]
			}
		}
		if item == nil || item.Outcome != clearing.Posted || item.Amount != 6150 {
			t.Fatalf("clearing: got %+v, want the pre-authorization posted for 6150", item)
		}
	})
}
