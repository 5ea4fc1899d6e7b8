package isolink

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		max      int
		want     string
		wantErr  error
		wantCode string
	}{
		{"one frame", []byte("\x00\x05hello"), 0, "hello", nil, ""},
		{"frame at the maximum", []byte("\x00\x04abcd"), 4, "abcd", nil, ""},
		{"clean end", nil, 0, "", io.EOF, ""},
		{"zero length header", []byte("\x00\x00hello"), 0, "", ErrBadFrame, "bad_frame"},
		{"oversize header", []byte("\x00\x05hello"), 4, "", ErrBadFrame, "bad_frame"},
		{"oversize header, default maximum", []byte("\xff\xff"), 0, "", ErrBadFrame, "bad_frame"},
		{"header cut", []byte("\x00"), 0, "", ErrConnLost, "connection_lost"},
		{"body cut", []byte("\x00\x05hel"), 0, "", ErrConnLost, "connection_lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if tt.wantCode != "" && fault.CodeOf(err) != tt.wantCode {
				t.Errorf("got code %s, want %s", fault.CodeOf(err), tt.wantCode)
			}
			if string(got) != tt.want {
				t.Errorf("got payload %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteFrame(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"ordinary", []byte("hello"), 0, []byte("\x00\x05hello"), nil},
		{"empty", nil, 0, nil, ErrBadFrame},
		{"above the maximum", make([]byte, 9), 8, nil, ErrBadFrame},
		{"above the default maximum", make([]byte, DefaultMaxFrame+1), 0, nil, ErrBadFrame},
		{"long frame", bytes.Repeat([]byte("x"), 300), 0, append([]byte{1, 44}, bytes.Repeat([]byte("x"), 300)...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteFrame(&buf, tt.payload, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(buf.Bytes(), tt.want) {
				t.Errorf("got %x, want %x", buf.Bytes(), tt.want)
			}
			if err == nil {
				back, err := ReadFrame(&buf, tt.max)
				if err != nil || !bytes.Equal(back, tt.payload) {
					t.Errorf("ReadFrame(WriteFrame): got %q, %v; want the payload", back, err)
				}
			}
		})
	}
}

// FuzzReadFrame reads frames from arbitrary bytes: no panic, every payload
// as long as its header says and within the maximum, and every error one of
// the documented ones.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("\x00\x05hello\x00\x01x"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("\xff\xff"))
	f.Add([]byte("\x00\x09cut"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			p, err := ReadFrame(r, 64)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrConnLost) {
					t.Fatalf("got error %v, want EOF, ErrBadFrame or ErrConnLost", err)
				}
				return
			}
			if len(p) == 0 || len(p) > 64 {
				t.Fatalf("got a payload of %d bytes, want 1..64", len(p))
			}
		}
	})
}
