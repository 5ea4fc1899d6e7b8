// Package fare is the fare table of the transit part of the payment system:
// the six cities' operators, card products (issue fee, refundable deposit,
// balance cap, overdraft), application identifiers and algorithms, metro
// and bus lines with station positions, and the fare rules — flat bus
// fares, distance-based metro fares charged at exit, transfer discounts,
// monthly spend tiers and buses charged at tap-off. The rules are data
// (cities.json, embedded, documented in docs/transit.md); this package is
// the engine that reads them. Money is in fen, distances in metres.
package fare

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

//go:embed cities.json
var citiesJSON []byte

// Mode is how a line carries people.
type Mode string

// The modes of transport.
const (
	Metro Mode = "metro"
	Bus   Mode = "bus"
)

// Code returns the one-byte code of the mode kept on the card (1 metro,
// 2 bus, 0 for anything else).
func (m Mode) Code() byte {
	switch m {
	case Metro:
		return 1
	case Bus:
		return 2
	}
	return 0
}

// ModeOf returns the mode of a one-byte code ("" for an unknown code).
func ModeOf(code byte) Mode {
	switch code {
	case 1:
		return Metro
	case 2:
		return Bus
	}
	return ""
}

// Charge says when a line charges: at entry (flat) or at exit (by distance).
type Charge string

// When lines charge.
const (
	AtEntry Charge = "entry" // flat fare at the entry gate or when boarding
	AtExit  Charge = "exit"  // distance fare at the exit gate or at tap-off
)

// Table is the whole fare table: every city, with a version that gates
// compare to know when to fetch a newer one.
type Table struct {
	Version int     `json:"version"`
	Note    string  `json:"note,omitempty"`
	Cities  []*City `json:"cities"`
}

// City is one city's transit operator, its card product and its network.
type City struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	AreaCode  int       `json:"area_code"` // telephone area code, also in the AID
	Operator  string    `json:"operator"`
	Card      string    `json:"card"`
	AIDHex    string    `json:"aid"`
	AlgName   string    `json:"alg"` // "tdes" or "sm4"
	Product   Product   `json:"product"`
	MetroFare *Distance `json:"metro,omitempty"`
	Transfer  *Transfer `json:"transfer,omitempty"`
	Monthly   *Monthly  `json:"monthly,omitempty"`
	Lines     []*Line   `json:"lines"`

	aid      []byte
	stations map[string]*Station // by ID
	codes    map[uint16]*Station // by code
	lines    map[string]*Line    // by ID and by code as text
	graph    map[uint16][]edge   // metro network
}

// Product is a city's anonymous card product. Amounts are in fen.
type Product struct {
	IssueFee   int64 `json:"issue_fee_fen"`   // kept by the operator
	Deposit    int64 `json:"deposit_fen"`     // refundable
	BalanceCap int64 `json:"balance_cap_fen"` // most an anonymous card may hold
	Overdraft  int64 `json:"overdraft_fen"`   // how far below zero a last ride may take the card
	MinEntry   int64 `json:"min_entry_fen"`   // balance needed to pass an entry gate
}

// Distance is a distance-based fare: BaseFen up to BaseKm, then each step
// adds AddFen for every started EveryKm up to its UpToKm (0: no limit),
// never more than MaxFen (0: no cap).
type Distance struct {
	BaseKm  float64 `json:"base_km"`
	BaseFen int64   `json:"base_fen"`
	Steps   []Step  `json:"steps"`
	MaxFen  int64   `json:"max_fen,omitempty"`
}

// Step is one band of a distance fare.
type Step struct {
	UpToKm  float64 `json:"up_to_km,omitempty"`
	EveryKm float64 `json:"every_km"`
	AddFen  int64   `json:"add_fen"`
}

// Transfer is a discount on a ride that follows a ride of the other mode
// within a time.
type Transfer struct {
	Between       []Mode `json:"between"`
	WithinMinutes int    `json:"within_minutes"`
	OffFen        int64  `json:"off_fen"`
}

// Monthly is a discount that grows with what a card has spent on the given
// modes this calendar month (before the ride being priced).
type Monthly struct {
	Modes []Mode `json:"modes"`
	Tiers []Tier `json:"tiers"`
}

// Tier applies PercentOff once the month's spend reaches FromFen.
type Tier struct {
	FromFen    int64 `json:"from_fen"`
	PercentOff int64 `json:"percent_off"`
}

// Line is a metro line or a bus route.
type Line struct {
	ID       string     `json:"id"`
	Code     uint16     `json:"code"`
	Name     string     `json:"name"`
	Mode     Mode       `json:"mode"`
	Charge   Charge     `json:"charge,omitempty"`   // buses: entry (flat) or exit (distance); metro: always exit
	FlatFen  int64      `json:"flat_fen,omitempty"` // buses charging at entry
	Distance *Distance  `json:"distance,omitempty"` // buses charging at exit
	Stations []*Station `json:"stations"`
}

// Station is a station or stop on a line, at a position in km from the
// line's start. A station on several lines (an interchange) has one code.
type Station struct {
	ID   string  `json:"id"`
	Code uint16  `json:"code"`
	Name string  `json:"name"`
	Km   float64 `json:"km"`
}

type edge struct {
	to     uint16
	metres int64
}

// Load returns the shipped fare table. It fails only if the embedded file
// is broken, which its tests rule out.
func Load() (*Table, error) { return Parse(citiesJSON) }

// Default returns the shipped fare table and panics if it is broken (the
// tests guarantee it is not).
func Default() *Table {
	t, err := Load()
	if err != nil {
		panic(err)
	}
	return t
}

// Raw returns the shipped fare table file.
func Raw() []byte { return bytes.Clone(citiesJSON) }

// Parse reads and checks a fare table. It fails with fault.Invalid
// "bad_fare_table" naming the first thing wrong.
func Parse(b []byte) (*Table, error) {
	var t Table
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return nil, bad("the fare table is not valid JSON: %v", err)
	}
	seen := map[string]bool{}
	for _, c := range t.Cities {
		if c == nil || c.ID == "" || seen[c.ID] {
			return nil, bad("a city has no id or a repeated one")
		}
		seen[c.ID] = true
		if err := c.prepare(); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

func bad(format string, args ...any) error {
	return fault.E(fault.Invalid, "bad_fare_table", format, args...)
}

func (c *City) prepare() error {
	aid, err := hex.DecodeString(c.AIDHex)
	if err != nil || len(aid) < 5 || len(aid) > 16 {
		return bad("city %s: aid must be 5 to 16 bytes of hex", c.ID)
	}
	c.aid = aid
	if c.AlgName != "tdes" && c.AlgName != "sm4" {
		return bad("city %s: alg must be tdes or sm4", c.ID)
	}
	p := c.Product
	if p.IssueFee < 0 || p.Deposit < 0 || p.BalanceCap <= 0 || p.Overdraft < 0 || p.MinEntry < 0 {
		return bad("city %s: product amounts must not be negative and the cap must be positive", c.ID)
	}
	if c.MetroFare != nil {
		if err := c.MetroFare.check(); err != nil {
			return bad("city %s metro: %v", c.ID, err)
		}
	}
	if c.Monthly != nil {
		for i, t := range c.Monthly.Tiers {
			if t.PercentOff < 0 || t.PercentOff > 100 || (i > 0 && t.FromFen <= c.Monthly.Tiers[i-1].FromFen) {
				return bad("city %s: monthly tiers must rise and be 0 to 100 percent", c.ID)
			}
		}
	}
	if tr := c.Transfer; tr != nil && (tr.WithinMinutes <= 0 || tr.OffFen < 0 || len(tr.Between) != 2) {
		return bad("city %s: a transfer needs two modes, a positive time and a discount", c.ID)
	}
	c.stations, c.codes, c.lines, c.graph = map[string]*Station{}, map[uint16]*Station{}, map[string]*Line{}, map[uint16][]edge{}
	for _, l := range c.Lines {
		if l == nil || l.ID == "" || c.lines[l.ID] != nil || len(l.Stations) < 2 {
			return bad("city %s: a line has no id, a repeated id or fewer than 2 stations", c.ID)
		}
		c.lines[l.ID] = l
		switch l.Mode {
		case Metro:
			if c.MetroFare == nil {
				return bad("city %s line %s: a metro line needs the city's metro fare", c.ID, l.ID)
			}
			l.Charge = AtExit
		case Bus:
			switch l.Charge {
			case AtEntry, "":
				l.Charge = AtEntry
				if l.FlatFen <= 0 {
					return bad("city %s line %s: a bus charging at entry needs flat_fen", c.ID, l.ID)
				}
			case AtExit:
				if l.Distance == nil || l.Distance.check() != nil {
					return bad("city %s line %s: a bus charging at exit needs a distance fare", c.ID, l.ID)
				}
			default:
				return bad("city %s line %s: charge must be entry or exit", c.ID, l.ID)
			}
		default:
			return bad("city %s line %s: mode must be metro or bus", c.ID, l.ID)
		}
		for i, s := range l.Stations {
			if s == nil || s.ID == "" || s.Code == 0 || s.Km < 0 || (i > 0 && s.Km <= l.Stations[i-1].Km) {
				return bad("city %s line %s: stations need an id, a code and rising km", c.ID, l.ID)
			}
			if o := c.stations[s.ID]; o != nil && o.Code != s.Code {
				return bad("city %s: station %s has two codes", c.ID, s.ID)
			}
			if o := c.codes[s.Code]; o != nil && o.ID != s.ID {
				return bad("city %s: code %d names two stations", c.ID, s.Code)
			}
			c.stations[s.ID], c.codes[s.Code] = s, s
			if i > 0 && l.Mode == Metro {
				p := l.Stations[i-1]
				m := metres(s.Km - p.Km)
				c.graph[p.Code] = append(c.graph[p.Code], edge{s.Code, m})
				c.graph[s.Code] = append(c.graph[s.Code], edge{p.Code, m})
			}
		}
	}
	return nil
}

func metres(km float64) int64 { return int64(math.Round(km * 1000)) }

func (d *Distance) check() error {
	if d.BaseKm < 0 || d.BaseFen < 0 || d.MaxFen < 0 {
		return fault.E(fault.Invalid, "bad_fare_table", "negative base or cap")
	}
	prev := d.BaseKm
	for i, s := range d.Steps {
		if s.EveryKm <= 0 || s.AddFen < 0 {
			return fault.E(fault.Invalid, "bad_fare_table", "step %d needs a positive every_km", i+1)
		}
		if s.UpToKm == 0 && i != len(d.Steps)-1 {
			return fault.E(fault.Invalid, "bad_fare_table", "only the last step may be open-ended")
		}
		if s.UpToKm != 0 && s.UpToKm <= prev {
			return fault.E(fault.Invalid, "bad_fare_table", "step %d must end beyond the one before", i+1)
		}
		prev = s.UpToKm
	}
	return nil
}

// Fen returns the fare for a distance in metres.
func (d *Distance) Fen(m int64) int64 {
	fare := d.BaseFen
	pos := metres(d.BaseKm)
	for _, s := range d.Steps {
		if m <= pos {
			break
		}
		end := m
		if s.UpToKm > 0 && metres(s.UpToKm) < end {
			end = metres(s.UpToKm)
		}
		every := metres(s.EveryKm)
		n := (end - pos + every - 1) / every
		fare += n * s.AddFen
		if s.UpToKm == 0 {
			break
		}
		pos = metres(s.UpToKm)
	}
	if d.MaxFen > 0 && fare > d.MaxFen {
		fare = d.MaxFen
	}
	return fare
}

// City returns the city with an id ("shanghai"). It fails with
// fault.NotFound "unknown_city".
func (t *Table) City(id string) (*City, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	for _, c := range t.Cities {
		if c.ID == id {
			return c, nil
		}
	}
	return nil, fault.E(fault.NotFound, "unknown_city", "no transit city %q (want one of %s)", id, strings.Join(t.IDs(), ", "))
}

// CityByAID returns the city whose card application has this AID. It fails
// with fault.NotFound "unknown_city".
func (t *Table) CityByAID(aid []byte) (*City, error) {
	for _, c := range t.Cities {
		if bytes.Equal(c.aid, aid) {
			return c, nil
		}
	}
	return nil, fault.E(fault.NotFound, "unknown_city", "no transit city has this application")
}

// IDs returns the city ids in table order.
func (t *Table) IDs() []string {
	var out []string
	for _, c := range t.Cities {
		out = append(out, c.ID)
	}
	return out
}

// AID returns a copy of the city's card application identifier.
func (c *City) AID() []byte { return bytes.Clone(c.aid) }

// Line returns a line by id ("L2") or code ("2"). It fails with
// fault.NotFound "unknown_line".
func (c *City) Line(id string) (*Line, error) {
	if l := c.lines[id]; l != nil {
		return l, nil
	}
	for _, l := range c.Lines {
		if strings.EqualFold(l.ID, id) || itoa(int(l.Code)) == id {
			return l, nil
		}
	}
	return nil, fault.E(fault.NotFound, "unknown_line", "%s has no line %q", c.Name, id)
}

// LineByCode returns a line by its code (nil if none).
func (c *City) LineByCode(code uint16) *Line {
	for _, l := range c.Lines {
		if l.Code == code {
			return l
		}
	}
	return nil
}

// Station returns a station of the line by id or code. It fails with
// fault.NotFound "unknown_station".
func (l *Line) Station(id string) (*Station, error) {
	for _, s := range l.Stations {
		if s.ID == id || itoa(int(s.Code)) == id {
			return s, nil
		}
	}
	return nil, fault.E(fault.NotFound, "unknown_station", "%s has no station %q", l.Name, id)
}

// StationByCode returns a station of the city by code (nil if none).
func (c *City) StationByCode(code uint16) *Station { return c.codes[code] }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [12]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// MetroMetres returns the shortest distance on the metro network between
// two stations, in metres. It fails with fault.NotFound "no_route" if the
// stations are not connected.
func (c *City) MetroMetres(from, to uint16) (int64, error) {
	if from == to {
		return 0, nil
	}
	if _, ok := c.graph[from]; !ok {
		return 0, fault.E(fault.NotFound, "no_route", "station %d is not on %s's metro", from, c.Name)
	}
	// Dijkstra over a few dozen stations: a linear scan is plenty.
	dist := map[uint16]int64{from: 0}
	done := map[uint16]bool{}
	for {
		var cur uint16
		best := int64(-1)
		for s, d := range dist {
			if !done[s] && (best < 0 || d < best || (d == best && s < cur)) {
				cur, best = s, d
			}
		}
		if best < 0 {
			return 0, fault.E(fault.NotFound, "no_route", "no metro route between stations %d and %d in %s", from, to, c.Name)
		}
		if cur == to {
			return best, nil
		}
		done[cur] = true
		for _, e := range c.graph[cur] {
			if d, ok := dist[e.to]; !ok || best+e.metres < d {
				dist[e.to] = best + e.metres
			}
		}
	}
}

// Ride is what the fare engine needs to price one ride.
type Ride struct {
	Line *Line
	// Entry is the station where the ride began (metro entry gate, bus
	// tap-on); Exit is where it ended (metro exit gate, bus tap-off). For a
	// bus charging at entry only Entry is used.
	Entry, Exit uint16
	At          time.Time // when the fare is charged
	// MonthSpend is what the card has spent this month on the modes of the
	// city's monthly tiers, before this ride.
	MonthSpend int64
	// LastMode and LastAt describe the card's previous paid ride (zero if
	// none), for the transfer discount.
	LastMode Mode
	LastAt   time.Time
}

// Quote is a priced ride.
type Quote struct {
	Metres      int64 // distance travelled (0 for a flat fare)
	Base        int64 // fare before discounts
	MonthlyOff  int64 // monthly tier discount
	TransferOff int64 // transfer discount
	Fen         int64 // what the card pays
	Percent     int64 // the monthly tier's percent off applied
}

// Price prices a ride by the city's rules: the base fare (flat, or by the
// distance between entry and exit), then the monthly tier's percentage off
// (rounded to the nearest fen), then the transfer discount; never below 0.
// It fails with fault.NotFound for stations not on the network.
func (c *City) Price(r Ride) (Quote, error) {
	var q Quote
	l := r.Line
	if l == nil {
		return q, fault.E(fault.Invalid, "no_line", "a ride needs a line")
	}
	switch {
	case l.Mode == Bus && l.Charge == AtEntry:
		q.Base = l.FlatFen
	case l.Mode == Bus:
		a, b := stationOn(l, r.Entry), stationOn(l, r.Exit)
		if a == nil || b == nil {
			return q, fault.E(fault.NotFound, "unknown_station", "the stops are not on %s", l.Name)
		}
		q.Metres = abs(metres(b.Km) - metres(a.Km))
		q.Base = l.Distance.Fen(q.Metres)
	default:
		m, err := c.MetroMetres(r.Entry, r.Exit)
		if err != nil {
			return q, err
		}
		q.Metres = m
		q.Base = c.MetroFare.Fen(m)
	}
	fen := q.Base
	if mo := c.Monthly; mo != nil && hasMode(mo.Modes, l.Mode) {
		for _, t := range mo.Tiers {
			if r.MonthSpend >= t.FromFen {
				q.Percent = t.PercentOff
			}
		}
		q.MonthlyOff = (fen*q.Percent + 50) / 100
		fen -= q.MonthlyOff
	}
	if tr := c.Transfer; tr != nil && r.LastMode != "" && r.LastMode != l.Mode &&
		hasMode(tr.Between, l.Mode) && hasMode(tr.Between, r.LastMode) &&
		!r.LastAt.IsZero() && !r.At.Before(r.LastAt) && r.At.Sub(r.LastAt) <= time.Duration(tr.WithinMinutes)*time.Minute {
		q.TransferOff = min(tr.OffFen, fen)
		fen -= q.TransferOff
	}
	q.Fen = fen
	return q, nil
}

// CountsMonthly reports whether rides of a mode add to the monthly spend.
func (c *City) CountsMonthly(m Mode) bool { return c.Monthly != nil && hasMode(c.Monthly.Modes, m) }

func stationOn(l *Line, code uint16) *Station {
	for _, s := range l.Stations {
		if s.Code == code {
			return s
		}
	}
	return nil
}

func hasMode(ms []Mode, m Mode) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// MaxMetroFen returns the highest metro fare between any two stations of
// the sample network (what a gate charges for a trip it cannot price).
func (c *City) MaxMetroFen() int64 {
	if c.MetroFare == nil {
		return 0
	}
	var codes []uint16
	for code := range c.graph {
		codes = append(codes, code)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	var best int64
	for _, a := range codes {
		for _, b := range codes {
			if m, err := c.MetroMetres(a, b); err == nil {
				best = max(best, c.MetroFare.Fen(m))
			}
		}
	}
	return best
}
