package netswitch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// traceRules review 600.00 and more and decline 900.00 and more.
func traceRules(t *testing.T) *risk.Engine {
	t.Helper()
	set, err := risk.DecodeRules(strings.NewReader(`{"version": 7, "thresholds": {"review": 50, "decline": 90}, "rules": [
	 {"id": "test.large", "point": "authorization", "reason": "600.00 or more", "when": {"attr": "auth.amount", "op": ">=", "value": 60000}, "score": 50, "outcome": "review"},
	 {"id": "test.huge", "point": "authorization", "reason": "900.00 or more", "when": {"attr": "auth.amount", "op": ">=", "value": 90000}, "score": 90, "outcome": "decline"},
	 {"id": "test.trial", "point": "authorization", "reason": "under trial", "when": {"attr": "auth.amount", "op": ">", "value": 0}, "score": 10, "shadow": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := risk.New(set, risk.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type riskKeep struct {
	*risk.MemoryVersions
	*risk.MemoryCases
}

// TestRiskTrace: each authorization's risk decision is in the switch's
// trace — one "netswitch: risk decision" line with the message identity,
// the response code, the outcome, the score, the rule set's version and
// the rules (shadow ones apart) — at Info for a review and a decline, at
// Debug for an approval, and never a card or token number.
func TestRiskTrace(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		keep := riskKeep{risk.NewMemoryVersions(), risk.NewMemoryCases()}
		e := newEnv(t, db, func(c *netswitch.Config) { c.Risk = &netswitch.Risk{Engine: traceRules(t), Keep: keep} })
		ph := e.phone(t, icbcDebit)
		c := ph.Cards[0]
		for _, tc := range []struct {
			amount int64
			rc     string
			want   []string
		}{
			{1000, "00", []string{"level=DEBUG", "rc=00", "outcome=approve", "score=0", "version=7", "rules=\"\"", "shadow=test.trial"}},
			{60000, "00", []string{"level=INFO", "rc=00", "outcome=review", "score=50", "version=7", "rules=test.large", "shadow=test.trial"}},
			{95000, "59", []string{"level=INFO", "rc=59", "outcome=decline", "score=99", "version=7", "rules=test.large,test.huge"}},
		} {
			req := e.auth(t, c, tc.amount, nettest.Tap{})
			if got := rcOf(e.send(t, req)); got != tc.rc {
				t.Fatalf("%d: got %s, want %s", tc.amount, got, tc.rc)
			}
			id := authIDOf(req)
			var line string
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(l, `msg="netswitch: risk decision"`) && strings.Contains(l, "auth="+id) {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("%d: no risk decision line for %s in the trace:\n%s", tc.amount, id, e.logs)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("%d: trace line %q lacks %s", tc.amount, line, w)
				}
			}
			if d, err := keep.DecisionOf(context.Background(), risk.PointAuthorization, id); err != nil || d.String() == "" {
				t.Errorf("%d: decision not kept: %v", tc.amount, err)
			}
		}
		logs := e.logs.String()
		for _, secret := range []string{icbcDebit, c.Token, risk.TokenRef(c.Token)} {
			if strings.Contains(logs, secret) {
				t.Fatalf("the switch's log holds a card or token number or reference %s", secret)
			}
		}
	})
}
