package sqldb

import (
	"testing"
	"time"
)

// TestNextCheckpoint: a log taking few pages is checkpointed less often (up
// to checkpointIdle), a busy one more often (down to checkpointEvery), one
// taking about checkpointPages keeps its pace.
func TestNextCheckpoint(t *testing.T) {
	for _, c := range []struct {
		last  time.Duration
		added int
		want  time.Duration
	}{
		{checkpointEvery, 0, 2 * checkpointEvery},
		{checkpointEvery, checkpointPages/2 - 1, 2 * checkpointEvery},
		{checkpointIdle * 3 / 4, 10, checkpointIdle},
		{checkpointIdle, 0, checkpointIdle},
		{400 * time.Millisecond, checkpointPages, 400 * time.Millisecond},
		{400 * time.Millisecond, 2*checkpointPages + 1, 200 * time.Millisecond},
		{checkpointEvery, 8000, checkpointEvery},
	} {
		if got := nextCheckpoint(c.last, c.added); got != c.want {
			t.Errorf("nextCheckpoint(%v, %d) = %v, want %v", c.last, c.added, got, c.want)
		}
	}
}

// TestLogAdded: pages appended since the last checkpoint, counting a log
// that restarted from its beginning whole.
func TestLogAdded(t *testing.T) {
	for _, c := range []struct{ prev, now, want int }{
		{0, 0, 0}, {0, 300, 300}, {300, 450, 150}, {450, 20, 20}, {450, 450, 0},
	} {
		if got := logAdded(c.prev, c.now); got != c.want {
			t.Errorf("logAdded(%d, %d) = %d, want %d", c.prev, c.now, got, c.want)
		}
	}
}
