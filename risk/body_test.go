package risk_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
)

// keptDecision draws a decision of the default rule set as the engine
// takes them (hits of the point's rules with their reasons and shadow
// flags, a band's score now and then, reasons the enforced hits), and,
// with spoil, one changed so that the set no longer explains it.
func keptDecision(t *rapid.T, set *risk.RuleSet) (d risk.Decision, spoiled bool) {
	p := rapid.SampledFrom([]risk.Point{risk.PointAuthorization, risk.PointBinding, risk.PointTransit}).Draw(t, "point")
	// an id is a message identity: text (the store returns the id asked for)
	d = risk.Decision{Point: p, ID: rapid.String().Draw(t, "id"), At: anyDecision(t).At, Version: set.Version, Digest: set.Digest(),
		Score: rapid.IntRange(0, 99).Draw(t, "score"), Outcome: risk.Outcome(rapid.IntRange(0, 2).Draw(t, "outcome")),
		Reasons: []string{}, Hits: []risk.Hit{}}
	if rapid.Bool().Draw(t, "blocked") {
		d.Block = risk.BlockPhoneOff
	}
	for _, r := range set.Rules {
		if r.Point != p || !rapid.Bool().Draw(t, "fires") {
			continue
		}
		h := risk.Hit{Rule: r.ID, Reason: r.Reason, Score: r.Score, Outcome: r.Outcome, Shadow: r.Shadow,
			Snoozed: len(r.Snooze) > 0 && rapid.Bool().Draw(t, "snoozed")}
		if len(r.Snooze) > 0 {
			h.Pattern = anyPattern(t, r.Snooze)
		}
		if r.Bands != nil {
			b := rapid.SampledFrom(r.Bands.Steps).Draw(t, "band")
			h.Score, h.Outcome = b.Score, b.Outcome
		}
		if rapid.Bool().Draw(t, "inputs") {
			h.Inputs = []risk.Input{}
			for j := rapid.IntRange(1, 3).Draw(t, "ninputs"); j > 0; j-- {
				h.Inputs = append(h.Inputs, risk.Input{Attr: anyText(t, "attr"), Value: anyValue(t)})
			}
		}
		d.Hits = append(d.Hits, h)
		if !h.Shadow && !h.Snoozed {
			d.Reasons = append(d.Reasons, h.Rule)
		}
	}
	if !rapid.Bool().Draw(t, "spoil") {
		return d, false
	}
	switch rapid.IntRange(0, 5).Draw(t, "how") {
	case 0:
		d.Digest = "000000000000"
	case 1:
		d.Version++
	case 2:
		d.Reasons = append(d.Reasons, "auth.not_a_rule")
	case 3:
		d.Hits = append(d.Hits, risk.Hit{Rule: "auth.not_a_rule", Reason: "made up"})
	case 4:
		if len(d.Hits) == 0 {
			return d, false
		}
		d.Hits[0].Reason += "!"
	case 5:
		d.Reasons = nil
	}
	return d, true
}

// anyPattern is a hit's snooze pattern: any text, or of its rule's form
// (N1=V1&N2=V2…) with values that may hold "&", "=" or the next
// attribute's "&N2=".
func anyPattern(t *rapid.T, names []string) string {
	if rapid.Bool().Draw(t, "any pattern") {
		return anyText(t, "pattern")
	}
	tricky := []string{"", "tok_A", "a&b", "=", "&", "&="}
	for _, n := range names {
		tricky = append(tricky, "&"+n+"=", n+"=x&"+n)
	}
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(n + "=")
		b.WriteString(rapid.OneOf(rapid.SampledFrom(tricky), rapid.Custom(func(t *rapid.T) string { return anyText(t, "value") })).Draw(t, "value"))
	}
	return b.String()
}

// TestKeptBodyRoundTrip: a decision kept by its stored rule set's
// KeptRules reads back (ReadBody, with the columns) as the same Decision
// as its whole JSON decodes to; short when the set explains it (and then
// shorter), whole when not.
func TestKeptBodyRoundTrip(t *testing.T) {
	set := risk.Default()
	for i := range set.Rules { // some rules in shadow, as bench auth --risk shadow runs them all
		set.Rules[i].Shadow = set.Rules[i].Shadow || i%3 == 0
	}
	k := risk.NewKeptRules(set)
	rapid.Check(t, func(t *rapid.T) {
		d, spoiled := keptDecision(t, set)
		body := k.AppendBody(nil, &d)
		whole := d.JSON()
		if whole == nil { // a time encoding/json refuses: nothing either way
			if len(body) != 0 {
				t.Fatalf("unwritable decision, body %s", body)
			}
			return
		}
		if risk.IsShortBody(body) == spoiled {
			t.Fatalf("short %v for a decision spoiled %v: %s", risk.IsShortBody(body), spoiled, body)
		}
		if !spoiled && len(d.Hits) > 0 && len(body) >= len(whole) {
			t.Fatalf("short body %d bytes, whole %d", len(body), len(whole))
		}
		var want risk.Decision
		wantErr := json.Unmarshal(whole, &want)
		got, err := risk.ReadBody(k, d.Point, d.ID, d.At.UnixMilli(), d.Version, d.Score, d.Outcome.String(), body)
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("read back:\n got %#v (%v)\nwant %#v (%v)\nbody %s", got, err, want, wantErr, body)
		}
	})
}

// allShadow is the default rule set with every rule in shadow (bench
// auth's).
func allShadow() *risk.RuleSet {
	set := risk.Default()
	for i := range set.Rules {
		set.Rules[i].Shadow = true
	}
	return set
}

// TestKeptBodyByPlace: an engine's shadow decision is kept with each
// hit's inputs as their values alone (the rule names them, in order) and
// its patterns as their values alone (the rule names their attributes),
// and reads back as the decision.
func TestKeptBodyByPlace(t *testing.T) {
	d := shadowDecision(t)
	k := risk.NewKeptRules(allShadow())
	body := k.AppendBody(nil, &d)
	if !risk.IsShortBody(body) || !bytes.HasPrefix(body, []byte(`{"v":4,`)) {
		t.Fatalf("want a short body of version 4, got %s", body)
	}
	patterns := 0
	for _, h := range d.Hits {
		for _, in := range h.Inputs {
			if bytes.Contains(body, []byte(`"`+in.Attr+`"`)) {
				t.Errorf("input %s named in the body: %s", in.Attr, body)
			}
		}
		if h.Pattern != "" {
			patterns++
			if bytes.Contains(body, []byte(`auth.token=`)) {
				t.Errorf("pattern %s kept whole: %s", h.Pattern, body)
			}
		}
	}
	if patterns == 0 || !bytes.Contains(body, []byte(`"q":["`)) {
		t.Fatalf("want a hit with a pattern kept as its values, got %s", body)
	}
	var want risk.Decision
	if err := json.Unmarshal(d.JSON(), &want); err != nil {
		t.Fatal(err)
	}
	got, err := risk.ReadBody(k, d.Point, d.ID, d.At.UnixMilli(), d.Version, d.Score, d.Outcome.String(), body)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("read back:\n got %#v (%v)\nwant %#v\nbody %s", got, err, want, body)
	}
}

// TestShortBodyV3StillRead: a body kept in the short form's version 3
// (the pattern whole, the inputs as [attribute, value] pairs) reads back
// as its decision.
func TestShortBodyV3StillRead(t *testing.T) {
	readsAsOld(t, t0.UnixMilli(), "auth.token=tk_a&auth.merchant=M1", func(place int, _ string) string {
		return `{"v":3,"ns":1234567,"b":"phone_off","h":[{"r":` + strconv.Itoa(place) +
			`,"p":"auth.token=tk_a\u0026auth.merchant=M1","i":[["token.count_15m",7],["auth.country","KP"]]}]}`
	})
}

// readsAsOld checks that a short body of an earlier version, body(place,
// id) of the default set's first authorization rule without bands, reads
// back as that rule's hit with pattern and two inputs (token.count_15m 7,
// auth.country KP), blocked, at t0 + 1,234,567 ns.
func readsAsOld(t *testing.T, decided int64, pattern string, body func(place int, id string) string) {
	t.Helper()
	set := risk.Default()
	k := risk.NewKeptRules(set)
	place, r := -1, risk.Rule{}
	for i, x := range set.Rules {
		if x.Point == risk.PointAuthorization && x.Bands == nil {
			place, r = i, x
			break
		}
	}
	b := body(place, r.ID)
	got, err := risk.ReadBody(k, risk.PointAuthorization, "T1|000001|0314100000", decided, set.Version, 90, "decline", []byte(b))
	want := risk.Decision{Point: risk.PointAuthorization, ID: "T1|000001|0314100000", At: t0.Add(1234567), Version: set.Version,
		Digest: set.Digest(), Score: 90, Outcome: risk.Decline, Block: risk.BlockPhoneOff, Reasons: []string{},
		Hits: []risk.Hit{{Rule: r.ID, Reason: r.Reason, Score: r.Score, Outcome: r.Outcome, Shadow: r.Shadow, Pattern: pattern,
			Inputs: []risk.Input{{Attr: "token.count_15m", Value: float64(7)}, {Attr: "auth.country", Value: "KP"}}}}}
	if !r.Shadow {
		want.Reasons = []string{r.ID}
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("body %s:\n got %#v %v\nwant %#v", b, got, err, want)
	}
}

// TestShortBodyNeedsItsRules: a short body without its stored set (or
// with another version's) is an error, never a decision missing its
// reasons.
func TestShortBodyNeedsItsRules(t *testing.T) {
	set := risk.Default()
	k := risk.NewKeptRules(set)
	d := risk.Decision{Point: risk.PointAuthorization, ID: "T1|000001|0314100000", At: t0, Version: set.Version, Digest: set.Digest(),
		Reasons: []string{}, Hits: []risk.Hit{}}
	body := k.AppendBody(nil, &d)
	if !risk.IsShortBody(body) {
		t.Fatalf("want a short body, got %s", body)
	}
	other := *set
	other.Version++
	for _, k := range []*risk.KeptRules{nil, risk.NewKeptRules(&other)} {
		if _, err := risk.ReadBody(k, d.Point, d.ID, d.At.UnixMilli(), d.Version, 0, "approve", body); !fault.Has(err, fault.Internal, risk.CodeNoDecision) {
			t.Errorf("rules %v: got %v, want risk_no_decision", k, err)
		}
	}
}

// BenchmarkKeptBody is the body of a shadow decision (four hits) kept
// short with its stored set, against the whole JSON.
func BenchmarkKeptBody(b *testing.B) {
	d := shadowDecision(b)
	k := risk.NewKeptRules(allShadow())
	if !risk.IsShortBody(k.AppendBody(nil, &d)) {
		b.Fatal("the set does not explain its decision")
	}
	b.Run("short", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = k.AppendBody(buf[:0], &d)
		}
		b.ReportMetric(float64(len(buf)), "bytes/body")
	})
	b.Run("whole", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = d.AppendJSON(buf[:0])
		}
		b.ReportMetric(float64(len(buf)), "bytes/body")
	})
}

// TestShortBodyV2StillRead: a body kept in the short form's version 2
// (the time in RFC 3339, hits named by rule id with their inputs as
// objects) reads back as its decision.
func TestShortBodyV2StillRead(t *testing.T) {
	readsAsOld(t, 0, "auth.token=tk_a", func(_ int, id string) string {
		return `{"v":2,"at":"2026-03-14T10:00:00.001234567Z","block":"phone_off","hits":[{"rule":"` + id +
			`","pattern":"auth.token=tk_a","inputs":[{"attr":"token.count_15m","value":7},{"attr":"auth.country","value":"KP"}]}]}`
	})
}
