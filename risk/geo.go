package risk

import (
	"math"
	"strings"
)

// Distance is the great-circle distance between two places in km
// (haversine, earth radius 6371 km).
func Distance(a, b Place) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// cities are the places of the cities a terminal's DE43 may name (city
// centres, degrees), keyed by the upper-case name as DE43 carries it.
var cities = map[string]Place{
	"BEIJING":   {39.9042, 116.4074},
	"SHANGHAI":  {31.2304, 121.4737},
	"GUANGZHOU": {23.1291, 113.2644},
	"SHENZHEN":  {22.5431, 114.0579},
	"CHENGDU":   {30.5728, 104.0668},
	"HANGZHOU":  {30.2741, 120.1551},
	"WUHAN":     {30.5928, 114.3055},
	"XIAN":      {34.3416, 108.9398},
	"NANJING":   {32.0603, 118.7969},
	"TIANJIN":   {39.3434, 117.3616},
	"CHONGQING": {29.4316, 106.9123},
	"SUZHOU":    {31.2989, 120.5853},
	"XIAMEN":    {24.4798, 118.0894},
	"QINGDAO":   {36.0671, 120.3826},
	"HONG KONG": {22.3193, 114.1694},
	"MACAU":     {22.1987, 113.5439},
	"TAIPEI":    {25.0330, 121.5654},
	"SINGAPORE": {1.3521, 103.8198},
	"TOKYO":     {35.6762, 139.6503},
	"SEOUL":     {37.5665, 126.9780},
	"LONDON":    {51.5072, -0.1276},
	"PARIS":     {48.8566, 2.3522},
	"NEW YORK":  {40.7128, -74.0060},
}

// City returns the place of a city named as DE43 names it (case and the
// spaces around it do not matter; "XI'AN" is XIAN); false when the engine
// does not know it.
func City(name string) (Place, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "'", "")
	p, ok := cities[n]
	return p, ok
}
