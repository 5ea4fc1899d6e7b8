package main

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSweep(t *testing.T) {
	got, err := parseSweep("16, 32,64,128")
	if err != nil || len(got) != 4 || got[0] != 16 || got[3] != 128 {
		t.Fatalf("parseSweep: %v %v", got, err)
	}
	for _, bad := range []string{"", "16,,32", "0", "4001", "x", "16,16"} {
		if _, err := parseSweep(bad); err == nil {
			t.Errorf("parseSweep(%q) accepted", bad)
		}
	}
}

// TestSweepPlan: each point's quotas add up to its authorizations, and
// each token's count is its shares over the points it takes part in.
func TestSweepPlan(t *testing.T) {
	points := []int{4, 2, 3}
	quotas, counts := sweepPlan(points, 10)
	if len(counts) != 4 {
		t.Fatalf("counts %v, want 4 tokens", counts)
	}
	want := make([]int, 4)
	for i, q := range quotas {
		sum := 0
		for k, n := range q {
			sum += n
			want[k] += n
		}
		if len(q) != points[i] || sum != 10 {
			t.Errorf("point %d: quotas %v, want %d tokens sharing 10", i, q, points[i])
		}
	}
	for k := range want {
		if counts[k] != want[k] {
			t.Errorf("token %d needs %d, planned %d", k, want[k], counts[k])
		}
	}
}

// TestMedians: repeated points are summarised per concurrency, in their
// first order, by the median of each figure.
func TestMedians(t *testing.T) {
	if got := repeatPoints([]int{16, 32}, 3); len(got) != 6 || got[2] != 16 || got[5] != 32 {
		t.Fatalf("repeatPoints: %v", got)
	}
	rows := []authFigures{{Tokens: 32, TPS: 100, P99: 50}, {Tokens: 16, TPS: 10, P99: 5}, {Tokens: 32, TPS: 300, P99: 10},
		{Tokens: 16, TPS: 30, P99: 9}, {Tokens: 32, TPS: 200, P99: 90}, {Tokens: 16, TPS: 20, P99: 7}}
	m := medians(rows)
	if len(m) != 2 || m[0].Tokens != 32 || m[0].TPS != 200 || m[0].P99 != 50 || m[1].Tokens != 16 || m[1].TPS != 20 || m[1].P99 != 7 {
		t.Errorf("medians: %+v", m)
	}
	if m := medians(rows[:2]); m[0].TPS != 100 {
		t.Errorf("one row a point: %+v", m)
	}
	if m := medians([]authFigures{{Tokens: 8, TPS: 1}, {Tokens: 8, TPS: 3}}); m[0].TPS != 2 {
		t.Errorf("two rows: median %v, want 2", m[0].TPS)
	}
}

// TestPlotSVG: the plot is well-formed SVG with a p50 and a p99 curve, a
// label per concurrency and the 20 ms target.
func TestPlotSVG(t *testing.T) {
	var b strings.Builder
	rows := []authFigures{{Tokens: 64, TPS: 5200, P50: 9, P99: 31}, {Tokens: 16, TPS: 3100, P50: 4, P99: 12}, {Tokens: 32, TPS: 4500, P50: 6, P99: 18}}
	if err := plotSVG(&b, rows, "a <title> & more"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
	}
	if n := strings.Count(out, "<polyline"); n != 2 {
		t.Errorf("%d curves, want 2 (p50, p99)", n)
	}
	for _, s := range []string{">16<", ">32<", ">64<", "p99 target 20 ms", "authorizations per second", "&lt;title&gt; &amp; more"} {
		if !strings.Contains(out, s) {
			t.Errorf("the plot has no %q", s)
		}
	}
}

// TestBenchAuthSweep runs a small sweep twice end to end: a row per point,
// each with CPU per authorization, fdatasyncs and the echo's figures, in
// the table and the JSON, the medians per concurrency, and the plot.
func TestBenchAuthSweep(t *testing.T) {
	plot := filepath.Join(t.TempDir(), "sweep.svg")
	out, errOut, err := runCLI(t, nil, "bench", "auth", "--count", "200", "--sweep", "4,8", "--rounds", "2", "--conns", "2", "--plot", plot, "--json")
	if err != nil {
		t.Fatalf("bench auth: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f authFigures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("the last line is not JSON: %q", lines[len(lines)-1])
	}
	if len(f.Sweep) != 4 || f.Sweep[0].Tokens != 4 || f.Sweep[1].Tokens != 8 || f.Sweep[2].Tokens != 4 || f.Tokens != 8 {
		t.Fatalf("sweep %+v, want points 4, 8, 4, 8", f.Sweep)
	}
	if len(f.Medians) != 2 || f.Medians[0].Tokens != 4 || f.Medians[1].TPS <= 0 || !strings.Contains(out, "medians over 2 rounds") {
		t.Errorf("medians %+v, want one per concurrency, printed", f.Medians)
	}
	for _, r := range f.Sweep {
		if r.Approved != 200 || r.Errors != 0 || r.CPU <= 0 || r.Fdatasyncs <= 0 || r.BaselineTPS <= 0 || r.EchoCPU <= 0 || r.FullEcho <= 0 || r.FullEcho >= 1 || r.Cores <= 0 {
			t.Errorf("point %d: %+v, want 200 approved, CPU, cores, fdatasyncs, echo figures and 0 < full/echo < 1", r.Tokens, r)
		}
	}
	if !strings.Contains(out, "800 holds pending = approved") {
		t.Errorf("the holds of the two points do not match their approvals:\n%s", out)
	}
	b, err := os.ReadFile(plot)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), ">8<") {
		t.Errorf("plot: %v %.200q", err, b)
	}
}
