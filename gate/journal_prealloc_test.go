package gate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/transit"
)

// TestJournalWritesInPlace: entries are written over zeros made ready in
// the file, so a tap's sync does not change the file's size (until the
// zeros run out: more are made ready, and the entries still read back);
// a sequence number reservation is appended without a sync of its own and
// is covered by the next pending entry's.
func TestJournalWritesInPlace(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "journal.jsonl")
	st, _ := os.Stat(path)
	size := st.Size()
	if size < prealloc {
		t.Fatalf("journal of %d bytes after open, want %d of zeros made ready", size, prealloc)
	}
	seq, err := j.Next()
	if err != nil || seq != 1 {
		t.Fatalf("Next: %d (%v), want 1", seq, err)
	}
	rec := transit.Record{Card: "3100000000000001", Amount: 300, Status: transit.StatusGrey}
	if _, err := j.AddPending(Pending{Record: rec}); err != nil {
		t.Fatal(err)
	}
	if n := j.Unsynced(); n != 0 {
		t.Fatalf("%d entries unsynced after AddPending, want 0 (its sync covers the reservation)", n)
	}
	if st, _ := os.Stat(path); st.Size() != size {
		t.Fatalf("the journal grew from %d to %d bytes: the entry was not written in place", size, st.Size())
	}
	n := 1
	for ; n < 2*prealloc/300; n++ { // past the zeros made ready
		if _, err := j.AddPending(Pending{Record: rec}); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := os.Stat(path); st.Size() <= size {
		t.Fatalf("the journal stayed at %d bytes after %d entries", st.Size(), n)
	}
	j.Close()
	j2, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if got := len(j2.Pending()); got != n {
		t.Errorf("%d pending after reopening, want %d", got, n)
	}
	if s, _ := j2.Next(); s != seqBlock+1 {
		t.Errorf("first number after reopening %d, want %d (the reserved block skipped)", s, seqBlock+1)
	}
}

// TestJournalTornEntryDropped: an entry a power cut tore — a sector of it
// still zeros, or its end missing — is dropped when the journal is read,
// with what follows it; the entries before it are kept.
func TestJournalTornEntryDropped(t *testing.T) {
	for _, tear := range []string{"zeros inside", "no newline"} {
		t.Run(tear, func(t *testing.T) {
			dir := t.TempDir()
			j, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, card := range []string{"3100000000000001", "3100000000000002"} {
				if _, err := j.AddPending(Pending{Record: transit.Record{Card: card, Amount: 300}}); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()
			path := filepath.Join(dir, "journal.jsonl")
			b, _ := os.ReadFile(path)
			end := bytes.IndexByte(b, 0)
			second := bytes.LastIndexByte(b[:end-1], '\n') + 1
			switch tear {
			case "zeros inside": // the entry's first bytes never reached the disk, its last did
				clear(b[second : second+20])
			case "no newline":
				clear(b[end-10 : end])
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			j2, err := OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer j2.Close()
			if p := j2.Pending(); len(p) != 1 || p[0].Record.Card != "3100000000000001" {
				t.Errorf("pending after the tear: %+v, want the first entry alone", p)
			}
		})
	}
}
