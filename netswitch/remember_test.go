package netswitch

import (
	"fmt"
	"testing"
	"time"
)

// TestRememberForgets: the answers kept for duplicates are the latest
// MaxRemembered within the DuplicateWindow, the order and the map always
// the same answers, whatever the number remembered before.
func TestRememberForgets(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s := &Switch{cfg: Config{MaxRemembered: 100, DuplicateWindow: time.Minute, Now: func() time.Time { return now }},
		recent: map[string]recentAuth{}}
	id := func(i int) string { return fmt.Sprintf("T0000001|%06d|1206100000", i) }
	for i := range 1000 {
		s.remember(id(i), recentAuth{digest: "d"})
	}
	if len(s.recent) != 100 || len(s.order) != 100 {
		t.Fatalf("after 1000 at a bound of 100: %d kept, %d in order", len(s.recent), len(s.order))
	}
	for i := range 1000 {
		if _, ok := s.recent[id(i)]; ok != (i >= 900) {
			t.Fatalf("answer %d kept %v, want %v", i, ok, i >= 900)
		}
	}
	now = now.Add(30 * time.Second)
	for i := 1000; i < 1050; i++ {
		s.remember(id(i), recentAuth{digest: "d"})
	}
	now = now.Add(31 * time.Second) // the first 50 left at 10:00 are out of the window
	s.remember(id(1050), recentAuth{digest: "d"})
	if len(s.recent) != 51 || len(s.order) != 51 {
		t.Fatalf("after the window: %d kept, %d in order; want the 51 of the last minute", len(s.recent), len(s.order))
	}
	for i, k := range s.order {
		if k.id != id(1000+i) {
			t.Fatalf("order[%d] = %s, want %s", i, k.id, id(1000+i))
		}
	}
}
