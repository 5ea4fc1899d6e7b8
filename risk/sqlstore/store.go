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
	"encoding/json"
	"sort"
	"strings"
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
	DB    *sqldb.DB
	owned bool
}

// New returns the store on db, a database opened with Wing.
func New(db *sqldb.DB) *Store { return &Store{DB: db} }

// Open opens (creating and migrating as needed) the risk wing on the
// backend dsn names ("" for DATA/risk.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close. It fails
// like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	db, err := sqldb.OpenWing(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{DB: db, owned: true}, nil
}

// Close closes the database if Open opened it; it fails like sqldb.DB.Close.
func (s *Store) Close() error {
	if s.owned {
		return s.DB.Close()
	}
	return nil
}

type cellKey struct {
	series, subject, member string
	bucket                  int64
}

// Add adds the deltas in one transaction: equal buckets merged, then one
// upsert of every bucket in key order (so two processes take the rows'
// locks in one order). It fails with fault.Unavailable when the database
// does.
func (s *Store) Add(ctx context.Context, ds []risk.Delta) error {
	if len(ds) == 0 {
		return nil
	}
	merged := map[cellKey]*risk.Delta{}
	for i := range ds {
		d := ds[i]
		k := cellKey{d.Series, d.Key, d.Member, d.Bucket}
		if m, ok := merged[k]; ok {
			m.Count += d.Count
			m.Sum += d.Sum
			m.Expires = max(m.Expires, d.Expires)
			continue
		}
		merged[k] = &d
	}
	keys := make([]cellKey, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.series != b.series {
			return a.series < b.series
		}
		if a.subject != b.subject {
			return a.subject < b.subject
		}
		if a.member != b.member {
			return a.member < b.member
		}
		return a.bucket < b.bucket
	})
	var q strings.Builder
	q.WriteString(`INSERT INTO risk_counters (series, subject, member, bucket, n, total, expires) VALUES `)
	args := make([]any, 0, 7*len(keys))
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		d := merged[k]
		args = append(args, k.series, k.subject, k.member, k.bucket, d.Count, d.Sum, d.Expires)
	}
	q.WriteString(` ON CONFLICT (series, subject, member, bucket) DO UPDATE SET n = risk_counters.n + excluded.n,
		total = risk_counters.total + excluded.total,
		expires = CASE WHEN excluded.expires > risk_counters.expires THEN excluded.expires ELSE risk_counters.expires END`)
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, q.String(), args...)
		return err
	}), "adding to the risk counters")
}

// Read answers every query in one statement (one grouped select per
// query, joined by UNION ALL). It fails with fault.Unavailable when the
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
	rows, err := s.DB.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, sqldb.Err(err, "reading the risk counters")
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var r risk.Row
		if err := rows.Scan(&i, &r.Member, &r.Count, &r.Sum); err != nil {
			return nil, sqldb.Err(err, "reading the risk counters")
		}
		out[i] = append(out[i], r)
	}
	return out, sqldb.Err(rows.Err(), "reading the risk counters")
}

// SetLast records a sighting unless a later one is stored; it fails with
// fault.Unavailable when the database does.
func (s *Store) SetLast(ctx context.Context, key string, x risk.Sighting) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO risk_sightings (subject, lat, lon, seen_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (subject) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, seen_at = excluded.seen_at
			WHERE excluded.seen_at > risk_sightings.seen_at`, key, x.Lat, x.Lon, sqldb.Millis(x.At))
		return err
	}), "recording a sighting")
}

// Last returns the latest sighting of each key (zero when none); it fails
// with fault.Unavailable when the database does.
func (s *Store) Last(ctx context.Context, keys []string) ([]risk.Sighting, error) {
	out := make([]risk.Sighting, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.DB.Query(ctx, `SELECT subject, lat, lon, seen_at FROM risk_sightings WHERE subject IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	if err != nil {
		return nil, sqldb.Err(err, "reading sightings")
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var x risk.Sighting
		var at int64
		if err := rows.Scan(&k, &x.Lat, &x.Lon, &at); err != nil {
			return nil, sqldb.Err(err, "reading sightings")
		}
		x.At = sqldb.Time(at)
		for i := range keys {
			if keys[i] == k {
				out[i] = x
			}
		}
	}
	return out, sqldb.Err(rows.Err(), "reading sightings")
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

// Prune deletes the buckets and snoozes that ended before now; it fails
// with fault.Unavailable when the database does.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
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

// SaveDecision keeps a decision once per point and id; it fails with
// fault.Unavailable when the database does.
func (s *Store) SaveDecision(ctx context.Context, d risk.Decision) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO risk_decisions (point, id, decided_at, version, outcome, score, body) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (point, id) DO NOTHING`, string(d.Point), d.ID, sqldb.Millis(d.At), d.Version, d.Outcome.String(), d.Score, string(d.JSON()))
		return err
	}), "keeping a decision")
}

// DecisionOf returns a kept decision, or fault.NotFound
// risk.CodeNoDecision.
func (s *Store) DecisionOf(ctx context.Context, p risk.Point, id string) (risk.Decision, error) {
	var body string
	err := s.DB.QueryRow(ctx, `SELECT body FROM risk_decisions WHERE point = ? AND id = ?`, string(p), id).Scan(&body)
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
