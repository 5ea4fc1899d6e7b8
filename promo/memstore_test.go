package promo_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/promotest"
)

// TestMemStore runs the conformance suite of promo.Store on the store in
// memory (every open is the same store: one process).
func TestMemStore(t *testing.T) {
	promotest.Run(t, func(t *testing.T) promotest.Open {
		s := promo.NewMemStore()
		return func() promo.Store { return s }
	})
}
