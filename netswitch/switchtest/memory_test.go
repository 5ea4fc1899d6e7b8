package switchtest_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/switchtest"
)

// TestMemory runs the conformance suite on the in-memory store (the two
// "processes" share it).
func TestMemory(t *testing.T) {
	switchtest.Run(t, func(t *testing.T) (netswitch.Store, netswitch.Store) {
		m := switchtest.NewMemory()
		return m, m
	})
}
