package isolink

import (
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// frameWriter writes a connection's frames, coalescing those that are ready
// at the same time: a goroutine with a frame appends it to the pending
// bytes and, if no other is writing, writes them — its own frame and every
// frame appended meanwhile — in one Write, and again while more came during
// that Write. So frames ready together leave in one system call, and no
// goroutine hands its frame to another goroutine or waits for another's
// write before queueing its own.
type frameWriter struct {
	conn     net.Conn
	timeout  time.Duration
	deadline deadline // the write deadline, by the goroutine writing

	mu      sync.Mutex
	pending []byte // frames not yet written
	spare   []byte // the last buffer written, for the next batch
	writing bool   // a goroutine is writing pending; it writes what is added meanwhile
	err     error  // the first write error: the connection is done
}

// maxSpare bounds the buffer a writer keeps between batches.
const maxSpare = 64 << 10

// write sends frame (header included). It returns the write's error when
// this goroutine wrote and the write failed, or the earlier error of a
// failed write; nil when frame was written or is left to the goroutine
// writing now (whose failure ends the connection for every frame).
// frame is copied: the caller may reuse it at once.
func (w *frameWriter) write(frame []byte) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.pending = append(w.pending, frame...)
	if w.writing {
		w.mu.Unlock()
		return nil
	}
	w.writing = true
	// Let the goroutines that are ready to run (answers finishing at the
	// same time, senders woken by the same read) queue their frames first.
	w.mu.Unlock()
	runtime.Gosched()
	w.mu.Lock()
	var err error
	for len(w.pending) > 0 && err == nil {
		out := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		err = w.writeOut(out)
		w.mu.Lock()
		if cap(out) <= maxSpare {
			w.spare = out[:0]
		}
	}
	if err != nil {
		w.err, w.pending, w.spare = err, nil, nil
	}
	w.writing = false
	w.mu.Unlock()
	return err
}

func (w *frameWriter) writeOut(b []byte) error {
	if err := w.deadline.extend(w.conn.SetWriteDeadline, w.timeout); err != nil {
		return fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: setting a write deadline")
	}
	return write(w.conn, b)
}

// deadline is a connection's read or write deadline as its one reader or
// writer keeps it: at least timeout ahead of each read or write, moved
// only when it has come nearer than that — to timeout and a sixteenth
// ahead — so it moves about once every sixteenth of the timeout rather
// than at every frame (moving it adjusts a runtime timer: 8 % of a round
// trip's CPU on the echo link). A read or write is so given between
// timeout and 17/16 of it.
type deadline struct {
	at  time.Time        // the deadline set last (zero: none yet)
	now func() time.Time // the clock (nil: time.Now)
}

// extend moves the deadline with set (the connection's SetReadDeadline or
// SetWriteDeadline) when it is nearer than timeout, and returns set's error.
func (d *deadline) extend(set func(time.Time) error, timeout time.Duration) error {
	now := time.Now()
	if d.now != nil {
		now = d.now()
	}
	if d.at.Sub(now) >= timeout {
		return nil
	}
	d.at = now.Add(timeout + timeout/16)
	return set(d.at)
}

// framePool holds the buffers frames are packed into before they are
// copied to a connection's pending bytes.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// withFrame packs a frame of what appendPack appends (checked against max)
// into a pooled buffer and calls use with it; the buffer goes back to the
// pool after. It returns the pack error, or use's.
func withFrame(appendPack func([]byte) ([]byte, error), max int, use func(frame []byte) error) error {
	bp := framePool.Get().(*[]byte)
	frame, err := frameOfPackInto((*bp)[:0], appendPack, max)
	if err == nil {
		err = use(frame)
	}
	if cap(frame) <= maxSpare && cap(frame) >= cap(*bp) {
		*bp = frame[:0]
	}
	framePool.Put(bp)
	return err
}
