package isolink

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// gateConn is a net.Conn whose Writes are recorded; the first Write waits
// until release is closed, and every Write fails once fail is set.
type gateConn struct {
	net.Conn
	release chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	writes  [][]byte
	fail    error
}

func (g *gateConn) Write(b []byte) (int, error) {
	g.mu.Lock()
	first := len(g.writes) == 0
	g.writes = append(g.writes, append([]byte(nil), b...))
	err := g.fail
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

func (g *gateConn) SetWriteDeadline(time.Time) error { return nil }

// TestFrameWriterCoalesces: frames queued while a Write is under way leave
// together in the next Write, in the order they came, and their senders do
// not wait for it.
func TestFrameWriterCoalesces(t *testing.T) {
	g := &gateConn{release: make(chan struct{}), entered: make(chan struct{})}
	w := &frameWriter{conn: g, timeout: time.Second}
	done := make(chan error, 1)
	go func() { done <- w.write([]byte("\x00\x01A")) }()
	<-g.entered // the first frame is being written
	for _, f := range []string{"\x00\x01B", "\x00\x01C"} {
		if err := w.write([]byte(f)); err != nil { // returns at once: queued
			t.Fatalf("queued write: %v", err)
		}
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(g.writes) != 2 || string(g.writes[0]) != "\x00\x01A" || string(g.writes[1]) != "\x00\x01B\x00\x01C" {
		t.Fatalf("writes %q, want the first frame, then the two queued in one", g.writes)
	}
}

// TestFrameWriterFails: a failed write is the writer's error, for the
// goroutine that wrote and every later one; nothing more is written.
func TestFrameWriterFails(t *testing.T) {
	broken := errors.New("broken pipe")
	g := &gateConn{release: make(chan struct{}), entered: make(chan struct{}), fail: broken}
	close(g.release)
	w := &frameWriter{conn: g, timeout: time.Second}
	if err := w.write([]byte("\x00\x01A")); !errors.Is(err, broken) || !errors.Is(err, ErrConnLost) {
		t.Fatalf("write on a broken connection: %v, want ErrConnLost wrapping the cause", err)
	}
	if err := w.write([]byte("\x00\x01B")); !errors.Is(err, ErrConnLost) {
		t.Fatalf("next write: %v, want the first error", err)
	}
	if len(g.writes) != 1 || !bytes.Equal(g.writes[0], []byte("\x00\x01A")) {
		t.Fatalf("writes %q, want the first only", g.writes)
	}
}

// TestDeadlineMovedLazily: a deadline is set at least timeout and at most
// 17/16 of it ahead of every read or write, and moved only when it has
// come nearer than timeout — not at every frame.
func TestDeadlineMovedLazily(t *testing.T) {
	clock := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	d := deadline{now: func() time.Time { return clock }}
	var sets []time.Time
	set := func(at time.Time) error { sets = append(sets, at); return nil }
	const timeout = 16 * time.Second
	for step := range 100 {
		if err := d.extend(set, timeout); err != nil {
			t.Fatal(err)
		}
		if ahead := sets[len(sets)-1].Sub(clock); ahead < timeout || ahead > timeout+timeout/16 {
			t.Fatalf("step %d: the deadline is %s ahead, want %s to %s", step, ahead, timeout, timeout+timeout/16)
		}
		clock = clock.Add(100 * time.Millisecond)
	}
	// 10 s of frames every 100 ms: moved once a second (the sixteenth).
	if len(sets) < 9 || len(sets) > 11 {
		t.Fatalf("the deadline was moved %d times in 10 s, want about 10", len(sets))
	}
	want := errors.New("closed")
	clock = clock.Add(time.Hour)
	if err := d.extend(func(time.Time) error { return want }, timeout); err != want {
		t.Fatalf("extend: got %v, want the connection's error", err)
	}
}
