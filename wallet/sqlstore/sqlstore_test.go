package sqlstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/wallet/sqlstore"
	"github.com/tapwallet/tapwallet/wallet/wallettest"
)

// openWing opens a wallet store in its own wing, closed when t ends.
func openWing(t *testing.T, dsn, dir string) *sqlstore.Store {
	st, err := sqlstore.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatalf("open the wallet wing: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs the wallet store suite on the wallet's wing, each
// case on a fresh wing: on SQLite, and on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set.
func TestConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		wallettest.Run(t, func(t *testing.T) wallet.Store { return openWing(t, "", t.TempDir()) })
	})
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) {
			wallettest.Run(t, func(t *testing.T) wallet.Store { return openWing(t, sqldbtest.PostgresDSN(t), "") })
		})
	}
}

// TestWingAlone: the wallet's wing holds the wallet's tables and no other
// party's — a statement naming the token service's table fails there.
func TestWingAlone(t *testing.T) {
	dsns := map[string]string{"sqlite": ""}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		dsns["postgres"] = "pg"
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			if dsn == "pg" {
				dsn = sqldbtest.PostgresDSN(t)
			}
			st := openWing(t, dsn, t.TempDir())
			ctx := context.Background()
			for _, table := range []string{"accounts", "sessions", "phones", "phone_nonces", "security_events"} {
				var n int
				if err := st.DB.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
					t.Errorf("the wallet's table %s: %v", table, err)
				}
			}
			for _, table := range []string{"tokens", "passkeys", "wallet_switches", "otp_outbox"} {
				var n int
				if err := st.DB.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err == nil {
					t.Errorf("another party's table %s answers in the wallet's wing", table)
				}
			}
		})
	}
}
