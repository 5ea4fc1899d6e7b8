package isolink

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Timeout bounds each Send when ctx has no earlier deadline (default 30s).
	Timeout time.Duration
	// DialTimeout bounds Dial (default 10s).
	DialTimeout time.Duration
	// ReadTimeout is the deadline of every read of an answer (up to a
	// sixteenth more). When it passes with requests unanswered for at
	// least this long, the peer is taken for dead and the connection is
	// closed (default 60s).
	ReadTimeout time.Duration
	// WriteTimeout is the deadline of every write (up to a sixteenth
	// more; default 10s).
	WriteTimeout time.Duration
	// MaxFrame bounds frames both ways (default DefaultMaxFrame).
	MaxFrame int
	// STAN numbers the client's own 0800s (default: a counter from 1).
	STAN *iso8583.STANCounter
	// Log receives connection events, never message contents (default: discard).
	Log *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	o.MaxFrame = maxOrDefault(o.MaxFrame)
	if o.STAN == nil {
		o.STAN = &iso8583.STANCounter{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// matchKey pairs an answer with its request: the message class (so an 0100
// and an 0400 with the same STAN do not collide), DE11 and DE41 (n 6 and
// ans 8 by their specs), held in place: a key costs no allocation.
type matchKey struct {
	class    byte
	stanLen  uint8
	tidLen   uint8
	stan     [6]byte
	terminal [8]byte
}

// noTerminal reports whether the key's request has no DE41.
func (k matchKey) noTerminal() bool { return k.tidLen == 0 }

// sameSTAN reports whether two keys have the same class and STAN.
func (k matchKey) sameSTAN(o matchKey) bool {
	return k.class == o.class && k.stanLen == o.stanLen && k.stan == o.stan
}

func keyOf(m *iso8583.Message) (matchKey, bool) {
	var buf [16]byte
	stan, ok := m.Append(buf[:0], iso8583.DESTAN)
	if !ok || len(stan) > 6 {
		return matchKey{}, false
	}
	k := matchKey{class: m.MTI.Class(), stanLen: uint8(len(stan))}
	copy(k.stan[:], stan)
	tid, _ := m.Append(buf[:0], iso8583.DETerminal)
	if len(tid) > 8 {
		return matchKey{}, false
	}
	k.tidLen = uint8(copy(k.terminal[:], tid))
	return k, true
}

type result struct {
	m   *iso8583.Message
	err error
}

// Client sends requests over one TCP connection and matches each answer to
// its caller; many requests may be in flight at once. It is safe for
// concurrent use. Once the connection is lost the Client is done: make a
// new one (Done tells when).
type Client struct {
	conn net.Conn
	opts Options
	log  *slog.Logger

	w frameWriter // coalesces writes

	mu          sync.Mutex
	pending     map[matchKey]chan result
	unansweredT time.Time // when the oldest write not followed by any frame happened
	err         error     // set once the connection is done
	done        chan struct{}
}

// Dial connects to addr (host:port) and returns a Client reading answers in
// the background. It returns an fault.Unavailable error when the connection
// cannot be made within ctx and opts.DialTimeout.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	d := net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "dial_failed", "isolink: cannot connect")
	}
	return NewClient(conn, opts), nil
}

// NewClient returns a Client on an established connection (TCP, TLS, or a
// net.Pipe in tests) and starts reading answers; it never fails. The Client
// owns conn from now on.
func NewClient(conn net.Conn, opts Options) *Client {
	opts = opts.withDefaults()
	c := &Client{
		conn:    conn,
		opts:    opts,
		log:     opts.Log.With("peer", conn.RemoteAddr().String()),
		pending: make(map[matchKey]chan result),
		done:    make(chan struct{}),
	}
	c.w = frameWriter{conn: conn, timeout: opts.WriteTimeout}
	go c.readLoop()
	return c
}

// Send writes req and waits for its answer, matched by message class, DE11
// and DE41. It returns:
//   - a format error (fault.Invalid) when req does not pack, is not a
//     request, or lacks DE11;
//   - ErrDuplicate when the same class, STAN and terminal is in flight;
//   - ErrTimeout (errors.Is) when no answer came within opts.Timeout or
//     ctx's deadline: the caller should then send a reversal;
//   - ErrConnLost (errors.Is) when the connection ended first;
//   - a fault.Unavailable error wrapping context.Canceled when ctx was cancelled.
//
// An answer that arrives after Send gave up is logged and dropped.
func (c *Client) Send(ctx context.Context, req *iso8583.Message) (*iso8583.Message, error) {
	if req == nil {
		return nil, fault.E(fault.Invalid, iso8583.FormatErrorCode, "isolink: no message to send")
	}
	if !req.MTI.IsRequest() {
		return nil, fault.E(fault.Invalid, iso8583.FormatErrorCode, "isolink: MTI %s is not a request", safeMTI(req.MTI))
	}
	key, ok := keyOf(req)
	if !ok {
		return nil, fault.E(fault.Invalid, iso8583.FormatErrorCode, "isolink: a request needs DE11 (STAN) to be matched with its answer")
	}
	ch := chanPool.Get().(chan result)
	var werr error
	err := withFrame(req.AppendPack, c.opts.MaxFrame, func(frame []byte) error {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return err
		}
		if _, dup := c.pending[key]; dup {
			c.mu.Unlock()
			return ErrDuplicate
		}
		c.pending[key] = ch
		if c.unansweredT.IsZero() {
			c.unansweredT = time.Now()
		}
		c.mu.Unlock()
		werr = c.w.write(frame)
		return nil
	})
	if err != nil {
		chanPool.Put(ch) // never registered
		return nil, err
	}
	if werr != nil {
		c.fail(werr)
		// fail delivered the error to ch unless an answer got there first.
		r := <-ch
		chanPool.Put(ch)
		return r.m, r.err
	}

	timer := getTimer(c.opts.Timeout)
	defer putTimer(timer)
	select {
	case r := <-ch:
		chanPool.Put(ch) // its one answer taken: no one sends to it again
		return r.m, r.err
	case <-timer.C:
		return c.giveUp(key, ch, ErrTimeout)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return c.giveUp(key, ch, ErrTimeout)
		}
		return c.giveUp(key, ch, fault.Wrap(ctx.Err(), fault.Unavailable, "canceled", "isolink: request cancelled"))
	}
}

// chanPool holds the channels a Send waits on; one goes back only once its
// one answer has been taken from it.
var chanPool = sync.Pool{New: func() any { return make(chan result, 1) }}

// timerPool holds stopped timers (a stopped timer delivers nothing stale).
var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// giveUp forgets a pending request; an answer that got in meanwhile wins.
func (c *Client) giveUp(key matchKey, ch chan result, err error) (*iso8583.Message, error) {
	c.mu.Lock()
	if c.pending[key] == ch {
		delete(c.pending, key)
	}
	c.mu.Unlock()
	select {
	case r := <-ch:
		chanPool.Put(ch)
		return r.m, r.err
	default:
		return nil, err
	}
}

// Network sends an 0800 with DE70 code (iso8583.SignOn, SignOff, EchoTest)
// and returns nil when the answer carries DE39 00. It fails like Send, or
// with a fault.Declined error when the answer carries another code.
func (c *Client) Network(ctx context.Context, code iso8583.NetworkCode) error {
	resp, err := c.Send(ctx, NetworkRequest(code, c.opts.STAN.Next(), time.Now()))
	if err != nil {
		return err
	}
	if rc, _ := resp.ResponseCode(); !rc.Approved() {
		return fault.E(fault.Declined, "network_declined", "isolink: network management %s answered %s", safeText(string(code)), safeText(string(rc)))
	}
	return nil
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up, and then the reason it ended
// (an ErrConnLost error, or ErrConnLost itself after Close).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection; every request still waiting gets ErrConnLost.
// It always returns nil and may be called more than once.
func (c *Client) Close() error {
	c.fail(ErrConnLost)
	return nil
}

// fail ends the connection once, failing every waiter with err.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if !errors.Is(err, ErrConnLost) {
		err = fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: connection lost")
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	_ = c.conn.Close()
	for _, ch := range pending {
		ch <- result{err: err}
	}
	if len(pending) > 0 {
		c.log.Warn("isolink: connection lost with requests in flight", "in_flight", len(pending), "err", fault.MessageOf(err))
	}
}

func (c *Client) readLoop() {
	br := bufio.NewReaderSize(c.conn, 16<<10)
	var readDeadline deadline
	for {
		_ = readDeadline.extend(c.conn.SetReadDeadline, c.opts.ReadTimeout)
		if br.Buffered() == 0 {
			runtime.Gosched() // as Server's reader: let the read find what came meanwhile
		}
		frame, started, err := readFrame(br, c.opts.MaxFrame)
		if err != nil {
			if !started && errors.Is(err, os.ErrDeadlineExceeded) && !c.peerSilent() {
				continue // idle, nothing owed to us
			}
			if errors.Is(err, io.EOF) {
				err = fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: peer closed the connection")
			}
			c.fail(err)
			return
		}
		c.mu.Lock()
		c.unansweredT = time.Time{}
		c.mu.Unlock()
		c.receive(frame)
	}
}

// peerSilent reports whether a request has waited a whole ReadTimeout
// without any frame arriving: the peer is then taken for dead.
func (c *Client) peerSilent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.unansweredT.IsZero() && time.Since(c.unansweredT) >= c.opts.ReadTimeout
}

// receive hands an answer to its caller, answers the peer's 0800s, and
// logs (without contents) anything else.
func (c *Client) receive(frame []byte) {
	m, err := iso8583.UnpackOwned(frame) // frame is read afresh for each message
	if err != nil {
		p, _ := iso8583.UnpackPartial(frame)
		if p != nil && p.MTI.IsResponse() && c.deliver(p, result{err: err}) {
			return
		}
		c.log.Warn("isolink: dropped an answer that does not unpack", "err", fault.MessageOf(err))
		return
	}
	if m.MTI.IsRequest() {
		if resp := AnswerNetwork(m); resp != nil {
			var werr error
			_ = withFrame(resp.AppendPack, c.opts.MaxFrame, func(frame []byte) error {
				werr = c.w.write(frame)
				return nil
			})
			if werr != nil {
				c.fail(werr)
			}
			return
		}
		c.log.Warn("isolink: dropped a request from the peer", "mti", safeMTI(m.MTI))
		return
	}
	if !c.deliver(m, result{m: m}) {
		stan, _ := m.String(iso8583.DESTAN)
		c.log.Info("isolink: dropped an answer nobody waits for (late or unknown)", "mti", safeMTI(m.MTI), "stan", safeText(stan))
	}
}

// deliver gives r to the request that m answers. An answer without DE41
// (a format-error answer may lack it) matches the one request of its class
// and STAN, if there is exactly one.
func (c *Client) deliver(m *iso8583.Message, r result) bool {
	key, ok := keyOf(m)
	if !ok {
		return false
	}
	c.mu.Lock()
	ch, found := c.pending[key]
	if !found && key.noTerminal() {
		for k, v := range c.pending {
			if k.sameSTAN(key) {
				if found {
					found = false // more than one: ambiguous
					break
				}
				key, ch, found = k, v, true
			}
		}
	}
	if found {
		delete(c.pending, key)
	}
	c.mu.Unlock()
	if found {
		ch <- r
	}
	return found
}

// safeMTI returns the MTI if it is four digits, else "????".
func safeMTI(m iso8583.MTI) string {
	if len(m) != 4 {
		return "????"
	}
	for i := 0; i < 4; i++ {
		if m[i] < '0' || m[i] > '9' {
			return "????"
		}
	}
	return string(m)
}

// safeText keeps short printable ASCII, for logging codes and STANs.
func safeText(s string) string {
	if len(s) > 12 {
		s = s[:12]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
