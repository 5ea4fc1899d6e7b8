package risk_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/risk"
)

// TestAddRow: rows stay sorted by member with one row a member holding
// its sums, whether scanned (few members) or searched (many).
func TestAddRow(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		members := rapid.SliceOfN(rapid.StringN(0, 3, 3), 1, 20).Draw(t, "members")
		want := map[string]risk.Row{}
		var rows []risk.Row
		for i := rapid.IntRange(0, 60).Draw(t, "n"); i > 0; i-- {
			m := rapid.SampledFrom(members).Draw(t, "member")
			c, s := rapid.Int64Range(1, 5).Draw(t, "count"), rapid.Int64Range(0, 1000).Draw(t, "sum")
			rows = risk.AddRow(rows, m, c, s)
			w := want[m]
			w.Member, w.Count, w.Sum = m, w.Count+c, w.Sum+s
			want[m] = w
		}
		sameRows(t, rows, want)
	})
}

// sameRows fails t unless rows are sorted by member, one a member, each
// the one in want.
func sameRows(t interface{ Fatalf(string, ...any) }, rows []risk.Row, want map[string]risk.Row) {
	if !slices.IsSortedFunc(rows, func(a, b risk.Row) int { return strings.Compare(a.Member, b.Member) }) || len(rows) != len(want) {
		t.Fatalf("rows %v, want %d members sorted", rows, len(want))
	}
	for _, r := range rows {
		if r != want[r.Member] {
			t.Fatalf("row %+v, want %+v", r, want[r.Member])
		}
	}
}

// TestMemoryReadsInAnyOrder: whatever order a subject's buckets and
// members come in (added, or set as a mirror's refresh does, expired ones
// dropped as new ones start), a read's rows are sorted by member with one
// row a member holding the sums of the buckets in range.
func TestMemoryReadsInAnyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		m := risk.NewMemory()
		type at struct {
			member string
			bucket int64
		}
		cells := map[at]risk.Delta{}
		for i := rapid.IntRange(1, 80).Draw(t, "n"); i > 0; i-- {
			d := risk.Delta{Series: "s", Key: "k", Member: rapid.SampledFrom([]string{"", "a", "b", "c10", "c9"}).Draw(t, "member"),
				Bucket: rapid.Int64Range(0, 12).Draw(t, "bucket"), Count: rapid.Int64Range(1, 3).Draw(t, "count"),
				Sum: rapid.Int64Range(0, 500).Draw(t, "sum"), Expires: 1 << 40}
			k := at{d.Member, d.Bucket}
			if rapid.Bool().Draw(t, "set") {
				m.Set([]risk.Delta{d})
				cells[k] = d
				continue
			}
			if err := m.Add(ctx, []risk.Delta{d}); err != nil {
				t.Fatal(err)
			}
			o := cells[k]
			o.Count, o.Sum = o.Count+d.Count, o.Sum+d.Sum
			cells[k] = o
		}
		from, to := rapid.Int64Range(0, 12).Draw(t, "from"), rapid.Int64Range(0, 12).Draw(t, "to")
		want := map[string]risk.Row{}
		for k, d := range cells {
			if k.bucket >= from && k.bucket <= to {
				w := want[k.member]
				w.Member, w.Count, w.Sum = k.member, w.Count+d.Count, w.Sum+d.Sum
				want[k.member] = w
			}
		}
		rows, err := m.Read(ctx, []risk.Query{{Series: "s", Key: "k", From: from, To: to}})
		if err != nil {
			t.Fatal(err)
		}
		sameRows(t, rows[0], want)
	})
}

// TestReadIntoReusesNothingStale: a decision's rows read into a reused
// scratch (Memory.ReadInto) hold nothing of the previous decision's: a
// card with no history after one with a long one has no velocity, and the
// busy card's figures stay whole when decided again.
func TestReadIntoReusesNothingStale(t *testing.T) {
	ctx := context.Background()
	e, err := risk.New(risk.Default(), risk.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	busy := func(a *risk.Auth) { a.Token, a.Card, a.Phone = "tok_busy", "par_busy", "ph_busy" }
	for i := 0; i < 20; i++ {
		if err := e.RecordAuth(ctx, auth(busy, func(a *risk.Auth) { a.At = t0.Add(-time.Duration(i) * time.Minute) }), i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	input := func(d risk.Decision, attr string) any {
		for _, h := range d.Hits {
			for _, in := range h.Inputs {
				if in.Attr == attr {
					return in.Value
				}
			}
		}
		return nil
	}
	for round := 0; round < 3; round++ {
		d, err := e.Authorize(ctx, auth(busy))
		if err != nil || input(d, "card.count_1h") != float64(21) {
			t.Fatalf("round %d: the busy card: card.count_1h %v, want 21 (the 20 and this one: %s, %v)", round, input(d, "card.count_1h"), d, err)
		}
		d, err = e.Authorize(ctx, auth())
		if err != nil || len(d.Hits) != 0 {
			t.Fatalf("round %d: a card without history: hits %+v, want none (%v)", round, d.Hits, err)
		}
	}
}

// BenchmarkMemoryRead is one decision's reads (the default rules'
// queries) of a card with a day of history, into reused buffers and into
// new ones.
func BenchmarkMemoryRead(b *testing.B) {
	ctx := context.Background()
	m := risk.NewMemory()
	e, _ := risk.New(risk.Default(), m)
	for i := 0; i < 300; i++ {
		if err := e.RecordAuth(ctx, auth(amount(int64(100+i*37%5000)), func(a *risk.Auth) { a.At = t0.Add(-time.Duration(i) * 4 * time.Minute) }), true); err != nil {
			b.Fatal(err)
		}
	}
	qs := []risk.Query{{Series: "card.amt.d", Key: "par_A", From: 0, To: 1 << 40}, {Series: "token.n.m", Key: "tok_A", From: 0, To: 1 << 40},
		{Series: "card.n.h", Key: "par_A", From: 0, To: 1 << 40}, {Series: "phone.n.h", Key: "ph_A", From: 0, To: 1 << 40}}
	b.Run("into", func(b *testing.B) {
		b.ReportAllocs()
		out := make([][]risk.Row, len(qs))
		for b.Loop() {
			m.ReadInto(ctx, qs, out)
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Read(ctx, qs)
		}
	})
}

// BenchmarkAuthorizeShadowHits is a decision as bench auth --risk shadow
// takes nearly every one: every default rule in shadow, four or five of
// them firing with their inputs (its allocations: the hits, their inputs
// and the reasons).
func BenchmarkAuthorizeShadowHits(b *testing.B) {
	e, ctx := shadowEngine(b), context.Background()
	a := auth(amount(800))
	if d, _ := e.Authorize(ctx, a); len(d.Hits) < 2 {
		b.Fatalf("want several hits, got %s", d.JSON())
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Authorize(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAmountClassNames: an approved authorization counts its amount in
// the card's class of it, named "c" and three digits (8 classes a
// doubling: the stored rows' members), from the smallest amount to the
// largest.
func TestAmountClassNames(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		amount int64
		class  string
	}{{0, "c000"}, {1, "c000"}, {2, "c008"}, {3, "c012"}, {100, "c053"}, {999, "c079"}, {12345, "c108"}, {1 << 40, "c320"}, {1<<63 - 1, "c504"}} {
		m := risk.NewMemory()
		e, _ := risk.New(risk.Default(), m)
		a := auth(amount(c.amount))
		if err := e.RecordAuth(ctx, a, true); err != nil {
			t.Fatal(err)
		}
		rows, _ := m.Read(ctx, []risk.Query{{Series: "card.amt.d", Key: a.Card, From: 0, To: 1 << 40}})
		if len(rows[0]) != 1 || rows[0][0].Member != c.class || rows[0][0].Sum != c.amount {
			t.Errorf("amount %d: rows %+v, want one of class %s", c.amount, rows[0], c.class)
		}
	}
}
