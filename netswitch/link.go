package netswitch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
)

// link is the switch's ISO 8583 connection to one bank's host: dialled when
// first needed and again after it is lost; many requests in flight at once.
type link struct {
	addr    string
	timeout time.Duration
	log     *slog.Logger

	mu sync.Mutex
	c  *isolink.Client
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

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.Close()
		l.c = nil
	}
}
