package sqlstore

import (
	"context"
	"slices"
	"testing"

	"github.com/tapwallet/tapwallet/tsp"
)

// BenchmarkWindow: memory's read of a window of keyWindow unused keys
// from SQL (what a token whose keys ran past memory's window costs, once
// per keyWindow uses).
func BenchmarkWindow(b *testing.B) {
	ctx := context.Background()
	s, tokens := seedKeys(b, 1, 2*keyWindow)
	if err := s.prepare(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		keys, err := s.window(ctx, tokens[0], keyWindow)
		if err != nil || len(keys) != keyWindow || keys[0].Index != keyWindow {
			b.Fatalf("%d keys (%v)", len(keys), err)
		}
	}
}

// BenchmarkEntryKey: finding a key among a token's keys in memory — a
// window of unused ones and the used ones the write-behind has not applied
// yet (64 here: a token paying hundreds of times a second) — as TokenKey,
// UseKey and the write-behind's applied each do once a use.
func BenchmarkEntryKey(b *testing.B) {
	e := &entry{}
	for i := 1; i <= 64; i++ {
		e.put(tsp.LUK{Index: i})
	}
	for i := 0; b.Loop(); i++ {
		if k := e.key(1 + i%64); k == nil {
			b.Fatal("no key")
		}
	}
}

// TestEntryKeysInOrder: put, add and drop keep a token's keys in index
// order, each once, so that key finds every one of them.
func TestEntryKeysInOrder(t *testing.T) {
	e := &entry{}
	for _, i := range []int{5, 1, 9, 3, 7} {
		e.put(tsp.LUK{Index: i})
	}
	e.put(tsp.LUK{Index: 3, UsedATC: 30}) // replaces
	e.add([]tsp.LUK{{Index: 2}, {Index: 3}, {Index: 8}, {Index: 10}})
	e.drop(9)
	e.drop(4) // not there
	var got []int
	for _, k := range e.keys {
		got = append(got, k.Index)
	}
	if want := []int{1, 2, 3, 5, 7, 8, 10}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	for _, i := range got {
		if k := e.key(i); k == nil || k.Index != i {
			t.Fatalf("key %d: %+v", i, k)
		}
	}
	if k := e.key(3); k.UsedATC != 30 {
		t.Fatalf("key 3 was not replaced: %+v", k)
	}
	if e.key(9) != nil || e.key(4) != nil {
		t.Fatal("a key dropped or never there is found")
	}
}
