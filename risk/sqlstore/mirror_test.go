package sqlstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestDecisionReadsNoSQL: once the store is open, a decision's reads
// (counters, sightings, snoozes) are answered from memory: they give the
// same figures after the database underneath is closed.
func TestDecisionReadsNoSQL(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.OpenWing(ctx, "", t.TempDir(), Wing)
	if err != nil {
		t.Fatal(err)
	}
	s := New(db)
	e, _ := risk.New(risk.Default(), s)
	for i := 0; i < 4; i++ {
		a := risk.Auth{ID: fmt.Sprintf("T1|%06d|x", i), At: t0.Add(time.Duration(i) * time.Minute), Token: "tok_A", Card: "par_A", Phone: "ph_A",
			Merchant: "M1", Amount: 100, City: "BEIJING"}
		if err := e.RecordAuth(ctx, a, i != 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snooze(ctx, "auth.x", "p", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storedCount(t, s, "card.n.m", "par_A"); n != 4 {
		t.Fatalf("stored: %d, want 4", n)
	}
	db.Close()
	a := risk.Auth{ID: "T1|000009|x", At: t0.Add(5 * time.Minute), Token: "tok_A", Card: "par_A", Phone: "ph_A", Merchant: "M1", Amount: 100, City: "SHANGHAI"}
	d, err := e.Authorize(ctx, a)
	if err != nil {
		t.Fatalf("a decision with the database closed: %v", err)
	}
	want := map[string]any{"token.count_15m": 5.0, "card.declines_1h": 1.0, "token.uses": 3.0}
	for _, h := range d.Hits {
		for _, in := range h.Inputs {
			if w, ok := want[in.Attr]; ok && in.Value != w {
				t.Errorf("%s: got %v, want %v", in.Attr, in.Value, w)
			}
		}
	}
	rows, err := s.Read(ctx, []risk.Query{{Series: "card.n.m", Key: "par_A", From: 0, To: 1 << 40}})
	if err != nil || len(rows[0]) != 1 || rows[0][0].Count != 4 || rows[0][0].Sum != 400 {
		t.Errorf("counters with the database closed: got %+v %v, want 4 events, 400", rows, err)
	}
	seen, err := s.Last(ctx, []string{"card:par_A"})
	if err != nil || !seen[0].At.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("the last tap with the database closed: got %+v %v", seen, err)
	}
	if ok, err := s.Snoozed(ctx, "auth.x", "p", t0); !ok || err != nil {
		t.Errorf("the snooze with the database closed: got %v %v", ok, err)
	}
	var travel bool
	for _, h := range d.Hits {
		travel = travel || h.Rule == "auth.impossible_travel"
	}
	if !travel {
		t.Errorf("Shanghai 2 minutes after Beijing: got %s with %+v, want impossible travel from the remembered tap", d, d.Hits)
	}
	s.Close()
}

// TestRefresherSeesOtherProcess: with two processes on one database, the
// background refresher brings the other's committed events within its
// interval, each counted once; a restart loads them all.
func TestRefresherSeesOtherProcess(t *testing.T) {
	dsns := map[string]func(t *testing.T) (string, string){"sqlite": func(t *testing.T) (string, string) { return "", t.TempDir() }}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		dsns["postgres"] = func(t *testing.T) (string, string) { return sqldbtest.PostgresDSN(t), "" }
	}
	for name, where := range dsns {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn, dir := where(t)
			s1, err := Open(ctx, dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s1.Close()
			s2, err := Open(ctx, dsn, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			s2.SetRefresh(20 * time.Millisecond)
			e1, _ := risk.New(risk.Default(), s1)
			q := []risk.Query{{Series: "merchant.n.m", Key: "M1", From: 0, To: 1 << 40}}
			const n = 50
			for i := 0; i < n; i++ {
				a := risk.Auth{ID: fmt.Sprintf("T1|%06d|x", i), At: t0.Add(time.Duration(i) * time.Second), Token: "tok_A", Merchant: "M1", Amount: 10}
				if err := e1.RecordAuth(ctx, a, true); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			var got int64
			for time.Now().Before(deadline) {
				rows, _ := s2.Read(ctx, q)
				if got = 0; len(rows[0]) == 1 {
					got = rows[0][0].Count
				}
				if got >= n {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got != n {
				t.Fatalf("the other process's %d events: read %d", n, got)
			}
			time.Sleep(100 * time.Millisecond) // more refreshes re-read the same rows
			if rows, _ := s2.Read(ctx, q); rows[0][0].Count != n || rows[0][0].Sum != 10*n {
				t.Errorf("after more refreshes: got %+v, want %d events, %d", rows[0], n, 10*n)
			}
		})
	}
}

// TestBatchInChunks: a batch of 1,000 rows goes in statements of a
// power of two rows (256, …) and every row is stored once, in the table
// and in a reloaded mirror.
func TestBatchInChunks(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1000
	ds := make([]risk.Delta, n)
	for i := range ds {
		ds[i] = risk.Delta{Series: "x", Key: "k", Member: fmt.Sprintf("m%04d", i), Bucket: 1, Count: 1, Sum: int64(i)}
	}
	if err := s.Add(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, sum int64
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*), SUM(total) FROM risk_counters WHERE series = 'x'`).Scan(&rows, &sum); err != nil || rows != n || sum != n*(n-1)/2 {
		t.Fatalf("stored %d rows, sum %d (%v); want %d, %d", rows, sum, err, n, n*(n-1)/2)
	}
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Read(ctx, []risk.Query{{Series: "x", Key: "k", From: 0, To: 9}})
	if len(got[0]) != n {
		t.Errorf("the reloaded mirror holds %d members, want %d", len(got[0]), n)
	}
}
