package sqlstore_test

import (
	"context"
	"testing"

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
