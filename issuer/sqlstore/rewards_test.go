package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/rewardstest"
	"github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/ledger"
)

// TestRewards runs the rewards suite on the bank's wing: the lots in
// points_lots, each operation in one transaction with its ledger
// transfers (SQLite, and PostgreSQL with TAPWALLET_TEST_POSTGRES).
func TestRewards(t *testing.T) {
	backends(t, func(t *testing.T, dsn, dir string) {
		rewardstest.Run(t, func(t *testing.T, now func() time.Time) (*issuer.Host, ledger.Store) {
			banks, err := bank.Default()
			if err != nil {
				t.Fatal(err)
			}
			s, err := sqlstore.Open(context.Background(), dsn, dir, "icbc")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			s.DB.Now = now
			b, _ := banks.BankByID("icbc")
			h, err := issuer.NewHost(context.Background(), s.HostConfig(issuer.HostConfig{Bank: b, Holders: banks.Holders("icbc"), Secret: []byte("s"), Now: now}))
			if err != nil {
				t.Fatal(err)
			}
			return h, s.Ledger
		})
	})
}
