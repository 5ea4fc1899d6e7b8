package risk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
)

// hitOf returns the hit of a rule in d, or nil.
func hitOf(d risk.Decision, rule string) *risk.Hit {
	for i := range d.Hits {
		if d.Hits[i].Rule == rule {
			return &d.Hits[i]
		}
	}
	return nil
}

// TestHolderAfterIDV: a binding screened before ID&V (no holder yet) and
// recorded, then decided again once the bank named the holder
// (RecordHolder, Recorded): the third distinct name on the phone fires
// bind.names_per_phone; the same name again does not; the attempt is not
// counted twice (binding.attempts_72h).
func TestHolderAfterIDV(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		holder string
		fire   bool
	}{{"a third name", "nm_new", true}, {"a name the phone has", "nm_o1", false}} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := risk.New(risk.Default(), risk.NewMemory())
			for i := 0; i < 2; i++ {
				if err := e.RecordBinding(ctx, binding(func(b *risk.Binding) {
					b.At, b.Card, b.Holder = t0.Add(-time.Duration(i+1)*time.Hour), fmt.Sprintf("par_o%d", i), fmt.Sprintf("nm_o%d", i)
				})); err != nil {
					t.Fatal(err)
				}
			}
			// Two earlier attempts of this card on this phone: with this one, 3.
			for i := 0; i < 2; i++ {
				if err := e.RecordBinding(ctx, binding(func(b *risk.Binding) { b.At, b.Holder = t0.Add(-time.Duration(i+1)*time.Minute), "" })); err != nil {
					t.Fatal(err)
				}
			}
			b := binding(func(b *risk.Binding) { b.Holder = "" })
			first, err := e.Bind(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if hitOf(first, "bind.names_per_phone") != nil || first.Outcome != risk.Approve {
				t.Fatalf("before ID&V (no name): got %s %+v, want green", first, first.Hits)
			}
			if err := e.RecordBinding(ctx, b); err != nil {
				t.Fatal(err)
			}
			b.Holder, b.Recorded = c.holder, true
			if err := e.RecordHolder(ctx, b); err != nil {
				t.Fatal(err)
			}
			again, err := e.Bind(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			h := hitOf(again, "bind.names_per_phone")
			if (h != nil) != c.fire || (c.fire && again.Outcome != risk.Review) {
				t.Errorf("after ID&V named %s: got %s %+v, want names_per_phone fired %v", c.holder, again, again.Hits, c.fire)
			}
			if h := hitOf(again, "bind.card_device_attempts"); h != nil {
				t.Errorf("the 3rd attempt counted twice: %+v", h.Inputs)
			}
		})
	}
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	if err := e.RecordHolder(ctx, binding(func(b *risk.Binding) { b.Holder = "" })); !errors.Is(err, fault.E(fault.Invalid, risk.CodeFacts, "")) {
		t.Errorf("no holder: got %v, want %s", err, risk.CodeFacts)
	}
}
