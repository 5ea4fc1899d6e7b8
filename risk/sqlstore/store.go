// Package sqlstore is the risk engine's storage wing: its own database
// (sqldb.OpenWing, wing "risk": the file risk.db on SQLite, the schema
// risk on PostgreSQL) holding the windowed counters, the last sightings,
// the snoozes, every rule set version and the decisions. Counters are
// added with atomic upserts (INSERT … ON CONFLICT DO UPDATE n = n + …), so
// any number of network processes on one database count every event
// exactly once. No statement reaches another party's tables.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the risk engine's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "risk", Migrations: migrations, Dir: "migrations"}

var (
	_ risk.State    = (*Store)(nil)
	_ risk.Versions = (*Store)(nil)
)

// Store is the risk engine's state and versions on its wing's database.
type Store struct {
	sqldb.Held           // the wing's database (s.DB); Close closes it when Open opened it
	rec        *recorder // the queue of counters, sightings and decisions to write (recorder.go)
	reads      preparedReads
}

// preparedReads keeps the decision's reads prepared, by their text (which
// depends only on how many counters or sightings are read): parsing the
// UNION ALL read was most of a decision's cost on SQLite.
type preparedReads struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxPrepared bounds the kept statements (a decision reads at most a few
// dozen counters: one text per count).
const maxPrepared = 128

// query runs q, prepared once and kept (past maxPrepared, as it is).
func (s *Store) query(ctx context.Context, q string, args []any) (*sql.Rows, error) {
	r := &s.reads
	r.mu.Lock()
	st, ok := r.m[q]
	r.mu.Unlock()
	if !ok {
		prepared, err := s.DB.Prepare(ctx, q)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.m == nil {
			r.m = map[string]*sql.Stmt{}
		}
		if old, ok := r.m[q]; ok {
			prepared.Close()
			st = old
		} else if len(r.m) < maxPrepared {
			r.m[q], st = prepared, prepared
		} else {
			r.mu.Unlock()
			defer prepared.Close()
			return prepared.QueryContext(ctx, args...)
		}
		r.mu.Unlock()
	}
	return st.QueryContext(ctx, args...)
}

func (r *preparedReads) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.m {
		st.Close()
	}
	r.m = nil
}

// New returns the store on db, a database opened with Wing, and starts
// its recording queue's flusher (Close drains and stops it).
func New(db *sqldb.DB) *Store { return held(sqldb.Hold(db)) }

// held is New on h: a lent database (Hold) or one the store owns and
// closes (OpenHeld, HoldBeside).
func held(h sqldb.Held) *Store {
	s := &Store{Held: h}
	s.startRecorder()
	return s
}

// Open opens (creating and migrating as needed) the risk wing on the
// backend dsn names ("" for DATA/risk.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close. It fails
// like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	s := held(h)
	return s, nil
}

// Close writes what is queued (see recorder.go), stops the flusher and
// closes the database if Open opened it; it fails like sqldb.DB.Close.
func (s *Store) Close() error {
	s.stopRecorder()
	s.reads.close()
	return s.Held.Close()
}

// Add queues the deltas (merged per bucket with the queued ones) for
// the next batch; this store's reads count them at once. It fails with
// fault.Unavailable "store_closed" after Close; on a full queue it drops
// them (see recorder.go).
func (s *Store) Add(ctx context.Context, ds []risk.Delta) error {
	if len(ds) == 0 {
		return nil
	}
	return s.enqueue("counters", len(ds), func(p *pending) {
		for _, d := range ds {
			p.addDelta(d)
		}
	})
}

// Read answers every query in one statement (one grouped select per
// query, joined by UNION ALL), adding this store's queued deltas. It fails with fault.Unavailable when the
// database does.
func (s *Store) Read(ctx context.Context, qs []risk.Query) ([][]risk.Row, error) {
	out := make([][]risk.Row, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	var q strings.Builder
	args := make([]any, 0, 5*len(qs))
	for i, x := range qs {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString(`SELECT CAST(? AS INTEGER) AS q, member, CAST(SUM(n) AS BIGINT), CAST(SUM(total) AS BIGINT) FROM risk_counters
			WHERE series = ? AND subject = ? AND bucket >= ? AND bucket <= ? GROUP BY member`)
		args = append(args, i, x.Series, x.Key, x.From, x.To)
	}
	q.WriteString(" ORDER BY 1, 2")
	s.rec.view.RLock()
	defer s.rec.view.RUnlock()
	if err := s.readRows(ctx, q.String(), args, out); err != nil {
		return nil, sqldb.Err(err, "reading the risk counters")
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	for i, x := range qs {
		out[i] = s.rec.overlayRows(x, out[i])
	}
	return out, nil
}

func (s *Store) readRows(ctx context.Context, q string, args []any, out [][]risk.Row) error {
	rows, err := s.query(ctx, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var r risk.Row
		if err := rows.Scan(&i, &r.Member, &r.Count, &r.Sum); err != nil {
			return err
		}
		out[i] = append(out[i], r)
	}
	return rows.Err()
}

// SetLast queues a sighting for the next batch, which stores it unless a
// later one is stored; it fails like Add.
func (s *Store) SetLast(ctx context.Context, key string, x risk.Sighting) error {
	return s.enqueue("sighting", 1, func(p *pending) { p.setLast(key, x) })
}

// Last returns the latest sighting of each key (zero when none), this
// store's queued ones included; it fails with fault.Unavailable when the
// database does.
func (s *Store) Last(ctx context.Context, keys []string) ([]risk.Sighting, error) {
	out := make([]risk.Sighting, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	s.rec.view.RLock()
	defer s.rec.view.RUnlock()
	if err := s.lastStored(ctx, keys, out); err != nil {
		return nil, sqldb.Err(err, "reading sightings")
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	for i, k := range keys {
		for _, p := range []*pending{s.rec.flight, s.rec.queued} {
			if x, ok := p.seen[k]; ok && x.At.After(out[i].At) {
				out[i] = x
			}
		}
	}
	return out, nil
}

func (s *Store) lastStored(ctx context.Context, keys []string, out []risk.Sighting) error {
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.query(ctx, `SELECT subject, lat, lon, seen_at FROM risk_sightings WHERE subject IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var x risk.Sighting
		var at int64
		if err := rows.Scan(&k, &x.Lat, &x.Lon, &at); err != nil {
			return err
		}
		x.At = sqldb.Time(at)
		for i := range keys {
			if keys[i] == k {
				out[i] = x
			}
		}
	}
	return rows.Err()
}

// Snooze silences a rule's pattern until a time (a later until wins); it
// fails with fault.Unavailable when the database does.
func (s *Store) Snooze(ctx context.Context, rule, pattern string, until time.Time) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO risk_snoozes (rule, pattern, until_at) VALUES (?, ?, ?)
			ON CONFLICT (rule, pattern) DO UPDATE SET until_at = excluded.until_at WHERE excluded.until_at > risk_snoozes.until_at`,
			rule, pattern, sqldb.Millis(until))
		return err
	}), "recording a snooze")
}

// Snoozed reports whether a rule's pattern is silenced at a time; it fails
// with fault.Unavailable when the database does.
func (s *Store) Snoozed(ctx context.Context, rule, pattern string, at time.Time) (bool, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM risk_snoozes WHERE rule = ? AND pattern = ? AND until_at > ?`, rule, pattern, sqldb.Millis(at)).Scan(&n)
	return n > 0, sqldb.Err(err, "reading a snooze")
}

// Prune writes what is queued, then deletes the buckets and snoozes that
// ended before now; it fails with fault.Unavailable when the database
// does.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM risk_counters WHERE expires <> 0 AND expires < ?`, now.Unix()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM risk_snoozes WHERE until_at <= ?`, sqldb.Millis(now))
		return err
	}), "pruning the risk counters")
}

// PutRules stores a new rule set version; fault.Conflict
// risk.CodeVersion when the version is stored (it is never overwritten).
func (s *Store) PutRules(ctx context.Context, set *risk.RuleSet, at time.Time) error {
	info := risk.Info(set, at)
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO risk_rule_sets (version, digest, rules, note, body, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (version) DO NOTHING`, info.Version, info.Digest, info.Rules, info.Note, string(set.JSON()), sqldb.Millis(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fault.E(fault.Conflict, risk.CodeVersion, "rule set version %d is stored already: a new version needs a new number", set.Version)
		}
		return nil
	}), "storing a rule set")
}

// RulesAt returns a stored version, or fault.NotFound risk.CodeNoVersion.
func (s *Store) RulesAt(ctx context.Context, version int) (*risk.RuleSet, error) {
	var body string
	err := s.DB.QueryRow(ctx, `SELECT body FROM risk_rule_sets WHERE version = ?`, version).Scan(&body)
	if sqldb.NoRows(err) {
		return nil, fault.E(fault.NotFound, risk.CodeNoVersion, "no rule set version %d", version)
	}
	if err != nil {
		return nil, sqldb.Err(err, "reading a rule set")
	}
	return risk.DecodeRules(strings.NewReader(body))
}

// RuleVersions lists the stored versions, oldest first.
func (s *Store) RuleVersions(ctx context.Context) ([]risk.VersionInfo, error) {
	rows, err := s.DB.Query(ctx, `SELECT version, digest, rules, note, created_at FROM risk_rule_sets ORDER BY version`)
	if err != nil {
		return nil, sqldb.Err(err, "listing rule sets")
	}
	defer rows.Close()
	out := []risk.VersionInfo{}
	for rows.Next() {
		var v risk.VersionInfo
		var at int64
		if err := rows.Scan(&v.Version, &v.Digest, &v.Rules, &v.Note, &at); err != nil {
			return nil, sqldb.Err(err, "listing rule sets")
		}
		v.At = sqldb.Time(at)
		out = append(out, v)
	}
	return out, sqldb.Err(rows.Err(), "listing rule sets")
}

// SaveDecision queues a decision for the next batch, which keeps it once
// per point and id (the first one kept wins); it fails like Add.
func (s *Store) SaveDecision(ctx context.Context, d risk.Decision) error {
	return s.enqueue("decision", 1, func(p *pending) { p.saveDecision(d) })
}

// DecisionOf returns a kept (or this store's queued) decision, or
// fault.NotFound risk.CodeNoDecision.
func (s *Store) DecisionOf(ctx context.Context, p risk.Point, id string) (risk.Decision, error) {
	var body string
	s.rec.view.RLock()
	err := s.DB.QueryRow(ctx, `SELECT body FROM risk_decisions WHERE point = ? AND id = ?`, string(p), id).Scan(&body)
	queued, ok := s.rec.overlayDecision(p, id)
	s.rec.view.RUnlock()
	if sqldb.NoRows(err) && ok {
		err, body = nil, string(queued.JSON()) // as it will be read once written
	}
	if sqldb.NoRows(err) {
		return risk.Decision{}, fault.E(fault.NotFound, risk.CodeNoDecision, "no %s decision kept for this id", p)
	}
	if err != nil {
		return risk.Decision{}, sqldb.Err(err, "reading a decision")
	}
	var d risk.Decision
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return risk.Decision{}, fault.Wrap(err, fault.Internal, risk.CodeNoDecision, "a kept decision does not decode")
	}
	return d, nil
}
