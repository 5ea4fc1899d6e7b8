package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime/debug"
)

func init() {
	register("version", "the module version, the commit it was built from and the Go version (also: tapwallet --version)", runVersion)
}

const versionUsage = `Usage: tapwallet version [--json]
       tapwallet --version

Prints the module version of tapwallet, the VCS commit the binary was built
from (with its time, and "modified" when the work tree had changes), and the
Go version that built it, as the binary records them (runtime/debug). A
binary built outside a git checkout, or with -buildvcs=false, has no commit:
it says "unknown". --json prints one object:
  {"module": "github.com/tapwallet/tapwallet", "version": "v1.2.3" or "(devel)",
   "commit": "40 hex digits" or "", "commit_time": "RFC 3339" or "",
   "modified": true|false, "go": "go1.26.8"}

Flags:`

// versionInfo is what `tapwallet version --json` prints.
type versionInfo struct {
	Module     string `json:"module"`
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time"`
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
}

// buildVersion reads the version from the binary's build information.
func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Module: "github.com/tapwallet/tapwallet", Version: "unknown"}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	v.Go = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (v versionInfo) String() string {
	commit := v.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case v.Modified:
		commit += " (modified)"
	}
	if v.CommitTime != "" {
		commit += " " + v.CommitTime
	}
	return fmt.Sprintf("tapwallet %s\nmodule  %s\ncommit  %s\ngo      %s\n", v.Version, v.Module, commit, v.Go)
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print one JSON object (fields above)")
	fs.Usage = func() { fmt.Fprintln(e.stderr, versionUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if fs.NArg() > 0 {
		return usage("version: unexpected argument %q", fs.Arg(0))
	}
	v := buildVersion(debug.ReadBuildInfo())
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	_, err := fmt.Fprint(e.stdout, v)
	return err
}
