package sqlstore

import (
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// TestRowChunks: every chunk sqldb.RowChunks cuts a batch into has its
// statement, built by statementsBySize, with as many rows.
func TestRowChunks(t *testing.T) {
	for n := range 300 {
		sum, prev := 0, ledgerRowsMost
		for _, c := range sqldb.RowChunks(n, ledgerRowsMost) {
			if c <= 0 || c > prev || (c < ledgerRowsMost && c == prev) || insertTransfers.of(c) == "" {
				t.Fatalf("sqldb.RowChunks(%d) = %v: want most-row chunks, then distinct powers of two, largest first", n, sqldb.RowChunks(n, ledgerRowsMost))
			}
			if got := strings.Count(insertTransfers.of(c), "(?,"); got != c {
				t.Fatalf("the insert of %d rows has %d", c, got)
			}
			sum, prev = sum+c, c
		}
		if sum != n {
			t.Fatalf("sqldb.RowChunks(%d) = %v, sums to %d", n, sqldb.RowChunks(n, ledgerRowsMost), sum)
		}
	}
}
