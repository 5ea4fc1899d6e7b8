package issuer_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/rewardstest"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/promo"
)

// TestRewards runs the rewards suite on the points in memory
// (issuer.MemPoints on ledger.MemStore).
func TestRewards(t *testing.T) {
	rewardstest.Run(t, func(t *testing.T, now func() time.Time) (*issuer.Host, ledger.Store) {
		banks, err := bank.Default()
		if err != nil {
			t.Fatal(err)
		}
		led := ledger.NewMemStore(now)
		h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: led, Secret: []byte("s"), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return h, led
	})
}

// TestClearingManyPurchasesOneCard: 8,200 purchases of one card in one
// clearing file (more than a ledger batch holds) all accrue, once.
func TestClearingManyPurchasesOneCard(t *testing.T) {
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return rewardstest.T0 }
	led := ledger.NewMemStore(now)
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: led, Secret: []byte("s"), Now: now, PerTransactionLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	rewardstest.ClearedMany(t, h, now, rewardstest.Credit, rewardstest.CreditPAR, "5999", 100, ledger.MaxBatch+10)
	p, err := h.Points(context.Background(), rewardstest.CreditPAR)
	if err != nil || p.Balance != 2*(ledger.MaxBatch+10) {
		t.Fatalf("got %+v %v, want %d points", p, err, 2*(ledger.MaxBatch+10))
	}
}

// TestStatementCreditNeverStopsClearing: a statement credit the bank's
// promotion account can no longer pay is logged and left out; the
// presentment posts and earns its points all the same.
func TestStatementCreditNeverStopsClearing(t *testing.T) {
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return rewardstest.T0 }
	led := ledger.NewMemStore(now)
	h, err := issuer.NewHost(context.Background(), issuer.HostConfig{Banks: banks, BankID: "icbc", Ledger: led, Secret: []byte("s"), Now: now, PromotionFunding: 100})
	if err != nil {
		t.Fatal(err)
	}
	r := &promo.Redemption{Campaign: "too-generous", Fulfilment: promo.FulfilStatementCredit, CardBank: "icbc", Gross: 10000, Net: 10000, Discount: 300,
		Shares: []promo.Share{{Kind: promo.FunderIssuer, Amount: 300}}}
	id := rewardstest.ClearedPromo(t, h, now, rewardstest.Debit, rewardstest.DebitPAR, "5999", 10000, r)
	hold, _ := issuer.PurchaseHold("icbc", id)
	if _, err := led.LookupTransfer(context.Background(), issuer.PostID(hold)); err != nil {
		t.Fatalf("the presentment did not post: %v", err)
	}
	if _, err := led.LookupTransfer(context.Background(), issuer.StatementCreditID(hold)); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("a credit beyond the promotion account: got %v, want none", err)
	}
	if p, _ := h.Points(context.Background(), rewardstest.DebitPAR); p.Balance != 100 {
		t.Fatalf("points: got %d, want 100", p.Balance)
	}
}

// TestPurchaseHold: a purchase named as the network or the bank names it.
func TestPurchaseHold(t *testing.T) {
	for in, want := range map[string]string{
		"T0000001|000123|0314090000":      "icbc|0314090000|000123|T0000001",
		"icbc|0314090000|000123|T0000001": "icbc|0314090000|000123|T0000001",
		"ccb|0314090000|000123|T0000001":  "",
		"T0000001|12|0314090000":          "",
		"T0000001|000123|031409000x":      "",
		"":                                "",
	} {
		got, ok := issuer.PurchaseHold("icbc", in)
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
}
