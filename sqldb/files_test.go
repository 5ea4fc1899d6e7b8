package sqldb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
)

// TestFilesPrivate: a data folder made by Open is 0700 and every database,
// log and index file in it 0600, whatever the umask; a data folder others
// can read is refused with the folder and the fix named; a database left
// 0644 by an older version is brought to 0600.
func TestFilesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := sqldb.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	party, err := db.Party(context.Background(), "network")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec("CREATE TABLE perm_probe (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if m := st.Mode().Perm(); m != 0o700 {
		t.Errorf("data folder: got mode %04o, want 0700", m)
	}
	checkFiles := func() {
		t.Helper()
		ents, _ := os.ReadDir(dir)
		seen := map[string]bool{}
		for _, e := range ents {
			info, _ := e.Info()
			seen[e.Name()] = true
			if m := info.Mode().Perm(); m != 0o600 {
				t.Errorf("%s: got mode %04o, want 0600", e.Name(), m)
			}
		}
		for _, want := range []string{"tapwallet.db", "tapwallet.db-wal", "tapwallet.db-shm", "network.db", "network.db-wal"} {
			if !seen[want] {
				t.Errorf("%s not made (files: %v)", want, seen)
			}
		}
	}
	checkFiles()
	party.Close()
	db.Close()

	// An older version left the files world-readable: reopening fixes them.
	for _, n := range []string{"tapwallet.db", "network.db"} {
		os.Chmod(filepath.Join(dir, n), 0o644)
	}
	db, err = sqldb.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tapwallet.db")); st.Mode().Perm() != 0o600 {
		t.Errorf("reopened database: got mode %04o, want 0600", st.Mode().Perm())
	}
	db.Close()

	if err := sqldb.PrivateFolder(dir); err != nil {
		t.Errorf("PrivateFolder on a 0700 folder: %v", err)
	}
	for _, mode := range []os.FileMode{0o755, 0o750, 0o705, 0o711} {
		os.Chmod(dir, mode)
		err := sqldb.PrivateFolder(dir)
		if !fault.Has(err, fault.Forbidden, "data_folder_open") {
			t.Fatalf("mode %04o: got %v, want data_folder_open", mode, err)
		}
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Errorf("mode %04o: error %q does not name the folder and the fix", mode, err)
		}
	}
}
