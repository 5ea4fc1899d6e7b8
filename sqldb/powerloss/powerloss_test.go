package powerloss

import (
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func count(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnsyncedWritesAreDropped: through the layer, commits made with
// synchronous=FULL (the log synced at each) are in the shadow copy, and a
// commit made with synchronous=OFF (never synced) is in the live file but
// not in the copy — what a power cut would have left. Then a checkpoint
// (which syncs the log and the file) brings it to the copy too.
func TestUnsyncedWritesAreDropped(t *testing.T) {
	shadowDir := t.TempDir()
	if err := Install(shadowDir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sql.Open("sqlite", "file:"+path+"?vfs="+Name+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := db.Exec("INSERT INTO t (v) VALUES ('durable')"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("PRAGMA synchronous=OFF"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.Exec("INSERT INTO t (v) VALUES ('unsynced')"); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, db); n != 13 {
		t.Fatalf("live file: %d rows, want 13", n)
	}
	_, pending, _ := Stats()
	if pending == 0 {
		t.Error("no write pending after three unsynced commits")
	}
	after := func(want int) {
		t.Helper()
		cut := t.TempDir()
		if err := Copy(shadowDir, cut); err != nil {
			t.Fatal(err)
		}
		c, err := sql.Open("sqlite", "file:"+filepath.Join(cut, "x.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if n := count(t, c); n != want {
			t.Errorf("after the power cut: %d rows, want %d", n, want)
		}
		var unsynced int
		c.QueryRow("SELECT count(*) FROM t WHERE v = 'unsynced'").Scan(&unsynced)
		if want == 10 && unsynced != 0 {
			t.Errorf("%d unsynced rows survived the power cut", unsynced)
		}
	}
	after(10)
	// Any of the unsynced writes may have reached the disk, whole or torn:
	// the synced rows are there all the same and the database is sound.
	for seed := uint64(1); seed <= 20; seed++ {
		cut := t.TempDir()
		whole, torn, dropped, err := CopyTorn(shadowDir, cut, rand.New(rand.NewPCG(seed, 7)))
		if err != nil {
			t.Fatal(err)
		}
		if whole+torn+dropped == 0 {
			t.Fatal("CopyTorn found no unsynced write to apply")
		}
		c, err := sql.Open("sqlite", "file:"+filepath.Join(cut, "x.db"))
		if err != nil {
			t.Fatal(err)
		}
		var ok string
		if err := c.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			t.Errorf("seed %d (%d whole, %d torn, %d dropped): integrity_check %q %v", seed, whole, torn, dropped, ok, err)
		}
		var durable int
		c.QueryRow("SELECT count(*) FROM t WHERE v = 'durable'").Scan(&durable)
		if durable != 10 {
			t.Errorf("seed %d: %d durable rows after a torn cut, want 10", seed, durable)
		}
		c.Close()
	}
	if _, err := db.Exec("PRAGMA synchronous=FULL"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(FULL)"); err != nil {
		t.Fatal(err)
	}
	after(13)
	if applied, _, _ := Stats(); applied == 0 {
		t.Error("no write applied to a shadow")
	}
}
