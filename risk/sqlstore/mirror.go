package sqlstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The decision's reads are off the database: the store keeps the wing's
// counters, sightings and snoozes in memory (the mirror, a risk.Memory),
// loaded when it opens, and answers Read, Last and Snoozed from it (Last
// plus its queued and in-flight sightings: the overlay, recorder.go). Its
// own counters' deltas go into the mirror as they are queued. An
// authorization reads no SQL.
//
// What the mirror holds, with several processes on one database (e.g.
// several network processes on PostgreSQL):
//   - its own events at once (counters: in the mirror from the moment they
//     are queued; sightings: the overlay until their batch commits, then
//     the mirror — a read sees a batch in one or the other, never both);
//   - the others' events once their batch committed and this store's next
//     refresh ran (every RefreshEvery, default one second): the refresh
//     reads, as absolute values, the rows changed since shortly before the
//     previous one (refreshMargin) and puts them in the mirror — rows, not
//     deltas, so reading a row twice counts nothing twice, and a refresh
//     runs while no batch of this store commits, so its own committed
//     events are in the database and in the mirror alike; its deltas not
//     yet written (queued, or a failed batch's) are added back on top of
//     each row read;
//   - exactly the database, plus its own deltas not yet written, after a
//     full reload (at open, and every resyncEvery): a row whose batch took
//     longer than refreshMargin between its stamp and its commit is seen
//     then at the latest.
//
// Each row carries the wall-clock time (Unix ms) of the batch that last
// changed it (column changed): the hosts' clocks must agree within
// refreshMargin (NTP keeps them within milliseconds).
const (
	refreshMargin = 5 * time.Second
	resyncEvery   = 10 * time.Minute
)

// DefaultRefresh is how often a store reads the rows other processes
// changed (SetRefresh changes it for one store).
const DefaultRefresh = time.Second

// SetRefresh sets how often this store reads the rows other processes
// changed (at least 10 ms).
func (s *Store) SetRefresh(every time.Duration) {
	s.refreshEvery.Store(int64(max(every, 10*time.Millisecond)))
}

// Refresh reads the rows other processes changed since the previous
// refresh into the mirror (the background refresher does it every
// RefreshEvery); it fails with fault.Unavailable when the database does
// (the mirror stays as it was).
func (s *Store) Refresh(ctx context.Context) error { return s.refresh(ctx, false) }

// Reload replaces the mirror with the database's rows (as at open); it
// fails like Refresh.
func (s *Store) Reload(ctx context.Context) error { return s.refresh(ctx, true) }

// mirrorState is when the mirror was refreshed; the mirror itself
// (recorder.base) is guarded by the recorder's lock.
type mirrorState struct {
	since        int64        // wall ms when the previous refresh began (0: reload next); under flushMu
	lastFull     atomic.Int64 // wall ms when the previous full reload began
	refreshEvery atomic.Int64 // nanoseconds
}

// refresh reads the changed rows (every row when full) into the mirror.
// It holds the flush lock: no batch of this store commits meanwhile.
func (s *Store) refresh(ctx context.Context, full bool) error {
	s.rec.flushMu.Lock()
	defer s.rec.flushMu.Unlock()
	return s.refreshLocked(ctx, full)
}

// refreshLocked is refresh under the flush lock.
func (s *Store) refreshLocked(ctx context.Context, full bool) error {
	r := s.rec
	full = full || s.since == 0
	start := time.Now()
	from := int64(-1 << 62)
	if !full {
		from = s.since - refreshMargin.Milliseconds()
	}
	ds, seen, snoozes, err := s.changedRows(ctx, from)
	if err != nil {
		return sqldb.Err(err, "refreshing the risk counters")
	}
	r.mu.Lock()
	m := r.base
	if full {
		m = risk.NewMemory()
	} else { // the rows are as committed: this store's own deltas not yet written go back on top
		for i := range ds {
			r.unwritten(&ds[i])
		}
	}
	m.Set(ds)
	if full {
		m.Add(ctx, r.unwrittenAll())
	}
	for k, x := range seen {
		m.SetLast(ctx, k, x)
	}
	for _, z := range snoozes {
		m.Snooze(ctx, z.rule, z.pattern, z.until)
	}
	r.base = m
	r.mu.Unlock()
	s.since = start.UnixMilli()
	if full {
		s.lastFull.Store(start.UnixMilli())
	}
	return nil
}

type snoozeRow struct {
	rule, pattern string
	until         time.Time
}

// changedRows reads the counters, sightings and snoozes changed at or
// after from (wall ms).
func (s *Store) changedRows(ctx context.Context, from int64) (ds []risk.Delta, seen map[string]risk.Sighting, snoozes []snoozeRow, err error) {
	rows, err := s.DB.Query(ctx, `SELECT series, subject, member, bucket, n, total, expires FROM risk_counters WHERE changed >= ?`, from)
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var d risk.Delta
		if err := rows.Scan(&d.Series, &d.Key, &d.Member, &d.Bucket, &d.Count, &d.Sum, &d.Expires); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		ds = append(ds, d)
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, nil, err
	}
	rows, err = s.DB.Query(ctx, `SELECT subject, lat, lon, seen_at FROM risk_sightings WHERE changed >= ?`, from)
	if err != nil {
		return nil, nil, nil, err
	}
	seen = map[string]risk.Sighting{}
	for rows.Next() {
		var k string
		var x risk.Sighting
		var at int64
		if err := rows.Scan(&k, &x.Lat, &x.Lon, &at); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		x.At = sqldb.Time(at)
		seen[k] = x
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, nil, err
	}
	rows, err = s.DB.Query(ctx, `SELECT rule, pattern, until_at FROM risk_snoozes WHERE changed >= ?`, from)
	if err != nil {
		return nil, nil, nil, err
	}
	for rows.Next() {
		var z snoozeRow
		var until int64
		if err := rows.Scan(&z.rule, &z.pattern, &until); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		z.until = sqldb.Time(until)
		snoozes = append(snoozes, z)
	}
	return ds, seen, snoozes, closeRows(rows)
}

type rowsCloser interface {
	Err() error
	Close() error
}

func closeRows(rows rowsCloser) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// refresher refreshes the mirror every RefreshEvery, and reloads it
// every resyncEvery, until the store closes.
func (s *Store) refresher() {
	r := s.rec
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(time.Duration(s.refreshEvery.Load())):
		}
		err := s.refresh(context.Background(), time.Since(time.UnixMilli(s.lastFull.Load())) >= resyncEvery)
		if err != nil {
			r.log.Error("risk: refreshing the counters from the database failed; deciding on what this process knows", "err", err)
		}
	}
}
