package main

import "runtime"

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
// Setting it stops the runtime's own updates of GOMAXPROCS when a
// container's CPU limit changes: a restart takes a new limit.
func oneMoreProc(getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
}
