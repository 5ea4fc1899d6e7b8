// Package sqldbtest runs a storage test on every backend: always on SQLite
// in a temporary folder, and on PostgreSQL when TAPWALLET_TEST_POSTGRES holds
// a DSN (each test then gets its own fresh schema, dropped afterwards).
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

// Backends returns the DSNs to test on: "sqlite:" always, and a fresh
// PostgreSQL schema when TAPWALLET_TEST_POSTGRES is set.
func Each(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, OpenSQLite(t))
	})
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) {
			fn(t, OpenPostgres(t))
		})
	}
}

// OpenSQLite opens a fresh SQLite database in t.TempDir().
func OpenSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenPostgres opens a fresh schema in the TAPWALLET_TEST_POSTGRES database,
// skipping the test when the variable is empty.
func OpenPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), PostgresDSN(t), "")
	if err != nil {
		t.Fatalf("open postgres schema: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
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
