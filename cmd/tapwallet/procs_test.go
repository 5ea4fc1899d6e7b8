package main

import (
	"runtime"
	"runtime/debug"
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

// TestLessGC: collections at gcPercent, unless GOGC is set.
func TestLessGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	lessGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: the collector at %d %%, want 100 untouched", got)
	}
	lessGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("GOGC unset: the collector at %d %%, want %d", got, gcPercent)
	}
}
