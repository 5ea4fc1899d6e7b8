package risk

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// Windows and resolutions. A window of the series at resolution r covers
// the bucket of the moment and the ones before it: "15m" is the current
// minute and the 14 before (between 14 and 15 minutes), "24h" the current
// hour and the 23 before, "30d" the current UTC day and the 29 before.
type window struct {
	name string
	res  int64 // seconds per bucket; 0: one bucket for all time
	n    int64 // buckets
}

var (
	w15m = window{"15m", 60, 15}
	w1h  = window{"1h", 60, 60}
	w24h = window{"24h", 3600, 24}
	w72h = window{"72h", 3600, 72}
	w30d = window{"30d", 86400, 30}
	w90d = window{"90d", 86400, 90}
	wAll = window{"all", 0, 1}
)

// resName names a resolution in series names.
func resName(res int64) string {
	switch res {
	case 60:
		return "m"
	case 3600:
		return "h"
	case 86400:
		return "d"
	}
	return "all"
}

// keep is how long a bucket of a resolution is kept after it ends: the
// longest window the engine reads at that resolution.
func keep(res int64) int64 {
	switch res {
	case 60:
		return 3600
	case 3600:
		return 72 * 3600
	case 86400:
		return 90 * 86400
	}
	return 0
}

func bucketOf(t time.Time, res int64) int64 {
	if res == 0 {
		return 0
	}
	return floorDiv(t.Unix(), res)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// facts is one decision's facts and what was read for it.
type facts struct {
	auth *Auth
	bind *Binding
	ride *TransitRide
	now  time.Time
	city func(string) (Place, bool)
	rows [][]Row    // by group index (nil: not read, or no subject)
	seen []Sighting // by sighting index
	trip trip       // the travel attributes' answer, once worked out
}

// trip is a decision's travel (addTravel), worked out by the first of its
// three attributes read and kept for the other two (each had worked it
// out again: a distance on the sphere per sighting).
type trip struct {
	dist, mins, speed float64
	ok, done          bool
}

// A group is one read of the state: a series' subject over a window.
type group struct {
	point  Point
	series string
	win    window
	key    func(f *facts) string
	// around centres the window on the moment (its buckets before and
	// after it): transit rides are checked in any order.
	around bool
}

func (g group) query(f *facts) (Query, bool) {
	k := g.key(f)
	if k == "" {
		return Query{}, false
	}
	if g.win.res == 0 {
		return Query{Series: g.series, Key: k}, true
	}
	b := bucketOf(f.now, g.win.res)
	if g.around {
		return Query{Series: g.series, Key: k, From: b - g.win.n + 1, To: b + g.win.n - 1}, true
	}
	return Query{Series: g.series, Key: k, From: b - g.win.n + 1, To: b}, true
}

// value is an attribute's value: a number, or a string for string
// attributes.
type value struct {
	n float64
	s string
}

// attrDef is one named attribute: where it exists, its type, the reads
// it needs and how its value is made.
type attrDef struct {
	name     string
	point    Point
	str      bool
	groups   []int // indexes in groups
	sighting bool  // needs the last sightings
	val      func(f *facts) (value, bool)
}

var (
	groups   []group
	attrList []attrDef
	attrIdx  = map[string]int{}
)

func addGroup(g group) int {
	groups = append(groups, g)
	return len(groups) - 1
}

func addAttr(a attrDef) {
	attrIdx[a.name] = len(attrList)
	attrList = append(attrList, a)
}

func num(x float64) (value, bool)           { return value{n: x}, true }
func strIf(s string) (value, bool)          { return value{s: s}, s != "" }
func ageHours(since, now time.Time) float64 { return now.Sub(since).Hours() }

func totals(rows []Row) (count, sum int64) {
	for _, r := range rows {
		count += r.Count
		sum += r.Sum
	}
	return
}

// distinct counts the members of rows with events, plus extra when it is
// not among them ("" adds nothing).
func distinct(rows []Row, extra string) int {
	n := 0
	found := false
	for _, r := range rows {
		if r.Count > 0 {
			n++
			if r.Member == extra {
				found = true
			}
		}
	}
	if extra != "" && !found {
		n++
	}
	return n
}

// Amount classes: 8 per doubling, so a class's upper bound is at most 9%
// above any amount in it. A percentile is the upper bound of the class
// where its rank falls.
func amountClass(minor int64) string {
	c := 0
	if minor > 1 {
		c = int(math.Floor(8 * math.Log2(float64(minor))))
	}
	if c < len(amountClasses) {
		return amountClasses[c]
	}
	return className(c)
}

func className(c int) string { return "c" + strconv.Itoa(1000 + c)[1:] }

// amountClasses are the classes' names, made once (an approved
// authorization's record made its class's name, two allocations): every
// int64 amount's (at most class 8·63 = 504).
var amountClasses = func() (t [512]string) {
	for c := range t {
		t[c] = className(c)
	}
	return t
}()

func classUpper(member string) float64 {
	c, _ := strconv.Atoi(member[1:])
	if c >= 0 && c < len(classUppers) {
		return classUppers[c]
	}
	return upperOf(c)
}

func upperOf(c int) float64 { return math.Ceil(math.Pow(2, float64(c+1)/8)) }

// classUppers are the classes' upper bounds, worked out once.
var classUppers = func() (t [len(amountClasses)]float64) {
	for c := range t {
		t[c] = upperOf(c)
	}
	return t
}()

// rowsSorted reports whether rows are in member order.
func rowsSorted(rows []Row) bool {
	for i := 1; i < len(rows); i++ {
		if rows[i].Member < rows[i-1].Member {
			return false
		}
	}
	return true
}

// percentile returns the p-th percentile (0 < p ≤ 1) of the amounts
// counted in rows by class; false when rows are empty.
func percentile(rows []Row, p float64) (float64, bool) {
	var n int64
	for _, r := range rows {
		n += r.Count
	}
	if n == 0 {
		return 0, false
	}
	sorted := rows // a State's rows come sorted by member
	if !rowsSorted(rows) {
		sorted = append([]Row(nil), rows...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Member < sorted[j].Member })
	}
	rank := int64(math.Ceil(p * float64(n)))
	var c int64
	for _, r := range sorted {
		c += r.Count
		if c >= rank {
			return classUpper(r.Member), true
		}
	}
	return classUpper(sorted[len(sorted)-1].Member), true
}

// authResolutions are the authorization counters' resolutions, and
// authSeries[subject][n, d][resolution] their series' names
// (countSeries), named once.
var (
	authResolutions = [2]int64{60, 3600}
	authSeries      = func() [][2][2]string {
		t := make([][2][2]string, len(authSubjects))
		for i, s := range authSubjects {
			for m, measure := range [2]string{"n", "d"} {
				for r, res := range authResolutions {
					t[i][m][r] = countSeries(s.name, measure, res)
				}
			}
		}
		return t
	}()
)

// The subjects of authorization counters and their keys.
var authSubjects = []struct {
	name string
	key  func(a *Auth) string
}{
	{"token", func(a *Auth) string { return a.Token }},
	{"card", func(a *Auth) string { return a.Card }},
	{"phone", func(a *Auth) string { return a.Phone }},
	{"merchant", func(a *Auth) string { return a.Merchant }},
}

// Series of the authorization counters.
const (
	seriesAmounts   = "card.amt.d"   // approved amounts of a card by class, per day
	seriesTokenUses = "token.uses"   // approved authorizations of a token, all time
	seriesBindCD    = "bind.cd.h"    // binding attempts of a card on a phone, per hour
	seriesCards     = "phone.card.h" // cards tried on a phone, per hour (member: card)
	seriesNames     = "phone.name.d" // holder names on a phone, per day (member: name ref)
	seriesBanks     = "phone.bank.h" // banks of cards tried on a phone, per hour (member: bank)
	seriesAccounts  = "card.acct.d"  // accounts a card was tried on, per day (member: account)
	seriesOTPs      = "phone.otp.h"  // wrong one-time codes entered on a phone, per hour (any card)
)

func countSeries(subject, measure string, res int64) string {
	return subject + "." + measure + "." + resName(res)
}

// tapKeys are the sightings an approved tap updates: the card's and the
// phone's last tap (a decision reads them: scratch.sightingKeys), cut
// from one string (one allocation, where they were two).
func tapKeys(a *Auth) [2]string {
	s := "card:" + a.Card + "phone:" + a.Phone
	c := len("card:") + len(a.Card)
	return [2]string{s[:c], s[c:]}
}

// placeKey prefixes the sighting of a phone's last reported place.
const placeKey = "place:"

// travel finds, of the sightings the decision knows, the one that asks the
// highest speed to reach this terminal: its distance (km), the time (min)
// and the speed (km/h). false when the terminal's place or every sighting
// is unknown.
func travel(f *facts) (dist, mins, speed float64, ok bool) {
	a := f.auth
	if !a.AtTerminal() {
		return 0, 0, 0, false
	}
	var here Place
	switch {
	case a.Terminal != nil:
		here = *a.Terminal
	case f.city != nil:
		p, found := f.city(a.City)
		if !found {
			return 0, 0, 0, false
		}
		here = p
	default:
		return 0, 0, 0, false
	}
	// the sightings read and the phone's reported one, without a slice of
	// them all (one allocation each of the three travel attributes)
	for i := 0; i <= len(f.seen); i++ {
		var s *Sighting
		if i < len(f.seen) {
			s = &f.seen[i]
		} else if s = a.PhoneSeen; s == nil {
			break
		}
		if !s.Known() || s.At.After(a.At) {
			continue
		}
		d := Distance(s.Place, here)
		m := a.At.Sub(s.At).Minutes()
		v := d / math.Max(m, 1) * 60 // at least a minute apart
		if !ok || v > speed {
			dist, mins, speed, ok = d, m, v, true
		}
	}
	return
}

func init() {
	A, B := PointAuthorization, PointBinding
	// The facts of an authorization.
	addAttr(attrDef{name: "auth.amount", point: A, val: func(f *facts) (value, bool) { return num(float64(f.auth.Amount)) }})
	addAttr(attrDef{name: "auth.currency", point: A, val: func(f *facts) (value, bool) { return num(float64(f.auth.Currency)) }})
	addAttr(attrDef{name: "auth.mcc", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.MCC) }})
	addAttr(attrDef{name: "auth.country", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Country) }})
	addAttr(attrDef{name: "auth.city", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.City) }})
	addAttr(attrDef{name: "auth.merchant", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Merchant) }})
	addAttr(attrDef{name: "auth.entry_mode", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.EntryMode) }})
	addAttr(attrDef{name: "auth.bank", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Bank) }})
	addAttr(attrDef{name: "auth.token", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Token) }})
	addAttr(attrDef{name: "auth.card", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Card) }})
	addAttr(attrDef{name: "auth.phone", point: A, str: true, val: func(f *facts) (value, bool) { return strIf(f.auth.Phone) }})
	addAttr(attrDef{name: "token.age_hours", point: A, val: func(f *facts) (value, bool) {
		if f.auth.TokenCreated.IsZero() {
			return value{}, false
		}
		return num(ageHours(f.auth.TokenCreated, f.now))
	}})
	addAttr(attrDef{name: "pair.age_days", point: A, val: func(f *facts) (value, bool) {
		if f.auth.TokenCreated.IsZero() {
			return value{}, false
		}
		return num(ageHours(f.auth.TokenCreated, f.now) / 24)
	}})
	// Windowed counts and sums (this authorization included) and declines
	// (before this one) per token, card, phone and merchant.
	for _, s := range authSubjects {
		key := s.key
		k := func(f *facts) string { return key(f.auth) }
		for _, w := range []window{w15m, w1h, w24h} {
			n := addGroup(group{A, countSeries(s.name, "n", w.res), w, k, false})
			d := addGroup(group{A, countSeries(s.name, "d", w.res), w, k, false})
			addAttr(attrDef{name: s.name + ".count_" + w.name, point: A, groups: []int{n}, val: func(f *facts) (value, bool) {
				if key(f.auth) == "" {
					return value{}, false
				}
				c, _ := totals(f.rows[n])
				return num(float64(c + 1))
			}})
			addAttr(attrDef{name: s.name + ".sum_" + w.name, point: A, groups: []int{n}, val: func(f *facts) (value, bool) {
				if key(f.auth) == "" {
					return value{}, false
				}
				_, sum := totals(f.rows[n])
				return num(float64(sum + f.auth.Amount))
			}})
			addAttr(attrDef{name: s.name + ".declines_" + w.name, point: A, groups: []int{d}, val: func(f *facts) (value, bool) {
				if key(f.auth) == "" {
					return value{}, false
				}
				c, _ := totals(f.rows[d])
				return num(float64(c))
			}})
		}
	}
	amounts := addGroup(group{A, seriesAmounts, w30d, func(f *facts) string { return f.auth.Card }, false})
	addAttr(attrDef{name: "card.amount_p95_30d", point: A, groups: []int{amounts}, val: func(f *facts) (value, bool) {
		p, ok := percentile(f.rows[amounts], 0.95)
		return value{n: p}, ok
	}})
	addAttr(attrDef{name: "card.approved_30d", point: A, groups: []int{amounts}, val: func(f *facts) (value, bool) {
		if f.auth.Card == "" {
			return value{}, false
		}
		c, _ := totals(f.rows[amounts])
		return num(float64(c))
	}})
	uses := addGroup(group{A, seriesTokenUses, wAll, func(f *facts) string { return f.auth.Token }, false})
	addAttr(attrDef{name: "token.uses", point: A, groups: []int{uses}, val: func(f *facts) (value, bool) {
		c, _ := totals(f.rows[uses])
		return num(float64(c))
	}})
	addTravel("travel", A, travel)

	// The facts of a binding.
	addAttr(attrDef{name: "binding.bank", point: B, str: true, val: func(f *facts) (value, bool) { return strIf(f.bind.Bank) }})
	addAttr(attrDef{name: "binding.failed_otps", point: B, val: func(f *facts) (value, bool) { return num(float64(f.bind.FailedOTPs)) }})
	addAttr(attrDef{name: "phone.tokens", point: B, val: func(f *facts) (value, bool) { return num(float64(f.bind.Tokens)) }})
	since := func(name string, t func(b *Binding) time.Time) {
		addAttr(attrDef{name: name, point: B, val: func(f *facts) (value, bool) {
			at := t(f.bind)
			if at.IsZero() {
				return value{}, false
			}
			return num(ageHours(at, f.now) / 24)
		}})
	}
	since("phone.age_days", func(b *Binding) time.Time { return b.PhoneCreated })
	since("account.age_days", func(b *Binding) time.Time { return b.AccountCreated })
	since("phone.days_since_lost", func(b *Binding) time.Time { return b.PhoneLostAt })
	cd := addGroup(group{B, seriesBindCD, w72h, func(f *facts) string { return f.bind.Card + "|" + f.bind.Phone }, false})
	addAttr(attrDef{name: "binding.attempts_72h", point: B, groups: []int{cd}, val: func(f *facts) (value, bool) {
		c, _ := totals(f.rows[cd])
		if f.bind.Recorded {
			return num(float64(c))
		}
		return num(float64(c + 1))
	}})
	otps := addGroup(group{B, seriesOTPs, w24h, func(f *facts) string { return f.bind.Phone }, false})
	addAttr(attrDef{name: "phone.failed_otps_24h", point: B, groups: []int{otps}, val: func(f *facts) (value, bool) {
		c, _ := totals(f.rows[otps])
		return num(float64(c))
	}})
	dist := func(name, series string, w window, key func(b *Binding) string, member func(b *Binding) string) {
		g := addGroup(group{B, series, w, func(f *facts) string { return key(f.bind) }, false})
		addAttr(attrDef{name: name, point: B, groups: []int{g}, val: func(f *facts) (value, bool) {
			if key(f.bind) == "" {
				return value{}, false
			}
			return num(float64(distinct(f.rows[g], member(f.bind))))
		}})
	}
	dist("phone.cards_24h", seriesCards, w24h, func(b *Binding) string { return b.Phone }, func(b *Binding) string { return b.Card })
	dist("phone.names_90d", seriesNames, w90d, func(b *Binding) string { return b.Phone }, func(b *Binding) string { return b.Holder })
	dist("phone.banks_24h", seriesBanks, w24h, func(b *Binding) string { return b.Phone }, func(b *Binding) string { return b.Bank })
	dist("card.accounts_30d", seriesAccounts, w30d, func(b *Binding) string { return b.Card }, func(b *Binding) string { return b.Account })
}

// addTravel adds a point's travel attributes, prefix.speed_kmh,
// prefix.distance_km and prefix.minutes, from a travel function.
func addTravel(prefix string, p Point, tr func(f *facts) (dist, mins, speed float64, ok bool)) {
	for _, a := range []struct {
		name string
		pick func(d, m, v float64) float64
	}{
		{"speed_kmh", func(_, _, v float64) float64 { return v }},
		{"distance_km", func(d, _, _ float64) float64 { return d }},
		{"minutes", func(_, m, _ float64) float64 { return m }},
	} {
		pick := a.pick
		addAttr(attrDef{name: prefix + "." + a.name, point: p, sighting: true, val: func(f *facts) (value, bool) {
			t := &f.trip // a facts is one decision's, of one point: one travel function
			if !t.done {
				t.dist, t.mins, t.speed, t.ok = tr(f)
				t.done = true
			}
			return value{n: pick(t.dist, t.mins, t.speed)}, t.ok
		}})
	}
}

// Attributes returns the names of the attributes rules may use at a
// point, sorted.
func Attributes(p Point) []string {
	var out []string
	for _, a := range attrList {
		if a.point == p {
			out = append(out, a.name)
		}
	}
	sort.Strings(out)
	return out
}

// authDeltas appends to ds what an authorization adds to the state once
// its answer is known.
func authDeltas(ds []Delta, a *Auth, approved bool) []Delta {
	add := func(series string, res int64, key, member string, count, sum int64) {
		b := bucketOf(a.At, res)
		var exp int64
		if res != 0 {
			exp = (b+1)*res + keep(res)
		}
		ds = append(ds, Delta{Series: series, Key: key, Member: member, Bucket: b, Count: count, Sum: sum, Expires: exp, At: a.At.Unix()})
	}
	for i, s := range authSubjects {
		k := s.key(a)
		if k == "" {
			continue
		}
		for r, res := range authResolutions {
			add(authSeries[i][0][r], res, k, "", 1, a.Amount)
			if !approved {
				add(authSeries[i][1][r], res, k, "", 1, a.Amount)
			}
		}
	}
	if approved {
		if a.Card != "" {
			add(seriesAmounts, 86400, a.Card, amountClass(a.Amount), 1, a.Amount)
		}
		add(seriesTokenUses, 0, a.Token, "", 1, a.Amount)
	}
	return ds
}

// bindDeltas returns what a binding attempt adds to the state (a wrong
// one-time code counts as an attempt, and in the phone's wrong codes).
func bindDeltas(b *Binding) []Delta {
	var ds []Delta
	add := func(series string, res int64, key, member string) {
		if key == "" || (member == "" && series != seriesBindCD && series != seriesOTPs) {
			return
		}
		bk := bucketOf(b.At, res)
		ds = append(ds, Delta{Series: series, Key: key, Member: member, Bucket: bk, Count: 1, Expires: (bk+1)*res + keep(res), At: b.At.Unix()})
	}
	add(seriesBindCD, 3600, b.Card+"|"+b.Phone, "")
	add(seriesCards, 3600, b.Phone, b.Card)
	add(seriesNames, 86400, b.Phone, b.Holder)
	add(seriesBanks, 3600, b.Phone, b.Bank)
	add(seriesAccounts, 86400, b.Card, b.Account)
	if b.WrongOTP {
		add(seriesOTPs, 3600, b.Phone, "")
	}
	return ds
}

// holderDeltas returns the name a binding adds to its phone's names.
func holderDeltas(b *Binding) []Delta {
	var out []Delta
	for _, d := range bindDeltas(&Binding{At: b.At, Phone: b.Phone, Holder: b.Holder}) {
		if d.Series == seriesNames {
			out = append(out, d)
		}
	}
	return out
}
