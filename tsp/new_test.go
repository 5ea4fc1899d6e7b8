package tsp_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/tsp"
)

// TestNewDefaultsTDES: a token service given no card-key algorithm uses
// TDES (the assembly makes no cryptographic choice); one given SM4 keeps it.
func TestNewDefaultsTDES(t *testing.T) {
	if got := tsp.New(nil, nil, nil, tsp.EMVKeys{}, nil).Alg; got != emv.TDES {
		t.Errorf("no algorithm: got %v, want TDES", got)
	}
	if got := tsp.New(nil, nil, nil, tsp.EMVKeys{Alg: emv.SM4}, nil).Alg; got != emv.SM4 {
		t.Errorf("SM4: got %v, want SM4", got)
	}
}
