package journal_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/journal"
)

// BenchmarkAppend appends 400-byte records (about a switch record) from
// 1, 16 and 64 goroutines at once to a log on the test's temporary
// folder: ns/op is the wall time per record, cpu-µs/rec the process's
// user+system CPU per record (getrusage), syncs/rec the fdatasyncs per
// record (the group commit's share).
//
//	go test -run '^$' -bench Append -benchtime 20000x ./journal/
func BenchmarkAppend(b *testing.B) {
	for _, k := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", k), func(b *testing.B) {
			l, err := journal.Open(filepath.Join(b.TempDir(), "j"), journal.Options{TruncateAt: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			r := make([]byte, 400)
			var left atomic.Int64
			left.Store(int64(b.N))
			cpu0 := cpuTime()
			s0 := l.Syncs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range k {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						seq, err := l.Append(context.Background(), r)
						if err != nil {
							b.Error(err)
							return
						}
						l.Done(seq)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/rec")
			b.ReportMetric(float64(l.Syncs()-s0)/float64(b.N), "syncs/rec")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
