package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/applet/applettest"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
)

func init() {
	registerBench("tap", "payment taps in process (phone applet + terminal kernel over the NFC framing on loopback): [--count N] [--json]", benchTap)
}

// tapFigures is the last line of `bench tap --json`.
type tapFigures struct {
	Taps   int     `json:"taps"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
	Bytes  int     `json:"bytes"`
	APDUs  int     `json:"apdus"`
	Air    float64 `json:"air_ms"`
	WallMS float64 `json:"wall_p50_ms"`
	CPU    float64 `json:"cpu_us_per_tap"`
}

const benchTapUsage = `Usage: tapwallet bench tap [--count N] [--json]

Payment taps in process: the phone's payment applet and the terminal's
kernel over the NFC framing on loopback, one limited-use key per tap. Prints
the latency percentiles, the bytes and APDUs of a tap and its estimated air
time at 106 kbit/s; --json ends with one JSON object on the last line:
{"taps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "bytes", "apdus", "air_ms",
"wall_p50_ms", "cpu_us_per_tap"} — the last the whole process's user+system
CPU (phone, terminal and link, getrusage(2)) over the taps, per tap.`

func benchTap(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench tap", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, benchTapUsage)
	count := fs.Int("count", 200, "number of taps")
	asJSON := fs.Bool("json", false, "end with one JSON object on the last line")
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	progress := newProgress(e.stderr) // on a terminal only
	if *count < 1 || *count > 65000 {
		return usage("--count must be 1 to 65000 (one limited-use key and counter value per tap)")
	}
	dir, err := os.MkdirTemp("", "tapwallet-bench-tap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The bench phone gets its keys straight into its secure element (one
	// per tap), derived from the test issuer master key.
	ph, err := applettest.NewPhone(dir, *count, applettest.DebitCard())
	if err != nil {
		return err
	}
	ph.Finger.OK, ph.Finger.Sticky = true, true
	k, err := kernel.New(kernel.DefaultConfig())
	if err != nil {
		return err
	}
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.stdout, "bench tap: %d payment taps, phone and terminal in process over the vpcd framing on %s\n", *count, l.Addr())
	compute := make([]time.Duration, 0, *count)
	wall := make([]time.Duration, 0, *count)
	var last kernel.Stats
	step := max(*count/10, 1)
	cpu0 := processCPU()
	for i := 0; i < *count; i++ {
		start := time.Now()
		served := make(chan error, 1)
		go func() { served <- nfc.DialAndServe(ctx, l.Addr().String(), ph.Card, nfc.Config{}) }()
		r, err := l.Accept(ctx)
		if err != nil {
			return err
		}
		res, err := k.Run(ctx, r, kernel.Transaction{Amount: money.Fen(1234)})
		r.Close()
		if serr := <-served; err == nil && serr != nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("tap %d: %w", i+1, err)
		}
		if res.Outcome != kernel.Online {
			return fmt.Errorf("tap %d: %s, want an online cryptogram", i+1, res.Outcome)
		}
		wall = append(wall, time.Since(start))
		compute = append(compute, res.Stats.Compute)
		last = res.Stats
		if (i+1)%step == 0 && i+1 < *count {
			progress.show("%d/%d taps", i+1, *count)
		}
	}
	cpu := processCPU() - cpu0
	progress.clear()
	sort.Slice(compute, func(i, j int) bool { return compute[i] < compute[j] })
	sort.Slice(wall, func(i, j int) bool { return wall[i] < wall[j] })
	f := tapFigures{Taps: *count, P50: pct(compute, 50), P90: pct(compute, 90), P99: pct(compute, 99),
		Max: round3(msOf(compute[len(compute)-1])), Bytes: last.Bytes(), APDUs: last.APDUs, Air: round3(msOf(last.Air)), WallMS: pct(wall, 50),
		CPU: round3(float64(cpu.Nanoseconds()) / 1e3 / float64(*count))}
	fmt.Fprintf(e.stdout, "%-34s %10s\n", "", "ms")
	fmt.Fprintf(e.stdout, "%-34s %10.3f\n", "phone compute per tap, p50", f.P50)
	fmt.Fprintf(e.stdout, "%-34s %10.3f\n", "phone compute per tap, p90", f.P90)
	fmt.Fprintf(e.stdout, "%-34s %10.3f\n", "phone compute per tap, p99", f.P99)
	fmt.Fprintf(e.stdout, "%-34s %10.3f\n", "phone compute per tap, max", f.Max)
	fmt.Fprintf(e.stdout, "%-34s %10.3f\n", "whole tap on loopback, p50", f.WallMS)
	fmt.Fprintf(e.stdout, "%-34s %10.1f   (µs, phone + terminal + link)\n", "CPU per tap", f.CPU)
	fmt.Fprintf(e.stdout, "%-34s %10.3f   (%d APDUs, %d bytes, ISO 14443 at 106 kbit/s)\n", "estimated air time per tap", f.Air, f.APDUs, f.Bytes)
	fmt.Fprintf(e.stdout, "%-34s %10.3f   of the 500 ms a contactless payment may take\n", "air + compute p99", round3(f.Air+f.P99))
	if *asJSON {
		b, _ := json.Marshal(f)
		fmt.Fprintln(e.stdout, string(b))
	}
	return nil
}

// pct returns the p-th percentile (nearest rank) of sorted durations in ms.
func pct(sorted []time.Duration, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return round3(msOf(sorted[i-1]))
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
