package fare

import (
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

func city(t *testing.T, id string) *City {
	t.Helper()
	c, err := Default().City(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func km(k float64) int64 { return metres(k) }

// TestDistanceBands checks each city's metro fare at and around its band
// edges.
func TestDistanceBands(t *testing.T) {
	tests := []struct {
		city string
		km   float64
		want int64
	}{
		{"beijing", 0.5, 300}, {"beijing", 6, 300}, {"beijing", 6.001, 400}, {"beijing", 12, 400},
		{"beijing", 12.5, 500}, {"beijing", 22, 500}, {"beijing", 22.1, 600}, {"beijing", 32, 600},
		{"beijing", 32.1, 700}, {"beijing", 52, 700}, {"beijing", 52.1, 800},
		{"shanghai", 6, 300}, {"shanghai", 6.1, 400}, {"shanghai", 16, 400}, {"shanghai", 16.1, 500}, {"shanghai", 64, 900},
		{"guangzhou", 4, 200}, {"guangzhou", 4.1, 300}, {"guangzhou", 8, 300}, {"guangzhou", 12, 400},
		{"guangzhou", 18, 500}, {"guangzhou", 24, 600}, {"guangzhou", 32, 700}, {"guangzhou", 32.5, 800},
		{"shenzhen", 3.9, 200}, {"shenzhen", 12, 400}, {"shenzhen", 12.1, 500}, {"shenzhen", 40.9, 900},
		{"wuhan", 9, 200}, {"wuhan", 9.1, 300}, {"wuhan", 14, 300}, {"wuhan", 21, 400}, {"wuhan", 30, 500},
		{"wuhan", 41, 600}, {"wuhan", 41.5, 700}, {"wuhan", 56, 700}, {"wuhan", 56.1, 800},
		{"chongqing", 6, 200}, {"chongqing", 11, 300}, {"chongqing", 17, 400}, {"chongqing", 24, 500},
		{"chongqing", 32, 600}, {"chongqing", 41, 700}, {"chongqing", 51, 800}, {"chongqing", 63, 900},
		{"chongqing", 63.5, 1000}, {"chongqing", 90, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.city+"/"+strings.TrimRight(strings.TrimRight(fmtKm(tt.km), "0"), "."), func(t *testing.T) {
			if got := city(t, tt.city).MetroFare.Fen(km(tt.km)); got != tt.want {
				t.Errorf("fare for %v km: got %d fen, want %d", tt.km, got, tt.want)
			}
		})
	}
}

func fmtKm(k float64) string {
	s := itoa(int(k))
	frac := int(metres(k) % 1000)
	if frac == 0 {
		return s
	}
	f := itoa(frac)
	for len(f) < 3 {
		f = "0" + f
	}
	return s + "." + f
}

// TestRides prices whole rides by each city's rules: metro between
// stations (across interchanges), flat buses, the bus charged at tap-off,
// the transfer discount and the monthly tiers.
func TestRides(t *testing.T) {
	at := time.Date(2016, 4, 6, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		name          string
		city, line    string
		from, to      string
		monthSpend    int64
		lastMode      Mode
		lastAgo       time.Duration
		wantMetres    int64
		wantFen       int64
		wantTransfer  int64
		wantMonthlyOf int64
	}{
		{name: "beijing metro across lines", city: "beijing", line: "L1", from: "pingguoyuan", to: "yonghegong", wantMetres: 19900 + 3800, wantFen: 600},
		{name: "beijing metro short", city: "beijing", line: "L1", from: "xidan", to: "dongdan", wantMetres: 3000, wantFen: 300},
		{name: "beijing monthly below 100", city: "beijing", line: "L1", from: "xidan", to: "guomao", monthSpend: 9999, wantMetres: 6400, wantFen: 400},
		{name: "beijing monthly 20% off from 100", city: "beijing", line: "L1", from: "xidan", to: "guomao", monthSpend: 10000, wantMetres: 6400, wantFen: 320, wantMonthlyOf: 80},
		{name: "beijing monthly 50% off from 150", city: "beijing", line: "L1", from: "xidan", to: "guomao", monthSpend: 15000, wantMetres: 6400, wantFen: 200, wantMonthlyOf: 200},
		{name: "beijing monthly full fare from 400", city: "beijing", line: "L1", from: "xidan", to: "guomao", monthSpend: 40000, wantMetres: 6400, wantFen: 400},
		{name: "beijing bus flat, no monthly tier", city: "beijing", line: "B1", from: "b1-laoshan", monthSpend: 20000, wantFen: 100},
		{name: "shanghai metro", city: "shanghai", line: "L2", from: "hongqiao-railway-station", to: "lujiazui", wantMetres: 19900, wantFen: 500},
		{name: "shanghai metro via interchange", city: "shanghai", line: "L1", from: "xujiahui", to: "lujiazui", wantMetres: 5900 + 2800, wantFen: 400},
		{name: "shanghai bus after metro within 2h", city: "shanghai", line: "B71", from: "b71-peoples-square", lastMode: Metro, lastAgo: 30 * time.Minute, wantFen: 100, wantTransfer: 100},
		{name: "shanghai bus after metro after 2h", city: "shanghai", line: "B71", from: "b71-peoples-square", lastMode: Metro, lastAgo: 121 * time.Minute, wantFen: 200},
		{name: "shanghai bus after bus", city: "shanghai", line: "B71", from: "b71-peoples-square", lastMode: Bus, lastAgo: 10 * time.Minute, wantFen: 200},
		{name: "shanghai metro after bus", city: "shanghai", line: "L2", from: "peoples-square", to: "lujiazui", lastMode: Bus, lastAgo: 119 * time.Minute, wantMetres: 2800, wantFen: 200, wantTransfer: 100},
		{name: "guangzhou metro", city: "guangzhou", line: "L1", from: "xilang", to: "guangzhou-east", wantMetres: 18500, wantFen: 600},
		{name: "guangzhou metro across lines", city: "guangzhou", line: "L2", from: "guangzhou-south", to: "tiyu-xilu", wantMetres: 26400 + 4700, wantFen: 700},
		{name: "guangzhou bus", city: "guangzhou", line: "B2", from: "b2-tianhe", wantFen: 200},
		{name: "shenzhen metro", city: "shenzhen", line: "L1", from: "luohu", to: "window-of-the-world", wantMetres: 16300, wantFen: 500},
		{name: "shenzhen tap-off bus short", city: "shenzhen", line: "M299", from: "m299-futian", to: "m299-xili", wantMetres: 12400, wantFen: 250},
		{name: "shenzhen tap-off bus long", city: "shenzhen", line: "M299", from: "m299-futian", to: "m299-guangming", wantMetres: 33000, wantFen: 450},
		{name: "shenzhen tap-off bus reverse", city: "shenzhen", line: "M299", from: "m299-guangming", to: "m299-futian", wantMetres: 33000, wantFen: 450},
		{name: "wuhan metro", city: "wuhan", line: "L2", from: "jinyintan", to: "optics-valley-square", wantMetres: 27900, wantFen: 500},
		{name: "wuhan metro across lines", city: "wuhan", line: "L4", from: "wuchang-railway-station", to: "jianghan-road", wantMetres: 4600 + 5800, wantFen: 300},
		{name: "wuhan bus", city: "wuhan", line: "B1", from: "b1-hankou", wantFen: 150},
		{name: "chongqing metro", city: "chongqing", line: "L1", from: "chaotianmen", to: "jiandingpo", wantMetres: 40000, wantFen: 700},
		{name: "chongqing monorail", city: "chongqing", line: "L2", from: "chaotianmen", to: "yudong", wantMetres: 1900 + 31400, wantFen: 700},
		{name: "chongqing bus", city: "chongqing", line: "B401", from: "b401-jiefangbei", wantFen: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := city(t, tt.city)
			l, err := c.Line(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			r := Ride{Line: l, At: at, MonthSpend: tt.monthSpend, LastMode: tt.lastMode}
			if tt.lastMode != "" {
				r.LastAt = at.Add(-tt.lastAgo)
			}
			r.Entry = code(t, c, tt.from)
			if tt.to != "" {
				r.Exit = code(t, c, tt.to)
			}
			q, err := c.Price(r)
			if err != nil {
				t.Fatal(err)
			}
			if q.Metres != tt.wantMetres || q.Fen != tt.wantFen || q.TransferOff != tt.wantTransfer || q.MonthlyOff != tt.wantMonthlyOf {
				t.Errorf("got %d m, %d fen (transfer -%d, monthly -%d), want %d m, %d fen (transfer -%d, monthly -%d)",
					q.Metres, q.Fen, q.TransferOff, q.MonthlyOff, tt.wantMetres, tt.wantFen, tt.wantTransfer, tt.wantMonthlyOf)
			}
		})
	}
}

func code(t *testing.T, c *City, id string) uint16 {
	t.Helper()
	s := c.stations[id]
	if s == nil {
		t.Fatalf("no station %s in %s", id, c.ID)
	}
	return s.Code
}

// TestProducts checks every city's card product against the issue's
// rules: a fee, a refundable deposit, a ¥1,000 cap, a 16-byte-or-shorter
// AID, and SM4 for at least one city.
func TestProducts(t *testing.T) {
	tab := Default()
	if got := len(tab.Cities); got != 6 {
		t.Fatalf("got %d cities, want 6", got)
	}
	sm4 := 0
	aids := map[string]bool{}
	for _, c := range tab.Cities {
		t.Run(c.ID, func(t *testing.T) {
			if c.Product.BalanceCap != 100000 {
				t.Errorf("balance cap: got %d, want 100000", c.Product.BalanceCap)
			}
			if c.Product.Deposit <= 0 || c.Product.IssueFee <= 0 {
				t.Errorf("fee %d and deposit %d: want both positive", c.Product.IssueFee, c.Product.Deposit)
			}
			if aids[c.AIDHex] {
				t.Errorf("AID %s is used twice", c.AIDHex)
			}
			aids[c.AIDHex] = true
			got, err := tab.CityByAID(c.AID())
			if err != nil || got != c {
				t.Errorf("CityByAID: got %v, %v; want %s", got, err, c.ID)
			}
			if c.MaxMetroFen() <= 0 {
				t.Errorf("max metro fare: got %d, want > 0", c.MaxMetroFen())
			}
		})
		if c.AlgName == "sm4" {
			sm4++
		}
	}
	if sm4 == 0 {
		t.Errorf("got no SM4 city, want at least one")
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, json string }{
		{"not json", `{`},
		{"unknown field", `{"version":1,"cities":[],"x":1}`},
		{"bad alg", `{"version":1,"cities":[{"id":"x","aid":"F0545701560001","alg":"aes","product":{"balance_cap_fen":1},"lines":[]}]}`},
		{"bad aid", `{"version":1,"cities":[{"id":"x","aid":"zz","alg":"sm4","product":{"balance_cap_fen":1},"lines":[]}]}`},
		{"falling km", `{"version":1,"cities":[{"id":"x","aid":"F0545701560001","alg":"sm4","product":{"balance_cap_fen":1},"lines":[{"id":"B","code":1,"mode":"bus","flat_fen":1,"stations":[{"id":"a","code":1,"km":2},{"id":"b","code":2,"km":1}]}]}]}`},
		{"metro without fare", `{"version":1,"cities":[{"id":"x","aid":"F0545701560001","alg":"sm4","product":{"balance_cap_fen":1},"lines":[{"id":"L","code":1,"mode":"metro","stations":[{"id":"a","code":1,"km":0},{"id":"b","code":2,"km":1}]}]}]}`},
		{"open step not last", `{"version":1,"cities":[{"id":"x","aid":"F0545701560001","alg":"sm4","product":{"balance_cap_fen":1},"metro":{"base_km":1,"base_fen":1,"steps":[{"every_km":1,"add_fen":1},{"up_to_km":5,"every_km":1,"add_fen":1}]},"lines":[]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if !fault.Has(err, fault.Invalid, "bad_fare_table") {
				t.Errorf("got %v, want bad_fare_table", err)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	c := city(t, "shanghai")
	if _, err := Default().City("atlantis"); !fault.Has(err, fault.NotFound, "unknown_city") {
		t.Errorf("unknown city: got %v, want unknown_city", err)
	}
	if _, err := c.Line("L9"); !fault.Has(err, fault.NotFound, "unknown_line") {
		t.Errorf("unknown line: got %v, want unknown_line", err)
	}
	l, err := c.Line("2")
	if err != nil || l.ID != "L2" {
		t.Fatalf("line by code: got %v, %v; want L2", l, err)
	}
	if s, err := l.Station("113"); err != nil || s.ID != "peoples-square" {
		t.Errorf("station by code: got %v, %v; want peoples-square", s, err)
	}
	if _, err := c.MetroMetres(113, 9711); !fault.Has(err, fault.NotFound, "no_route") {
		t.Errorf("metro to a bus stop: got %v, want no_route", err)
	}
}
