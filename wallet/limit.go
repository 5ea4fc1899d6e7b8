package wallet

import (
	"sync"
	"time"
)

// Rate is how many attempts are allowed per period.
type Rate struct {
	N   int
	Per time.Duration
}

// Limiter is a token bucket per key (a source address, an account): each
// key may spend Rate.N attempts at once and gets them back evenly over
// Rate.Per. It lives in memory, per process: several `serve` processes
// each throttle on their own (the account lock after failed passwords is
// in the database and holds across them). The zero Rate allows everything.
type Limiter struct {
	mu      sync.Mutex
	rate    Rate
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxKeys bounds a limiter's memory; past it, full buckets are dropped.
const maxKeys = 100_000

// NewLimiter returns a limiter of rate r reading the time from now
// (time.Now when nil).
func NewLimiter(r Rate, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: r, now: now, buckets: map[string]*bucket{}}
}

// Allow spends one attempt for key and reports whether one was left, and
// if not, how long until the next one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil || l.rate.N <= 0 || l.rate.Per <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	perToken := l.rate.Per / time.Duration(l.rate.N)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys || now.Sub(l.swept) > l.rate.Per {
			l.sweep(now, perToken)
		}
		b = &bucket{tokens: float64(l.rate.N), at: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(l.rate.N), b.tokens+float64(now.Sub(b.at))/float64(perToken))
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(perToken))
	}
	b.tokens--
	return true, 0
}

// sweep drops the buckets that have filled up again.
func (l *Limiter) sweep(now time.Time, perToken time.Duration) {
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(perToken) >= float64(l.rate.N) {
			delete(l.buckets, k)
		}
	}
}
