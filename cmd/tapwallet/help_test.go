package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHelpEveryCommand walks every registered command and subcommand and
// asks each for its help with -h and with --help: the help goes to
// standard output (nothing on standard error) with exit status 0, and
// holds a usage line, a description, and the flags (of a command that
// runs) or the subcommands (of one that dispatches).
func TestHelpEveryCommand(t *testing.T) {
	paths := append([]string{""}, commandPaths()...)
	if len(paths) < 60 {
		t.Fatalf("got %d command paths, want every command and subcommand (60 or more)", len(paths))
	}
	for _, path := range paths {
		for _, h := range []string{"-h", "--help"} {
			args := append(strings.Fields(path), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errs, err := runCLI(t, nil, args...)
				if err != nil {
					t.Fatalf("got error %v (stderr %q), want exit status 0", err, errs)
				}
				if errs != "" {
					t.Errorf("got stderr %q, want the help on stdout and nothing on stderr", errs)
				}
				checkHelp(t, path, out)
			})
		}
	}
}

func checkHelp(t *testing.T, path, out string) {
	t.Helper()
	words := strings.Fields(path)
	usageLine := ""
	prose := 0
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "Usage: tapwallet"):
			if usageLine == "" {
				usageLine = l
			}
		case len(strings.Fields(l)) >= 4 && !defaultsFlag.MatchString(l):
			prose++
		}
	}
	if usageLine == "" || (len(words) > 0 && !strings.HasPrefix(usageLine, "Usage: tapwallet "+words[0])) {
		t.Fatalf("no usage line for %q in:\n%s", path, out)
	}
	if prose == 0 {
		t.Errorf("no description in:\n%s", out)
	}
	for _, w := range words {
		if !strings.Contains(out, w) {
			t.Errorf("the help of %q does not name %q:\n%s", path, w, out)
		}
	}
	subs := subsOf(path)
	for _, s := range subs {
		if !regexp.MustCompile(`(^|[\s|])` + regexp.QuoteMeta(s) + `\b`).MatchString(out) {
			t.Errorf("the help of %q does not list its subcommand %q:\n%s", path, s, out)
		}
	}
	if len(subs) == 0 && len(flagsInHelp(out, true)) == 0 && !strings.Contains(out, "Flags: none") {
		t.Errorf("the help of %q lists no flags:\n%s", path, out)
	}
}

// TestHelpListsEverySubcommand keeps the subcommand tree true: every
// "tapwallet PATH SUB" a dispatching command's help shows is a
// subcommand the tree (and so the help test and completion) knows.
func TestHelpListsEverySubcommand(t *testing.T) {
	for _, path := range commandPaths() {
		subs := subsOf(path)
		if len(subs) == 0 {
			continue
		}
		help, err := helpOf(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`tapwallet ` + regexp.QuoteMeta(path) + ` ([a-z][a-z0-9-]*)`)
		for _, m := range re.FindAllStringSubmatch(help, -1) {
			if !contains(subs, m[1]) {
				t.Errorf("the help of %q shows 'tapwallet %s %s', which the subcommand tree (help.go) does not list: %v", path, path, m[1], subs)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestHelpIsNotForMistakes: a mistake on the command line still goes to
// standard error with exit status 2, and "tapwallet help COMMAND" is
// "tapwallet COMMAND -h".
func TestHelpIsNotForMistakes(t *testing.T) {
	for _, args := range [][]string{{"phone", "cards", "--nope"}, {"bench", "tap", "--count", "x"}, {"banks", "list", "--nope"}, {"completion", "tcsh"}} {
		out, _, err := runCLI(t, nil, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: got %v, want exit status 2", args, err)
		}
		if strings.Contains(out, "Usage:") {
			t.Errorf("%v: got the help on stdout for a mistake: %q", args, out)
		}
	}
	out, _, err := runCLI(t, nil, "help", "phone", "history")
	if err != nil || !strings.Contains(out, "Usage: tapwallet phone") || !strings.Contains(out, "-limit") {
		t.Errorf("help phone history: got %q, %v", out, err)
	}
}

// TestVersion: tapwallet version and --version print the module, the
// commit and the Go version; --json has the documented fields.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := mustRun(t, nil, "tapwallet ", args...)
		for _, want := range []string{"module  github.com/tapwallet/tapwallet", "commit  ", "go      " + runtime.Version()} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: got %q, want it to contain %q", args, out, want)
			}
		}
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, nil, "{", "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"module", "version", "commit", "commit_time", "modified", "go"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version --json: no field %q in %v", k, v)
		}
	}
	if v["go"] != runtime.Version() {
		t.Errorf("version --json: got go %v, want %s", v["go"], runtime.Version())
	}
}

func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tapwallet/tapwallet", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "eb13462abcdef"}, {Key: "vcs.time", Value: "2026-12-06T11:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := buildVersion(bi, true)
	want := versionInfo{Module: "github.com/tapwallet/tapwallet", Version: "v1.4.0", Commit: "eb13462abcdef", CommitTime: "2026-12-06T11:00:00Z", Modified: true, Go: "go1.26.8"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s := got.String(); !strings.Contains(s, "commit  eb13462abcdef (modified) 2026-12-06T11:00:00Z") || !strings.HasPrefix(s, "tapwallet v1.4.0\n") {
		t.Errorf("got %q", s)
	}
	if s := buildVersion(nil, false).String(); !strings.Contains(s, "commit  unknown") {
		t.Errorf("no build info: got %q, want commit unknown", s)
	}
}

// TestVersionOfBuiltBinary builds the program with VCS stamping and checks
// that `tapwallet --version` names the checkout's commit.
func TestVersionOfBuiltBinary(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout (git rev-parse HEAD: %v): no commit to compare with", err)
	}
	if linkedWorktree(t) {
		// cmd/go takes only a .git directory for a repository's root; a
		// linked worktree's .git is a file, so the build is stamped with
		// no commit, or with an enclosing checkout's (golang/go#58218).
		t.Skip("a linked git worktree: go build stamps no commit here (golang/go#58218); a clone's checkout, as CI's, runs this test")
	}
	bin := filepath.Join(t.TempDir(), "tapwallet")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Commit != strings.TrimSpace(string(head)) || v.Go != runtime.Version() || v.Module != "github.com/tapwallet/tapwallet" {
		t.Errorf("got %+v, want commit %s and %s", v, head, runtime.Version())
	}
}

// linkedWorktree reports whether the working directory is in a linked git
// worktree (its git directory is not the repository's common one).
func linkedWorktree(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir").Output()
	if err != nil {
		t.Fatalf("git rev-parse --git-dir --git-common-dir: %v", err)
	}
	dirs := strings.Fields(string(out))
	return len(dirs) == 2 && dirs[0] != dirs[1]
}
