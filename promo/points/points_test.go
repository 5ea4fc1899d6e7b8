package points_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo/points"
)

func icbcPoints() *points.Program {
	return &points.Program{Bank: "icbc", Default: 1, Life: 365 * 24 * time.Hour, FenPerPoint: 1, MoneyAccount: "promo:icbc",
		Rates: []points.Rate{{MCC: "5411", PerYuan: 2}, {Product: "credit", MCC: "5812", PerYuan: 3}, {Product: "credit", PerYuan: 2}}}
}

// TestEarn: the most specific rate wins, whole yuan only.
func TestEarn(t *testing.T) {
	p := icbcPoints()
	for _, c := range []struct {
		product, mcc string
		amount, want int64
	}{
		{"debit", "5999", 12399, 123}, {"debit", "5411", 12345, 246}, {"credit", "5812", 1000, 30},
		{"credit", "5999", 1000, 20}, {"credit", "5411", 1000, 20}, {"debit", "5411", 99, 0},
	} {
		if got := p.Earn(c.product, c.mcc, c.amount); got != c.want {
			t.Errorf("%s %s %d: got %d, want %d", c.product, c.mcc, c.amount, got, c.want)
		}
	}
	if got := points.TakenBack(246, 12345, 0, 12345); got != 246 {
		t.Errorf("full refund: got %d, want 246", got)
	}
	if a, b := points.TakenBack(246, 12345, 0, 5000), points.TakenBack(246, 12345, 5000, 7345); a+b != 246 {
		t.Errorf("two refunds: got %d + %d, want 246", a, b)
	}
}

// TestPointsLedger plays a card's points through accrual, pay with points
// (asked twice), a refund, expiry and a refund after the points were
// spent, applying each operation's transfers to the bank's ledger (the
// in-memory store): every transfer is accepted, the card's points account
// always equals the book, the points balance across accounts (double
// entry), lots are used and expire oldest first, and the money credit is
// made once.
func TestPointsLedger(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	led := ledger.NewMemStore(func() time.Time { return t0 })
	p := icbcPoints()
	accounts := append(p.Accounts("card-1"),
		ledger.Account{ID: "promo:icbc", Currency: money.CNY, Code: ledger.CodePromotion},
		ledger.Account{ID: "cash", Currency: money.CNY, Code: ledger.CodeBankCash},
		ledger.Account{ID: "card-1:debit", Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits})
	if rs, err := led.CreateAccounts(ctx, accounts); err != nil || !allOK(rs) {
		t.Fatalf("accounts: %v %v", rs, err)
	}
	apply := func(step string, ts []ledger.Transfer) {
		t.Helper()
		if len(ts) == 0 {
			return
		}
		rs, err := led.CreateTransfers(ctx, ts)
		if err != nil || !allOK(rs) {
			t.Fatalf("%s: got %v %v, want every transfer ok", step, rs, err)
		}
	}
	b := points.NewBook(p, "card-1")
	check := func(step string, want int64) {
		t.Helper()
		if b.Balance() != want {
			t.Fatalf("%s: book has %d points, want %d", step, b.Balance(), want)
		}
		as, _ := led.LookupAccounts(ctx, []string{p.CardAccount("card-1")})
		if got := as[0].CreditsPosted - as[0].DebitsPosted; got != want {
			t.Fatalf("%s: ledger card account has %d points, book %d", step, got, want)
		}
		var sum int64
		all, _ := led.LookupAccounts(ctx, []string{p.Accounts("card-1")[0].ID, p.Accounts("card-1")[1].ID, p.Accounts("card-1")[2].ID, p.CardAccount("card-1")})
		for _, a := range all {
			sum += a.CreditsPosted - a.DebitsPosted
		}
		if sum != 0 {
			t.Fatalf("%s: points accounts sum to %d, want 0 (double entry)", step, sum)
		}
	}
	for _, a := range []struct {
		id     string
		points int64
		at     time.Time
	}{{"A", p.Earn("debit", "5411", 12345), t0}, {"B", 500, t0.Add(30 * day)}, {"C", 100, t0.Add(200 * day)}} {
		ts, ok, err := b.Accrue(a.id, a.points, a.at)
		if err != nil || !ok {
			t.Fatalf("accrue %s: %v %v", a.id, ok, err)
		}
		apply("accrue "+a.id, ts)
	}
	check("accrued", 846)
	if ts, ok, _ := b.Accrue("A", 246, t0); ok || ts != nil {
		t.Fatalf("accrue A again: got %v %v, want nothing", ok, ts)
	}

	// Pay with points, asked twice: one credit.
	ts, credit, ok, err := b.Pay("D", 300, 5000, "card-1:debit", t0.Add(210*day))
	if err != nil || !ok || credit != 300 {
		t.Fatalf("pay: got %d %v %v", credit, ok, err)
	}
	apply("pay", ts)
	ts, credit, ok, err = b.Pay("D", 300, 5000, "card-1:debit", t0.Add(211*day))
	if err != nil || ok || credit != 300 || len(ts) != 0 {
		t.Fatalf("pay again: got %d %v %v %d transfers, want the first credit and nothing new", credit, ok, err, len(ts))
	}
	check("paid", 546)
	if b.Lots[0].Left != 0 || b.Lots[1].Left != 446 || b.Lots[2].Left != 100 {
		t.Fatalf("oldest first: got lots %+v", b.Lots)
	}
	cardMoney, _ := led.LookupAccounts(ctx, []string{"card-1:debit"})
	if cardMoney[0].CreditsPosted != 300 {
		t.Fatalf("card credited %d, want 300 once", cardMoney[0].CreditsPosted)
	}
	if _, _, _, err := b.Pay("E", 10000, 20000, "card-1:debit", t0.Add(211*day)); !errors.Is(err, points.ErrPoints) {
		t.Fatalf("paying with more points than the card has: got %v, want ErrPoints", err)
	}

	// A refund of part of B takes back from B's own lot.
	ts, taken, short, ok := b.TakeBack("R1", "B", 100, t0.Add(220*day))
	if !ok || taken != 100 || short != 0 || b.Lots[1].Left != 346 {
		t.Fatalf("take back: %d %d %v %+v", taken, short, ok, b.Lots)
	}
	apply("take back", ts)
	check("refund", 446)

	// Expiry: A is empty (nothing to expire), B expires 395 days after t0.
	apply("expire early", b.Expire(t0.Add(394*day)))
	check("before B expires", 446)
	ts = b.Expire(t0.Add(395 * day))
	if len(ts) != 1 || ts[0].Amount != 346 {
		t.Fatalf("expire B: got %+v", ts)
	}
	apply("expire B", ts)
	check("B expired", 100)

	// A refund of A after its points were spent takes what is left
	// (C, oldest remaining) and reports the shortfall.
	ts, taken, short, ok = b.TakeBack("R2", "A", 246, t0.Add(396*day))
	if !ok || taken != 100 || short != 146 {
		t.Fatalf("take back A: taken %d short %d", taken, short)
	}
	apply("take back A", ts)
	check("A refunded", 0)
	if ts, _, _, ok := b.TakeBack("R2", "A", 246, t0.Add(397*day)); ok || ts != nil {
		t.Fatal("the same refund took points twice")
	}
}

func allOK(rs []ledger.Result) bool {
	for _, r := range rs {
		if r != ledger.OK {
			return false
		}
	}
	return true
}
