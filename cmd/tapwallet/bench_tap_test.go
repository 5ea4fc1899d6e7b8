//go:build unix

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchTapAndGateCPU: bench tap and bench gate report the process's
// CPU per tap (getrusage(2) is there on unix), a figure above zero.
func TestBenchTapAndGateCPU(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "tap", "--count", "5", "--json"},
		{"bench", "gate", "--count", "4", "--json"},
	} {
		out, errs, err := runCLI(t, nil, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", args[1], err, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var f struct {
			CPU float64 `json:"cpu_us_per_tap"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
			t.Fatalf("%s: last line %q: %v", args[1], lines[len(lines)-1], err)
		}
		if f.CPU <= 0 {
			t.Errorf("%s: got %v CPU µs per tap, want > 0", args[1], f.CPU)
		}
		if !strings.Contains(out, "CPU per tap") {
			t.Errorf("%s: the table has no CPU per tap line:\n%s", args[1], out)
		}
	}
}
