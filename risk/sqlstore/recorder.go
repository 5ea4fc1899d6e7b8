package sqlstore

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

// The recording path is off the authorization's hot path: Add, SetLast
// and SaveDecision put their rows in a bounded in-process queue and
// return; one background flusher drains it in batches, one transaction a
// batch, at most one batch every flushGap (group commit: what piled up
// since the previous batch began goes together), with the counters' deltas merged per bucket into one
// multi-row upsert, the sightings merged per subject (the latest) and the
// decisions inserted together. A counter's delta goes into the mirror
// (mirror.go) as it is queued; until its batch commits, a queued (or
// being written) sighting or decision is an overlay that this store's
// Last and DecisionOf add to the mirror or to what the database answers;
// so the same process's next decision sees every event it recorded (a
// burst of declines is counted before the next tap is decided). The database's upserts keep several
// processes exact; another process sees this one's events once their
// batch commits and it refreshed (within a second or so). Close drains
// the queue; a crash loses what was queued and not yet committed (the
// last flushGap or so of counters and decisions: risk signals, never
// money).
//
// On overflow (maxPending rows queued, e.g. when the database is down) a
// write is dropped, counted (Dropped) and logged: a slow risk store never
// blocks or fails an authorization.
const (
	maxPending = 200_000 // queued rows (cells, sightings, decisions) before writes are dropped
	chunkRows  = 256     // rows per multi-row statement at most (a power of two; below SQLite's 32766 parameters)
	// flushGap is the least time from one batch's start to the next's:
	// under load a batch carries what came in the last flushGap. A
	// batch's counter rows are about as many whatever its length (each
	// active subject's few buckets), so a longer gap merges more events
	// per row and rewrites the tables' pages less often: at 50 ms, bench
	// auth --risk shadow wrote 9.7-10.1 KB an authorization, at 200 ms
	// 8.1-9.0 (and the decisions' rows go in larger runs).
	flushGap = 200 * time.Millisecond
)

// cellKey is a counter's bucket: one map key (one hash of its strings a
// delta, where a map of subjects holding maps of buckets took two).
type cellKey struct {
	series, subject, member string
	bucket                  int64
}
type decKey struct{ point, id string }

// pending is one generation of queued writes.
type pending struct {
	cells map[cellKey]*risk.Delta
	seen  map[string]risk.Sighting
	// decs are the decisions in the order kept, each point and id once
	// (decAt: its place): the batch sorts pointers into them, where a map
	// of Decision values (~230 bytes) was copied into a slice first.
	decs  []risk.Decision
	decAt map[decKey]int
	n     int
}

func newPending() *pending {
	return &pending{cells: map[cellKey]*risk.Delta{}, seen: map[string]risk.Sighting{}, decAt: map[decKey]int{}}
}

// newPendingLike is a generation sized for as much as p holds (the next
// batch is likely as large: its maps then do not grow from nothing).
func newPendingLike(p *pending) *pending {
	return &pending{cells: make(map[cellKey]*risk.Delta, len(p.cells)), seen: make(map[string]risk.Sighting, len(p.seen)),
		decs: make([]risk.Decision, 0, len(p.decs)), decAt: make(map[decKey]int, len(p.decs))}
}

type recorder struct {
	view    sync.RWMutex // DecisionOf (R) against a batch's commit (W): it sees a decision in the database or in the overlay, never both
	flushMu sync.Mutex   // one flush at a time
	mu      sync.Mutex   // queued and inflight
	queued  *pending
	flight  *pending     // taken by the flush in progress (or failed and to retry)
	base    *risk.Memory // the mirror: the committed rows, plus the queued and in-flight counters (mirror.go)
	closed  bool
	limit   int           // maxPending; lower in tests
	gap     time.Duration // flushGap; longer in benchmarks (only Flush writes then, after the first batch)
	dropped atomic.Int64
	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	wg      sync.WaitGroup // the refresher
	log     *slog.Logger
}

func (s *Store) startRecorder() {
	s.rec = &recorder{queued: newPending(), flight: newPending(), base: risk.NewMemory(), limit: maxPending, gap: flushGap, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{}), log: slog.Default()}
	go s.flusher()
}

var errClosed = fault.E(fault.Unavailable, "store_closed", "the risk store is closed")

// enqueue applies put to the queue (rows: how many rows it may add) and
// wakes the flusher; it drops the write when the queue is full.
func (s *Store) enqueue(what string, rows int, put func(p *pending)) error {
	r := s.rec
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosed
	}
	if r.queued.n+r.flight.n+rows > r.limit {
		r.mu.Unlock()
		if n := r.dropped.Add(1); n == 1 || n%1000 == 0 {
			r.log.Error("risk: the recording queue is full (the risk database is slow or down); dropping writes", "what", what, "dropped", n)
		}
		return nil
	}
	put(r.queued)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// SetLog sets where the flusher's failures and drops are logged
// (default slog.Default()); call it before recording.
func (s *Store) SetLog(l *slog.Logger) {
	if l != nil {
		s.rec.log = l
	}
}

// Dropped is how many writes were dropped because the queue was full.
func (s *Store) Dropped() int64 { return s.rec.dropped.Load() }

func (p *pending) addDelta(d risk.Delta) {
	c := cellKey{d.Series, d.Key, d.Member, d.Bucket}
	if o, ok := p.cells[c]; ok {
		o.Count += d.Count
		o.Sum += d.Sum
		o.Expires = max(o.Expires, d.Expires)
		return
	}
	nd := d // allocated only for a new bucket
	p.cells[c] = &nd
	p.n++
}

func (p *pending) setLast(key string, x risk.Sighting) {
	if old, ok := p.seen[key]; ok {
		if x.At.After(old.At) {
			p.seen[key] = x
		}
		return
	}
	p.seen[key] = x
	p.n++
}

func (p *pending) saveDecision(d risk.Decision) {
	k := decKey{string(d.Point), d.ID}
	if _, ok := p.decAt[k]; !ok { // the first kept wins, as in the table
		p.decAt[k] = len(p.decs)
		p.decs = append(p.decs, d)
		p.n++
	}
}

func (s *Store) flusher() {
	r := s.rec
	defer close(r.stopped)
	for {
		select {
		case <-r.kick:
		case <-r.stop:
			s.drain()
			return
		}
		for s.queuedRows() > 0 {
			began := time.Now()
			wait := r.gap
			if _, err := s.batch(context.Background()); err != nil {
				r.log.Error("risk: writing the recorded counters and decisions failed; retrying", "err", fault.MessageOf(err))
				wait = 200 * time.Millisecond
			}
			// What comes meanwhile goes in the next batch: fewer
			// commits, more events merged per bucket.
			select {
			case <-time.After(wait - time.Since(began)):
			case <-r.stop:
				s.drain()
				return
			}
		}
	}
}

// drain writes what is queued at Close, retrying a few times.
func (s *Store) drain() {
	for try := 0; s.queuedRows() > 0 && try < 5; try++ {
		if err := s.Flush(context.Background()); err != nil {
			s.rec.log.Error("risk: writing the recorded counters and decisions at close failed", "err", fault.MessageOf(err), "try", try+1)
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
	}
	if n := s.queuedRows(); n > 0 {
		s.rec.log.Error("risk: closing with recorded rows not written", "rows", n)
	}
}

func (s *Store) queuedRows() int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.queued.n + s.rec.flight.n
}

// Flush writes everything queued before the call in one transaction (or
// what a failed batch left first) and returns once it is committed. It
// fails with fault.Unavailable when the database does (the rows stay
// queued and are retried).
func (s *Store) Flush(ctx context.Context) error {
	for {
		more, err := s.batch(ctx)
		if err != nil || !more || ctx.Err() != nil {
			return err
		}
	}
}

// batch writes one batch — what a failed batch left, else everything
// queued — in one transaction and reports whether more is queued.
func (s *Store) batch(ctx context.Context) (more bool, err error) {
	r := s.rec
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	if r.flight.n == 0 {
		r.flight, r.queued = r.queued, newPendingLike(r.queued)
	}
	p := r.flight
	r.mu.Unlock()
	if p.n == 0 {
		return false, nil
	}
	locked := false
	kept := s.keptFor(ctx, p)
	err = s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := writeBatch(ctx, tx, p, kept, time.Now().UnixMilli()); err != nil {
			return err
		}
		if !locked { // the commit follows: no read of the decisions may straddle it
			r.view.Lock()
			locked = true
		}
		return nil
	})
	if err == nil { // committed: the sightings from the overlay to the mirror, at once
		r.mu.Lock()
		r.commit(p)
		r.flight = newPending()
		r.mu.Unlock()
	}
	if locked {
		r.view.Unlock()
	}
	if err != nil {
		return true, sqldb.Err(err, "writing the recorded risk counters and decisions")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued.n > 0, nil
}

// keptFor returns the stored rule sets of the batch's decisions' versions
// (keptRules): with one, a decision it explains is kept short; without
// (not stored, or the database failed), whole.
func (s *Store) keptFor(ctx context.Context, p *pending) map[int]*risk.KeptRules {
	kept := map[int]*risk.KeptRules{}
	for i := range p.decs {
		v := p.decs[i].Version
		if _, ok := kept[v]; !ok {
			kept[v], _ = s.keptRules(ctx, v)
		}
	}
	return kept
}

// commit adds a committed batch's sightings to the mirror (under r.mu;
// its counters are there since they were queued).
func (r *recorder) commit(p *pending) {
	for k, x := range p.seen {
		r.base.SetLast(context.Background(), k, x)
	}
}

// unwritten adds to d (a row as the database holds it) the deltas of its
// bucket still queued or in flight (under r.mu).
func (r *recorder) unwritten(d *risk.Delta) {
	for _, p := range [2]*pending{r.flight, r.queued} {
		if q, ok := p.cells[cellKey{d.Series, d.Key, d.Member, d.Bucket}]; ok {
			d.Count += q.Count
			d.Sum += q.Sum
			d.Expires = max(d.Expires, q.Expires)
		}
	}
}

// unwrittenAll returns every queued and in-flight delta (under r.mu).
func (r *recorder) unwrittenAll() []risk.Delta {
	var out []risk.Delta
	for _, p := range [2]*pending{r.flight, r.queued} {
		for _, d := range p.cells {
			out = append(out, *d)
		}
	}
	return out
}

// writeBatch writes a batch, each row stamped changed (wall ms, for the
// other processes' refresh): the counters in key order (two processes
// take the rows' locks in one order), the sightings, the decisions (their
// bodies short where kept, their version's stored set, explains them:
// risk.KeptRules).
func writeBatch(ctx context.Context, tx *sqldb.Tx, p *pending, kept map[int]*risk.KeptRules, changed int64) error {
	changedArg := any(changed) // every row's: boxed once
	ds := make([]*risk.Delta, 0, len(p.cells))
	for _, d := range p.cells {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Series != b.Series {
			return a.Series < b.Series
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Member != b.Member {
			return a.Member < b.Member
		}
		return a.Bucket < b.Bucket
	})
	// In key order a row's series, and often its subject, bucket and
	// expiry, are the previous row's: boxed once for both (lastArg).
	var series, key lastArg[string]
	var bucket, expires lastArg[int64]
	err := chunked(ctx, tx, len(ds), `INSERT INTO risk_counters (series, subject, member, bucket, n, total, expires, changed) VALUES `, 8,
		func(i int, args []any) []any {
			d := ds[i]
			return append(args, series.of(d.Series), key.of(d.Key), d.Member, bucket.of(d.Bucket), d.Count, d.Sum, expires.of(d.Expires), changedArg)
		}, ` ON CONFLICT (series, subject, member, bucket) DO UPDATE SET n = risk_counters.n + excluded.n,
		total = risk_counters.total + excluded.total,
		expires = CASE WHEN excluded.expires > risk_counters.expires THEN excluded.expires ELSE risk_counters.expires END,
		changed = excluded.changed`, nil)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(p.seen))
	for k := range p.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	err = chunked(ctx, tx, len(keys), `INSERT INTO risk_sightings (subject, lat, lon, seen_at, changed) VALUES `, 5,
		func(i int, args []any) []any {
			x := p.seen[keys[i]]
			return append(args, keys[i], x.Lat, x.Lon, sqldb.Millis(x.At), changedArg)
		}, ` ON CONFLICT (subject) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, seen_at = excluded.seen_at, changed = excluded.changed
			WHERE excluded.seen_at > risk_sightings.seen_at`, nil)
	if err != nil {
		return err
	}
	// sorted by key as pointers (a Decision is ~230 bytes: sorting the
	// values moved most of a kilobyte a comparison)
	decs := make([]*risk.Decision, len(p.decs))
	for i := range p.decs {
		decs[i] = &p.decs[i]
	}
	slices.SortFunc(decs, func(a, b *risk.Decision) int {
		if a.Point != b.Point {
			return strings.Compare(string(a.Point), string(b.Point))
		}
		return strings.Compare(a.ID, b.ID) // one comparison (cmp.Compare of strings made up to three)
	})
	// A statement's bodies are written into one buffer and made one
	// string, each row's body a part of it; its point and outcome are
	// arguments boxed once (textArg): per row, a string copied and three
	// made interfaces were four allocations.
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	buf := *bp
	var bodies string
	var first int           // the statement's first row
	var ends [chunkRows]int // where each of its rows' bodies ends in bodies
	head, tail := decisionInsert(tx.Dialect())
	return chunked(ctx, tx, len(decs), head, 7,
		func(i int, args []any) []any {
			d, j := decs[i], i-first
			from := 0
			if j > 0 {
				from = ends[j-1]
			}
			return append(args, textArg(string(d.Point)), d.ID, sqldb.Millis(d.At), d.Version, textArg(d.Outcome.String()), d.Score,
				bodies[from:ends[j]])
		}, tail, func(from, to int) {
			buf, first = buf[:0], from
			for i := from; i < to; i++ {
				d := decs[i]
				buf = kept[d.Version].AppendBody(buf, d)
				ends[i-from] = len(buf)
			}
			bodies = string(buf)
			*bp = buf
		})
}

// bodyBufs are writeBatch's buffers of a statement's bodies, reused (a
// 256-row statement's are ~40 KB).
var bodyBufs = sync.Pool{New: func() any { return new([]byte) }}

// lastArg is the last value made a statement's argument, and the
// argument: a row whose value is the previous row's takes it again (a
// string or a large number made an interface is an allocation).
type lastArg[T comparable] struct {
	v   T
	arg any
}

func (l *lastArg[T]) of(v T) any {
	if l.arg == nil || v != l.v {
		l.v, l.arg = v, v
	}
	return l.arg
}

// repeatedTexts are the texts every decision row repeats — the points and
// the outcomes — boxed once (textArg).
var repeatedTexts = func() (t [6]struct {
	s string
	a any
}) {
	for i, s := range []string{string(risk.PointAuthorization), string(risk.PointBinding), string(risk.PointTransit),
		risk.Approve.String(), risk.Review.String(), risk.Decline.String()} {
		t[i].s, t[i].a = s, s
	}
	return t
}()

// textArg is s as a statement's argument: a point's or an outcome's
// boxed once, another boxed anew (a string made an interface is an
// allocation).
func textArg(s string) any {
	for i := range repeatedTexts {
		if repeatedTexts[i].s == s {
			return repeatedTexts[i].a
		}
	}
	return s
}

// decisionInsert is the statement that keeps decisions, the first kept
// of a point and id winning. On SQLite it is INSERT OR IGNORE rather than
// ON CONFLICT DO NOTHING: a multi-row statement one of whose rows may
// abort it (the columns' NOT NULL checks, ABORT by default) first copies
// every page it changes into a statement journal, to undo itself alone;
// under OR IGNORE no row aborts it, so SQLite keeps none (as the switch's
// records do). The constraints stay: the key refuses a second row, a
// NULL would leave its row out — the values bound are never NULL.
// PostgreSQL has no OR IGNORE.
func decisionInsert(d sqldb.Dialect) (head, tail string) {
	const cols = ` INTO risk_decisions (point, id, decided_at, version, outcome, score, body) VALUES `
	if d == sqldb.SQLite {
		return `INSERT OR IGNORE` + cols, ``
	}
	return `INSERT` + cols, ` ON CONFLICT (point, id) DO NOTHING`
}

// chunked runs head + value tuples of width columns + tail for rows
// 0..n-1, row adding its arguments: in statements of a power of two rows
// (at most chunkRows), so that a few texts serve every batch, each
// prepared once and kept (tx.Stmt): parsing a new multi-row text per
// batch was most of the flusher's cost on SQLite. Each statement's rows
// from..to-1 (at most chunkRows) are given first to prep when not nil.
func chunked(ctx context.Context, tx *sqldb.Tx, n int, head string, width int, row func(i int, args []any) []any, tail string,
	prep func(from, to int)) error {
	buf := argBufs.Get().(*[]any)
	defer argBufs.Put(buf)
	for from := 0; from < n; {
		size := chunkRows
		for size > n-from {
			size /= 2
		}
		if prep != nil {
			prep(from, from+size)
		}
		args := (*buf)[:0]
		for i := from; i < from+size; i++ {
			args = row(i, args)
		}
		*buf = args
		st, err := tx.Stmt(ctx, stmtText(head, width, size, tail))
		if err == nil {
			_, err = st.ExecContext(ctx, args...)
		}
		clear(args) // the rows' strings go, the array stays
		if err != nil {
			return err
		}
		from += size
	}
	return nil
}

// argBufs are chunked's argument slices, reused.
var argBufs = sync.Pool{New: func() any { args := make([]any, 0, 8*chunkRows); return &args }}

type stmtKey struct {
	head, tail  string
	width, size int
}

// stmtTexts are the statements' texts chunked made (a few: powers of two
// up to chunkRows a statement), kept rather than built anew for every
// statement (a 256-row text is ~5 KB).
var stmtTexts sync.Map

// stmtText is head, size tuples of width placeholders, and tail.
func stmtText(head string, width, size int, tail string) string {
	k := stmtKey{head, tail, width, size}
	if q, ok := stmtTexts.Load(k); ok {
		return q.(string)
	}
	tuple := "(?" + strings.Repeat(", ?", width-1) + ")"
	q := head + tuple + strings.Repeat(", "+tuple, size-1) + tail
	stmtTexts.Store(k, q)
	return q
}

// overlayDecision returns a queued or inflight decision.
func (r *recorder) overlayDecision(p risk.Point, id string) (risk.Decision, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range [2]*pending{r.flight, r.queued} {
		if i, ok := q.decAt[decKey{string(p), id}]; ok {
			return q.decs[i], true
		}
	}
	return risk.Decision{}, false
}

// stopRecorder drains the queue and stops the flusher; later writes fail
// with fault.Unavailable "store_closed".
func (s *Store) stopRecorder() {
	r := s.rec
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.stop)
	}
	<-r.stopped
	r.wg.Wait()
}
