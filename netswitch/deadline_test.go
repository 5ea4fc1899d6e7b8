package netswitch

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// TestSharedDeadlines: a call under a context never cancelled gets its
// values with a group's deadline, at least the timeout from its start and
// at most a hundredth (or a millisecond) more, which ends it — and a
// context derived from it — with context.DeadlineExceeded; a call under a
// context that can be cancelled ends with it, as context.WithTimeout does.
func TestSharedDeadlines(t *testing.T) {
	var d sharedDeadlines
	const timeout = 30 * time.Millisecond
	parent := context.WithoutCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	start := time.Now()
	ctx, cancel := d.within(parent, timeout)
	defer cancel()
	end := time.Now()
	dl, ok := ctx.Deadline()
	if !ok || dl.Before(start.Add(timeout)) || dl.After(end.Add(timeout+time.Millisecond)) {
		t.Errorf("deadline %v after the start, want %v to %v", dl.Sub(start), timeout, end.Sub(start)+timeout+time.Millisecond)
	}
	if ctx.Value(ctxKey{}) != "v" || ctx.Err() != nil {
		t.Errorf("value %v, err %v; want the call's value and no error yet", ctx.Value(ctxKey{}), ctx.Err())
	}
	derived, stop := context.WithCancel(ctx)
	defer stop()
	next, cancelNext := d.within(parent, timeout)
	defer cancelNext()
	if nd, _ := next.Deadline(); nd.Before(dl) {
		t.Errorf("a later call's deadline %v is before the first's %v", nd, dl)
	}
	<-ctx.Done()
	<-derived.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(derived.Err(), context.DeadlineExceeded) {
		t.Errorf("at the deadline: %v, derived %v; want context.DeadlineExceeded", ctx.Err(), derived.Err())
	}

	cancellable, cancelParent := context.WithCancel(context.Background())
	own, cancelOwn := d.within(cancellable, time.Hour)
	defer cancelOwn()
	cancelParent()
	<-own.Done()
	if !errors.Is(own.Err(), context.Canceled) {
		t.Errorf("the parent cancelled: %v, want context.Canceled", own.Err())
	}
}
