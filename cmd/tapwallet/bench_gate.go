package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/transit"
)

func init() {
	registerBench("gate", "transit gate taps in process (phone purse + gate + SAM over the NFC framing on loopback): [--count N] [--city CITY] [--json]", benchGate)
}

// gateFigures is the last line of `bench gate --json`: p50/p99 are the
// whole tap as the gate sees it (phone and gate compute, loopback link);
// gate_* the gate and its SAM alone.
type gateFigures struct {
	Taps    int     `json:"taps"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	GateP50 float64 `json:"gate_p50_ms"`
	GateP99 float64 `json:"gate_p99_ms"`
	Bytes   int     `json:"bytes"`
	APDUs   int     `json:"apdus"`
	Air     float64 `json:"air_ms"`
	CPU     float64 `json:"cpu_us_per_tap"`
}

const benchGateUsage = `Usage: tapwallet bench gate [--count N] [--city CITY] [--json]

Transit gate taps in process: the phone's purse, a gate and its SAM over
the NFC framing on loopback, entries and exits alternating. Prints the
latency percentiles, the bytes and APDUs of a tap and its estimated air
time, and the whole process's CPU per tap (cpu_us_per_tap); --json ends
with one JSON object on the last line.`

func benchGate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench gate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, benchGateUsage)
	count := fs.Int("count", 200, "number of taps (entries and exits alternating)")
	cityID := fs.String("city", "shanghai", "city (shenzhen and wuhan use SM4)")
	asJSON := fs.Bool("json", false, "end with one JSON object on the last line")
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	progress := newProgress(e.stderr) // on a terminal only
	if *count < 1 || *count > 60000 {
		return usage("--count must be 1 to 60000")
	}
	city, err := fare.Default().City(*cityID)
	if err != nil {
		return usage("%v", err)
	}
	var metro *fare.Line
	for _, l := range city.Lines {
		if l.Mode == fare.Metro {
			metro = l
			break
		}
	}
	dir, err := os.MkdirTemp("", "tapwallet-bench-gate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keys, err := keystore.OpenFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		return err
	}
	mk, err := transit.MasterKeys(keys, city.ID)
	if err != nil {
		return err
	}
	now := time.Date(2016, 4, 6, 8, 0, 0, 0, epurse.China)
	clock := func() time.Time { return now }
	mkGate := func(st *fare.Station, name string) (*gate.Gate, error) {
		j, err := gate.OpenJournal(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		s, err := sam.New(epurse.Alg(city), epurse.MasterKeys{Purchase: mk.Purchase, Maintenance: mk.Maintenance}, gate.TerminalOf(metro, st, 1), j)
		if err != nil {
			return nil, err
		}
		return gate.New(gate.Config{City: city, Line: metro, Station: st, Device: 1, SAM: s, Journal: j, Now: clock})
	}
	in, err := mkGate(metro.Stations[0], "gate-in")
	if err != nil {
		return err
	}
	out, err := mkGate(metro.Stations[len(metro.Stations)-1], "gate-out")
	if err != nil {
		return err
	}
	// The bench phone: a secure element in a file, its purse personalised
	// straight from the operator's master keys, as the operator would.
	el, err := se.Open(filepath.Join(dir, "phone", "secure-element.json"))
	if err != nil {
		return err
	}
	serial := uint64(0)
	var card *applet.Dispatcher
	fresh := func() error {
		serial++
		p, err := epurse.NewPersonalisation(city, mk, epurse.NewCardNumber(city.AreaCode, serial), now)
		if err != nil {
			return err
		}
		p.Balance = city.Product.BalanceCap
		purse, err := epurse.Install(el, p)
		if err != nil {
			return err
		}
		card = applet.NewDispatcher(purse)
		return nil
	}
	if err := fresh(); err != nil {
		return err
	}
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.stdout, "bench gate: %d taps at %s %s gates (%s), phone and gates in process over the vpcd framing on %s\n",
		*count, city.Name, metro.Name, epurse.Alg(city), l.Addr())
	whole := make([]time.Duration, 0, *count)
	own := make([]time.Duration, 0, *count)
	var last gate.Outcome
	step := max(*count/10, 1)
	cpu0 := processCPU()
	for i := 0; i < *count; i++ {
		g := in
		if i%2 == 1 {
			g = out
		}
		now = now.Add(20 * time.Minute)
		served := make(chan error, 1)
		go func() { served <- nfc.DialAndServe(ctx, l.Addr().String(), card, nfc.Config{}) }()
		r, err := l.Accept(ctx)
		if err != nil {
			return err
		}
		o, err := g.Tap(ctx, r)
		r.Close()
		if serr := <-served; err == nil && serr != nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("tap %d: %w", i+1, err)
		}
		if !o.Result.Opens() {
			if o.Result == gate.LowBalance {
				if err := fresh(); err != nil {
					return err
				}
				i--
				continue
			}
			return fmt.Errorf("tap %d: %s (%s)", i+1, o.Result, o.Message)
		}
		whole = append(whole, o.Elapsed)
		own = append(own, max(o.Elapsed-o.Link, 0))
		last = o
		if (i+1)%step == 0 && i+1 < *count {
			progress.show("%d/%d taps", i+1, *count)
		}
	}
	cpu := processCPU() - cpu0
	progress.clear()
	sort.Slice(whole, func(i, j int) bool { return whole[i] < whole[j] })
	sort.Slice(own, func(i, j int) bool { return own[i] < own[j] })
	f := gateFigures{Taps: *count, P50: pct(whole, 50), P90: pct(whole, 90), P99: pct(whole, 99), Max: round3(msOf(whole[len(whole)-1])),
		GateP50: pct(own, 50), GateP99: pct(own, 99), Bytes: last.Bytes, APDUs: last.Exchanges, Air: round3(msOf(last.Air)),
		CPU: round3(float64(cpu.Nanoseconds()) / 1e3 / float64(*count))}
	fmt.Fprintf(e.stdout, "%-38s %10s\n", "", "ms")
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "tap compute (phone + gate + SAM), p50", f.P50)
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "tap compute, p90", f.P90)
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "tap compute, p99", f.P99)
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "tap compute, max", f.Max)
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "gate and SAM alone, p50", f.GateP50)
	fmt.Fprintf(e.stdout, "%-38s %10.3f\n", "gate and SAM alone, p99", f.GateP99)
	fmt.Fprintf(e.stdout, "%-38s %10.1f   (µs, phone + gates + SAMs + link, reissued purses included)\n", "CPU per tap", f.CPU)
	fmt.Fprintf(e.stdout, "%-38s %10.3f   (%d APDUs, %d bytes, ISO 14443 at 106 kbit/s)\n", "estimated air time per tap", f.Air, f.APDUs, f.Bytes)
	fmt.Fprintf(e.stdout, "%-38s %10.3f   of the 300 ms a gate allows (target 100)\n", "air + compute p99", round3(f.Air+f.P99))
	if *asJSON {
		b, _ := json.Marshal(f)
		fmt.Fprintln(e.stdout, string(b))
	}
	return nil
}
