package portal

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The map of a phone's last place is drawn without map tiles (the portal
// works offline and loads nothing from elsewhere): an inline SVG around the
// point with a grid of latitude and longitude lines, their labels, a scale
// bar and a north arrow, in a local equirectangular projection (exact
// enough over the 2 km it shows).
const (
	mapW, mapH     = 360.0, 240.0
	mapSpanM       = 2000.0    // metres across the width
	metresPerDeg   = 111_320.0 // along a meridian, and along the equator
	mapScaleBarM   = 500.0
	mapMinGridStep = 250.0 // metres between grid lines, at least
)

var gridSteps = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}

// gridStep picks the smallest step in degrees whose lines are at least
// mapMinGridStep metres apart, given how many metres one degree is.
func gridStep(mPerDeg float64) float64 {
	for _, s := range gridSteps {
		if s*mPerDeg >= mapMinGridStep {
			return s
		}
	}
	return gridSteps[len(gridSteps)-1]
}

// drawMap returns the SVG of a place; every number in it is formatted here.
func drawMap(lat, lon float64) template.HTML {
	pxPerM := mapW / mapSpanM
	mLat := metresPerDeg
	mLon := metresPerDeg * math.Max(math.Cos(lat*math.Pi/180), 0.01)
	cx, cy := mapW/2, mapH/2
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="map" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="map-title"><title id="map-title">Last reported place: %s</title>`, mapW, mapH, formatPlace(lat, lon))
	fmt.Fprintf(&b, `<rect class="map-bg" x="0" y="0" width="%.0f" height="%.0f"/>`, mapW, mapH)
	// Latitude lines (horizontal), labelled on the left.
	halfLat := (mapH / 2) / pxPerM / mLat
	step := gridStep(mLat)
	for l := math.Ceil((lat-halfLat)/step) * step; l <= lat+halfLat; l += step {
		y := cy - (l-lat)*mLat*pxPerM
		fmt.Fprintf(&b, `<line class="map-grid" x1="0" y1="%.1f" x2="%.0f" y2="%.1f"/>`, y, mapW, y)
		fmt.Fprintf(&b, `<text class="map-label" x="4" y="%.1f">%s</text>`, y-3, degrees(l, "N", "S", step))
	}
	// Longitude lines (vertical), labelled at the top (the scale bar is
	// at the bottom).
	halfLon := (mapW / 2) / pxPerM / mLon
	step = gridStep(mLon)
	for l := math.Ceil((lon-halfLon)/step) * step; l <= lon+halfLon; l += step {
		x := cx + (l-lon)*mLon*pxPerM
		fmt.Fprintf(&b, `<line class="map-grid" x1="%.1f" y1="0" x2="%.1f" y2="%.0f"/>`, x, x, mapH)
		fmt.Fprintf(&b, `<text class="map-label" x="%.1f" y="12">%s</text>`, x+3, degrees(l, "E", "W", step))
	}
	// Scale bar, bottom right.
	bar := mapScaleBarM * pxPerM
	x0, y0 := mapW-bar-14, mapH-14
	fmt.Fprintf(&b, `<g class="map-scale"><rect x="%.1f" y="%.1f" width="%.1f" height="5"/><rect class="map-scale-half" x="%.1f" y="%.1f" width="%.1f" height="5"/><text x="%.1f" y="%.1f">%.0f m</text></g>`,
		x0, y0, bar, x0, y0, bar/2, x0, y0-4, mapScaleBarM)
	// North arrow, top right.
	fmt.Fprintf(&b, `<g class="map-north"><rect class="map-north-bg" x="%.0f" y="20" width="24" height="38" rx="4"/><path d="M %.0f 24 l 7 18 l -7 -5 l -7 5 z"/><text x="%.0f" y="54">N</text></g>`, mapW-32, mapW-20, mapW-24)
	// The phone: a halo and a dot.
	fmt.Fprintf(&b, `<circle class="map-halo" cx="%.1f" cy="%.1f" r="22"/><circle class="map-point" cx="%.1f" cy="%.1f" r="7"/>`, cx, cy, cx, cy)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
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
	name     string
	lat, lon float64
}{
	{"Beijing", 39.9042, 116.4074}, {"Shanghai", 31.2304, 121.4737}, {"Guangzhou", 23.1291, 113.2644},
	{"Shenzhen", 22.5431, 114.0579}, {"Chengdu", 30.5728, 104.0668}, {"Hangzhou", 30.2741, 120.1551},
	{"Wuhan", 30.5928, 114.3055}, {"Xi'an", 34.3416, 108.9398}, {"Chongqing", 29.5630, 106.5516},
	{"Nanjing", 32.0603, 118.7969}, {"Tianjin", 39.3434, 117.3616}, {"Hong Kong", 22.3193, 114.1694},
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
func nearest(lat, lon float64) string {
	best, bestD := "", math.Inf(1)
	for _, c := range cities {
		if d := distanceM(lat, lon, c.lat, c.lon); d < bestD {
			best, bestD = c.name, d
		}
	}
	switch {
	case bestD > 300_000:
		return ""
	case bestD < 1000:
		return fmt.Sprintf("%.0f m from the centre of %s", bestD, best)
	}
	return fmt.Sprintf("%.1f km from the centre of %s", bestD/1000, best)
}
