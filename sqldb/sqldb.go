// Package sqldb is the storage kernel of tapwallet: connections, dialect,
// transactions with retries, migrations with a lease lock, the statement
// cache and the group-commit batcher, on SQLite (modernc.org/sqlite, the
// embedded default, WAL and foreign keys on) or PostgreSQL (jackc/pgx/v5)
// for many `serve` processes sharing one database. It knows no party and
// holds no table of its own: each party's storage wing (its sqlstore
// package) opens its own database with OpenWing (or Place.Open) and brings
// its own migrations. The backend is chosen once, here, from the DSN.
// Queries are written with `?` placeholders and rebound for PostgreSQL.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/tapwallet/tapwallet/fault"
)

// Dialect names the SQL backend.
type Dialect int

// The supported backends.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// DB is an open database with its dialect and clock.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	path    string // the SQLite file ("" on PostgreSQL)
	stmts   stmtCache
	// ckptStop ends the background checkpoint of SQLite's log.
	ckptStop, ckptDone chan struct{}
	// Now is the clock every transaction takes its time from.
	Now func() time.Time
	// dsn is what the database was opened with (for Place and Beside).
	dsn string
	// meter is told of each group-commit batch (SetBatchMeter).
	meter atomic.Pointer[BatchMeter]
	// commitSyncs: a commit that wrote syncs the log (SQLite, synchronous
	// FULL); counted in Syncs.
	commitSyncs bool
}

// openPostgres opens a pool on the PostgreSQL database dsn names.
func openPostgres(dsn string) (*DB, error) {
	s, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "db_open", "open postgres")
	}
	// Every wing of a process has a pool (a process running every party
	// has some thirty wings). A connection the load needs is kept while it
	// is used and closed after 10 s unused, so that a quiet process holds
	// none of the server's max_connections. (Four kept idle, as before,
	// closed every connection beyond the fourth as soon as it was put back:
	// under load each authorization's statements opened sessions anew —
	// 1,210–1,655 new sessions for 4,000 authorizations of the scale-out
	// layout, 137 with the pool kept; scaleout's TestScaleOutBench.)
	s.SetMaxOpenConns(32)
	s.SetMaxIdleConns(32)
	s.SetConnMaxIdleTime(10 * time.Second)
	return &DB{sql: s, dialect: Postgres}, nil
}

// openSQLite opens the SQLite file at path (made 0600 first, so that its
// log and journal are too) in WAL mode with foreign keys on and
// synchronous=FULL: every commit syncs the log, so what InTx committed is
// on disk when it returns (durable.go; NORMAL only after SetSQLiteSyncNormal).
func openSQLite(path string) (*DB, error) {
	if err := privateFiles(path); err != nil {
		return nil, err
	}
	q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(" + sqliteSynchronous() + ")&_pragma=temp_store(2)&_pragma=wal_autocheckpoint(" + strconv.Itoa(walAutoCheckpoint) + ")&_txlock=immediate" + vfsParam()
	s, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "db_open", "open sqlite")
	}
	// One writer at a time is how SQLite works; a small pool lets reads
	// proceed beside it in WAL mode.
	s.SetMaxOpenConns(4)
	s.SetMaxIdleConns(4)
	s.SetConnMaxLifetime(0)
	return &DB{sql: s, dialect: SQLite, path: path}, nil
}

// start checks that the database answers, applies the migrations of
// fsys/dir and starts SQLite's background checkpoint; it closes the
// database when it fails.
func (db *DB) start(ctx context.Context, fsys fs.FS, dir string) (*DB, error) {
	db.Now = time.Now
	// A new SQLite file opened by several processes at once: the one that
	// turns it to WAL holds it for a moment, and SQLite may answer the
	// others' first connection busy without waiting — try again briefly.
	err := db.sql.PingContext(ctx)
	for try := 1; err != nil && retryable(err) && try <= 20; try++ {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(try) * 10 * time.Millisecond):
		}
		err = db.sql.PingContext(ctx)
	}
	if err != nil {
		db.sql.Close()
		return nil, fault.Wrap(err, fault.Unavailable, "db_open", "database does not answer")
	}
	if err := db.migrate(ctx, fsys, dir); err != nil {
		db.sql.Close()
		return nil, err
	}
	if db.dialect == Postgres {
		if err := db.checkDurablePostgres(ctx); err != nil {
			db.sql.Close()
			return nil, err
		}
	}
	if db.dialect == SQLite {
		if err := db.readSynchronous(ctx); err != nil {
			db.sql.Close()
			return nil, err
		}
		useFdatasync.Do(syncWithFdatasync)
		db.ckptStop, db.ckptDone = make(chan struct{}), make(chan struct{})
		go db.checkpointer(db.ckptStop, db.ckptDone)
	}
	return db, nil
}

// Dialect returns the backend in use.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the database.
func (db *DB) Close() error {
	if db.ckptStop != nil {
		close(db.ckptStop)
		<-db.ckptDone
		db.ckptStop = nil
	}
	db.stmts.close()
	db.stmts.bg.Wait()
	return db.sql.Close()
}

// SQL returns the underlying *sql.DB (for tests and tools).
func (db *DB) SQL() *sql.DB { return db.sql }

// rebind turns ? placeholders into $n for PostgreSQL.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Tx is one database transaction; queries use ? placeholders.
type Tx struct {
	tx  *sql.Tx
	db  *DB
	Now time.Time // the transaction's time, from the DB clock
	// wrote: the transaction ran a statement or prepared one (Stmt), so its
	// commit may write the log (and sync it, counted in Syncs).
	wrote bool
}

// Exec runs a statement.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	yield()
	t.wrote = true
	return t.tx.ExecContext(ctx, t.db.rebind(q), args...)
}

// Query runs a query.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.rebind(q), args...)
}

// QueryRow runs a query returning one row.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.rebind(q), args...)
}

// Dialect returns the backend.
func (t *Tx) Dialect() Dialect { return t.db.dialect }

// QueryRow runs a read outside a transaction.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.rebind(q), args...)
}

// Query runs a read outside a transaction.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.rebind(q), args...)
}

// InTx runs fn in one transaction, committing if fn returns nil. It retries a
// few times when PostgreSQL reports a serialization failure or deadlock, or
// SQLite reports the database busy; fn must be safe to run again.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = db.inTx(ctx, fn)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fault.Wrap(ctx.Err(), fault.Unavailable, "db_retry", "gave up retrying a transaction")
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(*Tx) error) error {
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "db_begin", "begin transaction")
	}
	t := &Tx{tx: stx, db: db, Now: db.Now().UTC()}
	if err := fn(t); err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "db_commit", "commit transaction")
	}
	if t.wrote && db.commitSyncs {
		syncs.Add(1)
	}
	return nil
}

func retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01") ||
		strings.Contains(s, "database is locked") || strings.Contains(s, "SQLITE_BUSY")
}

// IsUniqueViolation reports whether err is a unique-constraint violation.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// IsCheckViolation reports whether err is a CHECK-constraint violation.
func IsCheckViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "CHECK constraint failed") || strings.Contains(s, "SQLSTATE 23514")
}

// NoRows reports whether err means the query found nothing.
func NoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// splitStatements splits a migration on semicolons at line ends; migrations
// hold no semicolons inside literals.
func splitStatements(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if stmt := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";")); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// Millis converts a time to the stored form (Unix milliseconds).
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time converts stored Unix milliseconds back to a UTC time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// yield lets the goroutines waiting to run go before a transaction's
// next statement. Where the platform runs every role in one process, the
// statements that run are the write-behinds' batches (the authorization
// path itself runs from memory and the journal): a batch of a thousand
// rows is 20 ms of CPU, and Go's scheduler lets a goroutine keep its
// core ~10 ms before it preempts it — meanwhile the authorizations
// queued on that core wait. Yielding between statements (each a few
// hundred µs at most: multi-row statements of up to 64-128 rows) puts
// the batch behind them. bench auth --risk off, 3 alternated pairs on
// the quiet 2-vCPU machine: p99 13.5-15.2 -> 11.5-12.0 ms, CPU per
// authorization unchanged (122.6-129.0 against 124.3-130.8 µs).
func yield() { runtime.Gosched() }
