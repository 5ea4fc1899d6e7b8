package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

func init() {
	register("gate", "a transit gate: gate --city CITY --line LINE --station STATION --mode metro|bus --listen HOST:PORT", runGate)
}

const gateUsage = `Usage: tapwallet gate --city CITY --line LINE --station STATION --mode metro|bus --listen HOST:PORT [flags]

A metro gate or bus validator with its own secure access module, offline:
phones tap it in express mode (tapwallet phone tap --reader HOST:PORT). Each
tap prints its outcome, the fare, the card's balance, the compute time and
the estimated air time at 106 kbit/s. Transactions are journalled in the
data folder and uploaded to the operator in clearing files when --server is
given, which also brings the hot list (blocked cards) and the fare table.

The SAM is loaded from the gate's own key file (--keys), which holds only
its city's purchase and maintenance keys: make it where the platform's keys
are, with 'tapwallet keys export --role gate --city CITY --out FILE', and
copy it to the gate (mode 0600). The platform's whole key file is refused.

Flags:`

func runGate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cityID := fs.String("city", envDefault(e, "gate_city", ""), "city: "+joinIDs()+" [TAPWALLET_GATE_CITY]")
	lineID := fs.String("line", envDefault(e, "gate_line", ""), "line id or code, e.g. L2 or B71 [TAPWALLET_GATE_LINE]")
	stationID := fs.String("station", envDefault(e, "gate_station", ""), "station id or code, e.g. peoples-square [TAPWALLET_GATE_STATION]")
	mode := fs.String("mode", envDefault(e, "gate_mode", ""), "metro or bus (must be the line's) [TAPWALLET_GATE_MODE]")
	listen := fs.String("listen", envDefault(e, "gate_listen", ""), "NFC link address the phones dial, HOST:PORT [TAPWALLET_GATE_LISTEN]")
	dataDir := fs.String("data", envDefault(e, "gate_data", ""), "gate data folder (journal); default ./tapwallet-gate-CITY-STATION [TAPWALLET_GATE_DATA]")
	keysPath := fs.String("keys", envDefault(e, "gate_keys", ""), "the gate's key file, from: tapwallet keys export --role gate --city CITY --out FILE [TAPWALLET_GATE_KEYS]")
	server := fs.String("server", envDefault(e, "server", ""), "the platform URL for clearing uploads, hot list and fares [TAPWALLET_SERVER]")
	direction := fs.String("direction", "auto", "metro gates: in, out or auto (entry if not inside, else exit)")
	device := fs.Uint("device", 1, "the gate's number at its station (1 to 65535)")
	every := fs.Duration("upload-every", 30*time.Second, "how often to upload records and fetch the hot list")
	count := fs.Int("count", 0, "stop after this many taps (0: run until interrupted)")
	fs.Usage = func() { fmt.Fprintln(e.stderr, gateUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if *cityID == "" || *lineID == "" || *stationID == "" || *listen == "" {
		fs.Usage()
		return usage("gate needs --city, --line, --station and --listen")
	}
	table := fare.Default()
	city, err := table.City(*cityID)
	if err != nil {
		return usage("%v", err)
	}
	line, err := city.Line(*lineID)
	if err != nil {
		return usage("%v", err)
	}
	st, err := line.Station(*stationID)
	if err != nil {
		return usage("%v", err)
	}
	if *mode != "" && *mode != string(line.Mode) {
		return usage("--mode %s, but %s is a %s line", *mode, line.Name, line.Mode)
	}
	dir := gate.Direction(*direction)
	if dir != gate.Auto && dir != gate.In && dir != gate.Out {
		return usage("--direction must be in, out or auto")
	}
	if *device == 0 || *device > 0xFFFF {
		return usage("--device must be 1 to 65535")
	}
	if *keysPath == "" {
		return usage("gate needs --keys FILE: the gate's key file, made on the platform with: tapwallet keys export --role gate --city %s --out FILE", city.ID)
	}
	if _, err := os.Stat(*keysPath); err != nil {
		return usage("--keys %s: the gate's key file is needed to load the SAM (%v); make it on the platform with: tapwallet keys export --role gate --city %s --out FILE", *keysPath, errors.Unwrap(err), city.ID)
	}
	// The gate's own key file: its city's purchase and maintenance keys,
	// nothing of the vault or the network (the platform's keys.json is refused).
	keys, err := keystore.OpenParty(*keysPath)
	if err != nil {
		return err
	}
	if keys.Role() != "gate" || keys.Scope() != city.ID {
		return usage("--keys %s holds the keys of a %s of %s, not of a gate of %s", *keysPath, keys.Role(), keys.Scope(), city.ID)
	}
	mk, err := transit.GateKeys(keys, city.ID)
	if err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = "./tapwallet-gate-" + city.ID + "-" + st.ID
	}
	j, err := gate.OpenJournal(*dataDir)
	if err != nil {
		return err
	}
	defer j.Close()
	// The SAM gets only what a gate may hold: the purchase and maintenance keys.
	s, err := sam.New(epurse.Alg(city), epurse.MasterKeys{Purchase: mk.Purchase, Maintenance: mk.Maintenance}, gate.TerminalOf(line, st, uint16(*device)), j)
	if err != nil {
		return err
	}
	hot := gate.NewHotList(0, nil)
	var op *gate.Operator
	if *server != "" {
		op = &gate.Operator{URL: *server, City: city.ID}
		if ft, err := op.FareTable(ctx); err == nil {
			saveJSON(filepath.Join(*dataDir, "fares.json"), ft)
			if ft.Version > table.Version {
				if c, err := cityFromTable(ft); err == nil {
					city = c
					if line, err = city.Line(line.ID); err != nil {
						return err
					}
					if st, err = line.Station(st.ID); err != nil {
						return err
					}
				}
			}
			fmt.Fprintf(e.stdout, "fare table version %d\n", ft.Version)
		} else {
			fmt.Fprintf(e.stderr, "gate: no fare table from the operator (%v); using the built-in one\n", err)
		}
	}
	g, err := gate.New(gate.Config{City: city, Line: line, Station: st, Direction: dir, Device: uint16(*device), SAM: s, Journal: j, HotList: hot})
	if err != nil {
		return err
	}
	ln, err := nfc.Listen(*listen, nfc.Config{})
	if err != nil {
		return err
	}
	defer ln.Close()
	term := s.Terminal()
	fmt.Fprintf(e.stdout, "gate %x: %s %s, %s (%s, %s) listening on %s\n", term[:], city.Name, line.Name, st.Name, line.Mode, dir, ln.Addr())
	sync := func() {
		if op == nil {
			return
		}
		if h, err := op.HotList(ctx); err == nil {
			if h.Version != hot.Version() {
				hot.Set(h.Version, h.Cards)
				fmt.Fprintf(e.stdout, "hot list version %d: %d card(s)\n", h.Version, len(h.Cards))
			}
		} else {
			fmt.Fprintf(e.stderr, "gate: hot list: %v\n", err)
		}
		if _, err := g.Sweep(10 * time.Minute); err != nil {
			fmt.Fprintf(e.stderr, "gate: sweep: %v\n", err)
		}
		n, rcs, err := g.Upload(ctx, op, 500)
		if err != nil {
			fmt.Fprintf(e.stderr, "gate: upload: %v (kept for the next try)\n", err)
		}
		for _, rc := range rcs {
			fmt.Fprintf(e.stdout, "uploaded %s: %d record(s), %d accepted (%s)\n", rc.FileID, rc.Records, rc.Accepted, money.Fen(rc.Amount))
		}
		_ = n
	}
	sync()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sync()
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	for n := 1; *count == 0 || n <= *count; n++ {
		r, err := ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		o, err := g.Tap(ctx, r)
		r.Close()
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, describeTap(n, o))
	}
	sync()
	return nil
}

func describeTap(n int, o gate.Outcome) string {
	opens := "gate shut"
	if o.Result.Opens() {
		opens = "gate opens"
	}
	card := o.Card
	if len(card) == 16 {
		card = card[:4] + "…" + card[12:]
	}
	compute := o.Elapsed - o.Link
	if compute < 0 {
		compute = 0
	}
	return fmt.Sprintf("tap %d: %s, %s — %s [card %s, %d APDUs, %d bytes, tap %.2f ms (gate and SAM %.2f ms), air %.1f ms]",
		n, o.Result, opens, o.Message, card, o.Exchanges, o.Bytes, ms(o.Elapsed), ms(compute), ms(o.Air))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func joinIDs() string {
	s := ""
	for i, id := range fare.Default().IDs() {
		if i > 0 {
			s += ", "
		}
		s += id
	}
	return s
}

func saveJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		os.WriteFile(path, b, 0o600)
	}
}

// cityFromTable reads a city from a fetched fare table.
func cityFromTable(ft transit.FareTable) (*fare.City, error) {
	b := []byte(`{"version":` + strconv.Itoa(ft.Version) + `,"cities":[` + string(ft.Rules) + `]}`)
	t, err := fare.Parse(b)
	if err != nil {
		return nil, err
	}
	return t.City(ft.City)
}
