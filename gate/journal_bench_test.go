//go:build unix

package gate_test

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/transit"
)

// BenchmarkJournalTap is a tap's journal work on the gate's path: the
// SAM's sequence number (a block reserved every 64), the pending entry
// (appended and fdatasync'd before the debit) and the final entry after
// it, on a real file in the test's temporary folder. p50-µs and p99-µs are
// the percentiles of the part before the debit (number and pending entry).
func BenchmarkJournalTap(b *testing.B) {
	j, err := gate.OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := transit.Record{Card: "3100000000000001", Amount: 300, Status: transit.StatusGrey, Line: 2, Station: 7}
	path := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := j.Next(); err != nil {
			b.Fatal(err)
		}
		id, err := j.AddPending(gate.Pending{Record: rec})
		if err != nil {
			b.Fatal(err)
		}
		path = append(path, time.Since(start))
		final := rec
		final.Status = transit.StatusFinal
		if err := j.Finalise(id, final); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	slices.Sort(path)
	b.ReportMetric(float64(path[len(path)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(path[(len(path)*99+99)/100-1].Microseconds()), "p99-µs")
}

// cpuTime is the process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
