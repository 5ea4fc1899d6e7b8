package risk

import "context"

// Meter is told the engine's decisions (Metered; the platform hands it
// the metrics of `serve`): each decision by point and outcome, and each
// rule that fired by its id. Rule ids come from the rule set in use, so
// the label values are the points, the outcomes, "error" and the rule
// ids the operators wrote — never a fact of a request. It must be safe
// for concurrent use.
type Meter interface {
	// Decided: one decision at point ("binding", "authorization",
	// "transit_clearing"):
	// outcome is "approve", "review", "decline" or "error" (the engine
	// could not decide; the caller goes on without it).
	Decided(point, outcome string)
	// Hit: the rule id fired at point; mode is "enforced", "shadow" (the
	// rule is evaluated, not enforced) or "snoozed" (its pattern is
	// snoozed).
	Hit(point, rule, mode string)
}

// The modes of Meter.Hit and the outcome of a decision not made.
const (
	HitEnforced  = "enforced"
	HitShadow    = "shadow"
	HitSnoozed   = "snoozed"
	OutcomeError = "error"
)

// Metered is an engine whose decisions (Authorize, Bind) are told to
// Meter; the rest is the Engine's. A nil Meter is told nothing.
type Metered struct {
	*Engine
	Meter Meter
}

// Authorize is Engine.Authorize, metered.
func (m Metered) Authorize(ctx context.Context, a Auth) (Decision, error) {
	d, err := m.Engine.Authorize(ctx, a)
	m.tell(PointAuthorization, d, err)
	return d, err
}

// Bind is Engine.Bind, metered.
func (m Metered) Bind(ctx context.Context, b Binding) (Decision, error) {
	d, err := m.Engine.Bind(ctx, b)
	m.tell(PointBinding, d, err)
	return d, err
}

func (m Metered) tell(p Point, d Decision, err error) {
	if m.Meter == nil {
		return
	}
	if err != nil {
		m.Meter.Decided(string(p), OutcomeError)
		return
	}
	m.Meter.Decided(string(p), d.Outcome.String())
	for _, h := range d.Hits {
		mode := HitEnforced
		switch {
		case h.Shadow:
			mode = HitShadow
		case h.Snoozed:
			mode = HitSnoozed
		}
		m.Meter.Hit(string(p), h.Rule, mode)
	}
}
