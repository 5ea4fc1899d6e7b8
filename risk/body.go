package risk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// A kept decision's body (a store's column beside its point, id, version,
// score and outcome) need not repeat what those columns and the decision's
// stored rule set say: KeptRules.AppendBody writes, for a decision that
// the set explains, only the rest — the time, the block, and per hit its
// rule id, its snooze and pattern, its inputs, and its score and outcome
// when a band gave others than the rule's. The rule's reason and shadow
// flag, the digest and the reasons (the enforced hits, in order) come
// back from the set (KeptRules.Decision). A decision the set does not
// explain (another digest, a rule it lacks, a reason that differs) is
// kept whole, as Decision.JSON. Both decode to the same Decision
// (TestKeptBodyRoundTrip).

// keptBodyHead starts a body written by AppendBody (never a Decision.JSON,
// which starts with "point").
const keptBodyHead = `{"v":2`

// KeptRules is a stored rule set version as kept bodies are written and
// read with it.
type KeptRules struct {
	set    *RuleSet
	digest string
	rules  map[ruleAt]*Rule
}

type ruleAt struct {
	point Point
	id    string
}

// NewKeptRules indexes a stored rule set for AppendBody and Decision.
func NewKeptRules(set *RuleSet) *KeptRules {
	k := &KeptRules{set: set, digest: set.Digest(), rules: make(map[ruleAt]*Rule, len(set.Rules))}
	for i := range set.Rules {
		r := &set.Rules[i]
		k.rules[ruleAt{r.Point, r.ID}] = r
	}
	return k
}

// Digest is the set's digest.
func (k *KeptRules) Digest() string { return k.digest }

// explains reports whether the decision can be kept short with the set:
// its version and digest, each hit's rule, reason and shadow flag, its
// reasons the enforced hits in order, its outcome a named one.
func (k *KeptRules) explains(d *Decision) bool {
	if k == nil || d.Version != k.set.Version || d.Digest != k.digest || d.Reasons == nil || d.Hits == nil ||
		d.Outcome < Approve || d.Outcome > Decline {
		return false
	}
	n := 0
	for i := range d.Hits {
		h := &d.Hits[i]
		r := k.rules[ruleAt{d.Point, h.Rule}]
		if r == nil || r.Reason != h.Reason || r.Shadow != h.Shadow {
			return false
		}
		if h.Shadow || h.Snoozed {
			continue
		}
		if n >= len(d.Reasons) || d.Reasons[n] != h.Rule {
			return false
		}
		n++
	}
	return n == len(d.Reasons)
}

// AppendBody appends the decision's body for a store to b: the short form
// when the set (nil: none stored) explains it, else Decision.JSON.
func (k *KeptRules) AppendBody(b []byte, d *Decision) []byte {
	if !k.explains(d) {
		return d.AppendJSON(b)
	}
	start := len(b)
	b = append(b, keptBodyHead...)
	b = append(b, `,"at":`...)
	var ok bool
	if b, ok = appendJSONTime(b, d.At); !ok {
		return d.AppendJSON(b[:start])
	}
	if d.Block != "" {
		b = append(b, `,"block":`...)
		b = appendJSONString(b, d.Block)
	}
	b = append(b, `,"hits":[`...)
	for i := range d.Hits {
		if i > 0 {
			b = append(b, ',')
		}
		h := &d.Hits[i]
		r := k.rules[ruleAt{d.Point, h.Rule}]
		if b, ok = h.appendJSON(b, false); !ok {
			return d.AppendJSON(b[:start])
		}
		if h.Score != r.Score || h.Outcome != r.Outcome { // a band's: before the hit's closing brace
			b = b[:len(b)-1]
			b = append(b, `,"score":`...)
			b = strconv.AppendInt(b, int64(h.Score), 10)
			b = append(b, `,"outcome":`...)
			b = appendJSONString(b, h.Outcome.String())
			b = append(b, '}')
		}
	}
	return append(b, "]}"...)
}

// IsShortBody reports whether a kept body is the short form (it needs its
// rule set to be read: Decision).
func IsShortBody(body []byte) bool { return bytes.HasPrefix(body, []byte(keptBodyHead)) }

type keptBody struct {
	At    time.Time `json:"at"`
	Block string    `json:"block"`
	Hits  []struct {
		Rule    string   `json:"rule"`
		Snoozed bool     `json:"snoozed"`
		Pattern string   `json:"pattern"`
		Inputs  []Input  `json:"inputs"`
		Score   *int     `json:"score"`
		Outcome *Outcome `json:"outcome"`
	} `json:"hits"`
}

// ReadBody returns the decision a store kept: its columns (point, id,
// version, score, outcome) and its body, whole (Decision.JSON) or short,
// read with k, the decision's stored rule set (nil when the body is
// whole). It fails with fault.Internal CodeNoDecision when the body does
// not decode or a short one's rules are missing.
func ReadBody(k *KeptRules, p Point, id string, version, score int, outcome string, body []byte) (Decision, error) {
	var d Decision
	if !IsShortBody(body) {
		if err := json.Unmarshal(body, &d); err != nil {
			return Decision{}, fault.Wrap(err, fault.Internal, CodeNoDecision, "a kept decision does not decode")
		}
		return d, nil
	}
	if k == nil || k.set.Version != version {
		return Decision{}, fault.E(fault.Internal, CodeNoDecision, "a kept decision needs rule set version %d, which is not stored", version)
	}
	var kb keptBody
	o, err := ParseOutcome(outcome)
	if err == nil {
		err = json.Unmarshal(body, &kb)
	}
	if err != nil {
		return Decision{}, fault.Wrap(err, fault.Internal, CodeNoDecision, "a kept decision does not decode")
	}
	d = Decision{Point: p, ID: id, At: kb.At, Version: version, Digest: k.digest, Score: score, Outcome: o, Block: kb.Block,
		Reasons: []string{}, Hits: make([]Hit, 0, len(kb.Hits))}
	for _, x := range kb.Hits {
		r := k.rules[ruleAt{p, x.Rule}]
		if r == nil {
			return Decision{}, fault.E(fault.Internal, CodeNoDecision, "a kept decision names rule %s, which version %d lacks", x.Rule, version)
		}
		h := Hit{Rule: r.ID, Reason: r.Reason, Score: r.Score, Outcome: r.Outcome, Shadow: r.Shadow, Snoozed: x.Snoozed, Pattern: x.Pattern, Inputs: x.Inputs}
		if x.Score != nil {
			h.Score = *x.Score
		}
		if x.Outcome != nil {
			h.Outcome = *x.Outcome
		}
		d.Hits = append(d.Hits, h)
		if !h.Shadow && !h.Snoozed {
			d.Reasons = append(d.Reasons, h.Rule)
		}
	}
	return d, nil
}
