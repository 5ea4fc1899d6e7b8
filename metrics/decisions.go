package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

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
	// counters holds each label set's counter once made (a labelSet):
	// WithLabelValues checks and hashes the values and looks them up
	// under the family's lock at every call — in shadow the risk engine
	// counts a decision and each of its hits, ~1.2 µs an authorization in
	// bench auth's profile. The label sets are few and bounded (points,
	// outcomes, codes, the rule set's rules, modes) and nothing deletes
	// one.
	counters *sync.Map
}

// labelSet is one counter of a family: its values (c empty for a family
// of two labels).
type labelSet struct {
	vec     *prometheus.CounterVec
	a, b, c string
}

// inc adds one to the counter of l.
func (d decisions) inc(l labelSet, labels int) {
	if x, ok := d.counters.Load(l); ok {
		x.(prometheus.Counter).Inc()
		return
	}
	var c prometheus.Counter
	if labels == 2 {
		c = l.vec.WithLabelValues(l.a, l.b)
	} else {
		c = l.vec.WithLabelValues(l.a, l.b, l.c)
	}
	x, _ := d.counters.LoadOrStore(l, c)
	x.(prometheus.Counter).Inc()
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
		counters: &sync.Map{},
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
		t.r.dec.inc(labelSet{vec: t.r.dec.checks, a: outcome, b: code}, 2)
	}
}

// Bound counts one card binding's ID&V verdict.
func (t TokenService) Bound(verdict, code string) {
	if t.r != nil {
		t.r.dec.inc(labelSet{vec: t.r.dec.bindings, a: verdict, b: code}, 2)
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
		k.r.dec.inc(labelSet{vec: k.r.dec.risk, a: point, b: outcome}, 2)
	}
}

// Hit counts one rule that fired.
func (k Risk) Hit(point, rule, mode string) {
	if k.r != nil {
		k.r.dec.inc(labelSet{vec: k.r.dec.hits, a: point, b: rule, c: mode}, 3)
	}
}
