package sqlstore

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

func storedCount(t *testing.T, s *Store, series, key string) int64 {
	t.Helper()
	var n int64
	if err := s.DB.QueryRow(context.Background(), `SELECT COALESCE(SUM(n), 0) FROM risk_counters WHERE series = ? AND subject = ?`, series, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQueuedWritesSeenAndDrained: while the flusher cannot write, the
// store's own reads (counters, sightings, decisions) already count what
// RecordAuth and SaveDecision queued — a burst of declines is seen by the
// next decision — though nothing is in the table yet; once written they
// are counted once, not twice; Close drains the queue so that a restart
// loses nothing.
func TestQueuedWritesSeenAndDrained(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, _ := risk.New(risk.Default(), s)
	s.rec.flushMu.Lock() // the flusher stalls, as on a slow database
	const declines = 7
	var last risk.Decision
	for i := 0; i < declines+1; i++ {
		a := risk.Auth{ID: fmt.Sprintf("T1|%06d|x", i), At: t0.Add(time.Duration(i) * time.Second), Token: "tok_A", Card: "par_A", Phone: "ph_A",
			Merchant: "M1", Amount: 100, City: "BEIJING"}
		d, err := e.Authorize(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		last = d
		if err := s.SaveDecision(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := e.RecordAuth(ctx, a, i == declines); err != nil {
			t.Fatal(err)
		}
	}
	q := risk.Query{Series: "card.d.m", Key: "par_A", From: 0, To: 1 << 40}
	check := func(when string, s *Store) {
		t.Helper()
		rows, err := s.Read(ctx, []risk.Query{q})
		if err != nil || len(rows[0]) != 1 || rows[0][0].Count != declines {
			t.Errorf("%s: declines read %+v %v, want %d", when, rows, err, declines)
		}
		seen, err := s.Last(ctx, []string{"card:par_A"})
		if err != nil || !seen[0].At.Equal(t0.Add(declines*time.Second)) {
			t.Errorf("%s: last sighting %+v %v, want the approved tap's", when, seen, err)
		}
		d, err := s.DecisionOf(ctx, risk.PointAuthorization, last.ID)
		if err != nil || d.ID != last.ID || d.Version != last.Version {
			t.Errorf("%s: decision %+v %v", when, d, err)
		}
	}
	check("queued", s)
	if n := storedCount(t, s, "card.d.m", "par_A"); n != 0 {
		t.Fatalf("the stalled flusher wrote %d declines", n)
	}
	s.rec.flushMu.Unlock()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("written", s)
	if n := storedCount(t, s, "card.d.m", "par_A"); n != declines {
		t.Fatalf("written: %d declines in the table, want %d", n, declines)
	}

	// Queued at Close: drained, not lost.
	if err := e.RecordAuth(ctx, risk.Auth{ID: "T1|000099|x", At: t0.Add(time.Minute), Token: "tok_A", Card: "par_A", Phone: "ph_A", Merchant: "M1", Amount: 100}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, []risk.Delta{{Series: "x", Key: "k", Count: 1}}); err == nil {
		t.Errorf("Add after Close: got nil, want store_closed")
	}
	s2, err := Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := storedCount(t, s2, "card.d.m", "par_A"); n != declines+1 {
		t.Errorf("after a restart: %d declines, want %d", n, declines+1)
	}
}

// TestFullQueueDrops: with the database stalled and the queue full, a
// write is dropped and counted, never blocking the caller nor failing it.
func TestFullQueueDrops(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.rec.flushMu.Lock()
	s.rec.limit = 3
	for i := 0; i < 5; i++ {
		done := make(chan error, 1)
		go func() { done <- s.Add(ctx, []risk.Delta{{Series: "s", Key: "k", Bucket: int64(i), Count: 1}}) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write %d: %v, want nil (dropped)", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d blocked on a full queue", i)
		}
	}
	if got := s.Dropped(); got != 2 {
		t.Errorf("dropped %d, want 2", got)
	}
	s.rec.flushMu.Unlock()
	rows, _ := s.Read(ctx, []risk.Query{{Series: "s", Key: "k", From: 0, To: 9}})
	if len(rows[0]) != 1 || rows[0][0].Count != 3 {
		t.Errorf("kept %+v, want the 3 queued before the queue filled", rows[0])
	}
}

// TestRefreshKeepsUnwrittenDeltas: the mirror holds this store's own
// deltas from the moment they are queued; a refresh or a full reload
// while they are not yet written (the flusher stalled) puts the
// database's rows back with them on top — another process's committed
// events and this one's queued ones both counted, each once — and once
// they are written, further refreshes count nothing twice.
func TestRefreshKeepsUnwrittenDeltas(t *testing.T) {
	onBoth(t, refreshKeepsUnwrittenDeltas)
}

func refreshKeepsUnwrittenDeltas(t *testing.T, dsn, dir string) {
	ctx := context.Background()
	a, err := Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	delta := func(bucket int64) []risk.Delta {
		return []risk.Delta{{Series: "card.n.m", Key: "par_A", Bucket: bucket, Count: 1, Sum: 10, Expires: 1 << 40, At: 1}}
	}
	q := []risk.Query{{Series: "card.n.m", Key: "par_A", From: 0, To: 10}}
	count := func(when string, want int64) {
		t.Helper()
		rows, err := b.Read(ctx, q)
		if err != nil || len(rows[0]) != 1 || rows[0][0].Count != want || rows[0][0].Sum != want*10 {
			t.Errorf("%s: read %+v %v, want %d events", when, rows, err, want)
		}
	}
	for i := 0; i < 3; i++ { // the other process's, committed
		if err := a.Add(ctx, delta(int64(i%2))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.rec.flushMu.Lock() // b's flusher stalls: its deltas stay queued
	for i := 0; i < 4; i++ {
		if err := b.Add(ctx, delta(int64(i%3))); err != nil {
			t.Fatal(err)
		}
	}
	count("queued, before a refresh", 4)
	for _, full := range []bool{false, false, true, false} {
		if err := b.refreshLocked(ctx, full); err != nil {
			t.Fatal(err)
		}
		count(fmt.Sprintf("queued, refreshed (full %v)", full), 7)
	}
	b.rec.flushMu.Unlock()
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	count("written", 7)
	for _, full := range []bool{false, true} {
		if err := b.refresh(ctx, full); err != nil {
			t.Fatal(err)
		}
		count(fmt.Sprintf("written, refreshed (full %v)", full), 7)
	}
	if n := storedCount(t, b, "card.n.m", "par_A"); n != 7 {
		t.Errorf("table: %d events, want 7", n)
	}
}

// TestFirstDecisionKept: a decision of a point and id written already is
// kept as it was when another of the same point and id comes in a later
// batch (INSERT OR IGNORE on SQLite, ON CONFLICT DO NOTHING on
// PostgreSQL), with the other rows of that batch written.
func TestFirstDecisionKept(t *testing.T) {
	onBoth(t, firstDecisionKept)
}

func firstDecisionKept(t *testing.T, dsn, dir string) {
	ctx := context.Background()
	s, err := Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := risk.Decision{Point: risk.PointAuthorization, ID: "T1|000001|0314100000", At: t0, Version: 1, Digest: "d1", Outcome: risk.Decline,
		Score: 90, Reasons: []string{}, Hits: []risk.Hit{}}
	again, other := first, first
	again.Outcome, again.Score = risk.Approve, 0
	other.ID = "T1|000002|0314100000"
	for _, batch := range [][]risk.Decision{{first}, {again, other}} {
		for _, d := range batch {
			if err := s.SaveDecision(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []risk.Decision{first, other} {
		got, err := s.DecisionOf(ctx, want.Point, want.ID)
		if err != nil || got.Outcome != want.Outcome || got.Score != want.Score {
			t.Errorf("%s: got %+v %v, want %s %d", want.ID, got, err, want.Outcome, want.Score)
		}
	}
}

// onBoth runs f on a SQLite wing in a temporary folder and, with
// TAPWALLET_TEST_POSTGRES set, on PostgreSQL (dsn, and no folder).
func onBoth(t *testing.T, f func(t *testing.T, dsn, dir string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "", t.TempDir()) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { f(t, sqldbtest.PostgresDSN(t), "") })
	}
}

// TestAddTap: an approved tap's record in one call (risk.TapRecorder:
// its deltas and sightings in one queueing) is Add and SetLast — queued,
// written and after a restart the store answers as a Memory given Add
// and SetLast, and so does a Memory given AddTap.
func TestAddTap(t *testing.T) {
	onBoth(t, addTap)
}

func addTap(t *testing.T, dsn, dir string) {
	ctx := context.Background()
	ds := []risk.Delta{{Series: "x", Key: "k", Bucket: 5, Count: 1, Sum: 700, Expires: 1 << 40, At: 1},
		{Series: "y", Key: "k", Member: "a", Bucket: 6, Count: 2, Sum: 3, Expires: 1 << 40, At: 1}}
	keys := []string{"card:c", "phone:p"}
	x := risk.Sighting{Place: risk.Place{Lat: 39.9, Lon: 116.4}, At: t0}
	want := risk.NewMemory()
	want.Add(ctx, ds)
	for _, k := range keys {
		want.SetLast(ctx, k, x)
	}
	qs := []risk.Query{{Series: "x", Key: "k", From: 0, To: 9}, {Series: "y", Key: "k", From: 0, To: 9}}
	wantRows, _ := want.Read(ctx, qs)
	check := func(when string, st risk.State) {
		t.Helper()
		rows, err := st.Read(ctx, qs)
		if err != nil || !reflect.DeepEqual(rows, wantRows) {
			t.Errorf("%s: rows %v %v, want %v", when, rows, err, wantRows)
		}
		seen, err := st.Last(ctx, append(keys, "card:other"))
		if err != nil || len(seen) != 3 || seen[2].Known() {
			t.Fatalf("%s: sightings %v %v", when, seen, err)
		}
		for i := range keys {
			if seen[i].Place != x.Place || !seen[i].At.Equal(x.At) {
				t.Errorf("%s: %s seen %v, want %v", when, keys[i], seen[i], x)
			}
		}
	}
	m := risk.NewMemory()
	if err := m.AddTap(ctx, ds, keys, x); err != nil {
		t.Fatal(err)
	}
	check("a Memory", m)
	s := openClosed(t, dsn, dir)
	if err := s.AddTap(ctx, ds, keys, x); err != nil {
		t.Fatal(err)
	}
	check("queued", s)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("written", s)
	s.Close()
	check("after a restart", openClosed(t, dsn, dir))
}
