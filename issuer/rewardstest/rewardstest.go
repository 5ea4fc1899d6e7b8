// Package rewardstest is the conformance suite of an issuer host's
// rewards (issuer/rewards.go) on a points store: points accrued at
// clearing, taken back by refunds, expired oldest first, paid with once
// even when asked twice or at once, statement credits paid once — every
// figure exact, and the points accounts of the bank's ledger agreeing with
// the lots. It runs on issuer.MemPoints (go test ./issuer -run
// TestRewards) and on the bank's wing, SQLite and PostgreSQL (go test
// ./issuer/sqlstore -run TestRewards).
package rewardstest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/clearing/clearfile"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/points"
)

// Clock is the suite's time, moved by the suite.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Open opens ICBC's issuer host (bank.Default's card holders) on the
// store under test with the clock's Now, and returns it with its ledger.
type Open func(t *testing.T, now func() time.Time) (*issuer.Host, ledger.Store)

// The ICBC test cards the suite pays with, and their PARs.
const (
	Debit     = "6222020000000007"
	Credit    = "6253300000000005"
	DebitPAR  = "V0010013826000000000000000001"
	CreditPAR = "V0010013826000000000000000002"
	Terminal  = "T0000001"
)

var stan atomic.Uint32

// T0 is when the suite starts (to the millisecond, as stores keep it).
var T0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

type purchase struct {
	msg                 *iso8583.Message
	de7, stan, par, mcc string
	amount              int64
	promo               *promo.Redemption
}

// id is the purchase's identity as the network names it (DE41|DE11|DE7).
func (p purchase) id() string { return Terminal + "|" + p.stan + "|" + p.de7 }

// detail is the purchase's presentment.
func (p purchase) detail(seq int) clearfile.Detail {
	return clearfile.Detail{Seq: seq, Transmission: p.de7, STAN: p.stan, Terminal: Terminal, RRN: "000000" + p.stan, Amount: p.amount,
		Currency: 156, Bank: "icbc", MCC: p.mcc, PAR: p.par, Promo: p.promo}
}

type suite struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	h     *issuer.Host
	led   ledger.Store
	files int
}

// Run runs the suite on the hosts open makes.
func Run(t *testing.T, open Open) {
	clock := &Clock{t: T0}
	h, led := open(t, clock.Now)
	s := &suite{t: t, ctx: context.Background(), clock: clock, h: h, led: led}
	s.run()
}

func (s *suite) buy(pan, par, mcc string, amount int64) purchase {
	s.t.Helper()
	n := stan.Add(1)
	m := iso8583.New(iso8583.AuthorizationRequest)
	now := s.clock.Now()
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	_ = m.SetString(iso8583.DEPAN, pan)
	_ = m.SetString(iso8583.DEProcessingCode, "000000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	_ = m.SetNumber(iso8583.DECurrency, 156)
	_ = m.SetSTAN(iso8583.STAN(n))
	_ = m.SetString(iso8583.DEAcquirer, "48021000")
	_ = m.SetString(iso8583.DERRN, fmt.Sprintf("%012d", n))
	_ = m.SetString(iso8583.DETerminal, Terminal)
	_ = m.SetString(iso8583.DEMerchant, "898310054110001")
	if rc := code(s.h.Handle(s.ctx, m)); rc != "00" {
		s.t.Fatalf("purchase of %d: answered %s, want 00", amount, rc)
	}
	de7, _ := m.String(iso8583.DETransmission)
	st, _ := m.String(iso8583.DESTAN)
	return purchase{msg: m, de7: de7, stan: st, par: par, mcc: mcc, amount: amount}
}

// refund gives back amount of p (0200) and returns its C record.
func (s *suite) refund(p purchase, pan string, amount int64) clearfile.Detail {
	s.t.Helper()
	n := stan.Add(1)
	m := iso8583.New(iso8583.FinancialRequest)
	m.Copy(p.msg, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DECurrency)
	m.SetTransmissionTime(s.clock.Now())
	_ = m.SetSTAN(iso8583.STAN(n))
	_ = m.SetString(iso8583.DEPAN, pan)
	_ = m.SetString(iso8583.DEProcessingCode, "200000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	_ = m.SetString(iso8583.DEOriginal, "0100"+p.stan+p.de7+"00048021000"+"00000000000")
	if rc := code(s.h.Handle(s.ctx, m)); rc != "00" {
		s.t.Fatalf("refund of %d: answered %s, want 00", amount, rc)
	}
	de7, _ := m.String(iso8583.DETransmission)
	st, _ := m.String(iso8583.DESTAN)
	return clearfile.Detail{Credit: true, Transmission: de7, STAN: st, Terminal: Terminal, RRN: "000000" + p.stan, Amount: amount,
		Currency: 156, Bank: "icbc"} // no PAR: the bank finds the card by the purchase's lot
}

func code(m *iso8583.Message) string {
	if m == nil {
		return "no answer"
	}
	v, _ := m.String(iso8583.DEResponseCode)
	return v
}

// clear posts a clearing file of the records and checks each posted or
// credited.
func (s *suite) clear(ds ...clearfile.Detail) clearfile.Ack {
	s.t.Helper()
	s.files++
	for i := range ds {
		ds[i].Seq = i + 1
	}
	ack, err := s.h.PostClearing(s.ctx, clearfile.File{Header: clearfile.Header{Date: "20260314", Party: "icbc"}, Details: ds})
	if err != nil {
		s.t.Fatalf("clearing: %v", err)
	}
	for i, p := range ack.Postings {
		if p.Outcome == clearfile.Flagged {
			s.t.Fatalf("clearing record %d flagged: %s", i+1, p.Reason)
		}
	}
	return ack
}

// points checks a card's points at the bank and in the ledger.
func (s *suite) points(step, par string, want int64) {
	s.t.Helper()
	got, err := s.h.Points(s.ctx, par)
	if err != nil || got.Balance != want {
		s.t.Fatalf("%s: card has %d points (%v), want %d", step, got.Balance, err, want)
	}
	prog := s.h.Program()
	as, err := s.led.LookupAccounts(s.ctx, []string{prog.CardAccount(par)})
	if err != nil {
		s.t.Fatal(err)
	}
	var inLedger int64
	if len(as) == 1 {
		inLedger = as[0].CreditsPosted - as[0].DebitsPosted
	}
	if inLedger != want {
		s.t.Fatalf("%s: the ledger's points account of the card holds %d, want %d", step, inLedger, want)
	}
	var sum int64
	all := prog.Accounts(DebitPAR)
	all = append(all, prog.Accounts(CreditPAR)[3])
	ids := make([]string, len(all))
	for i, a := range all {
		ids[i] = a.ID
	}
	as, err = s.led.LookupAccounts(s.ctx, ids)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, a := range as {
		sum += a.CreditsPosted - a.DebitsPosted
		if a.DebitsPending+a.CreditsPending != 0 {
			s.t.Fatalf("%s: points account %s has pending totals", step, a.ID)
		}
	}
	if sum != 0 {
		s.t.Fatalf("%s: the points accounts sum to %d, want 0 (double entry)", step, sum)
	}
}

// credits returns a card's money account's posted credits.
func (s *suite) credits(pan string) int64 {
	s.t.Helper()
	p, err := card.ParsePAN(pan)
	if err != nil {
		s.t.Fatal(err)
	}
	acct, _ := s.h.AccountFor(p)
	as, err := s.led.LookupAccounts(s.ctx, []string{acct})
	if err != nil || len(as) != 1 {
		s.t.Fatalf("card account: %v", err)
	}
	return as[0].CreditsPosted
}

func (s *suite) balance(id string) int64 {
	s.t.Helper()
	as, err := s.led.LookupAccounts(s.ctx, []string{id})
	if err != nil || len(as) != 1 {
		s.t.Fatalf("account %s: %v", id, err)
	}
	return as[0].CreditsPosted - as[0].DebitsPosted
}

func (s *suite) run() {
	t := s.t
	day := 24 * time.Hour

	// Accrual: 123.45 at a supermarket (debit: 123 points), 50.00 in a
	// restaurant (debit dining ×3: 150); the credit card: 10.00 (×2: 20)
	// and 20.00 at a fast-food place (credit dining: 6 a yuan, 120); a
	// purchase under a yuan earns nothing.
	a := s.buy(Debit, DebitPAR, "5411", 12345)
	b := s.buy(Debit, DebitPAR, "5812", 5000)
	c := s.buy(Credit, CreditPAR, "5999", 1000)
	c2 := s.buy(Credit, CreditPAR, "5814", 2000)
	tiny := s.buy(Debit, DebitPAR, "5999", 99)
	file := []clearfile.Detail{a.detail(0), b.detail(0), c.detail(0), c2.detail(0), tiny.detail(0)}
	s.clear(file...)
	s.points("accrued", DebitPAR, 273)
	s.points("accrued", CreditPAR, 140)
	ack := s.clear(file...)
	if ack.Postings[0].Outcome != clearfile.AlreadyPosted {
		t.Fatalf("the file again: got %s, want already posted", ack.Postings[0].Outcome)
	}
	s.points("the file posted twice", DebitPAR, 273)

	// Refunds take back the purchase's share, cumulatively: 61.72 of
	// 123.45 → 61 points; the rest → 62 (123 in all).
	s.clock.set(T0.Add(day))
	r1 := s.refund(a, Debit, 6172)
	s.clear(r1)
	s.points("refund 1", DebitPAR, 212)
	s.clear(r1)
	s.points("refund 1 again", DebitPAR, 212)
	r2 := s.refund(a, Debit, 6173)
	s.clear(r2, r1)
	s.points("refund 2", DebitPAR, 150)

	// A purchase and its full refund in one file: the refund finds the lot
	// the same update makes (before: only the lots of earlier files, so
	// its 30 points stayed until the file was posted again, and clearing a
	// date twice changed the ledger).
	both := s.buy(Debit, DebitPAR, "5411", 3000)
	rb := s.refund(both, Debit, 3000)
	s.clear(both.detail(0), rb)
	s.points("a purchase and its refund in one file", DebitPAR, 150)
	s.clear(both.detail(0), rb)
	s.points("that file again", DebitPAR, 150)

	// A refund credited in a file before its purchase is presented (the
	// purchase presented late): the presentment earns its 30 points and
	// takes back the refund's at once (before: the refund found no lot and
	// the card kept 30 points of a purchase given back); again, nothing.
	late := s.buy(Debit, DebitPAR, "5411", 3000)
	rl := s.refund(late, Debit, 3000)
	s.clear(rl)
	s.points("a refund before its purchase's presentment", DebitPAR, 150)
	s.clear(late.detail(0))
	s.points("the purchase presented after its refund", DebitPAR, 150)
	s.clear(late.detail(0), rl)
	s.points("both again", DebitPAR, 150)

	// Pay with points: B (50.00) takes all 150 points, credited 1.50 once
	// however often asked.
	before := s.credits(Debit)
	pay := bank.PayWithPoints{Bank: "icbc", PAR: DebitPAR, Purchase: b.id()}
	got, err := s.h.PayWithPoints(s.ctx, pay)
	if err != nil || got.Points != 150 || got.Credit != 150 || got.Balance != 0 || got.Again {
		t.Fatalf("pay with points: got %+v %v, want 150 points, 1.50 credited", got, err)
	}
	got, err = s.h.PayWithPoints(s.ctx, pay)
	if err != nil || got.Points != 150 || got.Credit != 150 || !got.Again {
		t.Fatalf("pay with points again: got %+v %v, want the first payment, again", got, err)
	}
	if d := s.credits(Debit) - before; d != 150 {
		t.Fatalf("the card was credited %d, want 150 once", d)
	}
	s.points("paid", DebitPAR, 0)

	// Refused: a purchase never posted, another card's purchase, no points.
	for name, req := range map[string]bank.PayWithPoints{
		"unknown purchase":    {Bank: "icbc", PAR: DebitPAR, Purchase: Terminal + "|999999|0314090000"},
		"another card's":      {Bank: "icbc", PAR: DebitPAR, Purchase: c.id()},
		"a card never posted": {Bank: "icbc", PAR: "V0010013826000000000000000099", Purchase: b.id()},
	} {
		if _, err := s.h.PayWithPoints(s.ctx, req); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("%s: got %v, want not found", name, err)
		}
	}
	if _, err := s.h.PayWithPoints(s.ctx, bank.PayWithPoints{Bank: "icbc", PAR: DebitPAR, Purchase: a.id()}); fault.KindOf(err) != fault.Limit {
		t.Fatalf("no points left: got %v, want limit", err)
	}
	if _, err := s.h.PayWithPoints(s.ctx, bank.PayWithPoints{Bank: "icbc", PAR: DebitPAR, Purchase: "nonsense"}); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a purchase that is no identity: got %v, want invalid", err)
	}

	// Asked at once: eight payments of 50 points for C2 credit once,
	// spending the oldest lot first (C's 20, then 30 of C2's 120).
	before = s.credits(Credit)
	var wg sync.WaitGroup
	var fresh atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.h.PayWithPoints(s.ctx, bank.PayWithPoints{Bank: "icbc", PAR: CreditPAR, Purchase: c2.id(), Points: 50})
			if err != nil || got.Points != 50 || got.Credit != 50 {
				t.Errorf("concurrent pay: got %+v %v", got, err)
				return
			}
			if !got.Again {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d of 8 concurrent payments paid, want 1", fresh.Load())
	}
	if d := s.credits(Credit) - before; d != 50 {
		t.Fatalf("the credit card was credited %d, want 50 once", d)
	}
	s.points("paid at once", CreditPAR, 90)

	// Expiry, oldest first: D earned two months later; at C2's end of life
	// (24 months) its 90 go, D's 20 stay; at D's, they go too.
	s.clock.set(T0.Add(61 * day))
	d := s.buy(Credit, CreditPAR, "5999", 1000)
	s.clear(d.detail(0))
	s.points("D accrued", CreditPAR, 110)
	life := s.h.Program().Life
	s.clock.set(T0.Add(life).Add(-time.Millisecond))
	if n, err := s.h.ExpirePoints(s.ctx, s.clock.Now()); err != nil || n != 0 {
		t.Fatalf("a millisecond before C2 expires: expired %d %v", n, err)
	}
	s.clock.set(T0.Add(life))
	if n, err := s.h.ExpirePoints(s.ctx, s.clock.Now()); err != nil || n != 90 {
		t.Fatalf("C2 expires: expired %d %v, want 90", n, err)
	}
	s.points("C2 expired", CreditPAR, 20)
	p, _ := s.h.Points(s.ctx, CreditPAR)
	if p.Expiring != 20 || !p.ExpiresAt.Equal(T0.Add(61*day).Add(life)) {
		t.Fatalf("the oldest lot left: got %d at %s, want D's 20 at %s", p.Expiring, p.ExpiresAt, T0.Add(61*day).Add(life))
	}
	if n, _ := s.h.ExpirePoints(s.ctx, s.clock.Now()); n != 0 {
		t.Fatalf("the sweep again expired %d, want 0", n)
	}
	s.clock.set(T0.Add(61 * day).Add(life))
	s.clear() // clearing sweeps first
	s.points("D expired", CreditPAR, 0)
	if got := s.balance("points:icbc:expired"); got != 110 {
		t.Fatalf("breakage holds %d points, want 110", got)
	}

	// A statement-credit campaign: 5.00 on 100.00 (ICBC 3.00 from its
	// promotion account, the network 2.00 through settlement), once; a
	// points campaign: 0.88 as 88 bonus points on top of 20.
	s.clock.set(T0.Add(800 * day))
	f := s.buy(Debit, DebitPAR, "5999", 10000)
	f.promo = &promo.Redemption{Identity: f.id(), Campaign: "ccb-back", Fulfilment: promo.FulfilStatementCredit, CardBank: "icbc",
		Gross: 10000, Net: 10000, Discount: 500, Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 300}, {Kind: promo.FunderNetwork, Party: "network", Amount: 200}}}
	g := s.buy(Debit, DebitPAR, "5999", 2000)
	g.promo = &promo.Redemption{Identity: g.id(), Campaign: "pts", Fulfilment: promo.FulfilPoints, CardBank: "icbc",
		Gross: 2000, Net: 2000, Discount: 88, Shares: []promo.Share{{Kind: promo.FunderNetwork, Party: "network", Amount: 88}}}
	before = s.credits(Debit)
	promoBefore := s.balance(points.PromotionAccount("icbc"))
	s.clear(f.detail(0), g.detail(0))
	s.clear(f.detail(0), g.detail(0))
	if d := s.credits(Debit) - before; d != 500 {
		t.Fatalf("statement credit: the card got %d, want 500 once", d)
	}
	if d := promoBefore - s.balance(points.PromotionAccount("icbc")); d != 300 {
		t.Fatalf("statement credit: the promotion account paid %d, want ICBC's 300", d)
	}
	s.points("campaign points", DebitPAR, 100+20+88)
}

// Cleared makes a purchase of amount at mcc with the card pan (PAR par)
// at h and clears it, so the card earns its points; it returns the
// purchase's identity as the network names it (DE41|DE11|DE7).
func Cleared(t *testing.T, h *issuer.Host, now func() time.Time, pan, par, mcc string, amount int64) string {
	t.Helper()
	return ClearedPromo(t, h, now, pan, par, mcc, amount, nil)
}

// ClearedPromo is Cleared of a purchase whose presentment carries the
// campaign r (its Identity is set to the purchase's).
func ClearedPromo(t *testing.T, h *issuer.Host, now func() time.Time, pan, par, mcc string, amount int64, r *promo.Redemption) string {
	t.Helper()
	s := &suite{t: t, ctx: context.Background(), clock: &Clock{t: now()}, h: h}
	p := s.buy(pan, par, mcc, amount)
	if r != nil {
		r.Identity, p.promo = p.id(), r
	}
	s.clear(p.detail(0))
	return p.id()
}

// ClearedMany makes n purchases as Cleared does and clears them in one
// file; it returns their identities.
func ClearedMany(t *testing.T, h *issuer.Host, now func() time.Time, pan, par, mcc string, amount int64, n int) []string {
	t.Helper()
	s := &suite{t: t, ctx: context.Background(), clock: &Clock{t: now()}, h: h}
	ids := make([]string, n)
	ds := make([]clearfile.Detail, n)
	for i := range n {
		p := s.buy(pan, par, mcc, amount)
		ids[i], ds[i] = p.id(), p.detail(0)
	}
	s.clear(ds...)
	return ids
}
