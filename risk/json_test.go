package risk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/risk"
)

// anyText draws strings that exercise every escape: control bytes,
// quotes, HTML characters, invalid UTF-8, U+2028/9 and other runes.
func anyText(t *rapid.T, label string) string {
	return rapid.OneOf(
		rapid.String(),
		rapid.StringOf(rapid.SampledFrom([]rune{'a', '"', '\\', '<', '>', '&', '\b', '\f', '\n', '\r', '\t', 0, 0x1f, 0x7f, 'é', '\u2028', '\u2029', '世', 0xfffd})),
		rapid.Custom(func(t *rapid.T) string { return string(rapid.SliceOf(rapid.Byte()).Draw(t, "bytes")) }),
	).Draw(t, label)
}

func anyValue(t *rapid.T) any {
	switch rapid.IntRange(0, 5).Draw(t, "kind") {
	case 0:
		return anyText(t, "s")
	case 1:
		return float64(rapid.Int64().Draw(t, "n"))
	case 2:
		return rapid.Float64().Draw(t, "f")
	case 3:
		return rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 1e-7, 1e-6, 1e20, 1e21, 123456789e-15, 5e-324, math.MaxFloat64, -0.5, 1 << 53, 1<<53 - 1, -(1 << 53), 1<<53 + 2, 7, -3}).Draw(t, "edge")
	case 4:
		return nil
	}
	return rapid.Int().Draw(t, "int") // not a float: left to encoding/json
}

func anyDecision(t *rapid.T) risk.Decision {
	d := risk.Decision{
		Point:   risk.Point(anyText(t, "point")),
		ID:      anyText(t, "id"),
		At:      time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "sec"), rapid.Int64Range(0, 999_999_999).Draw(t, "ns")).In(rapid.SampledFrom([]*time.Location{time.UTC, time.FixedZone("", 9*3600), time.FixedZone("x", -3*3600-1800)}).Draw(t, "zone")),
		Version: rapid.Int().Draw(t, "version"),
		Digest:  anyText(t, "digest"),
		Score:   rapid.Int().Draw(t, "score"),
		Outcome: risk.Outcome(rapid.IntRange(-1, 4).Draw(t, "outcome")),
		Block:   anyText(t, "block"),
	}
	if rapid.Bool().Draw(t, "reasons") {
		d.Reasons = rapid.SliceOf(rapid.String()).Draw(t, "reasonList")
	}
	if rapid.Bool().Draw(t, "hits") {
		d.Hits = []risk.Hit{}
		for i := rapid.IntRange(0, 4).Draw(t, "nhits"); i > 0; i-- {
			h := risk.Hit{Rule: anyText(t, "rule"), Reason: anyText(t, "reason"), Score: rapid.Int().Draw(t, "hscore"),
				Outcome: risk.Outcome(rapid.IntRange(0, 3).Draw(t, "houtcome")), Shadow: rapid.Bool().Draw(t, "shadow"),
				Snoozed: rapid.Bool().Draw(t, "snoozed"), Pattern: anyText(t, "pattern")}
			if rapid.Bool().Draw(t, "inputs") {
				h.Inputs = []risk.Input{}
				for j := rapid.IntRange(0, 3).Draw(t, "ninputs"); j > 0; j-- {
					h.Inputs = append(h.Inputs, risk.Input{Attr: anyText(t, "attr"), Value: anyValue(t)})
				}
			}
			d.Hits = append(d.Hits, h)
		}
	}
	return d
}

// TestDecisionJSONMatchesEncodingJSON: the hand-written JSON of a
// decision is byte for byte encoding/json's (escapes, numbers, times,
// null and empty lists, omitted fields), so it decodes identically.
func TestDecisionJSONMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := anyDecision(t)
		want, err := json.Marshal(d)
		got := d.JSON()
		if err != nil { // a year past 9999 in its zone, a NaN: nothing, as before
			if got != nil {
				t.Fatalf("encoding/json fails (%v), JSON = %s", err, got)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("JSON:\n got %s\nwant %s", got, want)
		}
		var back, wantBack risk.Decision
		errGot, errWant := json.Unmarshal(got, &back), json.Unmarshal(want, &wantBack) // an outcome out of range does not decode
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(back, wantBack) {
			t.Fatalf("decoded:\n got %+v\nwant %+v", back, wantBack)
		}
	})
}

// TestDecisionJSONUnwritable: what encoding/json refuses (a NaN input, a
// year past 9999) gives nil, as before.
func TestDecisionJSONUnwritable(t *testing.T) {
	for name, d := range map[string]risk.Decision{
		"nan":  {At: time.Unix(0, 0), Hits: []risk.Hit{{Inputs: []risk.Input{{Attr: "a", Value: math.NaN()}}}}},
		"year": {At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if b := d.JSON(); b != nil {
			t.Errorf("%s: JSON = %s, want nil", name, b)
		}
	}
}

// BenchmarkDecisionJSON is the JSON of a decision as bench auth --risk
// shadow keeps nearly every one: four shadow hits, one with a pattern.
func BenchmarkDecisionJSON(b *testing.B) {
	d := shadowDecision(b)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = d.JSON()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(d)
		}
	})
}

// shadowDecision decides, with every default rule in shadow, a token's
// tenth payment of 8.00 in a few minutes at one merchant.
func shadowDecision(b testing.TB) risk.Decision {
	e := shadowEngine(b)
	d, err := e.Authorize(context.Background(), auth(amount(800)))
	if err != nil {
		b.Fatal(err)
	}
	if len(d.Hits) < 2 {
		b.Fatalf("want a decision with several hits, got %s", d.JSON())
	}
	return d
}

// shadowEngine is an engine with every default rule in shadow that has
// recorded nine payments of 8.00 of one token at one merchant in the
// last minutes (its next one fires several rules).
func shadowEngine(b testing.TB) *risk.Engine {
	set := risk.Default()
	for i := range set.Rules {
		set.Rules[i].Shadow = true
	}
	e, err := risk.New(set, risk.NewMemory())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := e.RecordAuth(ctx, auth(amount(800), func(a *risk.Auth) { a.At = a.At.Add(-time.Duration(i) * time.Minute) }), true); err != nil {
			b.Fatal(err)
		}
	}
	return e
}
