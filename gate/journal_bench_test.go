//go:build unix

package gate_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/transit"
)

// BenchmarkJournalTap is a tap's journal work on the gate's path: the
// pending entry (appended and fdatasync'd before the debit) and the final
// entry after it, on a real file in the test's temporary folder.
func BenchmarkJournalTap(b *testing.B) {
	j, err := gate.OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := transit.Record{Card: "3100000000000001", Amount: 300, Status: transit.StatusGrey, Line: 2, Station: 7}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		id, err := j.AddPending(gate.Pending{Record: rec})
		if err != nil {
			b.Fatal(err)
		}
		final := rec
		final.Status = transit.StatusFinal
		if err := j.Finalise(id, final); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
