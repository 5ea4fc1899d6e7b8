package promo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/promotest"
)

func mirrorHold(id, campaign, card string, amount int64) promo.Hold {
	return promo.Hold{ID: id, Campaign: campaign, Card: card, Amount: amount, At: promotest.At, ExpiresAt: promotest.At.Add(time.Hour)}
}

// TestMirrorLimitTenNotEleven: a card with a limit of 10 discounts that
// used 9 (in the store before the mirror met it) makes two purchases at
// once: the mirror decides exactly one, the other is refused with
// ErrCardLimit, and the one decided is stored.
func TestMirrorLimitTenNotEleven(t *testing.T) {
	ctx := context.Background()
	st := promo.NewMemStore()
	c := promotest.Campaign("ten", 1000000, promo.Limits{CardCount: 10})
	if err := st.Save(ctx, []promo.Campaign{c}); err != nil {
		t.Fatal(err)
	}
	m := promo.NewMirror(st)
	for round := range 10 {
		card := fmt.Sprintf("card-%d", round)
		for i := range 9 {
			if _, err := st.Reserve(ctx, mirrorHold(fmt.Sprintf("%s/used/%d", card, i), "ten", card, 100)); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		pds := make([]*promo.Pending, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pds[i], errs[i] = m.Reserve(ctx, &c, mirrorHold(fmt.Sprintf("%s/race/%d", card, i), "ten", card, 100))
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
				if _, werr := pds[i].Wait(ctx); werr != nil {
					t.Fatalf("round %d: the decided hold was not stored: %v", round, werr)
				}
			case errors.Is(err, promo.ErrCardLimit):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d decided, want exactly 1 (a limit of 10 with 9 used)", round, ok)
		}
	}
	if u, _ := st.Usage(ctx, "ten"); u.ReservedCount != 100 {
		t.Errorf("the store holds %d discounts, want 10 cards × 10", u.ReservedCount)
	}
}

// TestMirrorProperty: 16 goroutines make 3,000 random purchases of
// random cards against three campaigns with budgets, per-day and per-card
// limits, and void a third of what they got (as declines and reversals
// do). The mirror's decisions are the store's: every decided hold is
// stored (no Wait fails), the budgets and limits hold in the store, and
// at the end the mirror allows exactly what the store would.
func TestMirrorProperty(t *testing.T) {
	ctx := context.Background()
	st := promo.NewMemStore()
	cs := []promo.Campaign{
		promotest.Campaign("big", 50000, promo.Limits{CardDayCount: 3}),
		promotest.Campaign("small", 3000, promo.Limits{CardCount: 2, CardAmount: 150}),
		promotest.Campaign("counted", 100000, promo.Limits{Count: 40}),
	}
	if err := st.Save(ctx, cs); err != nil {
		t.Fatal(err)
	}
	m := promo.NewMirror(st)
	var mu sync.Mutex
	decided := map[string]int64{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 190 {
				c := &cs[r.IntN(len(cs))]
				card := fmt.Sprintf("card-%d", r.IntN(25))
				id := fmt.Sprintf("g%d/%d", g, i)
				pd, err := m.Reserve(ctx, c, mirrorHold(id, c.ID, card, int64(50+r.IntN(60))))
				if err != nil {
					if !errors.Is(err, promo.ErrBudget) && !errors.Is(err, promo.ErrCardLimit) {
						t.Errorf("%s: %v", id, err)
					}
					continue
				}
				if _, err := pd.Wait(ctx); err != nil {
					t.Errorf("%s: the mirror decided a hold the store refused: %v", id, err)
					continue
				}
				if r.IntN(3) == 0 {
					if ok, err := st.Void(ctx, id); err != nil || !ok {
						t.Errorf("void %s: %v %v", id, ok, err)
					}
					m.Released(id)
					continue
				}
				mu.Lock()
				decided[c.ID] += pd.Hold.Amount
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		u, err := st.Usage(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.Reserved != decided[c.ID] || u.Reserved+u.Spent > int64(c.Budget) {
			t.Errorf("%s: the store reserved %d, the mirror decided %d, budget %d", c.ID, u.Reserved, decided[c.ID], c.Budget)
		}
		if c.Limits.Count > 0 && u.ReservedCount > c.Limits.Count {
			t.Errorf("%s: %d discounts, limit %d", c.ID, u.ReservedCount, c.Limits.Count)
		}
	}
	// What is left: the mirror allows what the store allows, hold by hold.
	for i := range 200 {
		c := &cs[i%len(cs)]
		card := fmt.Sprintf("card-%d", i%25)
		id := fmt.Sprintf("last/%d", i)
		h := mirrorHold(id, c.ID, card, 100)
		pd, merr := m.Reserve(ctx, c, h)
		if merr == nil {
			if _, err := pd.Wait(ctx); err != nil {
				t.Fatalf("%s: the store refused what the mirror allowed: %v", id, err)
			}
			continue
		}
		if _, serr := st.Reserve(ctx, h); serr == nil {
			t.Fatalf("%s: the mirror refused (%v) what the store allows", id, merr)
		}
	}
}

// TestMirrorAnotherReserves: when another reserves in the store behind
// the mirror's back, the store's refusal is the last word — the decided
// hold's Wait fails with ErrBudget and nothing is overspent — and the
// mirror reads the budget again, so the next purchase is refused at once.
// A Refresh counts what the store released meanwhile.
func TestMirrorAnotherReserves(t *testing.T) {
	ctx := context.Background()
	st := promo.NewMemStore()
	c := promotest.Campaign("two", 200, promo.Limits{})
	if err := st.Save(ctx, []promo.Campaign{c}); err != nil {
		t.Fatal(err)
	}
	m := promo.NewMirror(st)
	pd, err := m.Reserve(ctx, &c, mirrorHold("a", "two", "card-a", 100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reserve(ctx, mirrorHold("elsewhere", "two", "card-x", 100)); err != nil {
		t.Fatal(err)
	}
	pd, err = m.Reserve(ctx, &c, mirrorHold("b", "two", "card-b", 100))
	if err != nil {
		t.Fatalf("the mirror counts 1.00 of 2.00; it decides: %v", err)
	}
	if _, err := pd.Wait(ctx); !errors.Is(err, promo.ErrBudget) {
		t.Fatalf("Wait: %v, want the store's ErrBudget", err)
	}
	if u, _ := st.Usage(ctx, "two"); u.Reserved != 200 {
		t.Errorf("the store reserved %d, want 200 (never over budget)", u.Reserved)
	}
	if _, err := m.Reserve(ctx, &c, mirrorHold("c", "two", "card-c", 100)); !errors.Is(err, promo.ErrBudget) {
		t.Fatalf("after the refusal: %v, want ErrBudget at once", err)
	}
	if ok, err := st.Void(ctx, "elsewhere"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := m.Reserve(ctx, &c, mirrorHold("d", "two", "card-d", 100)); !errors.Is(err, promo.ErrBudget) {
		t.Fatalf("before a Refresh: %v, want ErrBudget (the mirror counts more, never less)", err)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	pd, err = m.Reserve(ctx, &c, mirrorHold("e", "two", "card-e", 100))
	if err != nil {
		t.Fatalf("after a Refresh: %v", err)
	}
	if _, err := pd.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if pd2, err := m.Reserve(ctx, &c, mirrorHold("e", "two", "card-e", 100)); err != nil || pd2 != pd {
		t.Errorf("the same hold again: %v, want the one decided", err)
	}
	if _, err := m.Reserve(ctx, &c, mirrorHold("e", "two", "card-e", 90)); !errors.Is(err, promo.ErrHoldConflict) {
		t.Errorf("the same id for another amount: %v, want ErrHoldConflict", err)
	}
}
