package sqldb

import (
	"context"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// useFdatasync has SQLite sync its files with fdatasync(2), as SQLite's own
// builds for Linux do (the pure-Go build keeps fsync(2) unless told): the
// data and the size reach the disk the same, without the timestamps that
// fsync pushes through the file system's journal, which stalls the
// writers' appends to the log while a checkpoint syncs.
var useFdatasync sync.Once

func syncWithFdatasync() { _, _ = sqlite.Fdatasync(true) }

// checkpointEvery is how often a SQLite database's write-ahead log is
// copied back into the database file in the background while it is busy;
// checkpointIdle is the longest a log waits when it takes few writes.
const (
	checkpointEvery = 100 * time.Millisecond
	checkpointIdle  = 2 * time.Second
)

// checkpointPages is the number of new log pages a background checkpoint
// is meant to copy back at once. A checkpoint costs two fdatasync(2)s
// however little it copies, and copies a page written ten times once: a
// database that takes fewer pages between two checkpoints waits longer
// for the next (doubling up to checkpointIdle), one that takes more,
// shorter (halving down to checkpointEvery). With a file per bank
// (issue 10) each takes a twentieth of the writes, and checkpointing all
// twenty every 100 ms cost 46 µs of CPU per authorization instead of 24.
// Since the hot path waits on the shared journal, not on SQLite (issue 16),
// no answer waits on a log's length, and 4096 pages (the switch's busy log
// checkpointed about once a second instead of ten times) copy a page that
// several batches changed — the primary key's leaves, which every batch of
// records touches at random — once instead of at each: `bench auth --risk
// off --count 90000 --tokens 32` wrote 6.6–6.9 KB per authorization
// instead of 7.3–7.4 (3 alternated pairs, load 2.6–3.7), CPU no worse.
// The log grows to about 2×4096 pages at most before the pace quickens,
// about walAutoCheckpoint.
const checkpointPages = 4096

// nextCheckpoint is the wait before the next checkpoint of a log that
// took added pages during the last wait of length last.
func nextCheckpoint(last time.Duration, added int) time.Duration {
	switch {
	case added < checkpointPages/2:
		return min(2*last, checkpointIdle)
	case added > 2*checkpointPages:
		return max(last/2, checkpointEvery)
	}
	return last
}

// logAdded is how many pages were appended to the log between two
// checkpoints that found it at prev and now frames long: a log copied back
// to its end starts again from its beginning, so a shorter log is a new one.
func logAdded(prev, now int) int {
	if now >= prev {
		return now - prev
	}
	return now
}

// walAutoCheckpoint is the log size (pages) at which a committing writer
// copies the log back itself. The background checkpoint has by then copied
// nearly all of it, so the writer's share is small; and a log copied back
// to its end starts again from the beginning at the next write.
const walAutoCheckpoint = 8000

// checkpointer copies the log back on its own connection, beside the
// writers (WAL mode lets one checkpoint run with them), so that no batch
// waits on the copy and its fsyncs. It runs until stop is closed. Its
// statement runs under a context that ends then too: with the pool's
// connections all taken (each held by a transaction or a reader that may
// itself wait on the closing of the database), the checkpointer would
// otherwise wait for a connection past stop, and Close, which waits for
// the checkpointer, with it.
func (db *DB) checkpointer(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := checkpointEvery
	t := time.NewTimer(wait)
	defer t.Stop()
	prev, prevCopied := 0, 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var busy, log, copied int
		if err := db.sql.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err == nil {
			wait = nextCheckpoint(wait, logAdded(prev, log))
			if logAdded(prevCopied, copied) > 0 {
				syncs.Add(2) // the log, then the file (see Syncs)
			}
			prev, prevCopied = log, copied
		}
		t.Reset(wait)
	}
}
