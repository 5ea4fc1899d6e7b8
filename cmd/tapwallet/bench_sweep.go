package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// parseSweep reads --sweep: concurrencies (tokens in flight), comma
// separated, each 1 to 4000, no repeats; kept in the order given.
func parseSweep(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4000 {
			return nil, usage("--sweep: %q is not a concurrency from 1 to 4000 (give e.g. --sweep 16,32,64,128)", strings.TrimSpace(f))
		}
		if seen[n] {
			return nil, usage("--sweep: %d given twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// repeatPoints is the sweep's points, rounds times over, in turn.
func repeatPoints(points []int, rounds int) []int {
	out := make([]int, 0, len(points)*rounds)
	for range rounds {
		out = append(out, points...)
	}
	return out
}

// medians summarises the rows of repeated points: per concurrency, in
// the order they first came, the median of each figure over its rows.
func medians(rows []authFigures) []authFigures {
	var order []int
	by := map[int][]authFigures{}
	for _, r := range rows {
		if by[r.Tokens] == nil {
			order = append(order, r.Tokens)
		}
		by[r.Tokens] = append(by[r.Tokens], r)
	}
	med := func(rs []authFigures, v func(authFigures) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = v(r)
		}
		sort.Float64s(xs)
		if n := len(xs); n%2 == 0 {
			return (xs[n/2-1] + xs[n/2]) / 2
		}
		return xs[len(xs)/2]
	}
	var out []authFigures
	for _, c := range order {
		rs := by[c]
		out = append(out, authFigures{Tokens: c, DB: rs[0].DB,
			TPS:        med(rs, func(r authFigures) float64 { return r.TPS }),
			P50:        med(rs, func(r authFigures) float64 { return r.P50 }),
			P90:        med(rs, func(r authFigures) float64 { return r.P90 }),
			P99:        med(rs, func(r authFigures) float64 { return r.P99 }),
			Max:        med(rs, func(r authFigures) float64 { return r.Max }),
			CPU:        med(rs, func(r authFigures) float64 { return r.CPU }),
			Cores:      med(rs, func(r authFigures) float64 { return r.Cores }),
			Fdatasyncs: med(rs, func(r authFigures) float64 { return r.Fdatasyncs }),
			DiskKB:     med(rs, func(r authFigures) float64 { return r.DiskKB }),
			FullEcho:   med(rs, func(r authFigures) float64 { return r.FullEcho }),
			EchoCPU:    med(rs, func(r authFigures) float64 { return r.EchoCPU }),
		})
	}
	return out
}

// sweepPlan shares perPoint authorizations of each point among its
// points[i] tokens (the first tokens of the run: each point uses
// tokens 0…points[i]-1, going on with their counters where the last point
// stopped): quotas[i][k] is token k's share at point i, counts[k] all the
// authorizations token k needs over the sweep.
func sweepPlan(points []int, perPoint int) (quotas [][]int, counts []int) {
	most := 0
	for _, c := range points {
		most = max(most, c)
	}
	counts = make([]int, most)
	for _, c := range points {
		q := make([]int, c)
		for k := range q {
			q[k] = perPoint / c
			if k < perPoint%c {
				q[k]++
			}
			counts[k] += q[k]
		}
		quotas = append(quotas, q)
	}
	return quotas, counts
}

// plotSVG draws the throughput–latency curve of a sweep: throughput
// across, p50 and p99 latency up, a point a concurrency (labelled with its
// tokens in flight), and the 20 ms p99 target. Plain SVG, no dependency.
func plotSVG(w io.Writer, rows []authFigures, title string) error {
	rows = append([]authFigures(nil), rows...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Tokens < rows[j].Tokens })
	const width, height, left, right, top, bottom = 720.0, 460.0, 70.0, 30.0, 50.0, 60.0
	maxX, maxY := 1.0, 20.0*1.25
	for _, r := range rows {
		maxX = max(maxX, r.TPS)
		maxY = max(maxY, r.P99)
	}
	maxX, maxY = niceCeil(maxX*1.08), niceCeil(maxY*1.08)
	x := func(v float64) float64 { return left + v/maxX*(width-left-right) }
	y := func(v float64) float64 { return height - bottom - v/maxY*(height-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, xmlEscape(title))
	// Axes and grid.
	for i := 0; i <= 5; i++ {
		vx, vy := maxX*float64(i)/5, maxY*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(vx), y(0), x(vx), y(maxY))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(0), y(vy), x(maxX), y(vy))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(vx), y(0)+18, strconv.FormatFloat(vx, 'f', -1, 64))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x(0)-6, y(vy)+4, strconv.FormatFloat(vy, 'f', -1, 64))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x(0), y(0), x(maxX), y(0))
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x(0), y(0), x(0), y(maxY))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">authorizations per second</text>`+"\n", (left+width-right)/2, height-16)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">latency (ms)</text>`+"\n", (top+height-bottom)/2)
	// The target.
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c00" stroke-dasharray="6 4"/>`+"\n", x(0), y(20), x(maxX), y(20))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#c00">p99 target 20 ms</text>`+"\n", x(maxX)-4, y(20)-5)
	// The curves.
	for _, c := range []struct {
		name, colour string
		v            func(authFigures) float64
	}{{"p50", "#1f77b4", func(r authFigures) float64 { return r.P50 }}, {"p99", "#d62728", func(r authFigures) float64 { return r.P99 }}} {
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.TPS), y(c.v(r))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c.colour, strings.Join(pts, " "))
		for _, r := range rows {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x(r.TPS), y(c.v(r)), c.colour)
			if c.name == "p99" {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%d</text>`+"\n", x(r.TPS), y(c.v(r))-8, r.Tokens)
			}
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="40" fill="#1f77b4">— p50</text><text x="%.0f" y="40" fill="#d62728">— p99 (labels: tokens in flight)</text>`+"\n", left, left+60)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
