package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/risk/risktest"
	"github.com/tapwallet/tapwallet/risk/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// fresh returns, for a new empty wing, how to open stores on it: each call
// is another process on the same database (or a restart).
func fresh(dsn, dir string) risktest.Open {
	return func(t *testing.T) risktest.Stores {
		s, err := sqlstore.Open(context.Background(), dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return risktest.Stores{State: s, Versions: s, Cases: s, Flush: s.Flush, Close: s.Close, Refresh: s.Refresh}
	}
}

// TestConformance runs the risk storage suite on SQLite and, with
// TAPWALLET_TEST_POSTGRES, PostgreSQL: counters exact under two
// processes' concurrent authorizations and after a restart, sightings,
// snoozes, pruning, versions never overwritten, decisions kept.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		risktest.Run(t, func(t *testing.T) risktest.Open { return fresh("", t.TempDir()) })
	})
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) {
			risktest.Run(t, func(t *testing.T) risktest.Open { return fresh(sqldbtest.PostgresDSN(t), "") })
		})
	}
}

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// benchEngine is the default rules on a fresh SQLite wing's store.
func benchEngine(b *testing.B) (*sqlstore.Store, *risk.Engine) {
	s, err := sqlstore.Open(context.Background(), "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	e, _ := risk.New(risk.Default(), s)
	return s, e
}

// BenchmarkDecideSQLite is one authorization decision alone with the
// default rules on the SQLite wing's store, whose mirror holds a day of
// the card's history written and reloaded (no SQL on the decision).
func BenchmarkDecideSQLite(b *testing.B) {
	ctx := context.Background()
	s, e := benchEngine(b)
	base := risk.Auth{Token: "tok_A", Card: "par_A", Phone: "ph_A", Merchant: "M1", City: "BEIJING", Country: "CN", MCC: "5411"}
	for i := 0; i < 200; i++ {
		a := base
		a.ID, a.At, a.Amount = fmt.Sprintf("T1|%06d|x", i), t0.Add(-time.Duration(200-i)*7*time.Minute), int64(1000+i*37)
		if err := e.RecordAuth(ctx, a, i%10 != 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.Reload(ctx); err != nil {
		b.Fatal(err)
	}
	a := base
	a.ID, a.At, a.Amount, a.City = "T1|999999|x", t0, 5000, "SHANGHAI"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Authorize(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeSQLite is one authorization decision and its
// recording (queued: written by the flusher in the background) with the
// default rules on the SQLite wing, the writing included: every 5,000
// authorizations it waits for the queue to be written (Flush), so that
// the queue never overflows (at a decision and record of ~12 µs, with a
// new bucket or two each, it would: the writes dropped, the figure
// flattered); dropped reports the writes dropped (0).
func BenchmarkAuthorizeSQLite(b *testing.B) {
	ctx := context.Background()
	s, e := benchEngine(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%5000 == 4999 {
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
		a := risk.Auth{ID: fmt.Sprintf("T1|%06d|x", i), At: t0.Add(time.Duration(i) * time.Second), Token: fmt.Sprintf("tok_%d", i%50),
			Card: fmt.Sprintf("par_%d", i%50), Phone: fmt.Sprintf("ph_%d", i%50), Merchant: "M1", Amount: 5000, City: "BEIJING", Country: "CN"}
		d, err := e.Authorize(ctx, a)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.RecordAuth(ctx, a, d.Outcome != risk.Decline); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Dropped()), "dropped")
}

// BenchmarkDecideParallelSQLite decides and records authorizations from
// 8 goroutines over 1,000 cards on the SQLite wing's store while its
// flusher writes in the background, and reports the 99th percentile of
// one decision plus its recording (p99-µs).
func BenchmarkDecideParallelSQLite(b *testing.B) {
	ctx := context.Background()
	_, e := benchEngine(b)
	var mu sync.Mutex
	var lat []time.Duration
	var seq atomic.Int64
	b.SetParallelism(4) // 8 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := seq.Add(1)
			a := risk.Auth{ID: fmt.Sprintf("T1|%06d|x", i), At: t0.Add(time.Duration(i) * 10 * time.Millisecond), Token: fmt.Sprintf("tok_%d", i%1000),
				Card: fmt.Sprintf("par_%d", i%1000), Phone: fmt.Sprintf("ph_%d", i%250), Merchant: fmt.Sprintf("M%d", i%20), Amount: 500 + i%5000, City: "BEIJING", Country: "CN"}
			began := time.Now()
			d, err := e.Authorize(ctx, a)
			if err == nil {
				err = e.RecordAuth(ctx, a, d.Outcome != risk.Decline)
			}
			mine = append(mine, time.Since(began))
			if err != nil {
				b.Error(err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
