package platform_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/platform"
)

// TestSharedJournal: the platform with every role on SQLite journals its
// parties on one file, DATA/tapwallet.journal (no per-party journal is
// made), and a second such platform on the same data folder is refused
// saying why; once the first is closed, it starts.
func TestSharedJournal(t *testing.T) {
	dir := t.TempDir()
	cfg := platform.Config{DataDir: dir, ArgonTime: 1, Log: slog.New(slog.DiscardHandler), RiskOff: true}
	p, err := platform.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, journal.SharedName+".journal.*")); len(m) == 0 {
		t.Fatal("no shared journal in the data folder")
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.journal.*"))
	for _, s := range segs {
		if !strings.HasPrefix(filepath.Base(s), journal.SharedName+".journal.") {
			t.Errorf("a journal of a party's own: %s", filepath.Base(s))
		}
	}
	_, err = platform.New(context.Background(), cfg)
	if fault.KindOf(err) != fault.Conflict || fault.CodeOf(err) != journal.CodeLocked || !strings.Contains(fault.MessageOf(err), "tapwallet.journal") {
		t.Errorf("a second platform on the data folder: %v, want %s naming the journal", err, journal.CodeLocked)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = platform.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	p.Close()
}
