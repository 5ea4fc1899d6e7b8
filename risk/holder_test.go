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

// TestRecordPlace: a place the phone reported, kept in the state, is a
// travel sighting like Auth.PhoneSeen: a Shanghai tap 5 minutes after the
// phone reported Beijing is impossible travel; 5 hours after, it is not;
// a later report wins; bad facts are refused.
func TestRecordPlace(t *testing.T) {
	ctx := context.Background()
	bj := risk.Place{Lat: 39.93, Lon: 116.45}
	for _, c := range []struct {
		name string
		ago  time.Duration
		fire bool
	}{{"5 minutes", 5 * time.Minute, true}, {"5 hours", 5 * time.Hour, false}} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := risk.New(risk.Default(), risk.NewMemory())
			if err := e.RecordPlace(ctx, "ph_A", risk.Sighting{Place: bj, At: t0.Add(-c.ago)}); err != nil {
				t.Fatal(err)
			}
			d, err := e.Authorize(ctx, auth(func(a *risk.Auth) { a.City = "SHANGHAI" }))
			if err != nil {
				t.Fatal(err)
			}
			if fired := hitOf(d, "auth.impossible_travel") != nil; fired != c.fire || c.fire && d.Outcome != risk.Decline {
				t.Errorf("Shanghai %s after the phone reported Beijing: got %s %+v, want impossible travel %v", c.name, d, d.Hits, c.fire)
			}
		})
	}
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	e.RecordPlace(ctx, "ph_A", risk.Sighting{Place: bj, At: t0.Add(-5 * time.Minute)})
	e.RecordPlace(ctx, "ph_A", risk.Sighting{Place: risk.Place{Lat: 31.23, Lon: 121.47}, At: t0.Add(-4 * time.Minute)})
	if d, _ := e.Authorize(ctx, auth(func(a *risk.Auth) { a.City = "SHANGHAI" })); hitOf(d, "auth.impossible_travel") != nil {
		t.Errorf("the phone reported Shanghai after Beijing: got %s", d)
	}
	for _, bad := range []struct {
		phone string
		s     risk.Sighting
	}{{"", risk.Sighting{Place: bj, At: t0}}, {"ph_A", risk.Sighting{Place: bj}}, {"6222020000000007", risk.Sighting{Place: bj, At: t0}}} {
		if err := e.RecordPlace(ctx, bad.phone, bad.s); fault.KindOf(err) != fault.Invalid {
			t.Errorf("RecordPlace(%q, %+v): got %v, want invalid", bad.phone, bad.s, err)
		}
	}
}
