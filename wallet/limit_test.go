package wallet

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(Rate{N: 3, Per: time.Minute}, func() time.Time { return now })
	steps := []struct {
		name    string
		key     string
		advance time.Duration
		want    bool
	}{
		{"first", "a", 0, true}, {"second", "a", 0, true}, {"third", "a", 0, true},
		{"fourth is refused", "a", 0, false},
		{"another key is not", "b", 0, true},
		{"one back after a third of the period", "a", 20 * time.Second, true},
		{"and only one", "a", 0, false},
		{"all back after the period", "a", time.Minute, true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		ok, wait := l.Allow(s.key)
		if ok != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, ok, s.want)
		}
		if !ok && (wait <= 0 || wait > 20*time.Second) {
			t.Fatalf("%s: wait %v, want within the 20 s one attempt takes to come back", s.name, wait)
		}
	}
}
