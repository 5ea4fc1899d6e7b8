package isolink

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"
)

// goid is the running goroutine's number, from its stack's first line.
func goid() string {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	return string(bytes.Fields(b)[1])
}

// TestWorkersReused: jobs one after another run on the same goroutine;
// jobs at once each on their own; Close ends the idle workers.
func TestWorkersReused(t *testing.T) {
	before := runtime.NumGoroutine()
	p := &Workers{}
	ids := make(chan string, 8)
	for range 3 {
		done := make(chan struct{})
		p.Run(func() { ids <- goid(); close(done) })
		<-done
		for len(p.idleCount()) == 0 { // the worker goes idle after its job
			runtime.Gosched()
		}
	}
	a, b, c := <-ids, <-ids, <-ids
	if a != b || b != c {
		t.Fatalf("jobs one after another ran on goroutines %s, %s, %s; want one", a, b, c)
	}
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 3 {
		wg.Add(1)
		p.Run(func() { defer wg.Done(); ids <- goid(); <-release })
	}
	a, b, c = <-ids, <-ids, <-ids
	if a == b || b == c || a == c {
		t.Fatalf("jobs at once ran on goroutines %s, %s, %s; want three", a, b, c)
	}
	close(release)
	wg.Wait()
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after close, %d before: workers left running", n, before)
	}
}

func (p *Workers) idleCount() []chan Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chan Job{}, p.idle...)
}
