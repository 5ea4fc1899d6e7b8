package sqldb

import (
	"context"
	"time"
)

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
