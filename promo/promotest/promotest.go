// Package promotest is the conformance suite of promo.Store: every store
// of campaigns and budgets (promo.MemStore, promo/sqlstore and its Batch)
// must pass it. It checks the rules that keep money safe under
// concurrency: a budget and a card's limits are never exceeded, a hold
// resolves once, a retransmission reserves nothing, refunds restore once.
package promotest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/promo"
)

// Open returns a store on the data of one run of the suite; called again,
// another store on the same data, as another network process would have.
type Open func() promo.Store

// Run runs the suite; backend returns, for each test, an Open on fresh
// data.
func Run(t *testing.T, backend func(t *testing.T) Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"LimitTenNotEleven", limitTenNotEleven},
		{"BudgetRunsOutExactly", budgetRunsOutExactly},
		{"ReserveOnce", reserveOnce},
		{"BudgetProperty", budgetProperty},
		{"Apply", apply},
		{"DecidedBeforeThePause", decidedBeforeThePause},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, backend(t)) })
	}
}

// At is the time of the suite's purchases.
var At = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

var at = At

// Campaign returns a valid instant campaign funded by the network, open
// around At, giving 1.00 off, with budget and limits l.
func Campaign(id string, budget promo.Amount, l promo.Limits) promo.Campaign {
	return campaign(id, budget, l)
}

func campaign(id string, budget promo.Amount, l promo.Limits) promo.Campaign {
	return promo.Campaign{ID: id, Name: promo.Names{ZH: "测试", EN: "test"}, Owner: "network",
		Funders:  []promo.Funder{{Kind: promo.FunderNetwork, ShareBP: 10000}},
		Window:   promo.Window{Start: at.Add(-24 * time.Hour), End: at.Add(30 * 24 * time.Hour)},
		Channels: []promo.Channel{promo.ChannelNFC}, Mechanic: promo.Mechanic{Kind: promo.MechanicFixed, Amount: 100},
		Limits: l, Budget: budget, Enrolment: promo.EnrolAuto, Fulfilment: promo.FulfilInstant}
}

func hold(id, campaign, card string, amount int64) promo.Hold {
	return promo.Hold{ID: id, Campaign: campaign, Card: card, Amount: amount, At: at, ExpiresAt: at.Add(time.Hour)}
}

// limitTenNotEleven: a card with a limit of 10 discounts that used 9
// makes two purchases at once through two network processes: exactly one
// gets the 10th, the other is refused with ErrCardLimit — never 11. Done
// 10 times over, with fresh cards.
func limitTenNotEleven(t *testing.T, open Open) {
	ctx := context.Background()
	a, b := open(), open()
	if err := a.Save(ctx, []promo.Campaign{campaign("ten", 1000000, promo.Limits{CardCount: 10})}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 10; round++ {
		card := fmt.Sprintf("card-%d", round)
		for i := 0; i < 9; i++ {
			id := fmt.Sprintf("%s/used/%d", card, i)
			if _, err := a.Reserve(ctx, hold(id, "ten", card, 100)); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 { // some posted, some still pending: both count
				if _, err := a.Post(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []promo.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Reserve(ctx, hold(fmt.Sprintf("%s/race/%d", card, i), "ten", card, 100))
			}()
		}
		wg.Wait()
		ok, limited := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, promo.ErrCardLimit):
				limited++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || limited != 1 {
			t.Fatalf("round %d: got %d reserved and %d refused, want 1 and 1 (a limit of 10 with 9 used)", round, ok, limited)
		}
	}
	u, _ := a.Usage(ctx, "ten")
	if u.ReservedCount+u.SpentCount != 100 {
		t.Errorf("got %d discounts, want 10 cards × 10", u.ReservedCount+u.SpentCount)
	}
}

// budgetRunsOutExactly: 30 purchases of 1.00 off at once, through two
// network processes, against a budget of 10.00: exactly 10 are reserved,
// the budget is used to the fen, the rest refused with ErrBudget.
func budgetRunsOutExactly(t *testing.T, open Open) {
	ctx := context.Background()
	stores := []promo.Store{open(), open()}
	if err := stores[0].Save(ctx, []promo.Campaign{campaign("b", 1000, promo.Limits{})}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := stores[i%2].Reserve(ctx, hold(fmt.Sprintf("b%d", i), "b", fmt.Sprintf("k%d", i), 100))
			code := "reserved"
			if err != nil {
				code = fault.CodeOf(err)
			}
			mu.Lock()
			got[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	u, _ := stores[1].Usage(ctx, "b")
	if got["reserved"] != 10 || got["promo_budget"] != 20 || u.Reserved != 1000 || u.Remaining() != 0 {
		t.Fatalf("got %v, usage %+v; want 10 reserved, 20 refused, 10.00 used", got, u)
	}
}

// reserveOnce: a retransmission gets the stored hold, not a second
// reservation; another campaign or amount under the same id is refused;
// post and void resolve a hold once; the budget runs out exactly at its
// limit; a paused campaign reserves nothing.
func reserveOnce(t *testing.T, open Open) {
	ctx := context.Background()
	s := open()
	if err := s.Save(ctx, []promo.Campaign{campaign("c", 500, promo.Limits{}), campaign("d", 500, promo.Limits{})}); err != nil {
		t.Fatal(err)
	}
	h1, err := s.Reserve(ctx, hold("m1", "c", "k", 200))
	if err != nil || h1.Status != promo.HoldPending {
		t.Fatalf("reserve: %+v %v", h1, err)
	}
	if h, err := s.Reserve(ctx, hold("m1", "c", "k", 200)); err != nil || h.ID != "m1" {
		t.Fatalf("retransmission: %+v %v", h, err)
	}
	if _, err := s.Reserve(ctx, hold("m1", "d", "k", 200)); !errors.Is(err, promo.ErrHoldConflict) {
		t.Fatalf("same id, other campaign: got %v, want ErrHoldConflict", err)
	}
	if u, _ := s.Usage(ctx, "c"); u.Reserved != 200 || u.ReservedCount != 1 {
		t.Fatalf("usage after a retransmission: %+v, want 200 reserved once", u)
	}
	if _, err := s.Reserve(ctx, hold("m2", "c", "k", 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, hold("m3", "c", "k", 1)); !errors.Is(err, promo.ErrBudget) {
		t.Fatalf("over budget: got %v, want ErrBudget", err)
	}
	if ok, err := s.Post(ctx, "m1"); !ok || err != nil {
		t.Fatalf("post: %v %v", ok, err)
	}
	if ok, err := s.Post(ctx, "m1"); ok || err != nil {
		t.Fatalf("post again: got %v %v, want false, nil", ok, err)
	}
	if _, err := s.Void(ctx, "m1"); !errors.Is(err, promo.ErrHoldResolved) {
		t.Fatalf("void a posted hold: got %v, want ErrHoldResolved", err)
	}
	if ok, err := s.Void(ctx, "m2"); !ok || err != nil {
		t.Fatalf("void: %v %v", ok, err)
	}
	if _, err := s.Post(ctx, "m2"); !errors.Is(err, promo.ErrHoldResolved) {
		t.Fatalf("post a voided hold: got %v, want ErrHoldResolved", err)
	}
	if _, err := s.Post(ctx, "nope"); !errors.Is(err, promo.ErrNoHold) {
		t.Fatalf("post unknown: got %v", err)
	}
	// 300 left: exactly 300 fits, then nothing.
	if _, err := s.Reserve(ctx, hold("m4", "c", "k", 300)); err != nil {
		t.Fatalf("the last 300: %v", err)
	}
	if u, _ := s.Usage(ctx, "c"); u.Remaining() != 0 || u.Spent != 200 || u.Reserved != 300 {
		t.Fatalf("usage: %+v", u)
	}
	if err := s.Save(ctx, []promo.Campaign{campaign("c", 400, promo.Limits{})}); !errors.Is(err, promo.ErrInvalid) {
		t.Fatalf("a budget below what is used: got %v, want ErrInvalid", err)
	}
	if err := s.SetPaused(ctx, "d", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, hold("m5", "d", "k", 1)); !errors.Is(err, promo.ErrNotOpen) {
		t.Fatalf("paused: got %v, want ErrNotOpen", err)
	}
	// Refunds of the posted m1 (200): the count comes back once, the
	// amount never beyond what it spent, each refund id once.
	full := promo.RefundSplit{Restore: 150, RestoreCount: true}
	if ok, err := s.Refund(ctx, "m1", "r1", full); !ok || err != nil {
		t.Fatalf("refund: %v %v", ok, err)
	}
	if ok, err := s.Refund(ctx, "m1", "r1", full); ok || err != nil {
		t.Fatalf("the same refund again: got %v %v, want false, nil", ok, err)
	}
	if _, err := s.Refund(ctx, "m1", "r2", promo.RefundSplit{Restore: 51}); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("restoring more than spent: got %v, want invalid", err)
	}
	if ok, err := s.Refund(ctx, "m1", "r3", promo.RefundSplit{Restore: 50, RestoreCount: true}); !ok || err != nil {
		t.Fatalf("the rest: %v %v", ok, err)
	}
	if u, _ := s.Usage(ctx, "c"); u.Spent != 0 || u.SpentCount != 0 {
		t.Fatalf("after refunds: %+v, want 0 spent, count given back once", u)
	}
	if _, err := s.Refund(ctx, "m4", "r4", full); !errors.Is(err, promo.ErrHoldResolved) {
		t.Fatalf("refund of a pending hold: got %v", err)
	}
	cs, _ := s.Campaigns(ctx)
	if len(cs) != 2 || cs[0].ID != "c" || cs[0].Paused || !cs[1].Paused {
		t.Fatalf("campaigns: %+v", cs)
	}
	if err := s.SetPaused(ctx, "zz", true); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("pause unknown: %v", err)
	}
	// A file with one bad campaign saves none.
	bad := campaign("e", 100, promo.Limits{})
	bad.Window.End = bad.Window.Start.Add(-time.Hour)
	if err := s.Save(ctx, []promo.Campaign{campaign("f", 100, promo.Limits{}), bad}); !errors.Is(err, promo.ErrInvalid) {
		t.Fatalf("bad campaign: %v", err)
	}
	if cs, _ := s.Campaigns(ctx); len(cs) != 2 {
		t.Fatalf("half-saved: %d campaigns", len(cs))
	}
}

// budgetProperty: several workers over two stores (two network
// processes) run random reservations, voids, posts, refunds and expiry
// sweeps at once, in steps; after each step reserved + spent <= budget,
// the campaign's totals equal what its holds say, no card is over its
// limits, and every hold was resolved by at most one call — at the end,
// after a final sweep, by exactly one.
func budgetProperty(t *testing.T, open Open) {
	ctx := context.Background()
	stores := []promo.Store{open(), open()}
	const budget = 8000
	lim := promo.Limits{CardDayCount: 4, CardCount: 6, CardAmount: 3000}
	if err := stores[0].Save(ctx, []promo.Campaign{campaign("p", budget, lim)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	resolved := map[string]int{} // hold id -> calls that resolved it
	var holds []string
	refunded := map[string]int64{}
	expired, refusals := 0, map[string]int{}
	r0 := rand.New(rand.NewSource(42))
	steps := 40
	if testing.Short() {
		steps = 10
	}
	for step := 0; step < steps; step++ {
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			seed := r0.Int63()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewSource(seed))
				s := stores[r.Intn(len(stores))]
				mu.Lock()
				var pick string
				if len(holds) > 0 {
					pick = holds[r.Intn(len(holds))]
				}
				mu.Unlock()
				switch op := r.Intn(10); {
				case op < 4 || pick == "":
					id := fmt.Sprintf("h%d-%d", step, seed%100000)
					day := at.Add(time.Duration(r.Intn(2)) * 24 * time.Hour)
					h := promo.Hold{ID: id, Campaign: "p", Card: fmt.Sprintf("k%d", r.Intn(4)), Amount: 1 + r.Int63n(1500),
						At: day, ExpiresAt: at.Add(time.Duration(r.Intn(200)) * time.Minute)}
					if _, err := s.Reserve(ctx, h); err == nil {
						mu.Lock()
						holds = append(holds, id)
						mu.Unlock()
					} else if !errors.Is(err, promo.ErrBudget) && !errors.Is(err, promo.ErrCardLimit) {
						t.Errorf("reserve: %v", err)
					} else {
						mu.Lock()
						refusals[fault.CodeOf(err)]++
						mu.Unlock()
					}
				case op < 6:
					ok, err := s.Void(ctx, pick)
					record(t, &mu, resolved, pick, ok, err)
				case op < 8:
					ok, err := s.Post(ctx, pick)
					record(t, &mu, resolved, pick, ok, err)
				case op < 9:
					restore := r.Int63n(300)
					ok, err := s.Refund(ctx, pick, fmt.Sprintf("r%d", seed), promo.RefundSplit{Restore: restore})
					if err == nil && ok {
						mu.Lock()
						refunded[pick] += restore
						mu.Unlock()
					} else if err != nil && fault.KindOf(err) != fault.Conflict && fault.KindOf(err) != fault.Invalid {
						t.Errorf("refund: %v", err)
					}
				default:
					n, err := s.Expire(ctx, at.Add(time.Duration(step*5)*time.Minute))
					if err != nil {
						t.Errorf("expire: %v", err)
					}
					mu.Lock()
					expired += n
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		seen := append([]string(nil), holds...)
		mu.Unlock()
		checkInvariants(t, stores[step%2], seen, budget, lim, resolved, refunded)
	}
	n, err := stores[0].Expire(ctx, at.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired += n
	calls := 0
	for _, id := range holds {
		h, err := stores[1].Hold(ctx, id)
		if err != nil || h.Status == promo.HoldPending {
			t.Fatalf("hold %s after the final sweep: %+v %v", id, h, err)
		}
		calls += resolved[id]
	}
	if calls+expired != len(holds) {
		t.Fatalf("%d holds, resolved %d times by post/void and %d by expiry: want each exactly once", len(holds), calls, expired)
	}
	checkInvariants(t, stores[0], holds, budget, lim, resolved, refunded)
	u, _ := stores[0].Usage(ctx, "p")
	t.Logf("%d holds: %d posted, %d expired; spent %d of %d; refused %v", len(holds), u.SpentCount, expired, u.Spent, budget, refusals)
	if refusals["promo_budget"] == 0 || refusals["promo_card_limit"] == 0 {
		t.Errorf("refusals %v: the run never met the budget or a card limit", refusals)
	}
}

func record(t *testing.T, mu *sync.Mutex, resolved map[string]int, id string, ok bool, err error) {
	if err != nil && !errors.Is(err, promo.ErrHoldResolved) {
		t.Errorf("resolve %s: %v", id, err)
	}
	if ok {
		mu.Lock()
		resolved[id]++
		mu.Unlock()
	}
}

// checkInvariants checks the budget rules through the store: reserved +
// spent <= budget, the campaign's totals are what its holds say, no card
// is over its limits, no hold resolved twice.
func checkInvariants(t *testing.T, s promo.Store, holds []string, budget int64, lim promo.Limits, resolved map[string]int, refunded map[string]int64) {
	t.Helper()
	ctx := context.Background()
	u, err := s.Usage(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if u.Reserved < 0 || u.Spent < 0 || u.Reserved+u.Spent > budget {
		t.Fatalf("reserved %d + spent %d > budget %d", u.Reserved, u.Spent, budget)
	}
	var pending, posted, refundedSum, pendingN, postedN int64
	type day struct{ card, day string }
	perDay := map[day]int64{}
	perCard := map[string][2]int64{}
	for _, id := range holds {
		h, err := s.Hold(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch h.Status {
		case promo.HoldPending:
			pending, pendingN = pending+h.Amount, pendingN+1
		case promo.HoldPosted:
			posted, postedN, refundedSum = posted+h.Amount, postedN+1, refundedSum+h.Refunded
		default:
			continue
		}
		// The refunds here restore amounts only, never counts.
		perDay[day{h.Card, h.Day()}]++
		c := perCard[h.Card]
		perCard[h.Card] = [2]int64{c[0] + 1, c[1] + h.Amount - h.Refunded}
	}
	if u.Reserved != pending || u.Spent != posted-refundedSum || u.ReservedCount != pendingN || u.SpentCount != postedN {
		t.Fatalf("totals %+v; holds say pending %d (%d), posted %d (%d) less refunded %d", u, pending, pendingN, posted, postedN, refundedSum)
	}
	var want int64
	for _, v := range refunded {
		want += v
	}
	if want != refundedSum {
		t.Fatalf("refunds applied %d, holds record %d", want, refundedSum)
	}
	for id, n := range resolved {
		if n > 1 {
			t.Fatalf("hold %s resolved %d times", id, n)
		}
	}
	for d, n := range perDay {
		if n > lim.CardDayCount {
			t.Fatalf("card %s on %s: %d discounts, limit %d", d.card, d.day, n, lim.CardDayCount)
		}
	}
	for card, c := range perCard {
		if c[0] > lim.CardCount || c[1] > int64(lim.CardAmount) {
			t.Fatalf("card %s: %d discounts of %d, limits %d and %d", card, c[0], c[1], lim.CardCount, lim.CardAmount)
		}
	}
}

// apply: the best campaign applies while its budget lasts, then the
// next best; a retransmission gets the same offer and hold without a
// second reservation; a purchase no campaign fits gets none.
func apply(t *testing.T, open Open) {
	ctx := context.Background()
	s := open()
	big := campaign("big", 10000, promo.Limits{})
	big.Mechanic = promo.Mechanic{Kind: promo.MechanicFixed, Threshold: 10000, Amount: 5000}
	small := campaign("small", 100000, promo.Limits{})
	small.Mechanic = promo.Mechanic{Kind: promo.MechanicPercent, PercentBP: 500, Cap: 1000}
	cs := []promo.Campaign{big, small}
	if err := s.Save(ctx, cs); err != nil {
		t.Fatal(err)
	}
	m := promo.NewMatcher(cs)
	p := func(i int, gross int64) *promo.Purchase {
		return &promo.Purchase{Identity: fmt.Sprintf("msg-%d", i), Card: fmt.Sprintf("card-%d", i), Bank: "icbc",
			Channel: promo.ChannelNFC, Gross: gross, At: at}
	}
	var got []string
	for i := 0; i < 4; i++ {
		o, h, ok, err := promo.Apply(ctx, s, m, p(i, 12000))
		if err != nil || !ok || h.Amount != o.Discount || h.Status != promo.HoldPending {
			t.Fatalf("purchase %d: %+v %+v %v %v", i, o, h, ok, err)
		}
		got = append(got, fmt.Sprintf("%s:%d", o.Campaign.ID, o.Net()))
	}
	if fmt.Sprint(got) != "[big:7000 big:7000 small:11400 small:11400]" {
		t.Errorf("got %v, want big twice (its budget is 100.00) then small", got)
	}
	o, h, ok, err := promo.Apply(ctx, s, m, p(1, 12000))
	if err != nil || !ok || o.Campaign.ID != "big" || h.ID != "msg-1" {
		t.Fatalf("retransmission: %v %+v %v", o.Campaign, h, err)
	}
	if u, _ := s.Usage(ctx, "big"); u.Reserved != 10000 || u.ReservedCount != 2 {
		t.Errorf("big after a retransmission: %+v", u)
	}
	if _, _, ok, err := promo.Apply(ctx, s, m, p(9, 1)); ok || err != nil {
		t.Errorf("1 fen: got an offer (%v, %v)", ok, err)
	}
}

// decidedBeforeThePause: a paused campaign refuses a hold (ErrNotOpen),
// but not one a Mirror decided while it was open (Hold.Decided: the pause
// applies to the decisions after the network reads it); the budget and
// the card's limits refuse both alike.
func decidedBeforeThePause(t *testing.T, open Open) {
	ctx := context.Background()
	s := open()
	if err := s.Save(ctx, []promo.Campaign{campaign("p", 200, promo.Limits{CardCount: 1})}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(ctx, "p", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, hold("p/1", "p", "card-1", 100)); !errors.Is(err, promo.ErrNotOpen) {
		t.Fatalf("paused: %v, want ErrNotOpen", err)
	}
	decided := func(id, card string) promo.Hold {
		h := hold(id, "p", card, 100)
		h.Decided = true
		return h
	}
	if h, err := s.Reserve(ctx, decided("p/1", "card-1")); err != nil || h.Status != promo.HoldPending {
		t.Fatalf("decided before the pause: %+v %v, want pending", h, err)
	}
	if _, err := s.Reserve(ctx, decided("p/2", "card-1")); !errors.Is(err, promo.ErrCardLimit) {
		t.Fatalf("decided, over the card's limit: %v, want ErrCardLimit", err)
	}
	if _, err := s.Reserve(ctx, decided("p/3", "card-3")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, decided("p/4", "card-4")); !errors.Is(err, promo.ErrBudget) {
		t.Fatalf("decided, over the budget: %v, want ErrBudget", err)
	}
}
