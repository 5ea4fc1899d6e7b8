package risk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// A kept decision's body (a store's column beside its point, id, time in
// ms, version, score and outcome) need not repeat what those columns and
// the decision's stored rule set say: KeptRules.AppendBody writes, for a
// decision that the set explains, only the rest — the time's nanoseconds
// past its millisecond (its whole RFC 3339 text when not in UTC), the
// block, and per hit its rule's place in the set, its snooze, its
// pattern's values, its inputs' values, and its score and outcome when a
// band gave others than the rule's:
//
//	{"v":4,"ns":323943,"h":[{"r":7,"q":["tok_…","898310054110001"],"i":[7]},{"r":9,"z":true,"i":[…]}]}
//
// The rule says its pattern's attributes ("auth.token=V1&auth.merchant=V2"
// is kept as "q":["V1","V2"]) and the attributes its inputs name, in order
// (kept as their values alone when the hit has them all, in that order;
// else as [attribute, value] pairs, or the pattern whole as "p"): in bench
// auth's shadow traffic a body of 4-5 hits is ~170 bytes, against ~300 in
// version 3 — the decision's row, the most of what the write-behind writes
// an authorization.
//
// The rule's id, reason and shadow flag, the digest and the reasons (the
// enforced hits, in order) come back from the set (ReadBody). A decision
// the set does not explain (another digest, a rule it lacks, a reason
// that differs) is kept whole, as Decision.JSON. Each decodes to the same
// Decision (TestKeptBodyRoundTrip). Versions 3 (the pattern whole, the
// inputs as pairs) and 2 (the time in RFC 3339, the hits as
// Decision.JSON's without what the rule says) are still read.

// keptBodyHead starts a body written by AppendBody (never a Decision.JSON,
// which starts with "point").
const (
	keptBodyHead   = `{"v":`
	keptBodyV2     = `{"v":2`
	keptBodyV3     = `{"v":3`
	keptBodyV4     = `{"v":4`
	keptBodyLatest = keptBodyV4
)

// KeptRules is a stored rule set version as kept bodies are written and
// read with it.
type KeptRules struct {
	set    *RuleSet
	digest string
	rules  map[ruleAt]int // the place of each rule in set.Rules
	inputs [][]string     // by place: the attributes a hit's inputs name, in order (as the engine gives them); nil: unknown
}

type ruleAt struct {
	point Point
	id    string
}

// NewKeptRules indexes a stored rule set for AppendBody and Decision.
func NewKeptRules(set *RuleSet) *KeptRules {
	k := &KeptRules{set: set, digest: set.Digest(), rules: make(map[ruleAt]int, len(set.Rules)), inputs: make([][]string, len(set.Rules))}
	place := make(map[*Rule]int, len(set.Rules))
	for i := range set.Rules {
		r := &set.Rules[i]
		k.rules[ruleAt{r.Point, r.ID}] = i
		place[r] = i
	}
	if c, err := compile(set); err == nil { // a set that does not compile keeps its inputs as pairs
		for _, pr := range c.points {
			for _, cr := range pr.rules {
				names := make([]string, len(cr.inputs))
				for j, a := range cr.inputs {
					names[j] = attrList[a].name
				}
				k.inputs[place[cr.r]] = names
			}
		}
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
			mark := len(b)
			if b, ok = appendPatternValues(b, r.Snooze, h.Pattern); !ok {
				b = append(b[:mark], `,"p":`...)
				b = appendJSONString(b, h.Pattern)
			}
		}
		if h.Score != r.Score || h.Outcome != r.Outcome { // a band's
			b = append(b, `,"s":`...)
			b = strconv.AppendInt(b, int64(h.Score), 10)
			b = append(b, `,"o":`...)
			b = appendJSONString(b, h.Outcome.String())
		}
		if h.Inputs != nil {
			b = append(b, `,"i":[`...)
			byPlace := inputsInPlace(h.Inputs, k.inputs[at[i]])
			for j, in := range h.Inputs {
				if j > 0 {
					b = append(b, ',')
				}
				if !byPlace {
					b = append(b, '[')
					b = appendJSONString(b, in.Attr)
					b = append(b, ',')
				}
				if b, ok = appendJSONValue(b, in.Value); !ok {
					return d.AppendJSON(b[:start])
				}
				if !byPlace {
					b = append(b, ']')
				}
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendPatternValues appends ,"q":[V1,…] for a pattern
// "N1=V1&N2=V2…" over the rule's snooze attributes N1, N2, …, or reports
// false when the pattern is not of that form. Where a value holds "&N2="
// the split differs from the engine's, the pattern joined back does not.
func appendPatternValues(b []byte, names []string, pattern string) ([]byte, bool) {
	if len(names) == 0 {
		return b, false
	}
	b = append(b, `,"q":[`...)
	rest := pattern
	for i, n := range names {
		if !strings.HasPrefix(rest, n) || len(rest) == len(n) || rest[len(n)] != '=' {
			return b, false
		}
		rest = rest[len(n)+1:]
		end := len(rest)
		if i+1 < len(names) {
			if end = nextPair(rest, names[i+1]); end < 0 {
				return b, false
			}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, rest[:end])
		rest = rest[min(end+1, len(rest)):]
	}
	return append(b, ']'), true
}

// nextPair is where "&name=" starts in s, -1 when nowhere.
func nextPair(s, name string) int {
	for j := 0; j < len(s); j++ {
		if s[j] == '&' && strings.HasPrefix(s[j+1:], name) && len(s) > j+1+len(name) && s[j+1+len(name)] == '=' {
			return j
		}
	}
	return -1
}

// patternOf joins a pattern's values back with the rule's snooze
// attributes; false when they are not as many.
func patternOf(names, vals []string) (string, bool) {
	if len(vals) != len(names) {
		return "", false
	}
	var p strings.Builder
	for i, n := range names {
		if i > 0 {
			p.WriteByte('&')
		}
		p.WriteString(n)
		p.WriteByte('=')
		p.WriteString(vals[i])
	}
	return p.String(), true
}

// inputsInPlace reports whether a hit's inputs are its rule's, all of
// them in order (names), each value a string or a number: then they are
// kept as their values alone (never a JSON array, which would be read as
// an [attribute, value] pair).
func inputsInPlace(ins []Input, names []string) bool {
	if len(ins) != len(names) {
		return false
	}
	for j, in := range ins {
		switch in.Value.(type) {
		case string, float64:
		default:
			return false
		}
		if in.Attr != names[j] {
			return false
		}
	}
	return true
}

// IsShortBody reports whether a kept body is a short form (it needs its
// rule set to be read: ReadBody).
func IsShortBody(body []byte) bool { return bytes.HasPrefix(body, []byte(keptBodyHead)) }

// keptBody3 is a short body of version 3 or 4 (which adds the pattern's
// values, and inputs as values alone).
type keptBody3 struct {
	NS    *int64    `json:"ns"`
	At    time.Time `json:"at"`
	Block string    `json:"b"`
	Hits  []struct {
		Rule     int      `json:"r"`
		Snoozed  bool     `json:"z"`
		Pattern  string   `json:"p"`
		Patterns []string `json:"q"`
		Score    *int     `json:"s"`
		Outcome  *Outcome `json:"o"`
		Inputs   []any    `json:"i"`
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
	if err := json.Unmarshal(body, &kb); err != nil || !(bytes.HasPrefix(body, []byte(keptBodyV3)) || bytes.HasPrefix(body, []byte(keptBodyV4))) {
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
		r := &k.set.Rules[x.Rule]
		h := hitOf(r)
		h.Snoozed, h.Pattern = x.Snoozed, x.Pattern
		if x.Patterns != nil {
			var ok bool
			if h.Pattern, ok = patternOf(r.Snooze, x.Patterns); !ok {
				return fault.E(fault.Internal, CodeNoDecision, "a kept decision's pattern does not decode")
			}
		}
		if x.Score != nil {
			h.Score = *x.Score
		}
		if x.Outcome != nil {
			h.Outcome = *x.Outcome
		}
		if x.Inputs != nil {
			var err error
			if h.Inputs, err = readInputs(x.Inputs, k.inputs[x.Rule]); err != nil {
				return err
			}
		}
		d.Hits = append(d.Hits, h)
	}
	return nil
}

// readInputs reads a hit's inputs: [attribute, value] pairs, or values
// alone, of the rule's attributes (names) in order.
func readInputs(xs []any, names []string) ([]Input, error) {
	ins := make([]Input, len(xs))
	for i, x := range xs {
		pair, ok := x.([]any)
		if !ok { // a value alone
			if len(xs) != len(names) {
				return nil, fault.E(fault.Internal, CodeNoDecision, "a kept decision's inputs do not decode")
			}
			ins[i] = Input{Attr: names[i], Value: x}
			continue
		}
		attr, ok := "", len(pair) == 2
		if ok {
			attr, ok = pair[0].(string)
		}
		if !ok {
			return nil, fault.E(fault.Internal, CodeNoDecision, "a kept decision's input does not decode")
		}
		ins[i] = Input{Attr: attr, Value: pair[1]}
	}
	return ins, nil
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
