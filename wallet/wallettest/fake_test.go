package wallettest_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/wallet/wallettest"
)

// TestFake holds the in-memory store to the suite the SQL wing passes.
func TestFake(t *testing.T) {
	wallettest.Run(t, func(t *testing.T) wallet.Store { return wallettest.NewFake() })
}
