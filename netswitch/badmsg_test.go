package netswitch_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// rawExchange writes one frame (a 2-byte length and payload, or raw bytes
// when frame is false) and returns the answer's payload, or nil when the
// switch closed the connection.
func rawExchange(t *testing.T, addr string, payload []byte, frame bool) ([]byte, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	out := payload
	if frame {
		out = binary.BigEndian.AppendUint16(nil, uint16(len(payload)))
		out = append(out, payload...)
	}
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the switch neither answered nor closed the connection within 10 s")
		}
		return nil, conn
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("answer cut short: %v", err)
	}
	return body, conn
}

func TestBadMessages(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	e := newEnv(t, db)
	c := e.phone(t, bocDebit).Cards[0]
	good := e.auth(t, c, 100, nettest.Tap{})
	packed, err := good.Pack()
	if err != nil {
		t.Fatal(err)
	}
	without := func(de int) []byte {
		m := good.Clone()
		m.Unset(de)
		_ = m.SetSTAN(e.term.STAN.Next())
		b, _ := m.Pack()
		return b
	}
	garbage55 := func() []byte {
		m := good.Clone()
		_ = m.SetBytes(iso8583.DEICC, []byte{0x9F, 0x26, 0x08, 0x01})
		_ = m.SetSTAN(e.term.STAN.Next())
		b, _ := m.Pack()
		return b
	}
	badBitmap := append([]byte("0100"), make([]byte, 8)...)
	unknownMTI := append([]byte("0900"), packed[4:]...)
	unsupported := append([]byte("0300"), packed[4:]...)
	badChars := append([]byte{}, packed...)
	// DE2's length prefix is at 20 (after MTI and two bitmaps): make it letters.
	badChars[20], badChars[21] = 'x', 'y'

	tests := []struct {
		name    string
		payload []byte
		frame   bool
		want    string // response code, or "" for a closed connection
	}{
		{"truncated", packed[:len(packed)-7], true, "30"},
		{"cut inside the bitmap", packed[:9], true, ""},
		{"zero length header", []byte{0, 0}, false, ""},
		{"length header above the maximum", []byte{0xFF, 0xFF, '0', '1'}, false, ""},
		{"unknown MTI", unknownMTI, true, ""},
		{"unsupported MTI", unsupported, true, "40"},
		{"bad bitmap", badBitmap, true, ""},
		{"bad length prefix", badChars, true, ""},
		{"missing DE55", without(iso8583.DEICC), true, "30"},
		{"missing DE41", without(iso8583.DETerminal), true, "30"},
		{"missing DE4", without(iso8583.DEAmount), true, "30"},
		{"garbage DE55", garbage55(), true, "30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, conn := rawExchange(t, e.addr, tc.payload, tc.frame)
			if tc.want == "" {
				if body != nil {
					m, _ := iso8583.Unpack(body)
					rc := ""
					if m != nil {
						rc = rcOf(m)
					}
					if rc != "30" {
						t.Fatalf("got an answer with %q, want a closed connection or 30", rc)
					}
				}
				return
			}
			if body == nil {
				t.Fatalf("got a closed connection, want an answer with %s", tc.want)
			}
			m, err := iso8583.Unpack(body)
			if err != nil {
				t.Fatalf("the answer does not unpack: %v", err)
			}
			if got := rcOf(m); got != tc.want {
				t.Fatalf("got response code %s, want %s", got, tc.want)
			}
			// The connection still works.
			echo := []byte("0800")
			echo = append(echo, 0x82, 0x20, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0)
			echo = append(echo, []byte("0101120000000777301")...)
			frame := binary.BigEndian.AppendUint16(nil, uint16(len(echo)))
			conn.Write(append(frame, echo...))
			var hdr [2]byte
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(conn, hdr[:]); err != nil {
				t.Fatalf("the connection is stuck or closed after the answer: %v", err)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "isolink") {
		t.Error("no log line for the closed connections")
	}
	// Nothing broke: a good payment still goes through.
	if rc := rcOf(e.send(t, e.auth(t, c, 100, nettest.Tap{}))); rc != "00" {
		t.Fatalf("got %s for a good payment after the bad ones, want 00", rc)
	}
	_ = context.Background
}
