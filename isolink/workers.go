package isolink

import "sync"

// workers runs a server's handlers on goroutines kept between requests, the
// one that finished last first: a handler's goroutine grows its stack to
// the handler's depth once rather than for every request (a goroutine per
// request spent 1.6 % of bench auth's CPU growing and copying stacks, and
// 0.6 % starting).
type workers struct {
	mu     sync.Mutex
	idle   []chan func() // each idle worker's job channel (room for one)
	closed bool
}

// maxIdleWorkers bounds the workers kept idle; one more ends.
const maxIdleWorkers = 256

// run runs job on an idle worker, or on a new one.
func (p *workers) run(job func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		ch := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		ch <- job // never blocks: an idle worker's channel is empty
		return
	}
	p.mu.Unlock()
	go p.work(make(chan func(), 1), job)
}

func (p *workers) work(ch chan func(), job func()) {
	for job != nil {
		job()
		p.mu.Lock()
		if p.closed || len(p.idle) >= maxIdleWorkers {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, ch)
		p.mu.Unlock()
		job = <-ch
	}
}

// close ends the idle workers, and each busy one when its job is done.
// run must not be called after.
func (p *workers) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ch := range idle {
		ch <- nil
	}
}
