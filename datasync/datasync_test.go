package datasync_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/datasync"
)

// TestFileAndDir: a written file and its folder sync without error; a
// closed file and a missing folder are refused.
func TestFileAndDir(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("durable")); err != nil {
		t.Fatal(err)
	}
	if err := datasync.File(f); err != nil {
		t.Fatalf("File: %v", err)
	}
	if err := datasync.Dir(dir); err != nil {
		t.Fatalf("Dir: %v", err)
	}
	f.Close()
	if err := datasync.File(f); err == nil {
		t.Error("File of a closed file: no error")
	}
	if err := datasync.Dir(filepath.Join(dir, "missing")); err == nil {
		t.Error("Dir of a missing folder: no error")
	}
}
