package netswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
)

// IssuerHost is a bank's issuer host running in the switch's own process
// (Config.Local): asked by a call with the message as it would go over the
// wire, instead of over ISO 8583 on TCP — the same answers, within the same
// timeout, without the encoding, framing and system calls of both ends.
type IssuerHost interface {
	// Handle answers one message (0100, 0400, 0200, 0800); nil is no
	// answer. req is the switch's: Handle reads it and never changes it.
	Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message
}

// errNoAnswer is an in-process host's nil answer: as a connection lost
// after the message went (the host may have acted on it).
var errNoAnswer = errors.New("netswitch: the issuer host in this process gave no answer")

// link is the switch's ISO 8583 connection to one bank's host: dialled when
// first needed and again after it is lost; many requests in flight at once.
// With local set it is a call to the host in this process instead.
type link struct {
	addr    string
	local   IssuerHost
	stan    iso8583.STANCounter // the echo tests' trace numbers (check)
	timeout time.Duration
	log     *slog.Logger

	mu sync.Mutex
	c  *isolink.Client

	workers isolink.Workers // the calls to local, on goroutines kept between calls
	shared  sharedDeadlines // the calls' deadlines, for those of a context never cancelled
}

// dialTimeout bounds connecting to an issuer host.
const dialTimeout = time.Second

func (l *link) client(ctx context.Context) (*isolink.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil && l.c.Err() == nil {
		return l.c, nil
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := isolink.Dial(dctx, l.addr, isolink.Options{Timeout: l.timeout, DialTimeout: dialTimeout, Log: l.log})
	if err != nil {
		return nil, err
	}
	if err := c.Network(dctx, iso8583.SignOn); err != nil {
		c.Close()
		return nil, err
	}
	l.c = c
	return c, nil
}

// send sends m and waits up to the link's timeout for the answer. sent
// reports, on error, whether m may have reached the issuer (so that what it
// did must be reversed): true for a timeout or a connection lost after
// writing, false when the issuer could not be reached at all.
func (l *link) send(ctx context.Context, m *iso8583.Message) (resp *iso8583.Message, sent bool, err error) {
	if l.local != nil {
		return l.call(ctx, m)
	}
	c, err := l.client(ctx)
	if err != nil {
		return nil, false, err
	}
	sctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	resp, err = c.Send(sctx, m)
	if err != nil {
		return nil, errors.Is(err, isolink.ErrTimeout) || errors.Is(err, isolink.ErrConnLost), err
	}
	return resp, true, nil
}

// call asks the host in this process, on one of the link's workers,
// within the link's timeout: the switch stops waiting at the timeout as it
// would for a remote host (sent: the host may have acted on it). The host
// reads m itself, not a copy: neither changes it (the switch sends it
// again unchanged, or not at all).
func (l *link) call(ctx context.Context, m *iso8583.Message) (*iso8583.Message, bool, error) {
	sctx, cancel := l.shared.within(ctx, l.timeout)
	defer cancel()
	c := localCalls.Get().(*localCall)
	c.host, c.ctx, c.m = l.local, sctx, m
	l.workers.Do(c)
	select {
	case resp := <-c.done:
		*c = localCall{done: c.done} // its one answer taken: the worker is done with it
		localCalls.Put(c)
		if resp == nil {
			return nil, true, errNoAnswer
		}
		return resp, true, nil
	case <-sctx.Done():
		if ctx.Err() != nil {
			return nil, true, ctx.Err()
		}
		return nil, true, isolink.ErrTimeout
	}
}

// check reports whether the link is up: its connection open, or dialled
// and signed on now; for a host in this process, whether it answers an
// echo test (0800, DE70 301) approved.
func (l *link) check(ctx context.Context) error {
	if l.local == nil {
		_, err := l.client(ctx)
		return err
	}
	resp, _, err := l.call(ctx, isolink.NetworkRequest(iso8583.EchoTest, l.stan.Next(), time.Now()))
	if err != nil {
		return err
	}
	if rc, _ := resp.ResponseCode(); !rc.Approved() {
		return fmt.Errorf("netswitch: the issuer host in this process answered the echo test %q", string(rc))
	}
	return nil
}

// localCall is a call to a host in the process as a worker's job, with
// the channel its answer comes back on: no closure made per call.
type localCall struct {
	host IssuerHost
	ctx  context.Context
	m    *iso8583.Message
	done chan *iso8583.Message // room for the one answer
}

// Run asks the host and sends its answer; it touches c no more after the
// send (the caller may then reuse c).
func (c *localCall) Run() { c.done <- c.host.Handle(c.ctx, c.m) }

// localCalls holds the calls' jobs; one goes back only once its one answer
// has been taken (a call that timed out leaves its job, with its channel,
// to the host's late answer).
var localCalls = sync.Pool{New: func() any { return &localCall{done: make(chan *iso8583.Message, 1)} }}

func (l *link) close() {
	l.workers.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.Close()
		l.c = nil
	}
}

// sharedDeadlines gives calls whose context is never cancelled (the
// switch decides an authorization under context.WithoutCancel) the
// deadline of a group: the calls that start within a hundredth of the
// timeout of each other share one context.WithDeadline at the group's
// start plus the timeout and that hundredth — each waits at least the
// timeout, at most 1 % more. A context.WithTimeout per call was six
// allocations and a runtime timer set and stopped per authorization.
type sharedDeadlines struct {
	mu    sync.Mutex
	ctx   context.Context // the current group's deadline (its timer ends it)
	until time.Time       // calls starting before it join the group
	// end is ctx's cancel, never called: a group ends at its deadline
	// (an earlier end would cut its calls short); nothing is held after.
	end context.CancelFunc
}

// within returns ctx bounded by timeout from now, and its cancel: ctx
// itself with a group's deadline when ctx is never cancelled, else
// context.WithTimeout.
func (d *sharedDeadlines) within(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if ctx.Done() != nil {
		return context.WithTimeout(ctx, timeout)
	}
	now := time.Now()
	d.mu.Lock()
	if d.ctx == nil || !now.Before(d.until) {
		group := max(timeout/100, time.Millisecond)
		d.ctx, d.end = context.WithDeadline(context.Background(), now.Add(timeout+group))
		d.until = now.Add(group)
	}
	group := d.ctx
	d.mu.Unlock()
	return groupDeadline{Context: ctx, group: group}, func() {}
}

// groupDeadline is a context's values with a group's deadline, Done and
// Err (sharedDeadlines).
type groupDeadline struct {
	context.Context // the call's own: its values
	group           context.Context
}

func (g groupDeadline) Deadline() (time.Time, bool) { return g.group.Deadline() }
func (g groupDeadline) Done() <-chan struct{}       { return g.group.Done() }
func (g groupDeadline) Err() error                  { return g.group.Err() }

// AfterFunc lets a context derived from g (context.WithCancel …) hear of
// the deadline from the group's context, not from a goroutine of its own
// watching Done.
func (g groupDeadline) AfterFunc(f func()) func() bool { return context.AfterFunc(g.group, f) }
