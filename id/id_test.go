package id

import (
	"regexp"
	"testing"
	"time"
)

func TestNewUniqueSortedReadable(t *testing.T) {
	form := regexp.MustCompile(`^tev_[0-9a-f]{13}[a-km-np-z2-9]{16}$`)
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		s := New("tev")
		if !form.MatchString(s) {
			t.Fatalf("New(tev) = %q, want tev_ + 13 hex digits + 16 letters or digits", s)
		}
		if seen[s] {
			t.Fatalf("New returned %q twice", s)
		}
		seen[s] = true
		if i%500 == 0 {
			time.Sleep(time.Millisecond)
			if prev != "" && s[:17] <= prev[:17] {
				t.Fatalf("id %q made after %q does not sort after it", s, prev)
			}
			prev = s
		}
	}
}
