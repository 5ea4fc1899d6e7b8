package risk

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Stored is an authorization as the network recorded it: its facts, the
// answer the acquirer got and the risk decision taken then (if any). It is
// what a backtest replays.
type Stored struct {
	Auth Auth `json:"auth"`
	// Answer is the response code the acquirer got ("00" approved).
	Answer string `json:"answer"`
	// Decision is the risk decision recorded with it (nil: none, as
	// before the engine).
	Decision *Recorded `json:"decision,omitempty"`
}

// Recorded is the part of a past decision a backtest compares with.
type Recorded struct {
	Outcome Outcome  `json:"outcome"`
	Version int      `json:"version"`
	Reasons []string `json:"reasons,omitempty"`
}

// History is where stored authorizations come from (the network's
// records, or a file of facts).
type History interface {
	// Authorizations returns the stored authorizations received in
	// [from, to) (zero times: unbounded), oldest first.
	Authorizations(ctx context.Context, from, to time.Time) ([]Stored, error)
}

// Report is what a backtest found.
type Report struct {
	Version  int    `json:"version"`
	Digest   string `json:"digest"`
	Replayed int    `json:"replayed"` // every authorization replayed (the ones before From warm the state up)
	Compared int    `json:"compared"` // those in [From, To)
	// Before and After count the outcomes of the compared authorizations
	// as recorded and as the proposed rule set decides them.
	Before map[string]int `json:"before"`
	After  map[string]int `json:"after"`
	Flips  []Flip         `json:"flips"`
	// Rules counts each rule's hits among the compared authorizations.
	Rules []RuleHits `json:"rules"`
	// AnswerUnknown counts authorizations the recorded risk decision
	// declined: what their issuer would have said is unknown, and the
	// replay takes it as approved.
	AnswerUnknown int `json:"answer_unknown"`
	// Decisions are the proposed rule set's decisions of the compared
	// authorizations, in replay order.
	Decisions []Decision `json:"-"`
}

// Flip is an authorization whose outcome the proposed rule set changes.
type Flip struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	Before  Outcome   `json:"before"`
	After   Outcome   `json:"after"`
	Reasons []string  `json:"reasons"`
}

// RuleHits is how often a rule fired in a backtest.
type RuleHits struct {
	Rule     string `json:"rule"`
	Hits     int    `json:"hits"`     // fired
	Enforced int    `json:"enforced"` // fired and counted (not shadow, not snoozed)
	Shadow   bool   `json:"shadow,omitempty"`
}

// Backtest replays history through set on a fresh in-memory state, in
// time order, as the live engine would have seen it: each authorization
// is decided, then recorded with the answer it would have had (declined
// when the proposed set declines; otherwise the recorded answer, taken as
// approved when the recorded risk decision had declined it). The ones in
// [from, to) (zero: unbounded) are compared with their recorded outcome.
// It fails with fault.Invalid when the set does not hold or a fact is bad.
func Backtest(ctx context.Context, set *RuleSet, history []Stored, from, to time.Time) (Report, error) {
	e, err := New(set, NewMemory())
	if err != nil {
		return Report{}, err
	}
	hist := append([]Stored(nil), history...)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].Auth.At.Before(hist[j].Auth.At) })
	r := Report{Version: set.Version, Digest: set.Digest(), Before: map[string]int{}, After: map[string]int{}, Flips: []Flip{}}
	hits := map[string]*RuleHits{}
	for _, rule := range set.Rules {
		if rule.Point == PointAuthorization {
			hits[rule.ID] = &RuleHits{Rule: rule.ID, Shadow: rule.Shadow}
			r.Rules = append(r.Rules, RuleHits{})
		}
	}
	for _, s := range hist {
		d, err := e.Authorize(ctx, s.Auth)
		if err != nil {
			return Report{}, err
		}
		approved, unknown := replayAnswer(s, d)
		if err := e.RecordAuth(ctx, s.Auth, approved); err != nil {
			return Report{}, err
		}
		r.Replayed++
		at := s.Auth.At
		if (!from.IsZero() && at.Before(from)) || (!to.IsZero() && !at.Before(to)) {
			continue
		}
		r.Compared++
		if unknown {
			r.AnswerUnknown++
		}
		before := Approve
		if s.Decision != nil {
			before = s.Decision.Outcome
		}
		r.Before[before.String()]++
		r.After[d.Outcome.String()]++
		if before != d.Outcome {
			r.Flips = append(r.Flips, Flip{ID: s.Auth.ID, At: at, Before: before, After: d.Outcome, Reasons: d.Reasons})
		}
		for _, h := range d.Hits {
			rh := hits[h.Rule]
			rh.Hits++
			if !h.Shadow && !h.Snoozed {
				rh.Enforced++
			}
		}
		r.Decisions = append(r.Decisions, d)
	}
	i := 0
	for _, rule := range set.Rules {
		if rule.Point == PointAuthorization {
			r.Rules[i] = *hits[rule.ID]
			i++
		}
	}
	return r, nil
}

// replayAnswer is whether a replayed authorization counts as approved
// once decided d, and whether its issuer's answer is unknown.
func replayAnswer(s Stored, d Decision) (approved, unknown bool) {
	if d.Outcome == Decline {
		return false, false
	}
	if s.Decision != nil && s.Decision.Outcome == Decline {
		return true, true
	}
	return s.Answer == "00", false
}

// ReadFacts reads stored authorizations from JSON Lines (one Stored per
// line; blank lines and lines starting with # are skipped), strictly:
// an unknown field or a bad line fails with fault.Invalid CodeFacts
// naming the line.
func ReadFacts(r io.Reader) ([]Stored, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []Stored
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var s Stored
		if err := dec.Decode(&s); err != nil {
			return nil, fault.E(fault.Invalid, CodeFacts, "facts line %d: %v", n, err)
		}
		if dec.More() {
			return nil, fault.E(fault.Invalid, CodeFacts, "facts line %d: more than one JSON value", n)
		}
		if err := s.Auth.check(); err != nil {
			return nil, fault.E(fault.Invalid, fault.CodeOf(err), "facts line %d: %s", n, err.Error())
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Invalid, CodeFacts, "reading facts after line %d", n)
	}
	return out, nil
}

// Facts is a History over authorizations held in memory (e.g. read with
// ReadFacts).
type Facts []Stored

// Authorizations returns the facts received in [from, to), oldest first.
func (f Facts) Authorizations(_ context.Context, from, to time.Time) ([]Stored, error) {
	var out []Stored
	for _, s := range f {
		if (!from.IsZero() && s.Auth.At.Before(from)) || (!to.IsZero() && !s.Auth.At.Before(to)) {
			continue
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Auth.At.Before(out[j].Auth.At) })
	return out, nil
}
