package risk_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/tapwallet/tapwallet/risk"
)

type countMeter struct {
	mu    sync.Mutex
	calls []string
}

func (m *countMeter) Decided(point, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "decided "+point+" "+outcome)
}

func (m *countMeter) Hit(point, rule, mode string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, "hit "+point+" "+rule+" "+mode)
}

// TestMetered: a metered engine tells its meter each decision's point and
// outcome and each rule that fired with its mode (a shadow rule as
// shadow), an engine that could not decide as error; without a meter it
// decides the same.
func TestMetered(t *testing.T) {
	set := decodeRules(t, `{"version": 1, "rules": [
		{"id": "big", "point": "authorization", "reason": "big", "when": {"attr": "auth.amount", "op": ">", "value": 100000}, "outcome": "decline", "score": 10},
		{"id": "big_shadow", "point": "authorization", "reason": "big", "when": {"attr": "auth.amount", "op": ">", "value": 100000}, "outcome": "decline", "score": 10, "shadow": true}]}`)
	e, err := risk.New(set, risk.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	m := &countMeter{}
	me := risk.Metered{Engine: e, Meter: m}
	ctx := context.Background()
	if d, err := me.Authorize(ctx, auth(amount(100001))); err != nil || d.Outcome != risk.Decline {
		t.Fatalf("Authorize: %v %v, want decline", d.Outcome, err)
	}
	if _, err := me.Authorize(ctx, auth(amount(100))); err != nil {
		t.Fatal(err)
	}
	if _, err := me.Authorize(ctx, risk.Auth{}); err == nil {
		t.Fatal("Authorize of empty facts: no error")
	}
	want := []string{
		"decided authorization decline", "hit authorization big enforced", "hit authorization big_shadow shadow",
		"decided authorization approve",
		"decided authorization error",
	}
	if !slices.Equal(m.calls, want) {
		t.Errorf("meter told\n%q\nwant\n%q", m.calls, want)
	}
	// No meter: the engine's decision, nothing told.
	if d, err := (risk.Metered{Engine: e}).Authorize(ctx, auth(amount(100001))); err != nil || d.Outcome != risk.Decline {
		t.Errorf("unmetered: %v %v", d.Outcome, err)
	}
}
