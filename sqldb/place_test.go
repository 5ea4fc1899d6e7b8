package sqldb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestPlaceOpensNothing: naming a place makes the data folder and no
// database in it (no file of the old single-database layout, tapwallet.db,
// nor any other); each wing opened there is its own file, named for the
// wing; a bad DSN or a SQLite place without a folder is refused.
func TestPlaceOpensNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	pl, err := sqldb.NewPlace("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Dialect() != sqldb.SQLite {
		t.Errorf("dialect of %q: got %s, want sqlite", pl.DSN, pl.Dialect())
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("after NewPlace the data folder holds %v (%v), want it made and empty", ents, err)
	}
	a := openAt(t, pl, alpha)
	b, err := a.Beside(ctx, beta)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := a.Place(); got != pl {
		t.Errorf("alpha's place: got %+v, want %+v", got, pl)
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".db" {
			names = append(names, e.Name())
		}
	}
	if len(names) != 2 || names[0] != "alpha.db" || names[1] != "beta.db" {
		t.Errorf("databases in the data folder: got %v, want [alpha.db beta.db]", names)
	}

	if _, err := sqldb.NewPlace("mysql://x", dir); !fault.Has(err, fault.Invalid, "db_dsn") {
		t.Errorf("a mysql DSN: got %v, want db_dsn", err)
	}
	if _, err := sqldb.NewPlace("", ""); !fault.Has(err, fault.Invalid, "db_open") {
		t.Errorf("no folder, no DSN: got %v, want db_open", err)
	}
	if pg, err := sqldb.NewPlace("postgres://u@h/db", ""); err != nil || pg.Dialect() != sqldb.Postgres {
		t.Errorf("a PostgreSQL DSN: got %s, %v; want postgres", pg.Dialect(), err)
	}
}

// TestPlaceNamedFile: with "sqlite:PATH" each wing is STEM-NAME.db beside
// PATH, and nothing is made at PATH itself.
func TestPlaceNamedFile(t *testing.T) {
	dir := t.TempDir()
	pl, err := sqldb.NewPlace("sqlite:"+filepath.Join(dir, "shop.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	a := openAt(t, pl, alpha)
	if _, err := os.Stat(filepath.Join(dir, "shop-alpha.db")); err != nil {
		t.Fatalf("got %v, want shop-alpha.db beside shop.db", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop.db")); !os.IsNotExist(err) {
		t.Errorf("shop.db itself: got %v, want no such file", err)
	}
	b, err := a.Beside(context.Background(), beta)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := os.Stat(filepath.Join(dir, "shop-beta.db")); err != nil {
		t.Fatalf("Beside: got %v, want shop-beta.db", err)
	}
}

// TestPlacePostgresSchemas: on PostgreSQL each wing of a place is its own
// schema PREFIX_NAME, and Beside reaches the sibling's.
func TestPlacePostgresSchemas(t *testing.T) {
	ctx := context.Background()
	pl := sqldb.Place{DSN: sqldbtest.PostgresDSN(t)}
	a := openAt(t, pl, alpha)
	b, err := a.Beside(ctx, beta)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for db, w := range map[*sqldb.DB]string{a: "alpha", b: "beta"} {
		var schema string
		if err := db.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if want := sqldb.SchemaOf(pl.DSN, w); schema != want {
			t.Errorf("wing %s: in schema %s, want %s", w, schema, want)
		}
	}
}

// TestCheckpointInBackground: what a writer commits reaches the database
// file without the writer copying the log back itself (its own share only
// starts at thousands of pages).
func TestCheckpointInBackground(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openAt(t, sqldb.Place{Dir: dir}, alpha)
	path := filepath.Join(dir, "alpha.db")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE probe (v TEXT NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO probe (v) VALUES (?)`, string(big))
		return err
	}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var size int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size = st.Size(); size >= before.Size()+int64(len(big)) {
			return
		}
	}
	t.Fatalf("database file: got %d bytes, want at least %d (the committed megabyte copied back)", size, before.Size()+int64(len(big)))
}
