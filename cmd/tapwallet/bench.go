package main

import (
	"context"
	"fmt"
)

func init() {
	register("bench", "measure the system: bench tap | auth | gate", runBench)
}

// benchCommands are the benchmarks; each lives in its own file
// (bench_tap.go, bench_auth.go, bench_gate.go) and registers itself.
var benchCommands = map[string]command{}

func registerBench(name, summary string, run func(ctx context.Context, e *env, args []string) error) {
	benchCommands[name] = command{summary: summary, run: run}
}

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, "Usage: tapwallet bench NAME [flags]\n\nBenchmarks:")
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
