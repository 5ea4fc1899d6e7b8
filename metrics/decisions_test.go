package metrics_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/metrics"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/tsp"
)

// The registry's decision meters are the parties' Meter interfaces.
var (
	_ tsp.Meter  = metrics.TokenService{}
	_ risk.Meter = metrics.Risk{}
)

// TestDecisionsCounted: the token service's and the risk engine's meters
// count into their families; zero meters (no registry) record nothing.
func TestDecisionsCounted(t *testing.T) {
	r := metrics.New()
	ts, rk := r.TokenService(), r.Risk()
	ts.Checked("declined", "atc_replayed")
	ts.Checked("declined", "atc_replayed")
	ts.Bound("green", "")
	rk.Decided("authorization", "decline")
	rk.Hit("authorization", "auth.small_burst", "shadow")
	rk.Hit("authorization", "auth.small_burst", "shadow")   // the same counter again
	rk.Hit("authorization", "auth.small_burs", "tshadow")   // values that join to the same text: another counter
	rk.Hit("authorization", "auth.small_burst", "enforced") // another mode: another counter
	fams, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "tapwallet_tsp_") && !strings.HasPrefix(f.GetName(), "tapwallet_risk_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	want := []string{
		"tapwallet_risk_decisions_total{outcome=decline,point=authorization} 1",
		"tapwallet_risk_rule_hits_total{mode=enforced,point=authorization,rule=auth.small_burst} 1",
		"tapwallet_risk_rule_hits_total{mode=shadow,point=authorization,rule=auth.small_burst} 2",
		"tapwallet_risk_rule_hits_total{mode=tshadow,point=authorization,rule=auth.small_burs} 1",
		"tapwallet_tsp_bindings_total{code=,verdict=green} 1",
		"tapwallet_tsp_token_checks_total{code=atc_replayed,outcome=declined} 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var zt metrics.TokenService
	zt.Checked("approved", "")
	zt.Bound("red", "")
	var zr metrics.Risk
	zr.Decided("binding", "approve")
	zr.Hit("binding", "x", "enforced")
}
