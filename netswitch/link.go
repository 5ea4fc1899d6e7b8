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
	sctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	done := answerPool.Get().(chan *iso8583.Message)
	l.workers.Run(func() { done <- l.local.Handle(sctx, m) })
	select {
	case resp := <-done:
		answerPool.Put(done) // its one answer taken: no one sends to it again
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

// answerPool holds the channels a call waits on; one goes back only once
// its one answer has been taken from it (a call that timed out leaves its
// channel to the host's late answer).
var answerPool = sync.Pool{New: func() any { return make(chan *iso8583.Message, 1) }}

func (l *link) close() {
	l.workers.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.Close()
		l.c = nil
	}
}
