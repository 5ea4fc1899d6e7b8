package sqlstore

import (
	"strings"
	"testing"
)

// TestRowChunks: every n is cut into chunks that sum to it, each of the
// sizes statementsBySize built (the most, then powers of two, largest
// first), at most one of each size below the most.
func TestRowChunks(t *testing.T) {
	for n := range 300 {
		sum, prev := 0, ledgerRowsMost
		for _, c := range rowChunks(n, ledgerRowsMost) {
			if c <= 0 || c > prev || (c < ledgerRowsMost && c == prev) || insertTransfers.of(c) == "" {
				t.Fatalf("rowChunks(%d) = %v: want most-row chunks, then distinct powers of two, largest first", n, rowChunks(n, ledgerRowsMost))
			}
			if got := strings.Count(insertTransfers.of(c), "(?,"); got != c {
				t.Fatalf("the insert of %d rows has %d", c, got)
			}
			sum, prev = sum+c, c
		}
		if sum != n {
			t.Fatalf("rowChunks(%d) = %v, sums to %d", n, rowChunks(n, ledgerRowsMost), sum)
		}
	}
}
