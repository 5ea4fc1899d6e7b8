package sqldb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

func TestParty(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite data folder", func(t *testing.T) {
		dir := t.TempDir()
		db, err := sqldb.Open(ctx, "", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p, err := db.Party(ctx, "issuers")
		if err != nil {
			t.Fatalf("Party: %v", err)
		}
		defer p.Close()
		if p == db {
			t.Fatalf("got the platform's DB, want a DB of its own")
		}
		if _, err := os.Stat(filepath.Join(dir, "issuers.db")); err != nil {
			t.Fatalf("got %v, want issuers.db in the data folder", err)
		}
		// A row written in one file is not in the other.
		for _, d := range []*sqldb.DB{db, p} {
			if err := d.InTx(ctx, func(tx *sqldb.Tx) error {
				_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS probe (id TEXT PRIMARY KEY)`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO probe (id) VALUES ('x')`)
			return err
		}); err != nil {
			t.Fatalf("insert in the party's DB: %v", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM probe`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("got %d rows (%v) in the platform's DB, want 0", n, err)
		}
	})
	t.Run("sqlite named file", func(t *testing.T) {
		dir := t.TempDir()
		db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "shop.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p, err := db.Party(ctx, "network")
		if err != nil {
			t.Fatalf("Party: %v", err)
		}
		defer p.Close()
		if _, err := os.Stat(filepath.Join(dir, "shop-network.db")); err != nil {
			t.Fatalf("got %v, want shop-network.db beside shop.db", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		db := sqldbtest.OpenPostgres(t)
		p, err := db.Party(ctx, "issuers")
		if err != nil {
			t.Fatalf("Party: %v", err)
		}
		if p != db {
			t.Fatalf("got a second DB, want the one database")
		}
	})
}

// TestCheckpointInBackground: what a writer commits reaches the database
// file without the writer copying the log back itself (its own share only
// starts at thousands of pages).
func TestCheckpointInBackground(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqldb.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(dir, "tapwallet.db")
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
