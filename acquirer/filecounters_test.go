package acquirer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/iso8583"
)

// TestFileCounters: a store terminal's STAN and RRN continue across runs
// (a new FileCounters is a new run) and stay unique when two processes of
// one terminal take numbers at once (each opens and flocks the state file
// itself, as two processes do).
func TestFileCounters(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pos")
	at := time.Date(2026, 3, 14, 17, 26, 53, 0, time.Local)
	first, created, err := acquirer.OpenFileCounters(dir, "T0000001")
	if err != nil || !created {
		t.Fatalf("open: got %v, created %v; want a new state folder", err, created)
	}
	stan, rrn, err := first.Next(ctx, at, true)
	if err != nil || stan != 1 || rrn != "607317000001" {
		t.Fatalf("first number: got %v %q %v, want 000001 607317000001", stan, rrn, err)
	}
	again, created, err := acquirer.OpenFileCounters(dir, "T0000001")
	if err != nil || created {
		t.Fatalf("reopen: got %v, created %v", err, created)
	}
	if stan, rrn, _ := again.Next(ctx, at, true); stan != 2 || rrn != "607317000002" {
		t.Errorf("next run: got %v %q, want 000002 607317000002 (the counters continue)", stan, rrn)
	}
	other, _, _ := acquirer.OpenFileCounters(dir, "T/00 02")
	if stan, _, _ := other.Next(ctx, at, true); stan != 1 {
		t.Errorf("another terminal: got STAN %v, want its own counter at 000001", stan)
	}
	if _, err := os.Stat(filepath.Join(dir, "terminal-T%2F00%2002.json")); err != nil {
		t.Errorf("another terminal's file: %v", err)
	}

	var mu sync.Mutex
	seen := map[iso8583.STAN]bool{}
	seenRRN := map[string]bool{}
	var wg sync.WaitGroup
	for p := 0; p < 2; p++ {
		c, _, err := acquirer.OpenFileCounters(dir, "T0000001")
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < 20; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					stan, rrn, err := c.Next(ctx, at, true)
					mu.Lock()
					if err != nil || seen[stan] || seenRRN[rrn] {
						t.Errorf("concurrent: got %v %q %v, want a number nobody else got", stan, rrn, err)
					}
					seen[stan], seenRRN[rrn] = true, true
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if stan, _, _ := first.Next(ctx, at, false); stan != 203 {
		t.Errorf("after 200 concurrent numbers: got STAN %v, want 000203", stan)
	}

	if err := os.WriteFile(filepath.Join(dir, "terminal-T0000009.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := acquirer.OpenFileCounters(dir, "T0000009"); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged state: got %v, want a refusal that says so", err)
	}
}
