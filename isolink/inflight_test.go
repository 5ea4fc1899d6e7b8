package isolink

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoundTrip16 is the link as bench auth drives it: 16 requests in
// flight over 8 connections to an EchoHandler server, each sender sending
// its next request when its answer came. It reports msgs/s and the
// process's CPU per round trip (client and server, cpu-µs/op).
func BenchmarkRoundTrip16(b *testing.B) {
	clients := echoClients(b, 8)
	var stans iso8583.STANCounter
	reqs := make(chan struct{}, 1024)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			reqs <- struct{}{}
		}
		close(reqs)
	}()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, tid := clients[g%len(clients)], fmt.Sprintf("C%07d", g)
			for range reqs {
				if _, err := c.Send(context.Background(), authRequest(stans.Next(), tid, 100)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
