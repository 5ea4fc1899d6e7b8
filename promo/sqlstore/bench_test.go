package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// BenchmarkMatchAndReserve is what an authorization adds with campaigns
// active: rank 200 campaigns (a third fit) and reserve the best one's
// budget and the card's limits, as promo.Apply does — on SQLite, and on
// PostgreSQL with TAPWALLET_TEST_POSTGRES.
func BenchmarkMatchAndReserve(b *testing.B) {
	run := func(b *testing.B, dsn, dir string) {
		ctx := context.Background()
		s, err := sqlstore.Open(ctx, dsn, dir)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		m := save200(b, s)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			p := &promo.Purchase{Identity: fmt.Sprintf("m%d", i), Card: fmt.Sprintf("k%d", i%1000), Bank: "icbc",
				Channel: promo.ChannelNFC, Gross: 12000, At: at}
			if _, _, ok, err := promo.Apply(ctx, s, m, p); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	}
	b.Run("sqlite", func(b *testing.B) { run(b, "", b.TempDir()) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		b.Run("postgres", func(b *testing.B) { run(b, sqldbtest.PostgresDSN(b), "") })
	}
}

// save200 saves 200 campaigns of random discounts ending over a week, a
// third of them open to an ICBC card, and returns their matcher.
func save200(b *testing.B, s *sqlstore.Store) *promo.Matcher {
	var cs []promo.Campaign
	for i := 0; i < 200; i++ {
		c := campaign(fmt.Sprintf("c%03d", i), 1<<40, promo.Limits{CardDayCount: 1000000})
		c.Mechanic = promo.Mechanic{Kind: promo.MechanicRandom, Min: 1, Max: 900}
		c.Window.End = at.Add(time.Duration(1+i%7) * 24 * time.Hour)
		if i%3 != 0 {
			c.Eligibility.Banks = []string{"ccb"}
		}
		cs = append(cs, c)
	}
	if err := s.Save(context.Background(), cs); err != nil {
		b.Fatal(err)
	}
	return promo.NewMatcher(cs)
}

// BenchmarkReserveParallel is 32 authorizations at a time reserving the
// best of 200 campaigns, through the plain store (one transaction each)
// and through Batch (group commit); it reports the latency of one
// reservation at the 50th and 99th percentile beside the time per
// reservation.
func BenchmarkReserveParallel(b *testing.B) {
	run := func(b *testing.B, dsn, dir string, batch bool) {
		ctx := context.Background()
		s, err := sqlstore.Open(ctx, dsn, dir)
		if err != nil {
			b.Fatal(err)
		}
		var st promo.Store = s
		if batch {
			bs := sqlstore.NewBatch(s)
			defer bs.Close()
			st = bs
		} else {
			defer s.Close()
		}
		m := save200(b, s)
		var mu sync.Mutex
		var lat []time.Duration
		var n atomic.Int64
		b.SetParallelism(16) // × GOMAXPROCS goroutines
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				i := n.Add(1)
				p := &promo.Purchase{Identity: fmt.Sprintf("m%d", i), Card: fmt.Sprintf("k%d", i%1000), Bank: "icbc",
					Channel: promo.ChannelNFC, Gross: 12000, At: at}
				t0 := time.Now()
				if _, _, ok, err := promo.Apply(ctx, st, m, p); err != nil || !ok {
					b.Error(ok, err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		}
	}
	for _, batch := range []bool{false, true} {
		name := "store"
		if batch {
			name = "batch"
		}
		b.Run("sqlite-"+name, func(b *testing.B) { run(b, "", b.TempDir(), batch) })
		if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
			b.Run("postgres-"+name, func(b *testing.B) { run(b, sqldbtest.PostgresDSN(b), "", batch) })
		}
	}
}
