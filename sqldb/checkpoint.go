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
// copied back into the database file in the background.
const checkpointEvery = 100 * time.Millisecond

// walAutoCheckpoint is the log size (pages) at which a committing writer
// copies the log back itself. The background checkpoint has by then copied
// nearly all of it, so the writer's share is small; and a log copied back
// to its end starts again from the beginning at the next write.
const walAutoCheckpoint = 8000

// checkpointer copies the log back on its own connection, beside the
// writers (WAL mode lets one checkpoint run with them), so that no batch
// waits on the copy and its fsyncs. It runs until stop is closed.
func (db *DB) checkpointer(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_, _ = db.sql.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}
}
