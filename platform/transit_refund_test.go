package platform_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/transit"
)

const refundPAN = "6222020000000007" // ICBC debit, ¥5,000.00

// postedCredits returns a test card's posted credits at its issuer.
func (e *env) postedCredits(t *testing.T, bankID, pan string) int64 {
	t.Helper()
	p, err := card.ParsePAN(pan)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := e.p.Issuers.Hosts[bankID].AccountFor(p)
	if !ok {
		t.Fatalf("no account for the card ending %s", p.Last4())
	}
	as, err := e.p.Issuers.Hosts[bankID].Ledger().LookupAccounts(context.Background(), []string{id})
	if err != nil || len(as) != 1 {
		t.Fatalf("lookup account: %v", err)
	}
	return as[0].CreditsPosted
}

// TestTransitCardRefundOverTheNetwork: a phone adds a Shanghai card and
// tops it up over the card network; closing the card gives the balance
// and the deposit back to the bank card as two refunds (the top-up's
// charge, then the issue charge), which clearing nets to zero.
func TestTransitCardRefundOverTheNetwork(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "erin@example.com")
	if _, err := ph.AddCard(ctx, refundPAN, "1230", "123"); err != nil {
		t.Fatal(err)
	}
	if err := ph.EnrollFinger(phone.DefaultFinger); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := ph.TransitAdd(ctx, "shanghai", ""); return err },
		func() error { _, err := ph.TransitTopUp(ctx, "shanghai", 5000, ""); return err },
	} {
		if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
			t.Fatal(err)
		}
		if err := step(); err != nil {
			t.Fatalf("%v (logs: %s)", err, e.logs)
		}
	}
	city, _ := fare.Default().City("shanghai")
	before := e.postedCredits(t, "icbc", refundPAN)
	res, err := ph.TransitRefund(ctx, "shanghai")
	if err != nil {
		t.Fatalf("refund: %v (logs: %s)", err, e.logs)
	}
	want := city.Product.Deposit + 5000
	if !res.Refunded || res.Amount != want {
		t.Fatalf("got refund %+v, want refunded %d", res, want)
	}
	if got := e.postedCredits(t, "icbc", refundPAN) - before; got != want {
		t.Errorf("the bank card got %d back, want %d", got, want)
	}
	date := time.Now().UTC().Format("20060102")
	refunds, err := e.p.Records.DayRefunds(ctx, date)
	if err != nil {
		t.Fatal(err)
	}
	if len(refunds) != 2 || !refunds[0].Approved() || refunds[0].Amount.Minor != 5000 || !refunds[1].Approved() || refunds[1].Amount.Minor != city.Product.Deposit {
		t.Fatalf("got %d refunds at the switch, want the top-up's 5000 and the deposit %d, approved", len(refunds), city.Product.Deposit)
	}
	rep, err := e.p.Clear(ctx, date, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var refunded int64
	for _, l := range rep.Banks {
		refunded += l.RefundAmount
	}
	if rep.Network != 0 || refunded != want || len(rep.RefundFlags()) != 0 {
		t.Errorf("got clearing with network %d, refunds %d, %d flagged; want 0, %d, 0", rep.Network, refunded, len(rep.RefundFlags()), want)
	}
}

// TestTransitLoadRefundOverTheNetwork: a load paid over the network that
// never reached the card is refunded to the bank card once, however often
// the refund is asked for.
func TestTransitLoadRefundOverTheNetwork(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	nph, err := nettest.NewPhone(ctx, e.p.RegisterSimulatedPhone, "fay@example.com")
	if err != nil {
		t.Fatal(err)
	}
	holder, ok := e.p.Banks.LookupCard(mustPAN(t, refundPAN))
	if !ok {
		t.Fatal("no test card")
	}
	c, err := nph.AddCard(ctx, e.p.Tokens, holder)
	if err != nil {
		t.Fatal(err)
	}
	pay := func(amount int64) transit.Pay {
		now := time.Now()
		tags, err := c.Answer(nettest.TerminalData(amount, now), nettest.Tap{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := testTerminal.Authorization(c.Token, c.Expiry, amount, tags, now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return transit.Pay{Token: c.Token, Auth: b}
	}
	tph := transit.Phone{ID: nph.Device.ID, AccountID: nph.Device.AccountID, PublicKey: nph.Device.PublicKey}
	city, _ := fare.Default().City("shanghai")
	issued, err := e.p.Transit.IssueWith(ctx, tph, "shanghai", pay(city.Product.IssueFee+city.Product.Deposit), "issue-1")
	if err != nil {
		t.Fatalf("issue: %v (logs: %s)", err, e.logs)
	}
	load, err := e.p.Transit.StartLoadWith(ctx, tph, issued.Card.Number, 3000, pay(3000), "load-1")
	if err != nil {
		t.Fatalf("load: %v (logs: %s)", err, e.logs)
	}
	before := e.postedCredits(t, "icbc", refundPAN)
	for i := range 2 {
		got, err := e.p.Transit.RefundLoad(ctx, tph, load.ID, nil)
		if err != nil || got.State != transit.LoadRefunded {
			t.Fatalf("refund %d: got %s %v, want refunded (logs: %s)", i+1, got.State, err, e.logs)
		}
	}
	if got := e.postedCredits(t, "icbc", refundPAN) - before; got != 3000 {
		t.Errorf("the bank card got %d back, want 3000 once", got)
	}
}

func mustPAN(t *testing.T, s string) card.PAN {
	t.Helper()
	p, err := card.ParsePAN(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
