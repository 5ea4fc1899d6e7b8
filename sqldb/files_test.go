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

// TestFilesPrivate: a data folder made for a place is 0700 and every
// database, log and index file in it 0600, whatever the umask; a data
// folder others can read is refused with the folder and the fix named; a
// database left 0644 by an older version is brought to 0600.
func TestFilesPrivate(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	pl, err := sqldb.NewPlace("", dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pl.Open(ctx, alpha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pl.Open(ctx, beta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SQL().Exec("CREATE TABLE perm_probe (x INTEGER)"); err != nil {
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
		for _, want := range []string{"alpha.db", "alpha.db-wal", "alpha.db-shm", "beta.db", "beta.db-wal"} {
			if !seen[want] {
				t.Errorf("%s not made (files: %v)", want, seen)
			}
		}
	}
	checkFiles()
	b.Close()
	a.Close()

	// An older version left the files world-readable: reopening fixes them.
	for _, n := range []string{"alpha.db", "beta.db"} {
		os.Chmod(filepath.Join(dir, n), 0o644)
	}
	a, err = pl.Open(ctx, alpha)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "alpha.db")); st.Mode().Perm() != 0o600 {
		t.Errorf("reopened database: got mode %04o, want 0600", st.Mode().Perm())
	}
	a.Close()

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
