package gate

import (
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/transit"
)

// TestJournalPendingSyncedFinalInBackground: a pending entry is covered by
// an fdatasync when AddPending returns (the debit may follow at once); a
// final entry is appended at once and synced by the background sync soon
// after; both are in the journal when it is opened again.
func TestJournalPendingSyncedFinalInBackground(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.AddPending(Pending{Record: transit.Record{Card: "3100000000000001", Amount: 300}})
	if err != nil {
		t.Fatal(err)
	}
	if n := j.Unsynced(); n != 0 {
		t.Fatalf("%d entries unsynced after AddPending, want 0: the pending entry must be on disk before the debit", n)
	}
	if err := j.Finalise(id, transit.Record{Card: "3100000000000001", Amount: 300, Status: transit.StatusFinal}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for j.Unsynced() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the final entry was not synced in the background within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	// The next pending's sync covers a final still unsynced.
	id2, err := j.AddPending(Pending{Record: transit.Record{Card: "3100000000000002", Amount: 200}})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finalise(id2, transit.Record{Card: "3100000000000002", Amount: 200, Status: transit.StatusFinal}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Finalise(id2, transit.Record{}); err == nil {
		t.Error("Finalise on a closed journal succeeded")
	}
	j2, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	ids, recs := j2.Unsent(0)
	if len(ids) != 2 || recs[0].Amount != 300 || recs[1].Amount != 200 || len(j2.Pending()) != 0 {
		t.Errorf("after reopening: unsent %v %+v, pending %v; want the two final records", ids, recs, j2.Pending())
	}
}
