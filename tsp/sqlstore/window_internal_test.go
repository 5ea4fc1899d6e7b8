package sqlstore

import (
	"context"
	"testing"
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
