package platform_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestDecisionMetrics: after a real binding, a tap and a tap with a spoilt
// cryptogram, /metrics counts the token service's checks by outcome and
// decline code, its bindings by ID&V verdict (a wrong CVN2 by the bank's
// code), and the risk engine's decisions by point and outcome with the
// rules that fired — each rule label one of the rule set in use.
func TestDecisionMetrics(t *testing.T) {
	e := startOps(t, nil)
	ph, c, conn := e.payingPhone(t, "decisions@example.com")
	if rc := tap(t, conn, ph.SE, c, 1234); rc != "00" {
		t.Fatalf("payment answered %s, want 00", rc)
	}
	if rc := e.riskTap(t, conn, ph, c, testTerminal.City, 1234, true); rc != "88" {
		t.Fatalf("a spoilt cryptogram answered %s, want 88", rc)
	}
	other := e.newPhone(t, "decisions2@example.com")
	if _, err := other.AddCard(context.Background(), "6222020000000007", "1230", "999"); err == nil || !strings.Contains(err.Error(), "wrong_cvn2") {
		t.Fatalf("adding a card with a wrong CVN2: %v, want wrong_cvn2", err)
	}

	_, page := callBody(t, "GET", e.p.URL+"/metrics", "", nil)
	for _, want := range []string{
		`tapwallet_tsp_token_checks_total{code="",outcome="approved"} 1`,
		`tapwallet_tsp_token_checks_total{code="arqc_invalid",outcome="declined"} 1`,
		`tapwallet_tsp_bindings_total{code="",verdict="green"} 1`,
		`tapwallet_tsp_bindings_total{code="wrong_cvn2",verdict="error"} 1`,
		// three binding decisions: the green card's before ID&V and again with
		// the holder's name its bank gave (tsp.screenHolder), and the wrong
		// CVN2's before ID&V
		`tapwallet_risk_decisions_total{outcome="approve",point="binding"} 3`,
		// the declined token check never reaches the risk engine
		`tapwallet_risk_decisions_total{outcome="approve",point="authorization"} 1`,
		// both phones and accounts are minutes old
		`tapwallet_risk_rule_hits_total{mode="enforced",point="binding",rule="bind.new_phone_new_account"} 3`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	rules := map[string]bool{}
	for _, r := range e.p.Risk().Rules().Rules {
		rules[r.ID] = true
	}
	for _, m := range regexp.MustCompile(`tapwallet_risk_rule_hits_total\{[^}]*rule="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !rules[m[1]] {
			t.Errorf("rule label %q is no rule of the set in use", m[1])
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(page, "\n") {
			if strings.HasPrefix(l, "tapwallet_tsp") || strings.HasPrefix(l, "tapwallet_risk") {
				t.Log(l)
			}
		}
	}
}
