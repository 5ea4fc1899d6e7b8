package sqlstore

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestReadersHaveTheirIndexes: every reader of switch_auths beyond a
// lookup by identity finds its index on SQLite instead of reading every
// record — the write-behind pays for each index on every record, so each
// must have its reader: a phone's payments (the portal), a card's (the
// lost-phone portal, a new card holder without a PAR), a day's (clearing),
// the records being decided (the recovery sweep), a card's earlier
// purchases (promotions' new card holder), the last record and the
// promoted ones (the promotions' restore at a start).
func TestReadersHaveTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sel := `SELECT ` + authCols + ` FROM switch_auths `
	cases := []struct {
		name, q, index string
		args           []any
	}{
		{"phone", sel + phoneAuthsWhere, "switch_auths_phone", []any{"ph1", 50}},
		{"tokens", sel + tokenAuthsWhere(2), "switch_auths_token", []any{"6288010000000009", "6288010000000017", 50}},
		{"day", sel + dayAuthsWhere, "switch_auths_day", []any{"20260314"}},
		{"deciding", sel + decidingWhere, "switch_auths_deciding", []any{int64(1), 10}},
		{"purchased before", purchasedBefore, "switch_auths_par", []any{"PAR1", "x"}},
		{"last", lastAuth, "switch_auths_day", nil},
		{"promoted", sel + promotedWhere, "switch_auths_day", []any{"20260314", int64(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := sqldbtest.QueryPlan(t, s.DB, tc.q, tc.args...)
			steps := strings.Split(text, "; ")
			if !slices.Contains(strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == ';' }), tc.index) {
				t.Errorf("plan %q does not use %s", text, tc.index)
			}
			if slices.Contains(steps, "SCAN switch_auths") {
				t.Errorf("plan %q reads every record", text)
			}
			t.Logf("%s", text)
		})
	}
}
