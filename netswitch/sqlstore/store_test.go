package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/netswitch/switchtest"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestConformance runs the switch store's suite on SQLite (one file) and,
// with TAPWALLET_TEST_POSTGRES, on PostgreSQL (one schema): two stores,
// each with its own connections and batcher, as two network processes.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		switchtest.Run(t, func(t *testing.T) (netswitch.Store, netswitch.Store) {
			dir := t.TempDir()
			return open(t, ctx, "", dir), open(t, ctx, "", dir)
		})
	})
	// The journaled store (one network process): the same store as both
	// "processes" — a second store cannot open the journal (its lock).
	t.Run("sqlite journaled", func(t *testing.T) {
		switchtest.Run(t, func(t *testing.T) (netswitch.Store, netswitch.Store) {
			dir := t.TempDir()
			s := openJournaled(t, ctx, dir)
			return s, s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		switchtest.Run(t, func(t *testing.T) (netswitch.Store, netswitch.Store) {
			dsn := sqldbtest.PostgresDSN(t)
			return open(t, ctx, dsn, ""), open(t, ctx, dsn, "")
		})
	})
}

func open(t *testing.T, ctx context.Context, dsn, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(ctx, dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openJournaled opens the network's store in dir with its journal
// (DATA/network.journal).
func openJournaled(t *testing.T, ctx context.Context, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(ctx, "", dir, sqlstore.WithJournal(filepath.Join(dir, "network.journal"), journal.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
