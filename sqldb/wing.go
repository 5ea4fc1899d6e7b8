package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Wing is one party's storage: its own database, named for the party, with
// its own migrations. No statement, transaction or foreign key spans two
// wings: on SQLite each wing is its own file (NAME.db in the data folder),
// on PostgreSQL its own schema (NAME, or PREFIX_NAME when the DSN sets
// search_path=PREFIX, as the tests do), reached through a pool whose
// search_path is that schema alone.
type Wing struct {
	// Name is the party's name: lower-case letters, digits and _ (e.g.
	// "wallet", "tsp", "network", "issuer_0102").
	Name string
	// Migrations holds the wing's migrations as NNN_name.sql files in
	// Dir, applied in name order, each in one transaction (nil: none).
	Migrations fs.FS
	Dir        string
}

var wingName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// OpenWing opens the wing w on the backend dsn names ("" or "sqlite:" for a
// file in dataDir; "sqlite:PATH" puts the file beside PATH;
// "postgres://…" a schema of that database), creating the file or schema
// if needed and applying the wing's migrations. It fails with
// fault.Invalid on a bad name or DSN and fault.Unavailable when the
// database cannot be reached or a migration fails.
func OpenWing(ctx context.Context, dsn, dataDir string, w Wing) (*DB, error) {
	if !wingName.MatchString(w.Name) {
		return nil, fault.E(fault.Invalid, "db_wing", "storage wing name %q: want lower-case letters, digits and _", w.Name)
	}
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgresWing(ctx, dsn, w.Name)
	case dsn == "" || strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			if dataDir == "" {
				return nil, fault.E(fault.Invalid, "db_open", "no data folder and no database given")
			}
			if err := makeFolder(dataDir); err != nil {
				return nil, err
			}
			path = filepath.Join(dataDir, w.Name+".db")
		} else {
			dir, base := filepath.Split(path)
			ext := filepath.Ext(base)
			path = filepath.Join(dir, strings.TrimSuffix(base, ext)+"-"+w.Name+ext)
		}
		db, err = openSQLite(path)
	default:
		return nil, fault.E(fault.Invalid, "db_dsn", "database DSN must start with sqlite: or postgres://")
	}
	if err != nil {
		return nil, err
	}
	db.dsn = dsn
	return db.start(ctx, w.Migrations, w.Dir)
}

// openPostgresWing makes the wing's schema if it is missing and opens a pool
// whose search_path is that schema.
func openPostgresWing(ctx context.Context, dsn, name string) (*DB, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fault.E(fault.Invalid, "db_dsn", "the PostgreSQL DSN is not a URL")
	}
	q := u.Query()
	schema := name
	if prefix := q.Get("search_path"); prefix != "" {
		schema = prefix + "_" + name
	}
	if !wingName.MatchString(schema) {
		return nil, fault.E(fault.Invalid, "db_wing", "schema name %q: want lower-case letters, digits and _", schema)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "db_open", "open postgres")
	}
	defer admin.Close()
	// Two processes making one schema at once: one of them may see a
	// unique violation on the catalogue; the schema is there either way.
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil && !alreadyMade(err) {
		return nil, fault.Wrap(err, fault.Unavailable, "db_open", "create schema %s", schema)
	}
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return openPostgres(u.String())
}

// SchemaOf returns the PostgreSQL schema the wing named name lives in for
// the DSN dsn (the rule of OpenWing).
func SchemaOf(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil {
		if prefix := u.Query().Get("search_path"); prefix != "" {
			return prefix + "_" + name
		}
	}
	return name
}

// lockLease is how long a migration lock is held before another process
// may take it over (a process that died holding it).
const lockLease = 2 * time.Minute

// migrate applies every migration of fsys/dir not yet applied, each in its
// own transaction. A lease row in the table schema_lock keeps concurrent
// processes from migrating one database at the same time; it needs no
// advisory locks, so it works on any SQL database with INSERT … ON
// CONFLICT, and a lock left by a dead process expires.
func (db *DB) migrate(ctx context.Context, fsys fs.FS, dir string) error {
	var names []fs.DirEntry
	if fsys != nil { // a wing without migrations (a test's anchor) has none to apply
		var err error
		if names, err = fs.ReadDir(fsys, dir); err != nil {
			return fault.Wrap(err, fault.Internal, "migrate", "read migrations")
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name() < names[j].Name() })
	unlock, err := db.lockSchema(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fault.Wrap(err, fault.Unavailable, "migrate", "create schema_migrations")
	}
	for _, n := range names {
		if !strings.HasSuffix(n.Name(), ".sql") {
			continue
		}
		var x int
		err := db.sql.QueryRowContext(ctx, db.rebind("SELECT 1 FROM schema_migrations WHERE name = ?"), n.Name()).Scan(&x)
		if err == nil {
			continue
		}
		if !NoRows(err) {
			return fault.Wrap(err, fault.Unavailable, "migrate", "read schema_migrations")
		}
		body, err := fs.ReadFile(fsys, dir+"/"+n.Name())
		if err != nil {
			return fault.Wrap(err, fault.Internal, "migrate", "read %s", n.Name())
		}
		text := string(body)
		if db.dialect == Postgres {
			text = strings.ReplaceAll(text, "BLOB", "BYTEA")
		}
		err = db.InTx(ctx, func(tx *Tx) error {
			for _, stmt := range splitStatements(text) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fault.Wrap(err, fault.Internal, "migrate", "migration %s", n.Name())
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", n.Name(), time.Now().UnixMilli()); err != nil {
				return fault.Wrap(err, fault.Internal, "migrate", "record %s", n.Name())
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lockSchema takes the database's migration lease, waiting for another
// holder to finish or its lease to run out, and returns the release.
func (db *DB) lockSchema(ctx context.Context) (func(), error) {
	var rb [8]byte
	rand.Read(rb[:])
	holder := hex.EncodeToString(rb[:])
	for {
		// Processes starting at once race on IF NOT EXISTS: PostgreSQL may
		// answer the loser "already exists" (the table, or its row type) —
		// it exists either way, so the lease below decides.
		if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_lock (id INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)`); err != nil && !alreadyMade(err) && !retryable(err) {
			return nil, fault.Wrap(err, fault.Unavailable, "migrate", "create schema_lock")
		}
		now := time.Now()
		res, err := db.sql.ExecContext(ctx, db.rebind(`INSERT INTO schema_lock (id, holder, expires_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE schema_lock.expires_at < ?`), holder, now.Add(lockLease).UnixMilli(), now.UnixMilli())
		if err == nil {
			if n, _ := res.RowsAffected(); n == 1 {
				return func() {
					db.sql.ExecContext(context.Background(), db.rebind(`DELETE FROM schema_lock WHERE holder = ?`), holder)
				}, nil
			}
		} else if !IsUniqueViolation(err) && !retryable(err) {
			return nil, fault.Wrap(err, fault.Unavailable, "migrate", "take the migration lock")
		}
		select {
		case <-ctx.Done():
			return nil, fault.Wrap(ctx.Err(), fault.Unavailable, "migrate", "waiting for another process's migration")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alreadyMade reports whether err says that what a CREATE … IF NOT EXISTS
// made exists already: PostgreSQL answers a process that loses the race
// with another creating it with a unique violation on its catalogue
// (23505), duplicate table (42P07), duplicate object — the table's row
// type — (42710) or duplicate schema (42P06).
func alreadyMade(err error) bool {
	if IsUniqueViolation(err) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 42P07") || strings.Contains(s, "SQLSTATE 42710") || strings.Contains(s, "SQLSTATE 42P06")
}
