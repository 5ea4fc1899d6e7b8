package tsp_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/tsp"
)

// TestIMKName: the name of a range's issuer master key is "token-range-"
// and the token's first six digits — for each of the 100 ranges (whose
// names are made once) and for any other number.
func TestIMKName(t *testing.T) {
	for i := range 100 {
		prefix := tsp.TokenRangePrefix(i)
		if got, want := tsp.IMKName(prefix+"0000000001"), "token-range-"+prefix; got != want {
			t.Errorf("range %d: got %q, want %q", i, got, want)
		}
	}
	for _, digits := range []string{"6212340000005678", "628800", "6288A10000", "5288121234"} {
		if got, want := tsp.IMKName(digits), "token-range-"+digits[:6]; got != want {
			t.Errorf("%s: got %q, want %q", digits, got, want)
		}
	}
}

// nameSink keeps the names BenchmarkIMKName makes, so that they are made
// on the heap as the key store's requests are.
var nameSink string

// BenchmarkIMKName: the key's name the token service asks for at every
// authorization.
func BenchmarkIMKName(b *testing.B) {
	digits := tsp.TokenRangePrefix(7) + "0000000012"
	b.ReportAllocs()
	for b.Loop() {
		nameSink = tsp.IMKName(digits)
	}
}
