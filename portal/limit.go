package portal

import (
	"sync"
	"time"
)

// limiter is a token bucket per key (a source address, an account): each
// key may spend rate.N attempts at once and gets them back evenly over
// rate.Per. It lives in memory, per process: several `serve` processes
// each throttle on their own (the wallet's lock after 5 failed passwords
// in a row is in the database and holds across them).
type limiter struct {
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

// maxKeys bounds the limiter's memory; past it, full buckets are dropped.
const maxKeys = 100_000

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, buckets: map[string]*bucket{}}
}

// allow spends one attempt for key and reports whether one was left, and
// if not, how long until the next one.
func (l *limiter) allow(key string) (bool, time.Duration) {
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
func (l *limiter) sweep(now time.Time, perToken time.Duration) {
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(perToken) >= float64(l.rate.N) {
			delete(l.buckets, k)
		}
	}
}
