package metrics

import "github.com/prometheus/client_golang/prometheus"

// Names of the decision families.
const (
	NameTokenChecks  = "tapwallet_tsp_token_checks_total"
	NameBindings     = "tapwallet_tsp_bindings_total"
	NameRiskDecision = "tapwallet_risk_decisions_total"
	NameRiskHits     = "tapwallet_risk_rule_hits_total"
)

// decisions are the token service's and the risk engine's counters.
type decisions struct {
	checks, bindings, risk, hits *prometheus.CounterVec
}

func newDecisions(reg *prometheus.Registry) decisions {
	d := decisions{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameTokenChecks,
			Help: "Authorizations whose token the token service checked, by outcome (approved, declined, error) and code (the decline code; the fault kind of an error)."},
			[]string{"outcome", "code"}),
		bindings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameBindings,
			Help: "Card bindings by the bank's ID&V verdict (green, step_up, risk_step_up: green but the risk engine asks a code, red, error) and code (the bank's error code)."},
			[]string{"verdict", "code"}),
		risk: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameRiskDecision,
			Help: "Risk engine decisions by point (binding, authorization) and outcome (approve, review, decline, error: not decided)."},
			[]string{"point", "outcome"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameRiskHits,
			Help: "Risk rules that fired, by point, rule id (from the rule set in use) and mode (enforced, shadow, snoozed)."},
			[]string{"point", "rule", "mode"}),
	}
	reg.MustRegister(d.checks, d.bindings, d.risk, d.hits)
	return d
}

// TokenService is the meter of the token service's decisions (a
// tsp.Meter). A zero TokenService records nothing.
type TokenService struct{ r *Registry }

// TokenService returns the meter of the token service.
func (r *Registry) TokenService() TokenService { return TokenService{r} }

// Checked counts one authorization's token check.
func (t TokenService) Checked(outcome, code string) {
	if t.r != nil {
		t.r.dec.checks.WithLabelValues(outcome, code).Inc()
	}
}

// Bound counts one card binding's ID&V verdict.
func (t TokenService) Bound(verdict, code string) {
	if t.r != nil {
		t.r.dec.bindings.WithLabelValues(verdict, code).Inc()
	}
}

// Risk is the meter of the risk engine's decisions (a risk.Meter). A zero
// Risk records nothing.
type Risk struct{ r *Registry }

// Risk returns the meter of the risk engine.
func (r *Registry) Risk() Risk { return Risk{r} }

// Decided counts one decision at point with its outcome.
func (k Risk) Decided(point, outcome string) {
	if k.r != nil {
		k.r.dec.risk.WithLabelValues(point, outcome).Inc()
	}
}

// Hit counts one rule that fired.
func (k Risk) Hit(point, rule, mode string) {
	if k.r != nil {
		k.r.dec.hits.WithLabelValues(point, rule, mode).Inc()
	}
}
