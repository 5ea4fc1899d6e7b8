package risk

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Engine decides with one rule set at a time over a State.
type Engine struct {
	state State
	set   atomic.Pointer[compiled]
	// City finds a terminal's place from DE43's city when the facts do not
	// carry it (default: City, the engine's own table).
	City func(name string) (Place, bool)
	pool sync.Pool
}

// New returns an engine deciding with set over state; it fails with
// fault.Invalid CodeRules when the set does not hold.
func New(set *RuleSet, state State) (*Engine, error) {
	e := &Engine{state: state, City: City}
	e.pool.New = func() any {
		return &scratch{vals: make([]value, len(attrList)), known: make([]bool, len(attrList)), rows: make([][]Row, len(groups))}
	}
	if err := e.Use(set); err != nil {
		return nil, err
	}
	return e, nil
}

// Use makes set the rule set of the decisions to come; it fails with
// fault.Invalid CodeRules when it does not hold (the old set stays).
func (e *Engine) Use(set *RuleSet) error {
	c, err := compile(set)
	if err != nil {
		return err
	}
	e.set.Store(c)
	return nil
}

// Rules returns the rule set in use.
func (e *Engine) Rules() *RuleSet { return e.set.Load().set }

// State returns the engine's state.
func (e *Engine) State() State { return e.state }

type scratch struct {
	vals  []value
	known []bool
	rows  [][]Row
	qs    []Query
	qg    []int
	res   [][]Row // the rows read, by query: their arrays reused (IntoReader)
	hits  []Hit   // the decision's hits, then copied into one slice of their number
	ins   []Input // their inputs, likewise
	at    [][2]int
	seen  []Sighting // the sightings read (LastReader)
	auth  Auth       // Authorize's facts (not to the heap for every decision)
	f     facts      // likewise
	keys  [3]string
}

// sightingKeys are the sightings an authorization's decision reads: the
// card's and the phone's last taps (tapKeys) and the phone's last
// reported place (RecordPlace), cut from one string into the scratch —
// one allocation a decision, where the keys, their slice and its growth
// were five.
func (sc *scratch) sightingKeys(a *Auth) []string {
	s := "card:" + a.Card + "phone:" + a.Phone + placeKey + a.Phone
	c, p := len("card:")+len(a.Card), len("phone:")+len(a.Phone)
	sc.keys = [3]string{s[:c], s[c : c+p], s[c+p:]}
	return sc.keys[:]
}

// Authorize decides an authorization before the issuer is asked: it reads
// the state, evaluates the authorization rules and explains the outcome.
// A phone whose wallet is off is declined beyond any rule (Block). It
// fails with fault.Invalid CodeFacts/CodeCardNumber on bad facts and with
// the state's error when it cannot be read; it changes nothing (see
// RecordAuth).
func (e *Engine) Authorize(ctx context.Context, a Auth) (Decision, error) {
	if err := a.check(); err != nil {
		return Decision{}, err
	}
	// The facts live in the pooled scratch: nothing of them outlives the
	// decision (its hits hold the attributes' values, not the facts).
	sc := e.pool.Get().(*scratch)
	sc.auth = a
	sc.f = facts{auth: &sc.auth, now: a.At, city: e.City}
	d, err := e.decideIn(ctx, sc, PointAuthorization, &sc.f, a.ID)
	sc.auth, sc.f = Auth{}, facts{}
	e.pool.Put(sc)
	if err == nil && a.PhoneOff {
		d.Outcome, d.Block = Decline, BlockPhoneOff
	}
	return d, err
}

// RecordAuth adds an authorization whose answer is known to the state
// (its counters, the card's amounts and its last tap when approved):
// call it once the answer is stored. It fails like the state's Add.
func (e *Engine) RecordAuth(ctx context.Context, a Auth, approved bool) error {
	if err := a.check(); err != nil {
		return err
	}
	rs := recordBufs.Get().(*recordScratch)
	rs.auth = a // pooled: &a would go to the heap for every record
	ds := authDeltas(rs.ds[:0], &rs.auth, approved)
	// An approved tap where its terminal is known is where the card and
	// the phone were last seen.
	keys := rs.keys[:0]
	var seen Sighting
	if approved && a.AtTerminal() {
		if here, ok := e.terminal(&a); ok {
			for _, k := range tapKeys(&a) {
				if !strings.HasSuffix(k, ":") {
					keys = append(keys, k)
				}
			}
			seen = Sighting{Place: here, At: a.At}
		}
	}
	var err error
	if t, ok := e.state.(TapRecorder); ok && len(keys) > 0 {
		err = t.AddTap(ctx, ds, keys, seen) // one call: one lock, one queueing
	} else {
		err = e.state.Add(ctx, ds)
		for i := 0; i < len(keys) && err == nil; i++ {
			err = e.state.SetLast(ctx, keys[i], seen)
		}
	}
	clear(ds) // the references go with the buffer: a State keeps no delta slice (State.Add)
	clear(rs.keys[:])
	rs.ds, rs.auth = ds[:0], Auth{}
	recordBufs.Put(rs)
	return err
}

// recordScratch is RecordAuth's deltas, sightings' keys and facts,
// reused (recordBufs).
type recordScratch struct {
	ds   []Delta
	keys [2]string
	auth Auth
}

var recordBufs = sync.Pool{New: func() any { return &recordScratch{ds: make([]Delta, 0, 20)} }}

func (e *Engine) terminal(a *Auth) (Place, bool) {
	if a.Terminal != nil {
		return *a.Terminal, true
	}
	if e.City != nil {
		return e.City(a.City)
	}
	return Place{}, false
}

// Bind decides a card binding before ID&V. A phone whose wallet is off is
// declined beyond any rule. It fails like Authorize.
func (e *Engine) Bind(ctx context.Context, b Binding) (Decision, error) {
	if err := b.check(); err != nil {
		return Decision{}, err
	}
	d, err := e.decide(ctx, PointBinding, &facts{bind: &b, now: b.At}, b.ID)
	if err == nil && b.PhoneOff {
		d.Outcome, d.Block = Decline, BlockPhoneOff
	}
	return d, err
}

// RecordBinding adds a binding attempt to the state (every attempt
// counts, whatever its outcome). It fails like the state's Add.
func (e *Engine) RecordBinding(ctx context.Context, b Binding) error {
	if err := b.check(); err != nil {
		return err
	}
	return e.state.Add(ctx, bindDeltas(&b))
}

// RecordPlace keeps the place a phone reported (find my phone) as its
// sighting for the travel attributes, read with the taps' (an
// authorization then needs no Auth.PhoneSeen). A later place wins. It
// fails with fault.Invalid CodeFacts without a phone or a time,
// CodeCardNumber for a phone reference that looks like a card number, and
// like the state's SetLast.
func (e *Engine) RecordPlace(ctx context.Context, phone string, s Sighting) error {
	if phone == "" || !s.Known() {
		return fault.E(fault.Invalid, CodeFacts, "a reported place: want a phone and a time")
	}
	if err := refsClean(phone); err != nil {
		return err
	}
	return e.state.SetLast(ctx, placeKey+phone, s)
}

// RecordHolder adds the card holder's name that the bank's ID&V returned
// for a binding already recorded without it (b.Holder, a reference made
// by the caller) to the phone's names (phone.names_90d). It fails with
// fault.Invalid CodeFacts without a holder, and like the state's Add.
func (e *Engine) RecordHolder(ctx context.Context, b Binding) error {
	if err := b.check(); err != nil {
		return err
	}
	if b.Holder == "" {
		return fault.E(fault.Invalid, CodeFacts, "binding facts: no holder to record")
	}
	return e.state.Add(ctx, holderDeltas(&b))
}

func (e *Engine) decide(ctx context.Context, p Point, f *facts, id string) (Decision, error) {
	sc := e.pool.Get().(*scratch)
	defer e.pool.Put(sc)
	return e.decideIn(ctx, sc, p, f, id)
}

// decideIn is decide with a scratch taken from the pool.
func (e *Engine) decideIn(ctx context.Context, sc *scratch, p Point, f *facts, id string) (Decision, error) {
	c := e.set.Load()
	pr := c.points[p]
	sc.qs, sc.qg = sc.qs[:0], sc.qg[:0]
	for _, g := range pr.groups {
		if q, ok := groups[g].query(f); ok {
			sc.qs = append(sc.qs, q)
			sc.qg = append(sc.qg, g)
		}
	}
	for i := range sc.rows {
		sc.rows[i] = nil
	}
	if len(sc.qs) > 0 {
		var res [][]Row
		var err error
		if r, ok := e.state.(IntoReader); ok {
			for len(sc.res) < len(sc.qs) {
				sc.res = append(sc.res, nil)
			}
			res = sc.res[:len(sc.qs)]
			err = r.ReadInto(ctx, sc.qs, res)
		} else {
			res, err = e.state.Read(ctx, sc.qs)
		}
		if err != nil {
			return Decision{}, err
		}
		for i, g := range sc.qg {
			sc.rows[g] = res[i]
		}
	}
	f.rows = sc.rows
	if pr.sighting {
		var keys []string
		if f.ride != nil {
			keys = rideSightingKeys(f.ride)
		} else {
			keys = sc.sightingKeys(f.auth)
		}
		var seen []Sighting
		var err error
		if r, ok := e.state.(LastReader); ok {
			for len(sc.seen) < len(keys) {
				sc.seen = append(sc.seen, Sighting{})
			}
			seen = sc.seen[:len(keys)]
			err = r.LastInto(ctx, keys, seen)
		} else {
			seen, err = e.state.Last(ctx, keys)
		}
		if err != nil {
			return Decision{}, err
		}
		f.seen = seen
	}
	for _, a := range pr.attrs {
		sc.vals[a], sc.known[a] = attrList[a].val(f)
	}
	d := Decision{Point: p, ID: id, At: f.now, Version: c.set.Version, Digest: c.digest, Reasons: []string{}}
	sc.hits, sc.ins, sc.at = sc.hits[:0], sc.ins[:0], sc.at[:0]
	enforced := 0
	score := 0
	for i := range pr.rules {
		cr := &pr.rules[i]
		if !cr.when.eval(sc.vals, sc.known) {
			continue
		}
		h := Hit{Rule: cr.r.ID, Reason: cr.r.Reason, Score: cr.r.Score, Outcome: cr.r.Outcome, Shadow: cr.r.Shadow}
		if cr.band >= 0 {
			if !sc.known[cr.band] {
				continue
			}
			v := sc.vals[cr.band].n
			found := false
			for _, b := range cr.r.Bands.Steps {
				if v >= b.Min {
					h.Score, h.Outcome, found = b.Score, b.Outcome, true
				}
			}
			if !found {
				continue
			}
		}
		from := len(sc.ins)
		for _, a := range cr.inputs {
			if sc.known[a] {
				sc.ins = append(sc.ins, Input{Attr: attrList[a].name, Value: sc.vals[a].any(attrList[a].str)})
			}
		}
		sc.at = append(sc.at, [2]int{from, len(sc.ins)})
		if len(cr.snooze) > 0 {
			h.Pattern = pattern(cr, sc)
			snoozed, err := e.state.Snoozed(ctx, cr.r.ID, h.Pattern, f.now)
			if err != nil {
				sc.clear()
				return Decision{}, err
			}
			h.Snoozed = snoozed
		}
		sc.hits = append(sc.hits, h)
		if h.Shadow || h.Snoozed {
			continue
		}
		enforced++
		score += h.Score
		if h.Outcome > d.Outcome {
			d.Outcome = h.Outcome
		}
	}
	// One slice each of the hits, their inputs and the reasons, of their
	// number: the decision allocates no growing slices.
	d.Hits = make([]Hit, len(sc.hits))
	copy(d.Hits, sc.hits)
	var ins []Input
	if len(sc.ins) > 0 {
		ins = make([]Input, len(sc.ins))
		copy(ins, sc.ins)
	}
	if enforced > 0 {
		d.Reasons = make([]string, 0, enforced)
	}
	for i := range d.Hits {
		h := &d.Hits[i]
		if at := sc.at[i]; at[1] > at[0] {
			h.Inputs = ins[at[0]:at[1]:at[1]]
		}
		if !h.Shadow && !h.Snoozed {
			d.Reasons = append(d.Reasons, h.Rule)
		}
	}
	sc.clear()
	if score > 99 {
		score = 99
	}
	d.Score = score
	t := c.set.Thresholds
	if t.Decline > 0 && score >= t.Decline {
		d.Outcome = Decline
	} else if t.Review > 0 && score >= t.Review && d.Outcome < Review {
		d.Outcome = Review
	}
	return d, nil
}

// pattern is a hit's snooze pattern: attr=value pairs joined by "&",
// made on the stack and copied once (a strings.Builder grew two or three
// times, a number's text was one more).
func pattern(cr *cRule, sc *scratch) string {
	var buf [128]byte
	b := buf[:0]
	for i, a := range cr.snooze {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, attrList[a].name...)
		b = append(b, '=')
		if sc.known[a] {
			if attrList[a].str {
				b = append(b, sc.vals[a].s...)
			} else {
				b = strconv.AppendFloat(b, sc.vals[a].n, 'f', -1, 64)
			}
		}
	}
	return string(b)
}

// clear drops the scratch's references to a decision's strings and
// values (it goes back to the pool).
func (sc *scratch) clear() {
	clear(sc.hits)
	clear(sc.ins)
	clear(sc.keys[:])
	clear(sc.seen)
}

func (v value) any(isStr bool) any {
	if isStr {
		return v.s
	}
	if i := int(v.n); float64(i) == v.n && i >= 0 && i < len(smallNumbers) && !math.Signbit(v.n) {
		return smallNumbers[i] // counts and the like: no allocation
	}
	return v.n
}

// smallNumbers are the whole numbers 0–1023 as inputs' values (float64),
// made once.
var smallNumbers = func() (t [1024]any) {
	for i := range t {
		t[i] = float64(i)
	}
	return t
}()

// Snooze silences the hit's rule for its pattern until the given time
// (after a card holder answered "yes, that was me"). It fails with
// fault.Invalid CodeFacts for a hit without a pattern, and like the
// state's Snooze.
func (e *Engine) Snooze(ctx context.Context, h Hit, until time.Time) error {
	if h.Pattern == "" {
		return fault.E(fault.Invalid, CodeFacts, "rule %s has no snooze pattern", h.Rule)
	}
	return e.state.Snooze(ctx, h.Rule, h.Pattern, until)
}
