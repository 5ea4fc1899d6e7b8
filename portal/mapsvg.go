package portal

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// The map of a phone's last place is drawn without map tiles (the portal
// works offline and loads nothing from elsewhere): an inline SVG around the
// point in a local equirectangular projection. In one of the six transit
// cities it shows the city's ring roads (or districts) and rivers from the
// embedded mapdata/cities.json, so the place is recognisable; elsewhere a
// grid of latitude and longitude lines. Both have a scale bar, a north
// arrow, the accuracy circle and the report's age.
const (
	mapW, mapH     = 360.0, 240.0
	mapSpanM       = 2000.0    // metres across the width, outside the cities
	metresPerDeg   = 111_320.0 // along a meridian, and along the equator
	mapMinGridStep = 250.0     // metres between grid lines, at least
	// AssumedAccuracyM is the radius of the accuracy circle: the phone's
	// check-in carries no accuracy yet, so a phone's fix is assumed good
	// to 100 m (the page says it is assumed).
	AssumedAccuracyM = 100.0
	cityRadiusM      = 60_000.0 // a place this near a city's centre is drawn on its map
)

//go:embed mapdata/cities.json
var citiesJSON []byte

type mapShape struct {
	EN  string       `json:"en"`
	ZH  string       `json:"zh"`
	Pts [][2]float64 `json:"pts"`
}

type mapCity struct {
	ID      string     `json:"id"`
	EN      string     `json:"en"`
	ZH      string     `json:"zh"`
	Lat     float64    `json:"lat"`
	Lon     float64    `json:"lon"`
	Rings   []mapShape `json:"rings"`
	Rivers  []mapShape `json:"rivers"`
	extentM float64    // half the width of its outermost ring, metres
}

var mapCities = func() []mapCity {
	var f struct {
		Cities []mapCity `json:"cities"`
	}
	if err := json.Unmarshal(citiesJSON, &f); err != nil {
		panic("portal: mapdata/cities.json: " + err.Error())
	}
	for i := range f.Cities {
		c := &f.Cities[i]
		for _, r := range c.Rings {
			for _, pt := range r.Pts {
				c.extentM = math.Max(c.extentM, distanceM(c.Lat, c.Lon, pt[0], pt[1]))
			}
		}
	}
	return f.Cities
}()

func (c mapCity) name(t *tr) string {
	if t.lang == LangZH {
		return c.ZH
	}
	return c.EN
}

func (s mapShape) name(t *tr) string {
	if t.lang == LangZH {
		return s.ZH
	}
	return s.EN
}

var gridSteps = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}

// gridStep picks the smallest step in degrees whose lines are at least
// minM metres apart, given how many metres one degree is.
func gridStep(mPerDeg, minM float64) float64 {
	for _, s := range gridSteps {
		if s*mPerDeg >= minM {
			return s
		}
	}
	return gridSteps[len(gridSteps)-1]
}

// cityOf returns the city whose map shows a place, if any.
func cityOf(lat, lon float64) (mapCity, bool) {
	for _, c := range mapCities {
		if distanceM(lat, lon, c.Lat, c.Lon) <= cityRadiusM {
			return c, true
		}
	}
	return mapCity{}, false
}

// projection maps degrees to the SVG's pixels around a centre.
type projection struct {
	lat, lon, pxPerM, mLon float64
}

func (pr projection) xy(lat, lon float64) (float64, float64) {
	return mapW/2 + (lon-pr.lon)*pr.mLon*pr.pxPerM, mapH/2 - (lat-pr.lat)*metresPerDeg*pr.pxPerM
}

// niceBar is the longest round length (1, 2, 5 × 10^n metres) at most maxM.
func niceBar(maxM float64) float64 {
	b := 1.0
	for _, m := range []float64{1, 2, 5} {
		for e := 1.0; e <= 100_000; e *= 10 {
			if m*e <= maxM && m*e > b {
				b = m * e
			}
		}
	}
	return b
}

// drawMap returns the SVG of a place reported age ago, in t's language;
// every number in it is formatted here and every name escaped.
func drawMap(t *tr, lat, lon float64, age time.Duration) template.HTML {
	span := mapSpanM
	city, inCity := cityOf(lat, lon)
	if inCity {
		// Wide enough to show the place and the city's middle rings.
		span = math.Min(math.Max(2*distanceM(lat, lon, city.Lat, city.Lon)+6000, city.extentM*1.2), 2*city.extentM+4000)
	}
	pr := projection{lat: lat, lon: lon, pxPerM: mapW / span, mLon: metresPerDeg * math.Max(math.Cos(lat*math.Pi/180), 0.01)}
	var b strings.Builder
	title := t.T("map.title", "Place", formatPlace(lat, lon))
	fmt.Fprintf(&b, `<svg class="map" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="map-title"><title id="map-title">%s</title>`, mapW, mapH, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect class="map-bg" x="0" y="0" width="%.0f" height="%.0f"/>`, mapW, mapH)
	if inCity {
		drawCity(&b, t, pr, city)
	} else {
		drawGrid(&b, pr)
	}
	// Scale bar, bottom right.
	barM := niceBar(span / 4)
	bar := barM * pr.pxPerM
	x0, y0 := mapW-bar-14, mapH-14
	label := fmt.Sprintf("%.0f m", barM)
	if barM >= 1000 {
		label = fmt.Sprintf("%.0f km", barM/1000)
	}
	fmt.Fprintf(&b, `<g class="map-scale"><rect x="%.1f" y="%.1f" width="%.1f" height="5"/><rect class="map-scale-half" x="%.1f" y="%.1f" width="%.1f" height="5"/><text x="%.1f" y="%.1f">%s</text></g>`,
		x0, y0, bar, x0, y0, bar/2, x0, y0-4, label)
	// North arrow, top right.
	fmt.Fprintf(&b, `<g class="map-north"><rect class="map-north-bg" x="%.0f" y="20" width="24" height="38" rx="4"/><path d="M %.0f 24 l 7 18 l -7 -5 l -7 5 z"/><text x="%.0f" y="54">N</text></g>`, mapW-32, mapW-20, mapW-24)
	// The accuracy circle (at least 6 px, so it shows on a city's map),
	// the dot, and the report's age beside it.
	cx, cy := mapW/2, mapH/2
	r := math.Max(AssumedAccuracyM*pr.pxPerM, 6)
	fmt.Fprintf(&b, `<circle class="map-accuracy" cx="%.1f" cy="%.1f" r="%.1f"/><circle class="map-point" cx="%.1f" cy="%.1f" r="5"/>`, cx, cy, r, cx, cy)
	fmt.Fprintf(&b, `<text class="map-age" x="%.1f" y="%.1f">%s</text>`, cx+10, cy-8, template.HTMLEscapeString(t.ageOf(age)))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// ageOf says how old a report is ("5 分钟前").
func (t *tr) ageOf(d time.Duration) string {
	now := time.Unix(1<<32, 0)
	return t.Age(now, now.Add(-d))
}

func drawCity(b *strings.Builder, t *tr, pr projection, c mapCity) {
	path := func(pts [][2]float64, closed bool) string {
		var s strings.Builder
		for i, pt := range pts {
			x, y := pr.xy(pt[0], pt[1])
			op := "L"
			if i == 0 {
				op = "M"
			}
			fmt.Fprintf(&s, "%s%.1f %.1f ", op, x, y)
		}
		if closed {
			s.WriteString("Z")
		}
		return s.String()
	}
	for _, rv := range c.Rivers {
		fmt.Fprintf(b, `<path class="map-river" d="%s"><title>%s</title></path>`, path(rv.Pts, false), template.HTMLEscapeString(rv.name(t)))
	}
	for _, rg := range c.Rings {
		fmt.Fprintf(b, `<path class="map-ring" d="%s"><title>%s</title></path>`, path(rg.Pts, true), template.HTMLEscapeString(rg.name(t)))
		// The ring's name at its top-most point, if that is on the map.
		top := rg.Pts[0]
		for _, pt := range rg.Pts {
			if pt[0] > top[0] {
				top = pt
			}
		}
		if x, y := pr.xy(top[0], top[1]); x > 10 && x < mapW-60 && y > 14 && y < mapH-24 {
			fmt.Fprintf(b, `<text class="map-ring-label" x="%.1f" y="%.1f">%s</text>`, x, y-3, template.HTMLEscapeString(rg.name(t)))
		}
	}
	fmt.Fprintf(b, `<text class="map-city" x="8" y="18">%s</text>`, template.HTMLEscapeString(c.name(t)))
}

func drawGrid(b *strings.Builder, pr projection) {
	halfLat := (mapH / 2) / pr.pxPerM / metresPerDeg
	step := gridStep(metresPerDeg, mapMinGridStep)
	for l := math.Ceil((pr.lat-halfLat)/step) * step; l <= pr.lat+halfLat; l += step {
		_, y := pr.xy(l, pr.lon)
		fmt.Fprintf(b, `<line class="map-grid" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, y, mapW, y)
		fmt.Fprintf(b, `<text class="map-label" x="4" y="%.1f">%s</text>`, y-3, degrees(l, "N", "S", step))
	}
	halfLon := (mapW / 2) / pr.pxPerM / pr.mLon
	step = gridStep(pr.mLon, mapMinGridStep)
	for l := math.Ceil((pr.lon-halfLon)/step) * step; l <= pr.lon+halfLon; l += step {
		x, _ := pr.xy(pr.lat, l)
		fmt.Fprintf(b, `<line class="map-grid" x1="%.1f" y1="0" x2="%.1f" y2="%.0f"/>`, x, x, mapH)
		fmt.Fprintf(b, `<text class="map-label" x="%.1f" y="12">%s</text>`, x+3, degrees(l, "E", "W", step))
	}
}

// degrees formats a grid line's value with as many decimals as its step needs.
func degrees(v float64, pos, neg string, step float64) string {
	h := pos
	if v < 0 {
		h, v = neg, -v
	}
	dec := 0
	for s := step; s < 1 && dec < 6; s *= 10 {
		dec++
	}
	return fmt.Sprintf("%.*f°%s", dec, v, h)
}

// formatPlace writes a place as "39.90420° N, 116.40740° E".
func formatPlace(lat, lon float64) string {
	ns, ew := "N", "E"
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	return fmt.Sprintf("%.5f° %s, %.5f° %s", lat, ns, lon, ew)
}

// cities are reference points for saying roughly where a phone is.
var cities = []struct {
	en, zh   string
	lat, lon float64
}{
	{"Beijing", "北京", 39.9042, 116.4074}, {"Shanghai", "上海", 31.2304, 121.4737}, {"Guangzhou", "广州", 23.1291, 113.2644},
	{"Shenzhen", "深圳", 22.5431, 114.0579}, {"Chengdu", "成都", 30.5728, 104.0668}, {"Hangzhou", "杭州", 30.2741, 120.1551},
	{"Wuhan", "武汉", 30.5928, 114.3055}, {"Xi'an", "西安", 34.3416, 108.9398}, {"Chongqing", "重庆", 29.5630, 106.5516},
	{"Nanjing", "南京", 32.0603, 118.7969}, {"Tianjin", "天津", 39.3434, 117.3616}, {"Hong Kong", "香港", 22.3193, 114.1694},
}

// distanceM is the great-circle distance in metres (haversine).
func distanceM(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6_371_000.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// nearest says how far the place is from the nearest reference city, or ""
// when none is within 300 km.
func nearest(t *tr, lat, lon float64) string {
	best, bestD := -1, math.Inf(1)
	for i, c := range cities {
		if d := distanceM(lat, lon, c.lat, c.lon); d < bestD {
			best, bestD = i, d
		}
	}
	if bestD > 300_000 {
		return ""
	}
	name := cities[best].en
	if t.lang == LangZH {
		name = cities[best].zh
	}
	if bestD < 1000 {
		return t.T("map.near_m", "M", fmt.Sprintf("%.0f", bestD), "City", name)
	}
	return t.T("map.near_km", "Km", fmt.Sprintf("%.1f", bestD/1000), "City", name)
}
