package metrics_test

import (
	"math"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/metrics"
)

// TestP99FromBuckets: the 99th percentile read back from a hop's
// histogram — 990 observations of 0.2 ms and 10 of 3 ms put it at the top
// of the 0.25 ms bucket, 20 of 3 ms inside the (2.5, 5] ms bucket — and
// over a span (Since) only that span's observations count.
func TestP99FromBuckets(t *testing.T) {
	r := metrics.New()
	sw := r.Party("network")
	for range 990 {
		sw.Hop(metrics.HopPromotion, 200*time.Microsecond)
	}
	for range 10 {
		sw.Hop(metrics.HopPromotion, 3*time.Millisecond)
	}
	read := func() metrics.Mean {
		t.Helper()
		fams, err := r.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metrics.Summarize(fams).Hops {
			if m.Series == `tapwallet_auth_hop_seconds{hop="promotion"}` {
				return m
			}
		}
		t.Fatal("no promotion hop")
		return metrics.Mean{}
	}
	before := read()
	if p := before.P99(); math.Abs(p-0.00025) > 1e-9 {
		t.Fatalf("p99 of 990 × 0.2 ms and 10 × 3 ms: %g s, want 0.25 ms (the bucket's top)", p)
	}
	for range 20 {
		sw.Hop(metrics.HopPromotion, 3*time.Millisecond)
	}
	if p := read().P99(); p <= 0.0025 || p > 0.005 {
		t.Fatalf("p99 with 30 of 1,020 at 3 ms: %g s, want within (2.5, 5] ms", p)
	}
	span := metrics.Summary{Hops: []metrics.Mean{read()}}.Since(metrics.Summary{Hops: []metrics.Mean{before}})
	if len(span.Hops) != 1 || span.Hops[0].Count != 20 || span.Hops[0].P99() <= 0.0025 {
		t.Fatalf("the span of 20 × 3 ms: %+v, p99 %g", span.Hops, span.Hops[0].P99())
	}
}
