package journal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/journal"
)

// TestZerosAhead: zeros after the last whole block are space made ahead,
// not damage — Open drops nothing and keeps the file's length, appends
// write over the zeros and replay after a reopen; a segment before the
// last may end in zeros too.
func TestZerosAhead(t *testing.T) {
	t.Run("last segment", func(t *testing.T) {
		path, b := fiveRecords(t)
		whole := int64(len(b))
		if err := os.WriteFile(seg1(path), append(b, make([]byte, 8192)...), 0o600); err != nil {
			t.Fatal(err)
		}
		l := open(t, path, journal.Options{})
		if st := l.Stats(); st.Bytes != whole || st.DroppedBytes != 0 || st.Records != 5 {
			t.Fatalf("stats %+v, want %d whole bytes, 5 records, nothing dropped", st, whole)
		}
		appendN(t, l, 5, 3)
		l.Close()
		if fi, _ := os.Stat(seg1(path)); fi.Size() != whole+8192 {
			t.Fatalf("file is %d bytes, want %d: the appends went past the zeros", fi.Size(), whole+8192)
		}
		l = open(t, path, journal.Options{})
		defer l.Close()
		got := all(t, l)
		if len(got) != 8 || got[1] != string(rec(0)) || got[8] != string(rec(7)) {
			t.Fatalf("replayed %d records, want 8 (the last over the zeros)", len(got))
		}
	})
	t.Run("earlier segment", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "j")
		l := open(t, path, journal.Options{TruncateAt: 200})
		appendN(t, l, 0, 12)
		l.Close()
		m, _ := filepath.Glob(path + ".0*")
		if len(m) < 3 {
			t.Fatalf("segments %v", m)
		}
		b, _ := os.ReadFile(m[0])
		os.WriteFile(m[0], append(b, make([]byte, 1000)...), 0o600)
		l = open(t, path, journal.Options{})
		defer l.Close()
		if got := all(t, l); len(got) != 12 || got[12] != string(rec(11)) {
			t.Fatalf("replayed %d records, want 12", len(got))
		}
	})
}

// TestSegmentsMadeAhead: with the operating system's files (a Renamer)
// the log rolls into segments made ahead — files of zeros longer than
// TruncateAt, written inside — every record replays after a reopen, and
// the segment being made (PATH.next) is gone after Close.
func TestSegmentsMadeAhead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	const at = 4096
	l := open(t, path, journal.Options{TruncateAt: at})
	n, ahead := 0, false
	for ; n < 2000 && !ahead; n++ {
		if _, err := l.Append(context.Background(), rec(n)); err != nil {
			t.Fatal(err)
		}
		m, _ := filepath.Glob(path + ".0*")
		for _, s := range m[1:] {
			if fi, err := os.Stat(s); err == nil && fi.Size() > at+64<<10 {
				ahead = true
			}
		}
	}
	if !ahead {
		t.Fatalf("no segment made ahead after %d records", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".next"); !os.IsNotExist(err) {
		t.Fatalf("the segment made ahead is left after Close: %v", err)
	}
	l = open(t, path, journal.Options{TruncateAt: at})
	defer l.Close()
	got := all(t, l)
	if len(got) != n || got[uint64(n)] != string(rec(n-1)) {
		t.Fatalf("replayed %d records, want %d", len(got), n)
	}
	if st := l.Stats(); st.DroppedBytes != 0 {
		t.Fatalf("stats %+v: the zeros made ahead were taken for damage", st)
	}
}
