package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/platform"
)

// TestBenchAuthJSON runs a small `bench auth` end to end and reads its
// JSON line: every authorization approved, the issuers' holds matching.
func TestBenchAuthJSON(t *testing.T) {
	out, errOut, err := runCLI(t, nil, "bench", "auth", "--count", "300", "--tokens", "16", "--conns", "2", "--baseline", "--json")
	if err != nil {
		t.Fatalf("bench auth: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f authFigures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("the last line is not JSON: %q", lines[len(lines)-1])
	}
	if f.Approved != 300 || f.Declined != 0 || f.Errors != 0 {
		t.Errorf("got %d approved, %d declined, %d errors, want 300, 0, 0", f.Approved, f.Declined, f.Errors)
	}
	if f.TPS <= 0 || f.P50 <= 0 || f.P99 < f.P50 || f.BaselineTPS <= 0 {
		t.Errorf("got figures %+v, want positive throughput and ordered percentiles", f)
	}
	if !strings.Contains(out, "300 holds pending = approved") {
		t.Errorf("the issuers' holds do not match the approvals:\n%s", out)
	}
	// The durable run wrote its journal and logs: at least a page per
	// fdatasync'd batch (read where /proc/self/io is there to read it).
	if _, err := os.Stat("/proc/self/io"); err == nil && (f.DiskKB <= 0 || f.DiskKB > 1000) {
		t.Errorf("disk KB per authorization %v, want above 0 (and below 1000)", f.DiskKB)
	}
	// The platform's metrics over the run: each hop timed. (The switch's
	// records and the issuers' holds are journaled: their write-behinds'
	// batches, every 100 ms, may all fall after so short a run.)
	for _, series := range []string{`tapwallet_auth_hop_seconds{hop="switch"}`, `tapwallet_auth_hop_seconds{hop="token_check"}`,
		`tapwallet_auth_hop_seconds{hop="issuer"}`, `tapwallet_auth_hop_seconds{hop="ledger_commit"}`} {
		if f.Means[series] <= 0 || !strings.Contains(out, series) {
			t.Errorf("no mean of %s in the output and the JSON (%v)", series, f.Means)
		}
	}
	if f.Means[`tapwallet_auth_hop_seconds{hop="issuer"}`] > f.Means[`tapwallet_auth_hop_seconds{hop="switch"}`] {
		t.Errorf("the issuer's round trip (%v ms) is longer than the switch's whole decision (%v ms)",
			f.Means[`tapwallet_auth_hop_seconds{hop="issuer"}`], f.Means[`tapwallet_auth_hop_seconds{hop="switch"}`])
	}
}

func TestNetworkCommandsUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bench auth: both count and duration", []string{"bench", "auth", "--count", "5", "--duration", "1s"}, "not both"},
		{"bench auth: no connections", []string{"bench", "auth", "--conns", "0"}, "--conns"},
		{"bench auth: not postgres", []string{"bench", "auth", "--count", "5", "--db", "mysql://x"}, "postgres"},
		{"clear: bad date", []string{"clear", "--date", "14/03/2026", "--data", "DATA"}, "--date"},
		{"issuer: no bank", []string{"issuer", "--listen", "127.0.0.1:0"}, "--bank"},
		{"issuer: unknown bank", []string{"issuer", "--bank", "nobank", "--listen", "127.0.0.1:0", "--data", "DATA"}, "no bank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "DATA" {
					tc.args[i] = t.TempDir()
				}
			}
			_, _, err := runCLI(t, nil, tc.args...)
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error about %q", err, tc.want)
			}
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("got %v, want exit code 2", err)
			}
		})
	}
}

// TestClearCommand clears an empty day of a platform's data folder and
// finds the report written.
func TestClearCommand(t *testing.T) {
	data := t.TempDir()
	p, err := platform.New(context.Background(), platform.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	out, errOut, err := runCLI(t, nil, "clear", "--data", data, "--date", "2026-03-14")
	if err != nil {
		t.Fatalf("clear: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "Clearing of 20260314") {
		t.Errorf("got %q, want the report", out)
	}
	if _, err := os.Stat(filepath.Join(data, "clearing", "report-20260314.json")); err != nil {
		t.Errorf("no JSON report: %v", err)
	}

}
