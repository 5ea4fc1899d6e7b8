package sqldb_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestCloseWithConnectionsTaken: a SQLite database whose pool's
// connections are all held (by transactions or readers that may be waiting
// for the close themselves) still closes — its background checkpoint,
// waiting for a connection, gives up when told to stop, where it waited
// for one for good before, and Close with it.
func TestCloseWithConnectionsTaken(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Place{Dir: t.TempDir()}.Open(ctx, alpha)
	if err != nil {
		t.Fatal(err)
	}
	var held []*sql.Conn
	for range 4 { // the pool's size for SQLite
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// The first background checkpoint is due after 100 ms; by 300 ms it
	// waits for a connection.
	time.Sleep(300 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return with the pool's connections all taken: the checkpointer waits for one past its stop")
	}
}
