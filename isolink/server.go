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
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// Handler answers one request. It returns the answer to send, or nil to
// send none. It runs concurrently with other calls, also for messages of
// the same connection. ctx ends when the server stops for good.
type Handler func(ctx context.Context, req *iso8583.Message) *iso8583.Message

// Server answers ISO 8583 requests on many connections. The zero value
// with a Handler is usable; the other fields have defaults.
type Server struct {
	// Handler answers requests. Required.
	Handler Handler
	// Log receives connection events and format errors, never message bytes
	// or element values (default: discard).
	Log *slog.Logger
	// IdleTimeout closes a connection that sends nothing for this long
	// (up to a sixteenth more) while nothing is in flight on it (default 5
	// minutes). It is the deadline of every read.
	IdleTimeout time.Duration
	// WriteTimeout is the deadline of every write (up to a sixteenth
	// more; default 10s).
	WriteTimeout time.Duration
	// MaxInFlight bounds the requests handled at once per connection;
	// reading pauses at the bound (default 256).
	MaxInFlight int
	// MaxFrame bounds frames both ways (default DefaultMaxFrame).
	MaxFrame int
	// ShutdownGrace is how long in-flight requests may run after the
	// server's ctx ends before their ctx is cancelled and connections are
	// closed (default 30s).
	ShutdownGrace time.Duration
	// HandleNetwork passes 0800 network management to Handler; by default
	// the server answers them itself with AnswerNetwork.
	HandleNetwork bool

	pool *Workers // the handlers' goroutines, for one Serve
}

// Serve answers requests on ln with handler until ctx ends, logging to log
// (nil: discard). See Server.Serve.
func Serve(ctx context.Context, ln net.Listener, handler Handler, log *slog.Logger) error {
	s := &Server{Handler: handler, Log: log}
	return s.Serve(ctx, ln)
}

func (s *Server) withDefaults() *Server {
	c := *s
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	c.MaxFrame = maxOrDefault(c.MaxFrame)
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	return &c
}

// Serve accepts connections on ln and answers their requests until ctx
// ends; connections beyond ln's limits (LimitListener; the default
// ConnLimits when ln has none) are closed at once with a log line; then it stops accepting, stops reading, lets the requests in flight
// finish and send their answers (for up to ShutdownGrace), closes every
// connection and returns nil. It closes ln. It returns a fault.Invalid error
// when Handler is nil, and a fault.Unavailable error when ln fails for
// another reason than shutdown (after shutting down the same way).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		_ = ln.Close()
		return fault.E(fault.Invalid, "no_handler", "isolink: server has no handler")
	}
	cfg := s.withDefaults()
	cfg.pool = &Workers{}
	defer cfg.pool.Close()
	if _, ok := ln.(*limitListener); !ok {
		ln = LimitListener(ln, ConnLimits{}, cfg.Log)
	}
	stopCtx, stop := context.WithCancel(ctx) // stop reading and accepting
	defer stop()
	hardCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx)) // stop everything
	defer hardStop()
	unwatch := context.AfterFunc(stopCtx, func() { _ = ln.Close() })
	defer unwatch()

	var conns sync.WaitGroup
	var acceptErr error
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err != nil {
			if stopCtx.Err() != nil {
				break
			}
			if !errors.Is(err, net.ErrClosed) { // such as too many open files: wait and retry
				cfg.Log.Warn("isolink: accept failed, retrying", "err", err.Error())
				select {
				case <-time.After(backoff):
				case <-stopCtx.Done():
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			acceptErr = fault.Wrap(err, fault.Unavailable, "listener_failed", "isolink: accepting connections")
			cfg.Log.Error("isolink: listener failed; shutting down", "err", err.Error())
			break
		}
		backoff = 5 * time.Millisecond
		conns.Add(1)
		go func() {
			defer conns.Done()
			cfg.serveConn(stopCtx, hardCtx, conn)
		}()
	}
	stop()
	_ = ln.Close()

	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownGrace):
		cfg.Log.Warn("isolink: shutdown grace over; cancelling requests in flight")
		hardStop()
		<-done
	}
	return acceptErr
}

// srvConn is one accepted connection.
type srvConn struct {
	s        *Server
	conn     net.Conn
	log      *slog.Logger
	w        frameWriter
	inFlight atomic.Int64
}

func (s *Server) serveConn(stopCtx, hardCtx context.Context, conn net.Conn) {
	c := &srvConn{s: s, conn: conn, log: s.Log.With("peer", conn.RemoteAddr().String())}
	c.w = frameWriter{conn: conn, timeout: s.WriteTimeout}
	defer conn.Close()
	// Wake the reader when the server stops; cut everything at the hard stop.
	unwatch := context.AfterFunc(stopCtx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer unwatch()
	unwatchHard := context.AfterFunc(hardCtx, func() { _ = conn.Close() })
	defer unwatchHard()

	sem := make(chan struct{}, s.MaxInFlight)
	var handlers sync.WaitGroup
	defer handlers.Wait() // let requests in flight finish and answer
	br := bufio.NewReaderSize(conn, 16<<10)
	var readDeadline deadline
	for stopCtx.Err() == nil {
		_ = readDeadline.extend(conn.SetReadDeadline, s.IdleTimeout)
		if stopCtx.Err() != nil { // the AfterFunc may have run before the line above
			return
		}
		if br.Buffered() == 0 {
			// Nothing read ahead: let the goroutines ready to run go first
			// (handlers just started, senders), so that the read finds the
			// frames that came meanwhile rather than none (EAGAIN, then a
			// second read after the wait).
			runtime.Gosched()
		}
		frame, started, err := readFrame(br, s.MaxFrame)
		if err != nil {
			switch {
			case stopCtx.Err() != nil:
			case errors.Is(err, io.EOF):
				c.log.Debug("isolink: peer closed the connection")
			case !started && errors.Is(err, os.ErrDeadlineExceeded):
				if c.inFlight.Load() > 0 {
					continue // quiet, but answers are still owed
				}
				c.log.Info("isolink: closing an idle connection", "idle", s.IdleTimeout.String())
			case fault.Has(err, fault.Invalid, "bad_frame"):
				c.log.Warn("isolink: closing the connection: bad frame header", "err", fault.MessageOf(err))
			default:
				c.log.Info("isolink: connection ended", "err", fault.MessageOf(err))
			}
			return
		}
		req, err := iso8583.UnpackOwned(frame) // frame is read afresh for each message
		if err != nil {
			if !c.answerFormatError(frame, err) {
				return
			}
			continue
		}
		select {
		case sem <- struct{}{}: // room: one channel's lock, not a select over two
		default:
			select {
			case sem <- struct{}{}:
			case <-stopCtx.Done():
				return
			}
		}
		handlers.Add(1)
		c.inFlight.Add(1)
		s.pool.Run(func() {
			defer func() { <-sem; c.inFlight.Add(-1); handlers.Done() }()
			c.handle(hardCtx, req)
		})
	}
}

// answerFormatError answers a frame that does not unpack with DE39 30, when
// its MTI is a request and its DE11 or DE41 can be read; otherwise it logs
// why and returns false, and the connection is closed. A message with an
// ASCII-hex bitmap is answered with an ASCII-hex bitmap, so that its sender
// can read the 30. Errors of iso8583 are safe to log whole: they name
// elements, never values.
func (c *srvConn) answerFormatError(frame []byte, err error) bool {
	p, _ := iso8583.UnpackPartial(frame)
	hexBitmap := errors.Is(err, iso8583.ErrHexBitmap)
	var resp *iso8583.Message
	if p != nil && (p.Has(iso8583.DESTAN) || p.Has(iso8583.DETerminal)) {
		resp, _ = iso8583.NewResponse(p, iso8583.FormatError)
	}
	if resp == nil {
		mti, why := "????", "its MTI cannot be read"
		switch {
		case p != nil && !p.MTI.IsRequest():
			mti, why = safeMTI(p.MTI), "it is not a request"
		case p != nil:
			mti, why = safeMTI(p.MTI), "neither DE11 nor DE41 can be read"
		}
		if hexBitmap {
			why += "; the link takes binary bitmaps only"
		}
		c.log.Warn("isolink: closing the connection: a message that cannot be answered", "mti", mti, "why", why, "err", err.Error())
		return false
	}
	stan, _ := p.String(iso8583.DESTAN)
	c.log.Warn("isolink: answered a format error with 30", "mti", safeMTI(p.MTI), "stan", safeText(stan), "hex_bitmap", hexBitmap, "err", err.Error())
	if hexBitmap {
		var werr error
		if err := withFrame(resp.AppendPackHexBitmap, c.s.MaxFrame, func(frame []byte) error { werr = c.write(frame); return nil }); err == nil {
			return werr == nil
		}
	}
	return c.send(resp, p) == nil
}

// handle runs the handler for one request and writes its answer.
func (c *srvConn) handle(ctx context.Context, req *iso8583.Message) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("isolink: handler panicked; answering 96", "mti", safeMTI(req.MTI))
			if resp, err := iso8583.NewResponse(req, iso8583.SystemMalfunction); err == nil {
				_ = c.send(resp, req)
			}
		}
	}()
	var resp *iso8583.Message
	switch {
	case !req.MTI.IsRequest():
		c.log.Info("isolink: dropped a message that is not a request", "mti", safeMTI(req.MTI))
		return
	case req.MTI == iso8583.NetworkRequest && !c.s.HandleNetwork:
		resp = AnswerNetwork(req)
	default:
		resp = c.s.Handler(ctx, req)
	}
	if resp != nil {
		_ = c.send(resp, req)
	}
}

// send packs and writes an answer. An answer that does not pack is replaced
// by a 96 for req; a failed write closes the connection.
func (c *srvConn) send(resp, req *iso8583.Message) error {
	var werr error
	write := func(frame []byte) error { werr = c.write(frame); return nil }
	err := withFrame(resp.AppendPack, c.s.MaxFrame, write)
	if err != nil {
		c.log.Error("isolink: the handler's answer does not pack; answering 96", "mti", safeMTI(resp.MTI), "err", fault.MessageOf(err))
		minimal, rerr := iso8583.NewResponse(req, iso8583.SystemMalfunction)
		if rerr != nil {
			return err
		}
		if err := withFrame(minimal.AppendPack, c.s.MaxFrame, write); err != nil {
			return err
		}
	}
	return werr
}

// write writes one frame (header included), coalesced with the answers
// ready at the same time; a failed write closes the connection.
func (c *srvConn) write(frame []byte) error {
	if err := c.w.write(frame); err != nil {
		c.log.Info("isolink: writing an answer failed; closing", "err", fault.MessageOf(err))
		_ = c.conn.Close()
		return err
	}
	return nil
}
