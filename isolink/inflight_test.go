package isolink

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// TestMaxInFlightBound: a connection's requests beyond MaxInFlight wait
// for a handler to finish — never more than the bound run at once, every
// request is answered once room comes — and a server stopped while its
// reader waits at the bound returns once the handlers running are done.
func TestMaxInFlightBound(t *testing.T) {
	const bound, sent = 2, 6
	var running, most atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, sent)
	srv := &Server{MaxInFlight: bound, Handler: func(_ context.Context, req *iso8583.Message) *iso8583.Message {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		started <- struct{}{}
		<-release
		running.Add(-1)
		return EchoHandler(context.Background(), req)
	}}
	addr, stop := startServer(t, srv)
	c := dial(t, addr, Options{Timeout: 10 * time.Second})
	answered := make(chan error, sent)
	for i := range sent {
		go func() {
			_, err := c.Send(context.Background(), authRequest(iso8583.STAN(i+1), "T0000001", 100))
			answered <- err
		}()
	}
	for range bound {
		<-started
	}
	select {
	case <-started:
		t.Fatalf("a request beyond MaxInFlight %d started", bound)
	case <-time.After(100 * time.Millisecond):
	}
	for i := range sent {
		release <- struct{}{} // one handler ends; the next request gets its place
		if err := <-answered; err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if i+bound < sent {
			<-started
		}
	}
	if m := most.Load(); m != bound {
		t.Fatalf("at most %d handlers at once, want %d", m, bound)
	}

	// Stopped with the reader waiting at the bound: Serve returns once the
	// two running are done; the request waiting is never handled.
	for i := range bound + 1 {
		go func() { _, _ = c.Send(context.Background(), authRequest(iso8583.STAN(100+i), "T0000001", 100)) }()
	}
	for range bound {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // the third frame read, its reader waiting for room
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with handlers still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	release <- struct{}{}
	release <- struct{}{}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
		t.Fatal("the request waiting at the bound was handled after the stop")
	default:
	}
}
