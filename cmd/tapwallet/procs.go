package main

import (
	"runtime"
	"runtime/debug"
)

// oneMoreProc lets the Go scheduler run goroutines on one more thread
// than the CPUs the process may use (GOMAXPROCS's default), unless the
// GOMAXPROCS variable sets it. A goroutine in a blocking system call —
// the journal's group commit in fdatasync(2) (~0.15 per authorization),
// SQLite's writes, reads and syncs in the write-behinds — keeps its
// scheduler slot (its P) until the runtime's monitor hands the slot on,
// 20 µs to 10 ms later; on the 2-CPU machine that is half the slots, and
// a core stood idle while authorizations waited to run. With one more:
// bench auth --risk off at 32 in flight, 3 alternated pairs on the quiet
// machine, 11,783-12,422 -> 12,302-13,186 auth/s, p50 2.10-2.19 ->
// 1.75-1.94 ms, CPU per authorization unchanged (docs/performance.md).
func oneMoreProc(getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}

// gcPercent is the heap growth that starts a garbage collection when the
// GOGC variable does not set one (Go's default is 100).
const gcPercent = 200

// lessGC makes the collector start at gcPercent growth instead of 100,
// unless the GOGC variable sets it. The platform's live heap is mostly
// long-lived (the switch's duplicate window of up to 200,000 answers, the
// token service's keys, the mirrors of the risk and promotion wings), and
// each collection marks all of it while authorizations wait behind it:
// half as many collections, for up to twice the heap. bench auth --risk
// off at 32 in flight, 3 alternated pairs on the quiet machine: p99
// 13.4-14.6 -> 10.4-11.0 ms, throughput and CPU per authorization within
// the runs' noise.
func lessGC(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
}
