package risk

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// RuleSet is one version of the rules: data, decoded strictly from JSON
// (an unknown field is refused). A version is never changed once stored;
// a change is a new version.
type RuleSet struct {
	Version int    `json:"version"`
	Note    string `json:"note,omitempty"`
	// Thresholds turn a decision's score into an outcome: a score at or
	// above Review reviews (steps up), at or above Decline declines (0:
	// no such threshold).
	Thresholds Thresholds `json:"thresholds"`
	Rules      []Rule     `json:"rules"`
}

// Thresholds are the score bands of the outcomes.
type Thresholds struct {
	Review  int `json:"review,omitempty"`
	Decline int `json:"decline,omitempty"`
}

// Rule is one rule: when its condition holds (and, with bands, its
// attribute falls in a band) it fires with a score and an outcome.
type Rule struct {
	ID     string `json:"id"`
	Point  Point  `json:"point"`
	Reason string `json:"reason"`
	// Source names where the rule comes from (a scheme's reason code, a
	// product's documented rule).
	Source string `json:"source,omitempty"`
	When   Cond   `json:"when"`
	// Bands grade the rule by one attribute: the highest band whose Min
	// the attribute reaches gives the score and outcome. Without a band
	// reached the rule does not fire.
	Bands   *Bands  `json:"bands,omitempty"`
	Score   int     `json:"score,omitempty"`
	Outcome Outcome `json:"outcome,omitempty"`
	// Shadow rules are evaluated and recorded, never enforced.
	Shadow bool `json:"shadow,omitempty"`
	// Snooze names the attributes whose values make a hit's pattern (e.g.
	// auth.token and auth.merchant): a card holder's "yes, that was me"
	// silences the rule for that pattern for a while.
	Snooze []string `json:"snooze,omitempty"`
}

// Bands grade a rule by an attribute.
type Bands struct {
	Attr  string `json:"attr"`
	Steps []Band `json:"steps"`
}

// Band is one step of Bands.
type Band struct {
	Min     float64 `json:"min"`
	Score   int     `json:"score"`
	Outcome Outcome `json:"outcome,omitempty"`
}

// Cond is a condition tree: exactly one of All, Any, Not, or a comparison
// of Attr with Op against Value (a number, a string, or for in/not_in a
// list) or against another numeric attribute Ref times Times (default 1).
// A comparison whose attribute is unknown for a decision (no history, no
// place) is false.
type Cond struct {
	All   []Cond  `json:"all,omitempty"`
	Any   []Cond  `json:"any,omitempty"`
	Not   *Cond   `json:"not,omitempty"`
	Attr  string  `json:"attr,omitempty"`
	Op    string  `json:"op,omitempty"`
	Value any     `json:"value,omitempty"`
	Ref   string  `json:"ref,omitempty"`
	Times float64 `json:"times,omitempty"`
}

//go:embed rules/default.json
var defaultRules []byte

// Default returns the default rule set shipped with tapwallet (rules/default.json).
func Default() *RuleSet {
	s, err := DecodeRules(bytes.NewReader(defaultRules))
	if err != nil {
		panic("risk: the embedded default rules do not hold: " + err.Error())
	}
	return s
}

// DecodeRules reads a rule set from JSON, strictly (unknown fields, a
// second document or trailing bytes are refused) and checks it; it fails
// with fault.Invalid CodeRules saying what is wrong.
func DecodeRules(r io.Reader) (*RuleSet, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s RuleSet
	if err := dec.Decode(&s); err != nil {
		return nil, fault.E(fault.Invalid, CodeRules, "rule set: %v", err)
	}
	if dec.More() {
		return nil, fault.E(fault.Invalid, CodeRules, "rule set: more than one JSON document")
	}
	if _, err := compile(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Check reports whether the rule set holds (fault.Invalid CodeRules).
func (s *RuleSet) Check() error {
	_, err := compile(s)
	return err
}

// JSON returns the rule set as indented JSON.
func (s *RuleSet) JSON() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// Digest is the first 12 hex digits of the sha-256 of the rule set's
// compact JSON: two sets with one version number and other rules differ.
func (s *RuleSet) Digest() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

var ruleID = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

func rulesErr(format string, args ...any) error {
	return fault.E(fault.Invalid, CodeRules, "rule set: "+format, args...)
}

// compiled is a rule set ready to evaluate.
type compiled struct {
	set    *RuleSet
	digest string
	points map[Point]*pointRules
}

// pointRules are the rules of one point and the reads they need.
type pointRules struct {
	rules    []cRule
	attrs    []int // every attribute the rules read
	groups   []int // the state reads they need
	sighting bool
}

type cRule struct {
	r      *Rule
	when   node
	inputs []int // attributes the rule reads, in order of first use
	band   int   // the bands' attribute, -1 without bands
	snooze []int
}

// node kinds and operators.
const (
	nAll = iota
	nAny
	nNot
	nCmp
)

type node struct {
	kind  int
	op    string
	attr  int
	ref   int // -1: compare with the constant
	times float64
	num   float64
	str   string
	set   []value // for in / not_in
	kids  []node
}

var numOps = map[string]bool{">": true, ">=": true, "<": true, "<=": true, "==": true, "!=": true, "in": true, "not_in": true}
var strOps = map[string]bool{"==": true, "!=": true, "in": true, "not_in": true}

func compile(s *RuleSet) (*compiled, error) {
	if s.Version < 1 {
		return nil, rulesErr("version %d: want 1 or more", s.Version)
	}
	if s.Thresholds.Review < 0 || s.Thresholds.Decline < 0 || s.Thresholds.Review > 99 || s.Thresholds.Decline > 99 {
		return nil, rulesErr("thresholds: want scores 0–99")
	}
	if s.Thresholds.Review > 0 && s.Thresholds.Decline > 0 && s.Thresholds.Review >= s.Thresholds.Decline {
		return nil, rulesErr("thresholds: review %d must be below decline %d", s.Thresholds.Review, s.Thresholds.Decline)
	}
	c := &compiled{set: s, digest: s.Digest(), points: map[Point]*pointRules{PointAuthorization: {}, PointBinding: {}, PointTransit: {}}}
	seen := map[string]bool{}
	for i := range s.Rules {
		r := &s.Rules[i]
		if !ruleID.MatchString(r.ID) {
			return nil, rulesErr("rule %d: id %q: want lower-case letters, digits, _ and .", i+1, r.ID)
		}
		if seen[r.ID] {
			return nil, rulesErr("rule %s: id used twice", r.ID)
		}
		seen[r.ID] = true
		pr, ok := c.points[r.Point]
		if !ok {
			return nil, rulesErr("rule %s: point %q: want authorization, binding or transit_clearing", r.ID, r.Point)
		}
		if strings.TrimSpace(r.Reason) == "" {
			return nil, rulesErr("rule %s: want a reason", r.ID)
		}
		if r.Score < 0 || r.Score > 99 {
			return nil, rulesErr("rule %s: score %d: want 0–99", r.ID, r.Score)
		}
		cr := cRule{r: r, band: -1}
		use := func(a int) {
			for _, x := range cr.inputs {
				if x == a {
					return
				}
			}
			cr.inputs = append(cr.inputs, a)
		}
		var err error
		if cr.when, err = compileCond(&r.When, r, use); err != nil {
			return nil, err
		}
		if r.Bands != nil {
			a, err := lookAttr(r, r.Bands.Attr, false)
			if err != nil {
				return nil, err
			}
			if len(r.Bands.Steps) == 0 {
				return nil, rulesErr("rule %s: bands without steps", r.ID)
			}
			for j, b := range r.Bands.Steps {
				if j > 0 && b.Min <= r.Bands.Steps[j-1].Min {
					return nil, rulesErr("rule %s: band mins must rise", r.ID)
				}
				if b.Score < 0 || b.Score > 99 {
					return nil, rulesErr("rule %s: band score %d: want 0–99", r.ID, b.Score)
				}
			}
			cr.band = a
			use(a)
		} else if r.Score == 0 && r.Outcome == Approve {
			return nil, rulesErr("rule %s: want a score, an outcome or bands", r.ID)
		}
		for _, name := range r.Snooze {
			a, err := lookAttr(r, name, true)
			if err != nil {
				return nil, err
			}
			cr.snooze = append(cr.snooze, a)
		}
		pr.rules = append(pr.rules, cr)
	}
	for _, pr := range c.points {
		ga := map[int]bool{}
		aa := map[int]bool{}
		for _, cr := range pr.rules {
			for _, a := range append(append([]int(nil), cr.inputs...), cr.snooze...) {
				if !aa[a] {
					aa[a] = true
					pr.attrs = append(pr.attrs, a)
				}
				if attrList[a].sighting {
					pr.sighting = true
				}
				for _, g := range attrList[a].groups {
					if !ga[g] {
						ga[g] = true
						pr.groups = append(pr.groups, g)
					}
				}
			}
		}
	}
	return c, nil
}

// lookAttr finds a rule's attribute by name; anyType allows a string
// attribute (snooze patterns), otherwise it must be a number (bands).
func lookAttr(r *Rule, name string, anyType bool) (int, error) {
	a, ok := attrIdx[name]
	if !ok || attrList[a].point != r.Point {
		return 0, rulesErr("rule %s: no attribute %q at %s (see docs/risk.md)", r.ID, name, r.Point)
	}
	if !anyType && attrList[a].str {
		return 0, rulesErr("rule %s: attribute %q is not a number", r.ID, name)
	}
	return a, nil
}

func compileCond(c *Cond, r *Rule, use func(int)) (node, error) {
	forms := 0
	if c.All != nil {
		forms++
	}
	if c.Any != nil {
		forms++
	}
	if c.Not != nil {
		forms++
	}
	if c.Attr != "" {
		forms++
	}
	if forms != 1 {
		return node{}, rulesErr("rule %s: a condition is exactly one of all, any, not or attr/op/value", r.ID)
	}
	kids := func(cs []Cond, kind int) (node, error) {
		if len(cs) == 0 {
			return node{}, rulesErr("rule %s: empty all/any", r.ID)
		}
		n := node{kind: kind}
		for i := range cs {
			k, err := compileCond(&cs[i], r, use)
			if err != nil {
				return node{}, err
			}
			n.kids = append(n.kids, k)
		}
		return n, nil
	}
	switch {
	case c.All != nil:
		return kids(c.All, nAll)
	case c.Any != nil:
		return kids(c.Any, nAny)
	case c.Not != nil:
		k, err := compileCond(c.Not, r, use)
		return node{kind: nNot, kids: []node{k}}, err
	}
	a, ok := attrIdx[c.Attr]
	if !ok || attrList[a].point != r.Point {
		return node{}, rulesErr("rule %s: no attribute %q at %s (see docs/risk.md)", r.ID, c.Attr, r.Point)
	}
	isStr := attrList[a].str
	if (isStr && !strOps[c.Op]) || (!isStr && !numOps[c.Op]) {
		return node{}, rulesErr("rule %s: operator %q does not apply to %s", r.ID, c.Op, c.Attr)
	}
	use(a)
	n := node{kind: nCmp, op: c.Op, attr: a, ref: -1, times: 1}
	if c.Ref != "" {
		if c.Value != nil || isStr || c.Op == "in" || c.Op == "not_in" {
			return node{}, rulesErr("rule %s: ref compares two numeric attributes, without a value", r.ID)
		}
		b, ok := attrIdx[c.Ref]
		if !ok || attrList[b].point != r.Point || attrList[b].str {
			return node{}, rulesErr("rule %s: ref %q: not a numeric attribute at %s", r.ID, c.Ref, r.Point)
		}
		use(b)
		n.ref = b
		if c.Times != 0 {
			n.times = c.Times
		}
		return n, nil
	}
	if c.Times != 0 {
		return node{}, rulesErr("rule %s: times goes with ref", r.ID)
	}
	one := func(v any) (value, error) {
		switch x := v.(type) {
		case float64:
			if isStr {
				return value{}, rulesErr("rule %s: %s compares with strings, not %v", r.ID, c.Attr, x)
			}
			return value{n: x}, nil
		case string:
			if !isStr {
				return value{}, rulesErr("rule %s: %s compares with numbers, not %q", r.ID, c.Attr, x)
			}
			return value{s: x}, nil
		}
		return value{}, rulesErr("rule %s: value of %s: want a %s", r.ID, c.Attr, map[bool]string{true: "string", false: "number"}[isStr])
	}
	if c.Op == "in" || c.Op == "not_in" {
		list, ok := c.Value.([]any)
		if !ok || len(list) == 0 {
			return node{}, rulesErr("rule %s: %s wants a non-empty list", r.ID, c.Op)
		}
		for _, v := range list {
			x, err := one(v)
			if err != nil {
				return node{}, err
			}
			n.set = append(n.set, x)
		}
		return n, nil
	}
	x, err := one(c.Value)
	n.num, n.str = x.n, x.s
	return n, err
}

// eval evaluates the node against the values (known[i] false: unknown).
func (n *node) eval(vals []value, known []bool) bool {
	switch n.kind {
	case nAll:
		for i := range n.kids {
			if !n.kids[i].eval(vals, known) {
				return false
			}
		}
		return true
	case nAny:
		for i := range n.kids {
			if n.kids[i].eval(vals, known) {
				return true
			}
		}
		return false
	case nNot:
		return !n.kids[0].eval(vals, known)
	}
	if !known[n.attr] {
		return false
	}
	v := vals[n.attr]
	if attrList[n.attr].str {
		switch n.op {
		case "==":
			return v.s == n.str
		case "!=":
			return v.s != n.str
		}
		return n.member(v)
	}
	want := n.num
	if n.ref >= 0 {
		if !known[n.ref] {
			return false
		}
		want = vals[n.ref].n * n.times
	}
	switch n.op {
	case ">":
		return v.n > want
	case ">=":
		return v.n >= want
	case "<":
		return v.n < want
	case "<=":
		return v.n <= want
	case "==":
		return v.n == want
	case "!=":
		return v.n != want
	}
	return n.member(v)
}

// member evaluates in / not_in (a value of a string attribute has n 0, of
// a number s "", so whole values compare).
func (n *node) member(v value) bool {
	in := false
	for _, x := range n.set {
		if x == v {
			in = true
			break
		}
	}
	return in == (n.op == "in")
}

// String describes a rule in one line for listings.
func (r *Rule) String() string {
	b, _ := json.Marshal(r.When)
	s := fmt.Sprintf("%s [%s] %s when %s", r.ID, r.Point, r.Reason, b)
	return s
}
