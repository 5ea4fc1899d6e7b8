// Package isolink carries ISO 8583 messages over TCP between tapwallet's
// store terminals, the card network switch and the issuer hosts: every
// message is a frame of a 2-byte big-endian length and the packed message.
// It has the framing (ReadFrame, WriteFrame), a multiplexing Client that
// matches answers to requests by STAN (DE11) and terminal (DE41), a Server
// that answers many connections and many messages per connection at once,
// network management (0800 sign-on and echo), and EchoHandler, a bare
// round-trip baseline. Every read and write has a deadline; nothing hangs.
package isolink

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/tapwallet/tapwallet/fault"
)

// DefaultMaxFrame is the largest frame payload accepted when none is set:
// 8 KiB, well above the largest message tapwallet sends.
const DefaultMaxFrame = 8 << 10

// maxHeader is the largest length a 2-byte header can carry.
const maxHeader = 0xffff

// Errors of this package; match them with errors.Is (fault compares kind and code).
var (
	// ErrBadFrame: a length header of zero or above the maximum. The stream
	// cannot be resynchronised; the connection must be closed.
	ErrBadFrame = fault.E(fault.Invalid, "bad_frame", "isolink: bad frame length header")
	// ErrTimeout: no answer came within the request's time. The sender
	// should reverse an authorization that may have been approved.
	ErrTimeout = fault.E(fault.Unavailable, "response_timeout", "isolink: no response in time")
	// ErrConnLost: the connection ended (closed by either side or broken)
	// before an answer came; every request waiting on it gets this error.
	ErrConnLost = fault.E(fault.Unavailable, "connection_lost", "isolink: connection lost")
	// ErrDuplicate: a request with the same class, STAN and terminal is
	// already waiting for its answer on this client.
	ErrDuplicate = fault.E(fault.Conflict, "duplicate_in_flight", "isolink: a request with this STAN and terminal is already in flight")
)

func maxOrDefault(max int) int {
	if max <= 0 {
		return DefaultMaxFrame
	}
	if max > maxHeader {
		return maxHeader
	}
	return max
}

// ReadFrame reads one frame from r and returns its payload. max bounds the
// payload (0 means DefaultMaxFrame); no more than max bytes are allocated.
// It returns io.EOF when r ends cleanly between frames, ErrBadFrame for a
// header of 0 or above max, and an ErrConnLost error (wrapping the cause, so
// errors.Is(err, os.ErrDeadlineExceeded) works) when reading fails. The
// caller sets the deadline (net.Conn.SetReadDeadline) before every call.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	b, _, err := readFrame(r, max)
	return b, err
}

// readFrame is ReadFrame that also tells whether any byte of the frame was
// read: a timeout before the first byte leaves the stream in sync.
func readFrame(r io.Reader, max int) (payload []byte, started bool, err error) {
	max = maxOrDefault(max)
	var hdr [2]byte
	n, err := io.ReadFull(r, hdr[:])
	if err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, false, io.EOF
		}
		return nil, n > 0, fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: reading a frame header")
	}
	size := int(binary.BigEndian.Uint16(hdr[:]))
	if size == 0 {
		return nil, true, fault.E(fault.Invalid, "bad_frame", "isolink: frame length header is 0")
	}
	if size > max {
		return nil, true, fault.E(fault.Invalid, "bad_frame", "isolink: frame length %d is above the maximum %d", size, max)
	}
	payload = make([]byte, size) // fresh for each frame: the message keeps it (iso8583.UnpackOwned)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, true, fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: reading a frame of %d bytes", size)
	}
	return payload, true, nil
}

// WriteFrame writes payload as one frame with a single Write. It returns
// ErrBadFrame for an empty payload or one above max (0 means
// DefaultMaxFrame), and an ErrConnLost error wrapping the cause when the
// write fails. The caller sets the write deadline and serialises writers.
func WriteFrame(w io.Writer, payload []byte, max int) error {
	if err := checkSize(len(payload), max); err != nil {
		return err
	}
	buf := make([]byte, 2+len(payload))
	binary.BigEndian.PutUint16(buf, uint16(len(payload)))
	copy(buf[2:], payload)
	return write(w, buf)
}

func checkSize(n, max int) error {
	max = maxOrDefault(max)
	if n == 0 {
		return fault.E(fault.Invalid, "bad_frame", "isolink: frame payload is empty")
	}
	if n > max {
		return fault.E(fault.Invalid, "bad_frame", "isolink: frame payload of %d bytes is above the maximum %d", n, max)
	}
	return nil
}

// write writes a whole frame.
func write(w io.Writer, frame []byte) error {
	if _, err := w.Write(frame); err != nil {
		return fault.Wrap(err, fault.Unavailable, "connection_lost", "isolink: writing a frame")
	}
	return nil
}

// frameOfPackInto makes a frame of what appendPack (a Message's AppendPack
// or AppendPackHexBitmap) appends, in dst's room (dst is empty), checked
// against max.
func frameOfPackInto(dst []byte, appendPack func([]byte) ([]byte, error), max int) ([]byte, error) {
	buf, err := appendPack(append(dst, 0, 0))
	if err != nil {
		return nil, err
	}
	if err := checkSize(len(buf)-2, max); err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(buf, uint16(len(buf)-2))
	return buf, nil
}
