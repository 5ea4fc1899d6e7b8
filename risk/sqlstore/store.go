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
	"embed"
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
	_ risk.State       = (*Store)(nil)
	_ risk.Versions    = (*Store)(nil)
	_ risk.IntoReader  = (*Store)(nil)
	_ risk.LastReader  = (*Store)(nil)
	_ risk.TapRecorder = (*Store)(nil)
)

// Store is the risk engine's state and versions on its wing's database.
type Store struct {
	sqldb.Held           // the wing's database (s.DB); Close closes it when Open opened it
	rec        *recorder // the queue of counters, sightings and decisions to write, and the mirror (recorder.go, mirror.go)
	mirrorState
	keptMu sync.Mutex
	kept   map[int]*risk.KeptRules // the stored rule set versions decisions were kept with (keptRules)
}

// New returns the store on db, a database opened with Wing, with the
// wing's rows loaded in its mirror (mirror.go), and starts its recording
// queue's flusher and its refresher (Close drains and stops them). When
// the rows cannot be read it logs it and decides on an empty mirror until
// the next refresh reloads it.
func New(db *sqldb.DB) *Store {
	s, err := held(context.Background(), sqldb.Hold(db))
	if err != nil {
		s.rec.log.Error("risk: loading the counters failed; reloading at the next refresh", "err", err)
	}
	return s
}

// held is New on h: a lent database (Hold) or one the store owns and
// closes (OpenHeld, HoldBeside). The store runs even when the load
// failed (the error says so).
func held(ctx context.Context, h sqldb.Held) (*Store, error) {
	s := &Store{Held: h}
	s.SetRefresh(DefaultRefresh)
	s.startRecorder()
	err := s.Reload(ctx)
	s.rec.wg.Add(1)
	go s.refresher()
	return s, err
}

// Open opens (creating and migrating as needed) the risk wing on the
// backend dsn names ("" for DATA/risk.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close, with the
// wing's rows loaded in its mirror. It fails like sqldb.OpenWing, and
// with fault.Unavailable when the rows cannot be read.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	s, err := held(ctx, h)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close writes what is queued (see recorder.go), stops the flusher and
// closes the database if Open opened it; it fails like sqldb.DB.Close.
func (s *Store) Close() error {
	s.stopRecorder()
	return s.Held.Close()
}

// Add queues the deltas (merged per bucket with the queued ones) for
// the next batch and adds them to the mirror: this store's reads count
// them at once. It fails with fault.Unavailable "store_closed" after
// Close; on a full queue it drops them (see recorder.go).
func (s *Store) Add(ctx context.Context, ds []risk.Delta) error {
	if len(ds) == 0 {
		return nil
	}
	return s.AddTap(ctx, ds, nil, risk.Sighting{})
}

// AddTap queues the deltas as Add does and the sighting x of each of keys
// as SetLast does, in one queueing (risk.TapRecorder: an approved tap's
// record takes the queue's lock once, not three times); it fails like
// Add, and a full queue drops them together.
func (s *Store) AddTap(ctx context.Context, ds []risk.Delta, keys []string, x risk.Sighting) error {
	return s.enqueue("counters", len(ds)+len(keys), func(p *pending) {
		for _, d := range ds {
			p.addDelta(d)
		}
		s.rec.base.Add(ctx, ds)
		for _, k := range keys {
			p.setLast(k, x)
		}
	})
}

// Read answers every query from the mirror, which holds this store's
// queued and in-flight deltas too, without the database (mirror.go); it
// never fails.
func (s *Store) Read(ctx context.Context, qs []risk.Query) ([][]risk.Row, error) {
	out := make([][]risk.Row, len(qs))
	return out, s.ReadInto(ctx, qs, out)
}

// ReadInto is Read into the caller's buffers (risk.IntoReader: the
// engine's scratch); it never fails.
func (s *Store) ReadInto(ctx context.Context, qs []risk.Query, out [][]risk.Row) error {
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.base.ReadInto(ctx, qs, out)
}

// SetLast queues a sighting for the next batch, which stores it unless a
// later one is stored; it fails like Add.
func (s *Store) SetLast(ctx context.Context, key string, x risk.Sighting) error {
	return s.enqueue("sighting", 1, func(p *pending) { p.setLast(key, x) })
}

// Last returns the latest sighting of each key (zero when none) from
// the mirror and this store's queued ones; it never fails.
func (s *Store) Last(ctx context.Context, keys []string) ([]risk.Sighting, error) {
	out := make([]risk.Sighting, len(keys))
	return out, s.LastInto(ctx, keys, out)
}

// LastInto is Last into the caller's buffer (risk.LastReader: the
// engine's scratch); it never fails.
func (s *Store) LastInto(ctx context.Context, keys []string, out []risk.Sighting) error {
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	r.base.LastInto(ctx, keys, out)
	for i, k := range keys {
		for _, p := range [2]*pending{r.flight, r.queued} {
			if x, ok := p.seen[k]; ok && x.At.After(out[i].At) {
				out[i] = x
			}
		}
	}
	return nil
}

// Snooze silences a rule's pattern until a time (a later until wins); it
// fails with fault.Unavailable when the database does.
func (s *Store) Snooze(ctx context.Context, rule, pattern string, until time.Time) error {
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO risk_snoozes (rule, pattern, until_at, changed) VALUES (?, ?, ?, ?)
			ON CONFLICT (rule, pattern) DO UPDATE SET until_at = excluded.until_at, changed = excluded.changed WHERE excluded.until_at > risk_snoozes.until_at`,
			rule, pattern, sqldb.Millis(until), time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return sqldb.Err(err, "recording a snooze")
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.base.Snooze(ctx, rule, pattern, until)
}

// Snoozed reports, from the mirror, whether a rule's pattern is silenced
// at a time (another process's snooze once this store refreshed); it
// never fails.
func (s *Store) Snoozed(ctx context.Context, rule, pattern string, at time.Time) (bool, error) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.base.Snoozed(ctx, rule, pattern, at)
}

// Prune writes what is queued, then deletes the buckets and snoozes that
// ended before now, in the database and in the mirror; it fails with
// fault.Unavailable when the database does.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM risk_counters WHERE expires <> 0 AND expires < ?`, now.Unix()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM risk_snoozes WHERE until_at <= ?`, sqldb.Millis(now))
		return err
	})
	if err != nil {
		return sqldb.Err(err, "pruning the risk counters")
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.base.Prune(ctx, now)
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
	var body, outcome string
	var version, score int
	var decided int64
	s.rec.view.RLock()
	err := s.DB.QueryRow(ctx, `SELECT decided_at, version, score, outcome, body FROM risk_decisions WHERE point = ? AND id = ?`, string(p), id).
		Scan(&decided, &version, &score, &outcome, &body)
	queued, ok := s.rec.overlayDecision(p, id)
	s.rec.view.RUnlock()
	if sqldb.NoRows(err) && ok {
		// as it will be read once written
		err, body, version, score, outcome = nil, string(queued.JSON()), queued.Version, queued.Score, queued.Outcome.String()
	}
	if sqldb.NoRows(err) {
		return risk.Decision{}, fault.E(fault.NotFound, risk.CodeNoDecision, "no %s decision kept for this id", p)
	}
	if err != nil {
		return risk.Decision{}, sqldb.Err(err, "reading a decision")
	}
	var k *risk.KeptRules
	if risk.IsShortBody([]byte(body)) {
		if k, err = s.keptRules(ctx, version); err != nil {
			return risk.Decision{}, err
		}
	}
	return risk.ReadBody(k, p, id, decided, version, score, outcome, []byte(body))
}

// keptRules returns a stored rule set version as decisions are kept with
// it (cached: a version is never changed once stored), nil when the
// version is not stored (its decisions are kept whole). It fails with
// fault.Unavailable when the database does.
func (s *Store) keptRules(ctx context.Context, version int) (*risk.KeptRules, error) {
	s.keptMu.Lock()
	k, ok := s.kept[version]
	s.keptMu.Unlock()
	if ok {
		return k, nil
	}
	set, err := s.RulesAt(ctx, version)
	if fault.Has(err, fault.NotFound, risk.CodeNoVersion) {
		return nil, nil // maybe stored later: asked again then
	}
	if err != nil {
		return nil, err
	}
	k = risk.NewKeptRules(set)
	s.keptMu.Lock()
	if s.kept == nil {
		s.kept = map[int]*risk.KeptRules{}
	}
	s.kept[version] = k
	s.keptMu.Unlock()
	return k, nil
}
