// Command tapwallet runs every party of the tapwallet payment system: the
// platform (wallet service, token service, card network, issuers, portal),
// the phone, the store terminal, transit gates, and the tools around them.
package main

import (
	"context"
	"errors"
	"flag"
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
// For a flag set's flag.ErrHelp (the help was asked for and printed) it
// returns flag.ErrHelp, which run turns into exit status 0.
func usage(format string, args ...any) error {
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
	}
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	oneMoreProc(os.Getenv)
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
	switch {
	case len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		if len(args) > 1 && args[0] == "help" { // tapwallet help COMMAND… is tapwallet COMMAND… -h
			return run(ctx, append(append([]string{}, args[1:]...), "-h"), getenv, stdin, stdout, stderr)
		}
		printHelp(stdout)
		return nil
	case args[0] == "--version" || args[0] == "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	c, ok := commands[args[0]]
	if !ok {
		printHelp(stderr)
		return usage("unknown command %q", args[0])
	}
	var err error
	if wantsHelp(args[1:]) {
		err = runHelp(ctx, c, e, args[1:])
	} else {
		err = c.run(ctx, e, args[1:])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the command printed its help, as asked
	}
	return err
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "tapwallet — a tokenized NFC phone-wallet payment system, every party of it.")
	fmt.Fprintln(w, "\nUsage: tapwallet COMMAND [SUBCOMMAND] [flags] [ARGS]\n       tapwallet --version\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nFlags:\n  -h, --help  this help (and 'tapwallet COMMAND [SUBCOMMAND] -h' a command's, on standard output)\n  --version   the version, commit and Go version (as 'tapwallet version')")
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
