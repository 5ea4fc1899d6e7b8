// Package sqldbtest runs a storage test on every backend: always on SQLite
// in a temporary folder, and on PostgreSQL when TAPWALLET_TEST_POSTGRES holds
// a DSN (each test then gets its own fresh schema prefix, its wings' schemas
// dropped afterwards).
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// Anchor is the wing a test's database is: empty (no migrations, no
// table), named for no party; a test holds it and opens the parties' wings
// beside it (sqldb.DB.Beside, the wings' OpenBeside).
var Anchor = sqldb.Wing{Name: "anchor"}

// Each runs fn on SQLite always and on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set, each time with the Anchor wing at a fresh
// place.
func Each(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	EachPlace(t, func(t *testing.T, pl sqldb.Place) { fn(t, OpenAt(t, pl)) })
}

// EachPlace runs fn with a fresh place on SQLite (a temporary data folder)
// always and on PostgreSQL (a fresh schema prefix) when
// TAPWALLET_TEST_POSTGRES is set.
func EachPlace(t *testing.T, fn func(t *testing.T, pl sqldb.Place)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, sqldb.Place{Dir: t.TempDir()})
	})
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) {
			fn(t, sqldb.Place{DSN: PostgresDSN(t)})
		})
	}
}

// OpenAt opens the Anchor wing at pl, closed when the test ends.
func OpenAt(t testing.TB, pl sqldb.Place) *sqldb.DB {
	t.Helper()
	db, err := pl.Open(context.Background(), Anchor)
	if err != nil {
		t.Fatalf("open the test's database (%s): %v", pl.Dialect(), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenSQLite opens the Anchor wing in a fresh t.TempDir().
func OpenSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	return OpenAt(t, sqldb.Place{Dir: t.TempDir()})
}

// OpenPostgres opens the Anchor wing at a fresh schema prefix of the
// TAPWALLET_TEST_POSTGRES database, skipping the test when the variable is
// empty.
func OpenPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	return OpenAt(t, sqldb.Place{DSN: PostgresDSN(t)})
}

// PostgresDSN makes a fresh schema in the TAPWALLET_TEST_POSTGRES database,
// dropped when the test ends, and returns the DSN that opens it (for a
// test whose other processes share it), skipping the test when the
// variable is empty.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TAPWALLET_TEST_POSTGRES")
	if base == "" {
		t.Skip("TAPWALLET_TEST_POSTGRES not set")
	}
	var rb [6]byte
	rand.Read(rb[:])
	schema := "t_" + hex.EncodeToString(rb[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		// The schema and the storage wings' schemas made beside it
		// (SCHEMA_NAME, see sqldb.OpenWing).
		DropSchemas(admin, schema)
		admin.Close()
	})
	return u.String()
}

// DropSchemas drops the schema named prefix and every schema named
// prefix_…, the wings sqldb.OpenWing made for a DSN whose search_path is
// prefix.
func DropSchemas(admin *sql.DB, prefix string) {
	rows, err := admin.Query(`SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)`, prefix, prefix+"_")
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		admin.Exec(`DROP SCHEMA "` + n + `" CASCADE`)
	}
}
