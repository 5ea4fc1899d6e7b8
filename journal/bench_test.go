package journal_test

import (
	"context"
	"fmt"
	"io"
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
// folder: ns/op is the wall time per record, rec/s the records a second,
// cpu-µs/rec the process's user+system CPU per record (getrusage),
// syncs/rec the fdatasyncs per record (the group commit's share).
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
			benchAppends(b, k, []*journal.Log{l}, l.Syncs)
		})
	}
}

// BenchmarkSharedAppend is BenchmarkAppend on a shared file: the
// appenders take turns over three streams (as the switch, the token
// service and a bank of one process do), so that each group commit
// carries the records of all three.
//
//	go test -run '^$' -bench 'Append' -benchtime 20000x ./journal/
func BenchmarkSharedAppend(b *testing.B) {
	for _, k := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("appenders=%d", k), func(b *testing.B) {
			dir := b.TempDir()
			s, err := journal.OpenShared(filepath.Join(dir, "tapwallet.journal"), journal.Options{TruncateAt: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var ls []*journal.Log
			for _, n := range []string{"network.journal", "tsp.journal", "issuer_icbc.journal"} {
				l, err := journal.Open(filepath.Join(dir, n), journal.Options{Shared: s})
				if err != nil {
					b.Fatal(err)
				}
				ls = append(ls, l)
			}
			benchAppends(b, k, ls, s.Syncs)
		})
	}
}

// benchAppends appends b.N records from k goroutines, each taking the
// logs of ls in turn, and reports the rate, the CPU and the syncs (the
// file's, by syncs) per record.
func benchAppends(b *testing.B, k int, ls []*journal.Log, syncs func() uint64) {
	r := make([]byte, 400)
	var left atomic.Int64
	left.Store(int64(b.N))
	cpu0 := cpuTime()
	s0 := syncs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range k {
		wg.Go(func() {
			for i := w; left.Add(-1) >= 0; i++ {
				l := ls[i%len(ls)]
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
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rec/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/rec")
	b.ReportMetric(float64(syncs()-s0)/float64(b.N), "syncs/rec")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSegmentsAhead is BenchmarkAppend's 16 appenders on the
// platform's segment size (4 MiB), with the segments made ahead of time
// (the operating system's files, which can rename: ahead.go) and without
// (the same files behind a layer that cannot rename, so that every
// segment grows by appends and each fdatasync also commits its size).
// The first segment is not made ahead in either: run enough records for
// several segments.
//
//	go test -run '^$' -bench SegmentsAhead -benchtime 60000x ./journal/
func BenchmarkSegmentsAhead(b *testing.B) {
	for _, c := range []struct {
		name string
		fs   journal.FS
	}{{"ahead", journal.OSFS{}}, {"appended", noRename{}}} {
		b.Run(c.name, func(b *testing.B) {
			l, err := journal.Open(filepath.Join(b.TempDir(), "j"), journal.Options{FS: c.fs, TruncateAt: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			benchAppends(b, 16, []*journal.Log{l}, l.Syncs)
		})
	}
}

// noRename is the operating system's files without Rename: a log on it
// makes no segment ahead.
type noRename struct{ os journal.OSFS }

func (n noRename) OpenFile(path string) (journal.File, error) { return n.os.OpenFile(path) }
func (n noRename) Remove(path string) error                   { return n.os.Remove(path) }
func (n noRename) Names(dir string) ([]string, error)         { return n.os.Names(dir) }
func (n noRename) Lock(path string) (io.Closer, error)        { return n.os.Lock(path) }
