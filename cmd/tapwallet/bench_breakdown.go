package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// cpuPart is one part of the platform's CPU in a bench auth --breakdown:
// its name and its CPU per authorization, in µs.
type cpuPart struct {
	Name string  `json:"part"`
	US   float64 `json:"cpu_us_per_auth"`
}

// The parts of a breakdown, as partOf names them.
const (
	partCollector   = "collector (background marking, sweeping)"
	partScheduler   = "scheduler (switching goroutines, netpoll)"
	partCheckpoints = "SQLite checkpoints"
	partClient      = "bench client (the terminals)"
	partJournal     = "journal (appends, fdatasyncs)"
	partLinks       = "links (ISO 8583 framing, TCP)"
	partSwitch      = "switch"
	partTokens      = "token service"
	partIssuer      = "issuer hosts and ledgers"
	partRisk        = "risk engine"
	partOther       = "runtime and other"
)

// writtenBehind names the part of a write-behind by its store's package:
// the party's SQL store of record, written behind its journal.
var writtenBehind = map[string]string{
	"netswitch/sqlstore": "into SQL: the switch's records",
	"ledger/sqlstore":    "into SQL: the issuers' holds",
	"tsp/sqlstore":       "into SQL: the token service's key uses",
	"risk/sqlstore":      "into SQL: the risk engine's counters and decisions",
}

// module is the prefix of the project's own functions in a profile.
const module = "github.com/tapwallet/tapwallet/"

// pkgOf is the package of a function as a profile names it, relative to
// the module for the project's own ("tsp/sqlstore"), "main" for this
// command's, and "" for any other (the runtime, the standard library, the
// dependencies).
func pkgOf(fn string) string {
	if strings.HasPrefix(fn, "main.") {
		return "main"
	}
	rest, ok := strings.CutPrefix(fn, module)
	if !ok {
		return ""
	}
	slash := strings.LastIndexByte(rest, '/')
	if dot := strings.IndexByte(rest[slash+1:], '.'); dot >= 0 {
		return rest[:slash+1+dot]
	}
	return rest
}

// partyOf is the part a package of the project's works for on the
// authorization path, or "" for a package every party uses (the codec,
// the cryptography, the metrics, sqldb …), whose CPU is its caller's.
func partyOf(pkg string) string {
	switch pkg {
	case "risk", "risk/sqlstore":
		return partRisk
	case "tsp", "tsp/sqlstore":
		return partTokens
	case "issuer", "ledger", "ledger/sqlstore":
		return partIssuer
	case "netswitch", "netswitch/sqlstore":
		return partSwitch
	case "journal":
		return partJournal
	case "isolink":
		return partLinks
	case "main":
		return partClient
	}
	return ""
}

// partOf names the part a CPU sample ran for, from its stack (function
// names, the innermost first). A goroutine of a write-behind (journal's
// Behind, or the risk store's flusher) is that party's SQL store of
// record; the journal's own goroutines its appends and syncs; the bench's
// own its client; on a goroutine of the path (a link's reader, writer or
// worker, the switch) the innermost frame of a party's package names the
// part — the token service's check under the switch is the token
// service's, its codec and cryptography with it.
func partOf(stack []string) string {
	root := "" // the outermost of the project's packages: the goroutine's kind
	behind := false
	for _, fn := range stack {
		switch {
		case fn == "runtime.gcBgMarkWorker" || fn == "runtime.bgsweep":
			return partCollector
		case strings.Contains(fn, "sqlite3WalCheckpoint"):
			return partCheckpoints
		case strings.HasPrefix(fn, module+"journal.(*Behind["):
			behind = true
		}
		if p := pkgOf(fn); p != "" {
			root = p
		}
	}
	if behind || root == "risk/sqlstore" {
		for _, fn := range stack {
			if part, ok := writtenBehind[pkgOf(fn)]; ok {
				return part
			}
		}
	}
	switch root {
	case "journal", "main":
		return partyOf(root)
	}
	for _, fn := range stack {
		if part := partyOf(pkgOf(fn)); part != "" {
			return part
		}
	}
	if root == "" && len(stack) > 0 && stack[len(stack)-1] == "runtime.mcall" {
		return partScheduler
	}
	return partOther
}

// breakdown reads a CPU profile and gives each part's CPU per
// authorization over auths, the largest first, and the profile's total.
func breakdown(r io.Reader, auths int) ([]cpuPart, float64, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, 0, fmt.Errorf("reading the CPU profile: %w", err)
	}
	cpu := -1 // the sample value in nanoseconds of CPU
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, 0, fmt.Errorf("the CPU profile has no cpu/nanoseconds values")
	}
	ns := map[string]int64{}
	var total int64
	var stack []string
	for _, s := range p.Sample {
		stack = stack[:0]
		for _, loc := range s.Location {
			// A location's lines go innermost first: inlined calls before the function they are in.
			for _, l := range loc.Line {
				if l.Function != nil {
					stack = append(stack, l.Function.Name)
				}
			}
		}
		ns[partOf(stack)] += s.Value[cpu]
		total += s.Value[cpu]
	}
	perAuth := func(v int64) float64 { return round2(float64(v) / 1e3 / float64(max(auths, 1))) }
	parts := make([]cpuPart, 0, len(ns))
	for name, v := range ns {
		parts = append(parts, cpuPart{Name: name, US: perAuth(v)})
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].US != parts[j].US {
			return parts[i].US > parts[j].US
		}
		return parts[i].Name < parts[j].Name
	})
	return parts, perAuth(total), nil
}

// printBreakdown writes a breakdown's table: a part a line.
func printBreakdown(w io.Writer, parts []cpuPart, total, rusage float64) {
	fmt.Fprintf(w, "\nwhere the CPU went (a CPU profile of the path's run, µs an authorization; the profile's %.1f against getrusage's %.1f):\n", total, rusage)
	for _, p := range parts {
		fmt.Fprintf(w, "  %-52s %7.1f  %5.1f %%\n", p.Name, p.US, 100*p.US/max(total, 1e-9))
	}
}
