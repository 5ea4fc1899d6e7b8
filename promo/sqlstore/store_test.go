package sqlstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/promotest"
	"github.com/tapwallet/tapwallet/promo/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestSuite runs the conformance suite of promo.Store on the promo wing on
// SQLite and, with TAPWALLET_TEST_POSTGRES, PostgreSQL, through the plain
// store and through Batch; each open is another connection pool on the
// same wing, as another network process would have.
func TestSuite(t *testing.T) {
	for _, batch := range []bool{false, true} {
		suffix := ""
		if batch {
			suffix = "-batch"
		}
		t.Run("sqlite"+suffix, func(t *testing.T) {
			promotest.Run(t, func(t *testing.T) promotest.Open { return opener(t, "", t.TempDir(), batch) })
		})
		if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
			t.Run("postgres"+suffix, func(t *testing.T) {
				promotest.Run(t, func(t *testing.T) promotest.Open { return opener(t, sqldbtest.PostgresDSN(t), "", batch) })
			})
		}
	}
}

// opener opens the wing on dsn/dir, closed when the test ends.
func opener(t *testing.T, dsn, dir string, batch bool) promotest.Open {
	return func() promo.Store {
		s, err := sqlstore.Open(context.Background(), dsn, dir)
		if err != nil {
			t.Fatal(err)
		}
		if batch {
			b := sqlstore.NewBatch(s)
			t.Cleanup(func() { b.Close() })
			return b
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

var (
	at       = promotest.At
	campaign = promotest.Campaign
)
