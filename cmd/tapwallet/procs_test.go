package main

import (
	"runtime"
	"testing"
)

// TestOneMoreProc: one more P than the default, unless GOMAXPROCS is set.
func TestOneMoreProc(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(n)
	oneMoreProc(func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	})
	if got := runtime.GOMAXPROCS(0); got != n {
		t.Fatalf("GOMAXPROCS set: %d Ps, want %d untouched", got, n)
	}
	oneMoreProc(func(string) string { return "" })
	if got := runtime.GOMAXPROCS(0); got != n+1 {
		t.Fatalf("GOMAXPROCS unset: %d Ps, want %d", got, n+1)
	}
}
