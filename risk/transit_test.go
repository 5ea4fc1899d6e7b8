package risk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
)

type keeper struct {
	*risk.MemoryVersions
	*risk.MemoryCases
}

// TestCheckRides: a batch of cleared rides in any order is checked in time
// order; the phone's Shanghai ride 10 minutes before its Beijing ride is
// reviewed (kept with v5 and its reasons, a case opened for the account),
// the ride three hours later is not, a card without an account is reviewed
// with no case, and a ride whose facts are refused fails open (the others
// are decided, the error names no card number).
func TestCheckRides(t *testing.T) {
	ctx := context.Background()
	e, err := risk.New(risk.Default(), risk.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	k := keeper{risk.NewMemoryVersions(), risk.NewMemoryCases()}
	number := "1000000000000042"
	rides := []risk.TransitRide{
		ride(func(r *risk.TransitRide) { r.ID, r.At, r.Summary = "beijing|tc_a|11", t0.Add(3*time.Hour), "near miss" }),
		ride(func(r *risk.TransitRide) {
			r.ID, r.Token, r.Summary = "beijing|tc_a|10", "tk_funding", "Beijing Line 1 Xidan"
		}),
		ride(func(r *risk.TransitRide) {
			r.ID, r.Card, r.City, r.At = "shanghai|tc_b|3", "tc_b", "shanghai", t0.Add(-10*time.Minute)
		}),
		ride(func(r *risk.TransitRide) {
			r.ID, r.Card, r.City, r.Phone, r.Account, r.At = "shanghai|tc_x|1", "tc_x", "shanghai", "ph_X", "", t0.Add(time.Minute)
		}),
		ride(func(r *risk.TransitRide) {
			r.ID, r.Card, r.City, r.Phone, r.Account, r.At = "beijing|tc_x|2", "tc_x", "beijing", "ph_X", "", t0.Add(4*time.Minute)
		}),
		ride(func(r *risk.TransitRide) { r.ID, r.Card = "beijing|"+number+"|1", number }),
	}
	out, err := risk.CheckRides(ctx, e, k, rides)
	if err == nil || strings.Contains(err.Error(), number) || !strings.Contains(err.Error(), "card number") {
		t.Fatalf("error %v: want the refused ride named without its number", err)
	}
	if out[5].Decided {
		t.Fatal("the ride with a card number was decided")
	}
	want := []risk.Outcome{risk.Approve, risk.Review, risk.Approve, risk.Approve, risk.Review}
	for i, w := range want {
		if !out[i].Decided || out[i].Decision.Outcome != w {
			t.Errorf("ride %s: %+v, want %s", rides[i].ID, out[i], w)
		}
	}
	d := out[1].Decision
	if d.Point != risk.PointTransit || d.Version != 5 || !contains(d.Reasons, "transit.impossible_travel") || !contains(d.Reasons, "transit.two_cities") {
		t.Fatalf("decision %s (%s, v%d): want v5 with transit.impossible_travel and transit.two_cities", d, d.Point, d.Version)
	}
	if d.Score < 90 || d.Outcome != risk.Review {
		t.Fatalf("decision %s: a score past the decline threshold stays a review (the ride happened)", d)
	}
	kept, err := k.DecisionOf(ctx, risk.PointTransit, "beijing|tc_a|10")
	if err != nil || kept.Digest != d.Digest || len(kept.Hits) == 0 || len(kept.Hits[0].Inputs) == 0 {
		t.Fatalf("kept %+v, %v: want the decision with its inputs", kept, err)
	}
	if _, err := k.DecisionOf(ctx, risk.PointTransit, "beijing|tc_a|11"); err != nil {
		t.Fatalf("the approved ride's decision is not kept: %v", err)
	}
	c, err := k.CaseOf(ctx, "acc_A", out[1].Case)
	if err != nil || c.Token != "tk_funding" || c.Summary != "Beijing Line 1 Xidan" || c.State != risk.CaseOpen || c.Phone != "ph_A" {
		t.Fatalf("case %q: %+v, %v", out[1].Case, c, err)
	}
	if _, err := k.CaseOf(ctx, "acc_B", out[1].Case); err == nil {
		t.Fatal("another account sees the case")
	}
	if out[4].Case != "" || out[0].Case != "" {
		t.Fatalf("cases %q, %q: want none without an account, none for an approval", out[4].Case, out[0].Case)
	}
}

// TestTransitRulesRefuseOtherPoints: a transit attribute is refused in an
// authorization rule, and a rule set names the three points.
func TestTransitRulesRefuseOtherPoints(t *testing.T) {
	set := risk.Default()
	set.Version++
	set.Rules = append(set.Rules, risk.Rule{ID: "x.mixed", Point: risk.PointAuthorization, Reason: "mixed",
		When: risk.Cond{Attr: "transit.speed_kmh", Op: ">", Value: 1.0}, Score: 10})
	if err := set.Check(); err == nil || !strings.Contains(err.Error(), "transit.speed_kmh") {
		t.Fatalf("got %v, want the transit attribute refused at authorization", err)
	}
	set.Rules[len(set.Rules)-1].Point = "clearing"
	if err := set.Check(); err == nil || !strings.Contains(err.Error(), "transit_clearing") {
		t.Fatalf("got %v, want the points named", err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestRideCard: a transit ride's case names its card by the reference in
// its id (RideID); a case of another kind or a malformed id names none.
func TestRideCard(t *testing.T) {
	id := string(risk.PointTransit) + ":" + risk.RideID("beijing", risk.TransitCardRef("0011010000000001"), 3)
	if ref, ok := risk.RideCard(id); !ok || ref != risk.TransitCardRef("0011010000000001") {
		t.Fatalf("RideCard(%q) = %q, %v", id, ref, ok)
	}
	for _, bad := range []string{"authorization:T1|000001|0314100000", string(risk.PointTransit) + ":beijing|3", string(risk.PointTransit) + ":beijing||3"} {
		if ref, ok := risk.RideCard(bad); ok {
			t.Errorf("RideCard(%q) = %q, want none", bad, ref)
		}
	}
}
