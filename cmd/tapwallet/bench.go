package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	register("bench", "measure the system: bench tap | auth | gate", runBench)
	registerSubs("bench", func() []string { return sortedKeys(benchCommands) })
}

// benchCommands are the benchmarks; each lives in its own file
// (bench_tap.go, bench_auth.go, bench_gate.go) and registers itself.
var benchCommands = map[string]command{}

func registerBench(name, summary string, run func(ctx context.Context, e *env, args []string) error) {
	benchCommands[name] = command{summary: summary, run: run}
}

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, "Usage: tapwallet bench NAME [flags]\n\nMeasures the system and prints the figures; --json ends with one JSON\nobject. 'tapwallet bench NAME -h' shows a benchmark's flags.\n\nBenchmarks:")
		for _, n := range sortedKeys(benchCommands) {
			fmt.Fprintf(e.stderr, "  %-6s %s\n", n, benchCommands[n].summary)
		}
		if len(args) == 0 {
			return usage("bench: a benchmark name is needed")
		}
		return nil
	}
	c, ok := benchCommands[args[0]]
	if !ok {
		return usage("bench: unknown benchmark %q", args[0])
	}
	return c.run(ctx, e, args[1:])
}

// progress shows one line of progress, rewritten in place (a carriage
// return and the erase-line escape) when its writer is a terminal; written
// elsewhere (a file, a pipe, a test's buffer) it writes nothing, so that a
// redirected log holds no carriage returns or escape codes.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) *progress { return &progress{w: w, tty: isTerminal(w)} }

// show replaces the progress line.
func (p *progress) show(format string, args ...any) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	}
}

// clear erases the progress line.
func (p *progress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
