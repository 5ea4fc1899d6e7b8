package acquirer

import (
	"context"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
)

// Dialer is a Link to the network's acquirer port at an address: it keeps
// one connection (isolink.Client) and dials again when it dropped.
type Dialer struct {
	// Addr returns the network's address, HOST:PORT (a function, so that
	// a link can be made before the network listens).
	Addr    func() string
	Timeout time.Duration // per request (isolink.Options.Timeout; default 10 s)

	mu sync.Mutex
	c  *isolink.Client
}

var _ Link = (*Dialer)(nil)

// DialerTo returns a Dialer to a fixed address.
func DialerTo(addr string, timeout time.Duration) *Dialer {
	return &Dialer{Addr: func() string { return addr }, Timeout: timeout}
}

// Send sends req on the connection, dialling first when there is none
// (or it dropped). It fails with ErrNetworkDown when the network cannot
// be reached (nothing was sent), else with isolink.Client.Send's errors.
func (d *Dialer) Send(ctx context.Context, req *iso8583.Message) (*iso8583.Message, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Send(ctx, req)
}

func (d *Dialer) client(ctx context.Context) (*isolink.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		select {
		case <-d.c.Done():
			d.c.Close()
			d.c = nil
		default:
			return d.c, nil
		}
	}
	addr := d.Addr()
	if addr == "" {
		return nil, fault.E(fault.Unavailable, CodeNetworkDown, "no card network address configured")
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: timeout, DialTimeout: min(timeout, 5*time.Second)})
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, CodeNetworkDown, "the card network at %s does not answer", addr)
	}
	d.c = c
	return c, nil
}

// Close closes the connection, if any; it never fails.
func (d *Dialer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		d.c.Close()
		d.c = nil
	}
	return nil
}
