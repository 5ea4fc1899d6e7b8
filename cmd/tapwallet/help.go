package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/term"
)

// Help conventions: -h, -help or --help anywhere on a command line (before
// a "--") asks for the help of the command or subcommand it follows. The
// help is the answer, so it goes to standard output and the exit status is
// 0; a mistake on the command line still goes to standard error with exit
// status 2.

// wantsHelp reports whether args ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--h", "-help", "--help":
			return true
		}
	}
	return false
}

// runHelp runs a command whose arguments ask for help. Each command prints
// its help on its flag set's output (its standard error) and ends with
// flag.ErrHelp; here that help becomes the answer on standard output. What
// the command writes is held until it ends, so that a real error (say, a
// bad environment variable read before the flags) still goes to standard
// error.
func runHelp(ctx context.Context, c command, e *env, args []string) error {
	var held bytes.Buffer
	he := *e
	he.stderr = &held
	err := c.run(ctx, &he, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		_, werr := held.WriteTo(e.stdout)
		return werr
	}
	held.WriteTo(e.stderr)
	return err
}

// helpUsage returns a flag set's Usage: the command's help text (usage
// line and description), then its flags.
func helpUsage(e *env, fs *flag.FlagSet, text string) func() {
	return func() {
		fmt.Fprintf(e.stderr, "%s\n\nFlags:\n", strings.TrimRight(text, "\n"))
		fs.PrintDefaults()
	}
}

// subcommands names the subcommands of each command (and subcommand) that
// has them, by the path of words after "tapwallet". The help test and the
// completion scripts walk this tree. A command's file declares its own with
// registerSubs; the commands listed here do not yet, and their owners keep
// the lists true (TestHelpListsEverySubcommand compares them with their
// help).
var subcommands = map[string]func() []string{
	"keys": func() []string { return []string{"export", "import", "init", "kcv", "list", "rotate"} },
	"emv": func() []string {
		return []string{"arpc", "arqc", "cvv", "dcvv", "decode", "derive-mk", "derive-sk", "icvv", "kcv", "mac", "pinblock", "tlv"}
	},
	"emv pinblock": func() []string { return []string{"decode", "encode"} },
}

// registerSubs declares the subcommands of a command path (e.g. "pos"),
// replacing any entry above; a command's file may call it from its init so
// that the list lives beside the dispatch.
func registerSubs(path string, names func() []string) { subcommands[path] = names }

// subsOf returns the subcommands of path ("" for the top level), sorted.
func subsOf(path string) []string {
	if path == "" {
		return sortedKeys(commands)
	}
	if f, ok := subcommands[path]; ok {
		out := append([]string(nil), f()...)
		sort.Strings(out)
		return out
	}
	return nil
}

// commandPaths returns every command and subcommand, as paths of words,
// depth first in name order.
func commandPaths() []string {
	var out []string
	var walk func(path string)
	walk = func(path string) {
		for _, s := range subsOf(path) {
			p := strings.TrimSpace(path + " " + s)
			out = append(out, p)
			walk(p)
		}
	}
	walk("")
	return out
}

// helpOf returns the help of a command path as `tapwallet PATH -h` prints it.
func helpOf(ctx context.Context, path string) (string, error) {
	var out, errb bytes.Buffer
	args := append(strings.Fields(path), "-h")
	err := run(ctx, args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if err != nil {
		return "", fmt.Errorf("tapwallet %s -h: %w (%s)", path, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// defaultsFlag matches a flag line of flag.PrintDefaults ("  -name value").
var defaultsFlag = regexp.MustCompile(`(?m)^ {1,4}--?([A-Za-z0-9][A-Za-z0-9_-]*)\b`)

// mentionedFlag matches a flag named in help prose ("--name").
var mentionedFlag = regexp.MustCompile(`(?:^|[\s\[(|])--([a-z0-9][a-z0-9-]*)`)

// flagsInHelp returns the flags a help text lists, as "--name", sorted:
// those of its flag table (flag.PrintDefaults) or, for the help of a leaf
// command without one, those its text names.
func flagsInHelp(help string, leaf bool) []string {
	seen := map[string]bool{}
	for _, m := range defaultsFlag.FindAllStringSubmatch(help, -1) {
		seen["--"+m[1]] = true
	}
	if len(seen) == 0 && leaf {
		for _, m := range mentionedFlag.FindAllStringSubmatch(help, -1) {
			seen["--"+m[1]] = true
		}
	}
	delete(seen, "--h")
	delete(seen, "--help")
	return sortedKeys(seen)
}

// isTerminal reports whether w is a terminal (a file whose descriptor is
// one), so that progress lines with carriage returns and escape codes are
// written only where someone watches them.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeJSON writes v as one line of JSON: the --json output of a listing,
// with the field names its help documents.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
