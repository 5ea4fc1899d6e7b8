// Package nfc is the contactless link of the tapwallet payment system: the
// channel between a reader (the store terminal, the transit gate, or a PC/SC
// stack) and a card (the phone's secure element), carried over TCP in the
// framing of vsmartcard's virtual reader "vpcd".
//
// Every message on the link is a 2-byte big-endian length followed by that
// many payload bytes. The reader sends and the card answers:
//
//   - a 1-byte payload is a control: 00 power off, 01 power on, 02 reset
//     (the card does not answer these), 04 get ATR (the card answers with
//     its ATR);
//   - any longer payload is a command APDU, which the card answers with a
//     response APDU.
//
// The reader side listens and the card side connects. This is exactly what
// vpcd (the pcscd driver of Debian's vsmartcard-vpcd) does: it listens on
// TCP port 35963 ([DefaultPort]) and the virtual card (vicc) dials it, so a
// phone served with [DialAndServe] shows up as a card in a real PC/SC stack
// and standard smart-card tools can read it. The store terminal and the
// transit gate are the same kind of reader: [Listen], then [Listener.Accept]
// a card and [Reader.Transmit] APDUs to it.
//
// Every read and write has a deadline ([Config]); a link dropped in the
// middle of an exchange is an error wrapping [ErrLinkClosed] on both sides,
// a silent peer one wrapping [ErrTimeout], and a frame of length 0 or
// longer than [Config.MaxFrame] one wrapping [ErrFrameSize] — never a hang.
// The package depends on nothing else in tapwallet.
package nfc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultPort is the TCP port vpcd listens on.
const DefaultPort = 35963

// MaxPayload is the largest payload the 2-byte length can announce. It is
// below the largest extended APDU (4 + 3 + 65535 + 2 = 65544 bytes), so
// such APDUs cannot cross this link, as they cannot cross vpcd.
const MaxPayload = 0xFFFF

// Control payloads the reader sends (vpcd's VPCD_CTRL_*).
const (
	CtrlPowerOff byte = 0x00
	CtrlPowerOn  byte = 0x01
	CtrlReset    byte = 0x02
	CtrlATR      byte = 0x04
)

// Errors of the link, to test with errors.Is.
var (
	// ErrLinkClosed: the peer closed or reset the connection (at once or
	// in the middle of a frame), or an earlier failure closed it.
	ErrLinkClosed = errors.New("nfc: link closed")
	// ErrTimeout: the peer did not send or take a frame in time. The
	// link is closed, because a late answer would be taken for the next.
	ErrTimeout = errors.New("nfc: timed out")
	// ErrFrameSize: a frame of length 0, or longer than Config.MaxFrame.
	ErrFrameSize = errors.New("nfc: frame length out of range")
	// ErrProtocol: a message that is framed correctly but makes no sense
	// here, such as a 1-byte response APDU or a command under 4 bytes.
	ErrProtocol = errors.New("nfc: protocol error")
)

// Config holds the link's limits. The zero value means the defaults.
type Config struct {
	// ExchangeTimeout bounds one reader exchange, from sending a command
	// (or GET ATR) to having its whole answer. Default 2 s.
	ExchangeTimeout time.Duration
	// WriteTimeout bounds writing one frame. Default 2 s.
	WriteTimeout time.Duration
	// FrameTimeout bounds reading the rest of a frame once its length has
	// arrived (card side). Default 2 s.
	FrameTimeout time.Duration
	// IdleTimeout bounds how long the card waits for the reader's next
	// message. Zero, the default, waits until the link or the context
	// ends: pcscd may leave a card idle for hours (it polls with GET ATR).
	IdleTimeout time.Duration
	// MaxFrame is the largest payload sent or accepted, at most (and by
	// default) MaxPayload.
	MaxFrame int
	// DialTimeout bounds connecting in Dial and DialAndServe. Default 5 s.
	DialTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.ExchangeTimeout <= 0 {
		c.ExchangeTimeout = 2 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Second
	}
	if c.FrameTimeout <= 0 {
		c.FrameTimeout = 2 * time.Second
	}
	if c.IdleTimeout < 0 {
		c.IdleTimeout = 0
	}
	if c.MaxFrame <= 0 || c.MaxFrame > MaxPayload {
		c.MaxFrame = MaxPayload
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	return c
}

// writeFrame writes the length and payload in one write; the caller sets
// the deadline.
func writeFrame(conn net.Conn, payload []byte, max int) error {
	if len(payload) == 0 || len(payload) > max {
		return fmt.Errorf("%w: refusing to send %d bytes (1 to %d allowed)", ErrFrameSize, len(payload), max)
	}
	buf := make([]byte, 2+len(payload))
	binary.BigEndian.PutUint16(buf, uint16(len(payload)))
	copy(buf[2:], payload)
	_, err := conn.Write(buf)
	return err
}

// readFrame reads one frame. The caller sets the deadline for the length;
// if bodyTimeout is positive the rest of the frame gets that long. It
// returns io.EOF, unwrapped, only when the link closed cleanly before the
// first byte of the frame; a link closed inside the frame gives
// io.ErrUnexpectedEOF. It returns ctx's error if ctx ends.
func readFrame(ctx context.Context, conn net.Conn, max int, bodyTimeout time.Duration) ([]byte, error) {
	var hdr [2]byte
	if n, err := io.ReadFull(conn, hdr[:]); err != nil {
		if n == 1 && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > max {
		return nil, fmt.Errorf("%w: peer announced a %d-byte frame (1 to %d allowed)", ErrFrameSize, n, max)
	}
	if bodyTimeout > 0 {
		if err := setDeadline(ctx, conn.SetReadDeadline, time.Now().Add(bodyTimeout)); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// classify turns a read or write error into one of the package's errors;
// what says what the side was doing ("waiting for the response").
func classify(err error, what string) error {
	var ne net.Error
	switch {
	case errors.Is(err, ErrFrameSize) || errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("%w %s", ErrTimeout, what)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w in the middle of a frame while %s", ErrLinkClosed, what)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w while %s", ErrLinkClosed, what)
	}
	return fmt.Errorf("%w while %s: %v", ErrLinkClosed, what, err)
}

// setDeadline sets a deadline and then checks ctx, so that a cancellation
// is never overwritten: either ctx was done before (its error is
// returned) or watch's cancellation comes after and wins.
func setDeadline(ctx context.Context, set func(time.Time) error, t time.Time) error {
	if err := set(t); err != nil {
		return err
	}
	return ctx.Err()
}

// watch makes the conn's deadlines expire when ctx is done. The returned
// release must be called before the conn is used again with another
// context; it waits for a cancellation already under way.
func watch(ctx context.Context, setDeadline func(time.Time) error) (release func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = setDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stop() {
			<-done
		}
	}
}

// AirTime estimates how long n APDU bytes take on an ISO/IEC 14443 type A
// link at 106 kbit/s, for a terminal that wants to budget a tap (the whole
// exchange is AirTime(sent) + AirTime(received)). The model:
//
//   - one bit lasts 128/fc = 128/13.56 MHz ≈ 9.44 µs;
//   - each byte is 9 bits: 8 data bits and an odd parity bit (ISO/IEC
//     14443-3 standard frame);
//   - the APDU travels in ISO/IEC 14443-4 I-blocks of at most 256 bytes
//     (FSC/FSD 256), each adding a PCB byte and a 2-byte CRC_A (3 bytes,
//     no CID or NAD), and a start and an end of communication (2 bits), so
//     an APDU of more than 253 bytes is chained over several blocks.
//
// It leaves out the frame delay times between blocks (at least ~86 µs per
// turn), the R(ACK) blocks of chaining, S(WTX) waiting time extensions
// and the card's processing time, which a terminal must add from its own
// measurements. AirTime returns 0 for n <= 0.
func AirTime(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	const perBlock = 256 - 3
	blocks := (n + perBlock - 1) / perBlock
	bits := int64(n+3*blocks)*9 + int64(2*blocks)
	return time.Duration(bits * 128 * int64(time.Second) / 13_560_000)
}

// Counters are the totals of a reader's completed APDU exchanges, for
// estimating air time and load. Controls (power, reset, ATR) are not
// counted.
type Counters struct {
	Exchanges int   // APDU exchanges completed
	Sent      int64 // command APDU bytes sent
	Received  int64 // response APDU bytes received
}

// Exchange is one completed command and response.
type Exchange struct {
	Command  []byte
	Response []byte
	Sent     int           // command bytes (the 2-byte TCP length is not counted)
	Received int           // response bytes
	Elapsed  time.Duration // wall time over the link
	AirTime  time.Duration // AirTime(Sent) + AirTime(Received)
}

// Reader is the reader's end of a link to one card. Its methods are safe
// for concurrent use; exchanges are done one at a time.
type Reader struct {
	conn net.Conn
	cfg  Config

	mu       sync.Mutex
	err      error // set once the link is unusable
	counters Counters
}

// NewReader returns the reader's end of a link over conn (already
// connected to a card) with the given limits.
func NewReader(conn net.Conn, cfg Config) *Reader {
	return &Reader{conn: conn, cfg: cfg.withDefaults()}
}

// RemoteAddr returns the card's network address.
func (r *Reader) RemoteAddr() net.Addr { return r.conn.RemoteAddr() }

// Close closes the link. It returns the error of closing the connection,
// nil if it was already closed by a failure.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil
	}
	r.err = fmt.Errorf("%w: the reader closed it", ErrLinkClosed)
	return r.conn.Close()
}

// Counters returns the totals of the completed APDU exchanges.
func (r *Reader) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters
}

// fail records that the link is unusable, closes it, and returns the error
// for the caller: the context's error if it was cancelled, else err.
func (r *Reader) fail(ctx context.Context, err error) error {
	r.err = fmt.Errorf("%w: an earlier exchange failed (%v)", ErrLinkClosed, err)
	_ = r.conn.Close()
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("nfc: %w", cerr)
	}
	return err
}

func (r *Reader) deadline(ctx context.Context, d time.Duration) time.Time {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	return dl
}

// control sends a 1-byte control that the card does not answer.
func (r *Reader) control(ctx context.Context, c byte, what string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nfc: %w", err)
	}
	release := watch(ctx, r.conn.SetDeadline)
	defer release()
	err := setDeadline(ctx, r.conn.SetDeadline, r.deadline(ctx, r.cfg.WriteTimeout))
	if err == nil {
		err = writeFrame(r.conn, []byte{c}, r.cfg.MaxFrame)
	}
	if err != nil {
		return r.fail(ctx, classify(err, what))
	}
	return nil
}

// PowerOn sends the power-on control (01). It returns an error wrapping
// ErrLinkClosed or ErrTimeout if the control cannot be sent, or the
// context's error if ctx ends first; the link is then closed.
func (r *Reader) PowerOn(ctx context.Context) error {
	return r.control(ctx, CtrlPowerOn, "sending power on")
}

// PowerOff sends the power-off control (00). Errors are as for PowerOn.
func (r *Reader) PowerOff(ctx context.Context) error {
	return r.control(ctx, CtrlPowerOff, "sending power off")
}

// Reset sends the reset control (02). Errors are as for PowerOn.
func (r *Reader) Reset(ctx context.Context) error {
	return r.control(ctx, CtrlReset, "sending reset")
}

// ATR asks the card for its answer to reset (control 04) and returns it.
// It returns an error wrapping ErrLinkClosed, ErrTimeout (no answer within
// ExchangeTimeout) or ErrFrameSize, or the context's error; the link is
// then closed.
func (r *Reader) ATR(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nfc: %w", err)
	}
	release := watch(ctx, r.conn.SetDeadline)
	defer release()
	err := setDeadline(ctx, r.conn.SetDeadline, r.deadline(ctx, r.cfg.ExchangeTimeout))
	if err == nil {
		err = writeFrame(r.conn, []byte{CtrlATR}, r.cfg.MaxFrame)
	}
	if err != nil {
		return nil, r.fail(ctx, classify(err, "asking for the ATR"))
	}
	atr, err := readFrame(ctx, r.conn, r.cfg.MaxFrame, 0)
	if err != nil {
		return nil, r.fail(ctx, classify(err, "waiting for the ATR"))
	}
	return atr, nil
}

// Transmit sends a command APDU and returns the card's response APDU (data
// and SW1 SW2). Errors are as for [Reader.Exchange].
func (r *Reader) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	ex, err := r.Exchange(ctx, cmd)
	return ex.Response, err
}

// Exchange sends a command APDU and returns it with the response and the
// exchange's byte counts and times. It returns an error wrapping
// ErrProtocol for a command under 4 bytes or a response under 2 bytes,
// ErrFrameSize for a command longer than MaxFrame or a response frame out
// of range, ErrTimeout if the answer is not complete within
// ExchangeTimeout, ErrLinkClosed if the card drops the link, or the
// context's error if ctx ends first. After any error but ErrProtocol and an
// oversized command (which send nothing), the link is closed.
func (r *Reader) Exchange(ctx context.Context, cmd []byte) (Exchange, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return Exchange{}, r.err
	}
	if len(cmd) < 4 {
		return Exchange{}, fmt.Errorf("%w: a command APDU has at least 4 bytes, got %d", ErrProtocol, len(cmd))
	}
	if len(cmd) > r.cfg.MaxFrame {
		return Exchange{}, fmt.Errorf("%w: a %d-byte command does not fit in a frame (at most %d)", ErrFrameSize, len(cmd), r.cfg.MaxFrame)
	}
	if err := ctx.Err(); err != nil {
		return Exchange{}, fmt.Errorf("nfc: %w", err)
	}
	release := watch(ctx, r.conn.SetDeadline)
	defer release()
	start := time.Now()
	err := setDeadline(ctx, r.conn.SetDeadline, r.deadline(ctx, r.cfg.ExchangeTimeout))
	if err == nil {
		err = writeFrame(r.conn, cmd, r.cfg.MaxFrame)
	}
	if err != nil {
		return Exchange{}, r.fail(ctx, classify(err, "sending the command"))
	}
	resp, err := readFrame(ctx, r.conn, r.cfg.MaxFrame, 0)
	if err != nil {
		return Exchange{}, r.fail(ctx, classify(err, "waiting for the response"))
	}
	if len(resp) < 2 {
		return Exchange{}, fmt.Errorf("%w: a response APDU has at least 2 bytes, got %d", ErrProtocol, len(resp))
	}
	ex := Exchange{
		Command:  cmd,
		Response: resp,
		Sent:     len(cmd),
		Received: len(resp),
		Elapsed:  time.Since(start),
		AirTime:  AirTime(len(cmd)) + AirTime(len(resp)),
	}
	r.counters.Exchanges++
	r.counters.Sent += int64(len(cmd))
	r.counters.Received += int64(len(resp))
	return ex, nil
}

// Listener accepts card connections on the reader side.
type Listener struct {
	ln  net.Listener
	cfg Config
}

// Listen listens on a TCP address ("" means ":35963", all interfaces on
// vpcd's port) for cards. It returns the error of net.Listen.
func Listen(addr string, cfg Config) (*Listener, error) {
	if addr == "" {
		addr = fmt.Sprintf(":%d", DefaultPort)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nfc: listen: %w", err)
	}
	return NewListener(ln, cfg), nil
}

// NewListener returns a Listener accepting cards on ln.
func NewListener(ln net.Listener, cfg Config) *Listener {
	return &Listener{ln: ln, cfg: cfg.withDefaults()}
}

// Addr returns the address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening. It returns the error of closing the listener.
func (l *Listener) Close() error { return l.ln.Close() }

// Accept waits for a card to connect and returns the reader's end of its
// link. It returns the context's error if ctx ends first, or an error
// wrapping ErrLinkClosed if the listener is closed. Call it from one
// goroutine at a time: a cancelled Accept interrupts a concurrent one.
func (l *Listener) Accept(ctx context.Context) (*Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nfc: %w", err)
	}
	release := func() {}
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		release = watch(ctx, d.SetDeadline)
		defer func() { _ = d.SetDeadline(time.Time{}) }()
	} else if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = l.ln.Close() })
		release = func() { stop() }
	}
	conn, err := l.ln.Accept()
	release()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("nfc: %w", cerr)
		}
		return nil, classify(err, "accepting a card")
	}
	return NewReader(conn, l.cfg), nil
}

// Card is what a card-side link serves: the phone's secure element or any
// other card emulation.
type Card interface {
	// ATR returns the answer to reset (at least one byte).
	ATR() []byte
	// Process answers one command APDU with a response APDU (data and
	// SW1 SW2). It must not keep cmd after returning.
	Process(cmd []byte) []byte
	// Reset returns the card to its state after power-up (no application
	// selected). Serve calls it on power off, power on and reset.
	Reset()
}

// Serve answers the reader on conn for card until the link ends, with the
// default Config; see [ServeConfig].
func Serve(ctx context.Context, conn net.Conn, card Card) error {
	return ServeConfig(ctx, conn, card, Config{})
}

// ServeConfig answers the reader on conn for card until the link ends, and
// then closes conn. It returns nil when the reader closes the link between
// messages; an error wrapping ErrLinkClosed if the link drops in the
// middle of a frame or while answering, ErrTimeout if a frame stops
// arriving for FrameTimeout (or no message comes for IdleTimeout) or an
// answer cannot be written within WriteTimeout, ErrFrameSize for a frame of
// length 0 or over MaxFrame, ErrProtocol if the card's ATR is empty, or the
// context's error when ctx ends. A response from the card that is shorter
// than 2 bytes or longer than MaxFrame is replaced by 6F00 (no precise
// diagnosis).
func ServeConfig(ctx context.Context, conn net.Conn, card Card, cfg Config) error {
	cfg = cfg.withDefaults()
	defer conn.Close()
	release := watch(ctx, conn.SetDeadline)
	defer release()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("nfc: %w", err)
		}
		var idle time.Time
		if cfg.IdleTimeout > 0 {
			idle = time.Now().Add(cfg.IdleTimeout)
		}
		if err := setDeadline(ctx, conn.SetReadDeadline, idle); err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("nfc: %w", cerr)
			}
			return classify(err, "waiting for the reader")
		}
		msg, err := readFrame(ctx, conn, cfg.MaxFrame, cfg.FrameTimeout)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("nfc: %w", cerr)
			}
			if err == io.EOF {
				return nil
			}
			return classify(err, "reading the reader's message")
		}
		var reply []byte
		if len(msg) == 1 {
			switch msg[0] {
			case CtrlPowerOff, CtrlPowerOn, CtrlReset:
				card.Reset()
				continue
			case CtrlATR:
				reply = card.ATR()
				if len(reply) == 0 || len(reply) > cfg.MaxFrame {
					return fmt.Errorf("%w: the card's ATR is %d bytes", ErrProtocol, len(reply))
				}
			default:
				continue // vpcd's own card ignores unknown controls too
			}
		} else {
			reply = card.Process(msg)
			if len(reply) < 2 || len(reply) > cfg.MaxFrame {
				reply = []byte{0x6F, 0x00}
			}
		}
		err = setDeadline(ctx, conn.SetWriteDeadline, time.Now().Add(cfg.WriteTimeout))
		if err == nil {
			err = writeFrame(conn, reply, cfg.MaxFrame)
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("nfc: %w", cerr)
			}
			return classify(err, "sending the answer")
		}
	}
}

// Dial connects to a reader at a TCP address ("host:port"; pcscd's vpcd
// listens on port 35963) within 5 seconds. It returns the error of the
// dial, or the context's error if ctx ends first.
func Dial(ctx context.Context, addr string) (net.Conn, error) {
	return dial(ctx, addr, Config{}.withDefaults())
}

func dial(ctx context.Context, addr string, cfg Config) (net.Conn, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nfc: dial %s: %w", addr, err)
	}
	return conn, nil
}

// DialAndServe connects to the reader at addr (within DialTimeout) and
// serves card on the link until it ends. It returns the dial error, or what
// [ServeConfig] returns.
func DialAndServe(ctx context.Context, addr string, card Card, cfg Config) error {
	cfg = cfg.withDefaults()
	conn, err := dial(ctx, addr, cfg)
	if err != nil {
		return err
	}
	return ServeConfig(ctx, conn, card, cfg)
}
