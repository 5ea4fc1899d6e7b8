package tsp_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// TestServiceOnFake runs the token service's rules (the 8-cards rule and
// "wallet off" under concurrent adds, the lifecycle, the step-up, key uses)
// on the in-memory store: the service's own logic, without a database.
func TestServiceOnFake(t *testing.T) {
	tsptest.Run(t, func(t *testing.T) tsp.Store { return tsptest.NewFake() })
}
