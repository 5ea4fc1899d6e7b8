// Command tapwallet runs every party of the tapwallet payment system: the
// platform (wallet service, token service, card network, issuers, portal),
// the phone, the store terminal, transit gates, and the tools around them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// env is what a subcommand gets from the outside world, so that tests can
// run the real program with their own arguments, environment and streams.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand: its one-line summary and its entry point.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists the subcommands; each lives in its own file.
var commands = map[string]command{}

// register adds a subcommand; called from each subcommand's file.
func register(name, summary string, run func(ctx context.Context, e *env, args []string) error) {
	commands[name] = command{summary: summary, run: run}
}

// exitError carries a process exit code through run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usage returns an error that exits with code 2 (bad input or usage).
func usage(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tapwallet:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		printHelp(stderr)
		return usage("unknown command %q", args[0])
	}
	return c.run(ctx, e, args[1:])
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "tapwallet — a tokenized NFC phone-wallet payment system, every party of it.")
	fmt.Fprintln(w, "\nUsage: tapwallet COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'tapwallet COMMAND -h' for a command's flags.")
}

// envDefault returns the TAPWALLET_<name> environment value or def, so that
// flags (parsed after) override the environment.
func envDefault(e *env, name, def string) string {
	if v := e.getenv("TAPWALLET_" + strings.ToUpper(name)); v != "" {
		return v
	}
	return def
}

// platformData refuses a data folder that holds no platform (no key
// file): only serve starts one, so a mistyped --data must not make a new
// world of keys, databases and empty reports.
func platformData(flag, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "keys.json")); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", flag, dir, err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return usage("%s %s: no such folder; give the platform's data folder (the one 'tapwallet serve --data DIR' runs on)", flag, dir)
	}
	return usage("%s %s: no platform here (no keys.json); give the platform's data folder (the one 'tapwallet serve --data DIR' runs on)", flag, dir)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
