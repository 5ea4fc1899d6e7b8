package isolink

import "sync"

// Workers runs jobs (a server's handlers, an in-process peer's calls) on
// goroutines kept between jobs, the one that finished last first: a job's
// goroutine grows its stack to the job's depth once rather than for every
// job (a goroutine per request spent 1.6 % of bench auth's CPU growing and
// copying stacks, and 0.6 % starting). The zero value is ready to use; it
// is safe for concurrent use.
type Workers struct {
	mu     sync.Mutex
	idle   []chan Job // each idle worker's job channel (room for one)
	closed bool
}

// Job is work for Workers.Do: a value whose Run does it. A caller that
// keeps its job's state in a value of its own (pooled, say) hands it over
// without the allocation a closure's capture would cost.
type Job interface{ Run() }

// jobFunc is a func() as a Job (a func value is one word: no allocation).
type jobFunc func()

func (f jobFunc) Run() { f() }

// maxIdleWorkers bounds the workers kept idle; one more ends.
const maxIdleWorkers = 256

// Run runs job (not nil) on an idle worker, or on a new one; it never
// waits for a worker. After Close each job runs on a goroutine of its own.
func (p *Workers) Run(job func()) { p.Do(jobFunc(job)) }

// Do is Run of a Job (not nil).
func (p *Workers) Do(job Job) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		ch := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		ch <- job // never blocks: an idle worker's channel is empty
		return
	}
	p.mu.Unlock()
	go p.work(make(chan Job, 1), job)
}

func (p *Workers) work(ch chan Job, job Job) {
	for job != nil {
		job.Run()
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

// Close ends the idle workers, and each busy one when its job is done.
func (p *Workers) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ch := range idle {
		ch <- nil
	}
}
