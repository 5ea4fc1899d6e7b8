package risk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// PointTransit is the after-the-fact check of the rides a transit
// operator cleared: gate taps are offline (the gate decides alone, the
// ride happened), so a transit decision never declines — its outcome is
// approve or review (approve and alert the card holder, or flag the
// record for the operator).
const PointTransit Point = "transit_clearing"

// TransitRide is one gate tap a transit operator cleared, as the risk
// engine sees it. The transit card is named by a reference
// (TransitCardRef), never by its number.
type TransitRide struct {
	// ID names the ride: the operator's city, the card's reference and
	// the card's offline counter ("beijing|tc_…|12").
	ID      string    `json:"id"`
	At      time.Time `json:"at"`   // when the gate made the record
	Card    string    `json:"card"` // the transit card's reference (TransitCardRef)
	Phone   string    `json:"phone,omitempty"`
	Account string    `json:"account,omitempty"`
	// Token is the reference (TokenRef) of the wallet token of the bank
	// card that paid for the transit card: the token a case's "no, that
	// was not me" suspends. "" when unknown.
	Token   string `json:"token,omitempty"`
	City    string `json:"city"` // the operator's city (fare table id, e.g. "beijing")
	Line    int    `json:"line"`
	Station int    `json:"station"`
	Amount  int64  `json:"amount"` // fen
	// Place is the station's place when the caller knows it; otherwise
	// the engine takes the centre of City (the fare table has no station
	// coordinates).
	Place *Place `json:"place,omitempty"`
	// Summary is what the card holder is shown in a case (city, line,
	// station, time, amount; never a card number).
	Summary string `json:"summary,omitempty"`
}

// RideID is the identity of a ride the engine checks (TransitRide.ID,
// and after the point the id of its decision and case): the city, the
// transit card's reference and the card's counter.
func RideID(city, cardRef string, atc int) string { return fmt.Sprintf("%s|%s|%d", city, cardRef, atc) }

// RideCard returns the transit card's reference a transit ride's case
// names (its id PointTransit:RideID), and false for a case of another kind.
func RideCard(caseID string) (string, bool) {
	rest, ok := strings.CutPrefix(caseID, string(PointTransit)+":")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "|")
	if len(parts) != 3 || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// TransitCardRef is the reference the engine names a transit card by:
// "tc_" and 16 base32 letters of the sha-256 of its number.
func TransitCardRef(number string) string {
	return ref("tc_", "tapwallet risk transit card\x00", number)
}

func (r *TransitRide) check() error {
	if r.ID == "" || r.At.IsZero() || r.Card == "" || r.City == "" {
		return fault.E(fault.Invalid, CodeFacts, "transit ride facts: want an id, a time, a card reference and a city")
	}
	return refsClean(r.ID, r.Card, r.Phone, r.Account, r.Token)
}

// The sightings of transit rides: the card's last gate tap and the
// phone's last gate tap (any of its transit cards). A ride also reads the
// phone's last approved payment tap ("phone:").
const (
	transitCardKey  = "tcard:"
	transitPhoneKey = "tphone:"
)

// Series of the transit counters. Clearing comes hours or days after the
// ride, so their minute buckets are kept a week (transitKeep) rather than
// an hour.
const (
	seriesTransitTaps   = "transit.card.m" // cleared taps of a transit card, per minute
	seriesTransitCities = "transit.city.m" // cities of a phone's cleared taps, per minute (member: city)
	transitKeep         = 7 * 86400
)

// wTransit15m is "within 15 minutes either side": a clearing file may
// hold rides older than others already checked, so a transit window is
// centred on the ride (the minute of the ride and the 14 before and
// after it).
var wTransit15m = window{"15m", 60, 15}

func (r *TransitRide) phoneKey() string { return r.Phone }

// CheckRide decides a cleared ride after the fact: it reads the state
// and evaluates the transit_clearing rules. A decline (a rule's outcome or
// the score's threshold) is answered as a review: the ride happened. It
// fails with fault.Invalid CodeFacts/CodeCardNumber on bad facts and with
// the state's error; it changes nothing (see RecordRide).
func (e *Engine) CheckRide(ctx context.Context, r TransitRide) (Decision, error) {
	if err := r.check(); err != nil {
		return Decision{}, err
	}
	d, err := e.decide(ctx, PointTransit, &facts{ride: &r, now: r.At, city: e.City}, r.ID)
	if d.Outcome > Review {
		d.Outcome = Review
	}
	return d, err
}

// RecordRide adds a checked ride to the state: the card's taps, the
// phone's cities and the last gate taps of the card and the phone. It
// fails like the state's Add and SetLast.
func (e *Engine) RecordRide(ctx context.Context, r TransitRide) error {
	if err := r.check(); err != nil {
		return err
	}
	if err := e.state.Add(ctx, rideDeltas(&r)); err != nil {
		return err
	}
	here, ok := ridePlace(&r, e.City)
	if !ok {
		return nil
	}
	keys := []string{transitCardKey + r.Card}
	if r.Phone != "" {
		keys = append(keys, transitPhoneKey+r.Phone)
	}
	for _, k := range keys {
		if err := e.state.SetLast(ctx, k, Sighting{Place: here, At: r.At}); err != nil {
			return err
		}
	}
	return nil
}

func ridePlace(r *TransitRide, city func(string) (Place, bool)) (Place, bool) {
	if r.Place != nil {
		return *r.Place, true
	}
	if city == nil {
		return Place{}, false
	}
	return city(r.City)
}

// rideSightingKeys are the sightings a ride's decision reads.
func rideSightingKeys(r *TransitRide) []string {
	if r.Phone == "" {
		return []string{transitCardKey + r.Card}
	}
	return []string{transitCardKey + r.Card, transitPhoneKey + r.Phone, "phone:" + r.Phone}
}

// rideTravel finds, of the sightings known, the one that asks the highest
// speed to or from this ride's station: clearing files come in any order,
// so a sighting after the ride counts as well as one before it (the time
// between them is taken whole, at least a minute).
func rideTravel(f *facts) (dist, mins, speed float64, ok bool) {
	r := f.ride
	here, found := ridePlace(r, f.city)
	if !found {
		return 0, 0, 0, false
	}
	for _, s := range f.seen {
		if !s.Known() {
			continue
		}
		d := Distance(s.Place, here)
		m := math.Abs(r.At.Sub(s.At).Minutes())
		v := d / math.Max(m, 1) * 60
		if !ok || v > speed {
			dist, mins, speed, ok = d, m, v, true
		}
	}
	return
}

// rideDeltas is what a cleared ride adds to the state.
func rideDeltas(r *TransitRide) []Delta {
	b := bucketOf(r.At, 60)
	exp := (b+1)*60 + transitKeep
	ds := []Delta{{Series: seriesTransitTaps, Key: r.Card, Bucket: b, Count: 1, Sum: r.Amount, Expires: exp, At: r.At.Unix()}}
	if r.Phone != "" {
		ds = append(ds, Delta{Series: seriesTransitCities, Key: r.Phone, Member: r.City, Bucket: b, Count: 1, Sum: r.Amount, Expires: exp, At: r.At.Unix()})
	}
	return ds
}

func init() {
	T := PointTransit
	addAttr(attrDef{name: "transit.amount", point: T, val: func(f *facts) (value, bool) { return num(float64(f.ride.Amount)) }})
	addAttr(attrDef{name: "transit.city", point: T, str: true, val: func(f *facts) (value, bool) { return strIf(f.ride.City) }})
	addAttr(attrDef{name: "transit.card", point: T, str: true, val: func(f *facts) (value, bool) { return strIf(f.ride.Card) }})
	addAttr(attrDef{name: "transit.phone", point: T, str: true, val: func(f *facts) (value, bool) { return strIf(f.ride.Phone) }})
	taps := addGroup(group{point: T, series: seriesTransitTaps, win: wTransit15m, around: true, key: func(f *facts) string { return f.ride.Card }})
	addAttr(attrDef{name: "transit.card_taps_15m", point: T, groups: []int{taps}, val: func(f *facts) (value, bool) {
		c, _ := totals(f.rows[taps])
		return num(float64(c + 1))
	}})
	cities := addGroup(group{point: T, series: seriesTransitCities, win: wTransit15m, around: true, key: func(f *facts) string { return f.ride.phoneKey() }})
	addAttr(attrDef{name: "transit.phone_cities_15m", point: T, groups: []int{cities}, val: func(f *facts) (value, bool) {
		if f.ride.Phone == "" {
			return value{}, false
		}
		return num(float64(distinct(f.rows[cities], f.ride.City)))
	}})
	addTravel("transit", T, rideTravel)
}

// CaseForRide returns the "was this you?" case a ride's decision opens:
// a review of a ride whose transit card belongs to an account. false
// otherwise (no case: the operator's flag on the record is all).
func CaseForRide(d Decision, r TransitRide) (Case, bool) {
	if d.Outcome == Approve || r.Account == "" {
		return Case{}, false
	}
	return Case{ID: string(d.Point) + ":" + d.ID, Account: r.Account, Phone: r.Phone, Token: r.Token, Summary: r.Summary, Decision: d,
		State: CaseOpen, OpenedAt: d.At, History: []Change{{At: d.At, By: "risk", To: CaseOpen, Note: d.String()}}}, true
}

// RideEngine is what CheckRides asks (*Engine, Metered).
type RideEngine interface {
	CheckRide(ctx context.Context, r TransitRide) (Decision, error)
	RecordRide(ctx context.Context, r TransitRide) error
}

// RideKeeper keeps the decisions and opens the cases (the risk wing).
type RideKeeper interface {
	SaveDecision(ctx context.Context, d Decision) error
	OpenCase(ctx context.Context, c Case) error
}

// RideChecked is what checking one cleared ride came to.
type RideChecked struct {
	Decision Decision
	Decided  bool   // false: the check failed (the ride stands, unchecked)
	Case     string // the case opened for the card holder's account ("": none)
}

// CheckRides checks the rides a clearing file accepted, in time order (a
// file's own rides count in each other's windows): each is decided,
// recorded, its decision kept (keep nil: not kept, no case) and a review
// of a card that belongs to an account opens a case. The result is in
// the order of rides. Failures fail open: a ride whose decision failed is
// left undecided, and the errors are returned joined (never a card
// number in them).
func CheckRides(ctx context.Context, e RideEngine, keep RideKeeper, rides []TransitRide) ([]RideChecked, error) {
	out := make([]RideChecked, len(rides))
	order := make([]int, len(rides))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := &rides[order[i]], &rides[order[j]]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.ID < b.ID
	})
	var errs []error
	fail := func(what string, err error) {
		if len(errs) < 10 {
			errs = append(errs, fault.E(fault.KindOf(err), "risk_transit", "%s: %s", what, fault.MessageOf(err)))
		}
	}
	for _, i := range order {
		r := rides[i]
		d, err := e.CheckRide(ctx, r)
		if err != nil {
			fail("checking a ride", err)
			continue
		}
		out[i] = RideChecked{Decision: d, Decided: true}
		if err := e.RecordRide(ctx, r); err != nil {
			fail("recording a ride", err)
		}
		if keep == nil {
			continue
		}
		if err := keep.SaveDecision(ctx, d); err != nil {
			fail("keeping a ride's decision", err)
		}
		if c, ok := CaseForRide(d, r); ok {
			if err := keep.OpenCase(ctx, c); err != nil {
				fail("opening a case", err)
			} else {
				out[i].Case = c.ID
			}
		}
	}
	return out, errors.Join(errs...)
}

// CheckRide is Engine.CheckRide, metered.
func (m Metered) CheckRide(ctx context.Context, r TransitRide) (Decision, error) {
	d, err := m.Engine.CheckRide(ctx, r)
	m.tell(PointTransit, d, err)
	return d, err
}
