package sqlstore

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
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
			for _, st := range []*bySize{insertTransfers, insertFreshTransfers, insertNewTransfers, insertFreshHolds, insertNewHolds} {
				if got := strings.Count(st.of(c), "(?,"); got != c {
					t.Fatalf("the insert of %d rows has %d: %.80q…", c, got, st.of(c))
				}
			}
			sum, prev = sum+c, c
		}
		if sum != n {
			t.Fatalf("sqldb.RowChunks(%d) = %v, sums to %d", n, sqldb.RowChunks(n, ledgerRowsMost), sum)
		}
	}
}

// TestOnlyPlainHolds: the holds' statements (holdRows: the kind, the
// pending id and the state written in) take a batch of plain holds only;
// anything else goes in the general statements, its values bound.
func TestOnlyPlainHolds(t *testing.T) {
	hold := ledger.Hold("h1", "cust", "settle", money.Fen(1), time.Hour, "")
	post := ledger.Post("p1", "h1", 0, "")
	odd := hold
	odd.PendingID = "h0"
	for _, c := range []struct {
		ts   []ledger.Transfer
		want bool
	}{
		{[]ledger.Transfer{hold, hold}, true},
		{[]ledger.Transfer{hold, post}, false},
		{[]ledger.Transfer{odd}, false},
		{[]ledger.Transfer{{ID: "t1", DebitAccountID: "a", CreditAccountID: "b", Amount: 1}}, false},
	} {
		if got := onlyPlainHolds(c.ts); got != c.want {
			t.Errorf("onlyPlainHolds(%+v) = %v, want %v", c.ts, got, c.want)
		}
	}
	if !strings.Contains(holdRows(1), strconv.Itoa(int(ledger.Pending))+", '', ") || !strings.HasSuffix(holdRows(1), "'"+string(ledger.StatusPending)+"')") {
		t.Errorf("holdRows(1) = %q: want the kind Pending, no pending id and the state pending written in", holdRows(1))
	}
}
