package netswitch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
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

// echoHost answers every request with its own STAN.
type echoHost struct{}

func (echoHost) Handle(_ context.Context, req *iso8583.Message) *iso8583.Message {
	resp, _ := iso8583.NewResponse(req, iso8583.Approved)
	return resp
}

// TestLocalCallsOwnAnswers: calls to a host in the process at once, on
// pooled jobs, each get the answer to their own request.
func TestLocalCallsOwnAnswers(t *testing.T) {
	l := &link{local: echoHost{}, timeout: 10 * time.Second}
	defer l.close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				stan := iso8583.STAN(g*1000 + i + 1)
				req := isolink.NetworkRequest(iso8583.EchoTest, stan, time.Now())
				resp, _, err := l.call(context.WithoutCancel(context.Background()), req)
				if err != nil {
					t.Error(err)
					return
				}
				if got, _ := resp.STAN(); got != stan {
					t.Errorf("the call of STAN %d got the answer of %d", stan, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
