package risk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// A kept decision's body (a store's column beside its point, id, time in
// ms, version, score and outcome) need not repeat what those columns and
// the decision's stored rule set say: KeptRules.AppendBody writes, for a
// decision that the set explains, only the rest — the time's nanoseconds
// past its millisecond (its whole RFC 3339 text when not in UTC), the
// block, and per hit its rule's place in the set, its snooze and pattern,
// its inputs as [attribute, value] pairs, and its score and outcome when
// a band gave others than the rule's:
//
//	{"v":3,"ns":323943,"h":[{"r":7,"p":"auth.token=…","i":[["token.count_15m",7]]},{"r":9,"s":true,"i":[…]}]}
//
// The rule's id, reason and shadow flag, the digest and the reasons (the
// enforced hits, in order) come back from the set (ReadBody). A decision
// the set does not explain (another digest, a rule it lacks, a reason
// that differs) is kept whole, as Decision.JSON. Each decodes to the same
// Decision (TestKeptBodyRoundTrip). Version 2 (the time in RFC 3339, the
// hits as Decision.JSON's without what the rule says) is still read.

// keptBodyHead starts a body written by AppendBody (never a Decision.JSON,
// which starts with "point").
const (
	keptBodyHead   = `{"v":`
	keptBodyV2     = `{"v":2`
	keptBodyV3     = `{"v":3`
	keptBodyLatest = keptBodyV3
)

// KeptRules is a stored rule set version as kept bodies are written and
// read with it.
type KeptRules struct {
	set    *RuleSet
	digest string
	rules  map[ruleAt]int // the place of each rule in set.Rules
}

type ruleAt struct {
	point Point
	id    string
}

// NewKeptRules indexes a stored rule set for AppendBody and Decision.
func NewKeptRules(set *RuleSet) *KeptRules {
	k := &KeptRules{set: set, digest: set.Digest(), rules: make(map[ruleAt]int, len(set.Rules))}
	for i := range set.Rules {
		r := &set.Rules[i]
		k.rules[ruleAt{r.Point, r.ID}] = i
	}
	return k
}

// rule returns the rule of a point by id, nil when the set lacks it.
func (k *KeptRules) rule(p Point, id string) (*Rule, int) {
	i, ok := k.rules[ruleAt{p, id}]
	if !ok {
		return nil, -1
	}
	return &k.set.Rules[i], i
}

// ruleFrom is rule, looking first at the set's rules from place from on:
// a decision's hits come in rule set order, so the next hit's rule is
// most often the first of its point and id after the previous hit's —
// found by comparing a few ids rather than hashing two strings (the map
// answers when it is not).
func (k *KeptRules) ruleFrom(p Point, id string, from int) (*Rule, int) {
	rs := k.set.Rules
	for i := max(from, 0); i < len(rs) && i < from+8; i++ {
		if r := &rs[i]; r.ID == id && r.Point == p {
			return r, i
		}
	}
	return k.rule(p, id)
}

// Digest is the set's digest.
func (k *KeptRules) Digest() string { return k.digest }

// explains reports whether the decision can be kept short with the set:
// its version and digest, each hit's rule, reason and shadow flag, its
// reasons the enforced hits in order, its outcome a named one.
// It appends each hit's rule's place in the set to at.
func (k *KeptRules) explains(d *Decision, at []int) ([]int, bool) {
	if k == nil || d.Version != k.set.Version || d.Digest != k.digest || d.Reasons == nil || d.Hits == nil ||
		d.Outcome < Approve || d.Outcome > Decline {
		return at, false
	}
	n, from := 0, 0
	for i := range d.Hits {
		h := &d.Hits[i]
		r, place := k.ruleFrom(d.Point, h.Rule, from)
		if r == nil || r.Reason != h.Reason || r.Shadow != h.Shadow {
			return at, false
		}
		at, from = append(at, place), place+1
		if h.Shadow || h.Snoozed {
			continue
		}
		if n >= len(d.Reasons) || d.Reasons[n] != h.Rule {
			return at, false
		}
		n++
	}
	return at, n == len(d.Reasons)
}

// AppendBody appends the decision's body for a store to b: the short form
// when the set (nil: none stored) explains it, else Decision.JSON.
func (k *KeptRules) AppendBody(b []byte, d *Decision) []byte {
	var places [32]int
	at, ok := k.explains(d, places[:0])
	if !ok {
		return d.AppendJSON(b)
	}
	start := len(b)
	b = append(b, keptBodyLatest...)
	if _, off := d.At.Zone(); off == 0 && d.At.Year() >= 1900 && d.At.Year() < 2200 {
		b = append(b, `,"ns":`...)
		b = strconv.AppendInt(b, d.At.UnixNano()-d.At.UnixMilli()*1e6, 10)
	} else {
		b = append(b, `,"at":`...)
		if b, ok = appendJSONTime(b, d.At); !ok {
			return d.AppendJSON(b[:start])
		}
	}
	if d.Block != "" {
		b = append(b, `,"b":`...)
		b = appendJSONString(b, d.Block)
	}
	b = append(b, `,"h":[`...)
	for i := range d.Hits {
		if i > 0 {
			b = append(b, ',')
		}
		h, r := &d.Hits[i], &k.set.Rules[at[i]]
		b = append(b, `{"r":`...)
		b = strconv.AppendInt(b, int64(at[i]), 10)
		if h.Snoozed {
			b = append(b, `,"z":true`...)
		}
		if h.Pattern != "" {
			b = append(b, `,"p":`...)
			b = appendJSONString(b, h.Pattern)
		}
		if h.Score != r.Score || h.Outcome != r.Outcome { // a band's
			b = append(b, `,"s":`...)
			b = strconv.AppendInt(b, int64(h.Score), 10)
			b = append(b, `,"o":`...)
			b = appendJSONString(b, h.Outcome.String())
		}
		if h.Inputs != nil {
			b = append(b, `,"i":[`...)
			for j, in := range h.Inputs {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '[')
				b = appendJSONString(b, in.Attr)
				b = append(b, ',')
				if b, ok = appendJSONValue(b, in.Value); !ok {
					return d.AppendJSON(b[:start])
				}
				b = append(b, ']')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// IsShortBody reports whether a kept body is a short form (it needs its
// rule set to be read: ReadBody).
func IsShortBody(body []byte) bool { return bytes.HasPrefix(body, []byte(keptBodyHead)) }

// keptBody3 is a short body of version 3.
type keptBody3 struct {
	NS    *int64    `json:"ns"`
	At    time.Time `json:"at"`
	Block string    `json:"b"`
	Hits  []struct {
		Rule    int      `json:"r"`
		Snoozed bool     `json:"z"`
		Pattern string   `json:"p"`
		Score   *int     `json:"s"`
		Outcome *Outcome `json:"o"`
		Inputs  [][]any  `json:"i"`
	} `json:"h"`
}

// keptBody is a short body of version 2.
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
// decided, its time in Unix ms, version, score, outcome) and its body,
// whole (Decision.JSON) or short, read with k, the decision's stored rule
// set (nil when the body is whole). It fails with fault.Internal
// CodeNoDecision when the body does not decode or a short one's rules are
// missing.
func ReadBody(k *KeptRules, p Point, id string, decided int64, version, score int, outcome string, body []byte) (Decision, error) {
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
	o, err := ParseOutcome(outcome)
	if err != nil {
		return Decision{}, fault.Wrap(err, fault.Internal, CodeNoDecision, "a kept decision does not decode")
	}
	d = Decision{Point: p, ID: id, Version: version, Digest: k.digest, Score: score, Outcome: o, Reasons: []string{}}
	if bytes.HasPrefix(body, []byte(keptBodyV2)) {
		err = k.readV2(&d, body)
	} else {
		err = k.readV3(&d, decided, body)
	}
	if err != nil {
		return Decision{}, err
	}
	for _, h := range d.Hits {
		if !h.Shadow && !h.Snoozed {
			d.Reasons = append(d.Reasons, h.Rule)
		}
	}
	return d, nil
}

// hit is a hit of rule r as the engine made it (the rule's reason,
// score, outcome and shadow flag).
func hitOf(r *Rule) Hit {
	return Hit{Rule: r.ID, Reason: r.Reason, Score: r.Score, Outcome: r.Outcome, Shadow: r.Shadow}
}

func (k *KeptRules) readV3(d *Decision, decided int64, body []byte) error {
	var kb keptBody3
	if err := json.Unmarshal(body, &kb); err != nil || !bytes.HasPrefix(body, []byte(keptBodyV3)) {
		return fault.Wrap(err, fault.Internal, CodeNoDecision, "a kept decision does not decode")
	}
	d.At, d.Block = kb.At, kb.Block
	if kb.NS != nil {
		d.At = time.Unix(0, decided*1e6+*kb.NS).UTC()
	}
	d.Hits = make([]Hit, 0, len(kb.Hits))
	for _, x := range kb.Hits {
		if x.Rule < 0 || x.Rule >= len(k.set.Rules) || k.set.Rules[x.Rule].Point != d.Point {
			return fault.E(fault.Internal, CodeNoDecision, "a kept decision names rule %d, which version %d lacks", x.Rule, d.Version)
		}
		h := hitOf(&k.set.Rules[x.Rule])
		h.Snoozed, h.Pattern = x.Snoozed, x.Pattern
		if x.Score != nil {
			h.Score = *x.Score
		}
		if x.Outcome != nil {
			h.Outcome = *x.Outcome
		}
		if x.Inputs != nil {
			h.Inputs = make([]Input, len(x.Inputs))
			for i, in := range x.Inputs {
				attr, ok := in[0].(string)
				if len(in) != 2 || !ok {
					return fault.E(fault.Internal, CodeNoDecision, "a kept decision's input does not decode")
				}
				h.Inputs[i] = Input{Attr: attr, Value: in[1]}
			}
		}
		d.Hits = append(d.Hits, h)
	}
	return nil
}

func (k *KeptRules) readV2(d *Decision, body []byte) error {
	var kb keptBody
	if err := json.Unmarshal(body, &kb); err != nil {
		return fault.Wrap(err, fault.Internal, CodeNoDecision, "a kept decision does not decode")
	}
	d.At, d.Block = kb.At, kb.Block
	d.Hits = make([]Hit, 0, len(kb.Hits))
	for _, x := range kb.Hits {
		r, _ := k.rule(d.Point, x.Rule)
		if r == nil {
			return fault.E(fault.Internal, CodeNoDecision, "a kept decision names rule %s, which version %d lacks", x.Rule, d.Version)
		}
		h := hitOf(r)
		h.Snoozed, h.Pattern, h.Inputs = x.Snoozed, x.Pattern, x.Inputs
		if x.Score != nil {
			h.Score = *x.Score
		}
		if x.Outcome != nil {
			h.Outcome = *x.Outcome
		}
		d.Hits = append(d.Hits, h)
	}
	return nil
}
