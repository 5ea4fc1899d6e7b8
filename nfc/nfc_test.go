package nfc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// testCard is a tiny card: SELECT answers an FCI, INS B0 answers P2 bytes
// of data, anything else 6D00.
type testCard struct {
	mu     sync.Mutex
	resets int
	atr    []byte
}

func (c *testCard) ATR() []byte { return c.atr }

func (c *testCard) Process(cmd []byte) []byte {
	if len(cmd) < 4 {
		return []byte{0x67, 0x00}
	}
	switch cmd[1] {
	case 0xA4:
		return unhex("6F0A8408A000000333010101" + "9000")
	case 0xB0:
		return append(make([]byte, int(cmd[3])), 0x90, 0x00)
	}
	return []byte{0x6D, 0x00}
}

func (c *testCard) Reset() {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
}

func (c *testCard) resetCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resets
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var selectAID = unhex("00A4040008A00000033301010100")

// listen starts a reader-side listener on a loopback port.
func listen(t *testing.T, cfg Config) *Listener {
	t.Helper()
	l, err := Listen("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveCard dials l as a card and serves card; the result of the serve
// arrives on the returned channel.
func serveCard(t *testing.T, ctx context.Context, l *Listener, card Card, cfg Config) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- DialAndServe(ctx, l.Addr().String(), card, cfg) }()
	return errc
}

func accept(t *testing.T, l *Listener) *Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// rawCard connects to l as a card without serving, for tests that need a
// misbehaving card.
func rawCard(t *testing.T, l *Listener) (net.Conn, *Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, accept(t, l)
}

// rawReader connects a card served with cfg to a raw reader connection,
// for tests that need a misbehaving reader.
func rawReader(t *testing.T, ctx context.Context, card Card, cfg Config) (net.Conn, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- DialAndServe(ctx, ln.Addr().String(), card, cfg) }()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, errc
}

func wait(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the card side did not return: it hangs")
		return nil
	}
}

func TestFullExchange(t *testing.T) {
	ctx := context.Background()
	card := &testCard{atr: unhex("3B8A80018031F873F741E082900075")}
	l := listen(t, Config{})
	errc := serveCard(t, ctx, l, card, Config{})
	r := accept(t, l)

	if err := r.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	atr, err := r.ATR(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(atr, card.atr) {
		t.Errorf("ATR: got %X, want %X", atr, card.atr)
	}
	ex, err := r.Exchange(ctx, selectAID)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex("6F0A8408A0000003330101019000"); !bytes.Equal(ex.Response, want) {
		t.Errorf("response: got %X, want %X", ex.Response, want)
	}
	if ex.Sent != len(selectAID) || ex.Received != 14 {
		t.Errorf("bytes: got sent %d received %d, want %d and 14", ex.Sent, ex.Received, len(selectAID))
	}
	if want := AirTime(len(selectAID)) + AirTime(14); ex.AirTime != want {
		t.Errorf("air time: got %v, want %v", ex.AirTime, want)
	}
	if err := r.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := r.Transmit(ctx, unhex("00B000FF"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 257 || !bytes.Equal(resp[255:], []byte{0x90, 0x00}) {
		t.Errorf("read binary: got %d bytes ending %X, want 257 ending 9000", len(resp), resp[len(resp)-2:])
	}
	if got := card.resetCount(); got != 2 {
		t.Errorf("resets: got %d, want 2 (power on and reset)", got)
	}
	if got, want := r.Counters(), (Counters{Exchanges: 2, Sent: int64(len(selectAID) + 4), Received: 14 + 257}); got != want {
		t.Errorf("counters: got %+v, want %+v", got, want)
	}
	if err := r.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve after the reader closed: got %v, want nil", err)
	}
	if _, err := r.Transmit(ctx, selectAID); !errors.Is(err, ErrLinkClosed) {
		t.Errorf("Transmit after Close: got %v, want ErrLinkClosed", err)
	}
}

// TestWireBytes pins the exact bytes on the link, which is what makes the
// card interoperate with pcscd's vpcd.
func TestWireBytes(t *testing.T) {
	card := &testCard{atr: unhex("3B00")}
	conn, errc := rawReader(t, context.Background(), card, Config{})
	steps := []struct {
		name string
		send string
		want string // "" for no answer
	}{
		{"power on", "000101", ""},
		{"get ATR", "000104", "00023B00"},
		{"reset", "000102", ""},
		{"unknown control is ignored", "000103", ""},
		{"APDU", "000E00A4040008A00000033301010100", "000E6F0A8408A0000003330101019000"},
		{"power off", "000100", ""},
		{"APDU with no such INS", "000480CA9F36", "00026D00"},
	}
	for _, s := range steps {
		if _, err := conn.Write(unhex(s.send)); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want == "" {
			continue
		}
		got := make([]byte, len(s.want)/2)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !bytes.Equal(got, unhex(s.want)) {
			t.Errorf("%s: got %X, want %s", s.name, got, s.want)
		}
	}
	conn.Close()
	if err := wait(t, errc); err != nil {
		t.Errorf("Serve: got %v, want nil", err)
	}
	if got := card.resetCount(); got != 3 {
		t.Errorf("resets: got %d, want 3", got)
	}
}

func TestCardDropsLink(t *testing.T) {
	tests := []struct {
		name   string
		answer []byte // what the card writes before closing
	}{
		{"before answering", nil},
		{"inside the length", []byte{0x00}},
		{"inside the response", []byte{0x00, 0x0A, 0x6F, 0x08, 0x84}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listen(t, Config{})
			conn, r := rawCard(t, l)
			go func() {
				hdr := make([]byte, 2+len(selectAID))
				io.ReadFull(conn, hdr)
				conn.Write(tt.answer)
				conn.Close()
			}()
			_, err := r.Transmit(context.Background(), selectAID)
			if !errors.Is(err, ErrLinkClosed) {
				t.Fatalf("got %v, want ErrLinkClosed", err)
			}
			if _, err := r.Transmit(context.Background(), selectAID); !errors.Is(err, ErrLinkClosed) {
				t.Errorf("next Transmit: got %v, want ErrLinkClosed", err)
			}
		})
	}
}

func TestReaderDropsLink(t *testing.T) {
	tests := []struct {
		name string
		sent string
	}{
		{"inside the length", "00"},
		{"inside the command", "000E00A40400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, errc := rawReader(t, context.Background(), &testCard{atr: []byte{0x3B, 0x00}}, Config{})
			conn.Write(unhex(tt.sent))
			conn.Close()
			if err := wait(t, errc); !errors.Is(err, ErrLinkClosed) {
				t.Errorf("got %v, want ErrLinkClosed", err)
			}
		})
	}
}

func TestOversizedFrames(t *testing.T) {
	t.Run("response longer than the reader's limit", func(t *testing.T) {
		l := listen(t, Config{MaxFrame: 64})
		card := &testCard{}
		serveCard(t, context.Background(), l, card, Config{})
		r := accept(t, l)
		if _, err := r.Transmit(context.Background(), unhex("00B00064")); !errors.Is(err, ErrFrameSize) {
			t.Errorf("got %v, want ErrFrameSize", err)
		}
	})
	t.Run("command longer than a frame is refused before sending", func(t *testing.T) {
		l := listen(t, Config{})
		serveCard(t, context.Background(), l, &testCard{}, Config{})
		r := accept(t, l)
		if _, err := r.Transmit(context.Background(), make([]byte, 65545)); !errors.Is(err, ErrFrameSize) {
			t.Fatalf("got %v, want ErrFrameSize", err)
		}
		if _, err := r.Transmit(context.Background(), selectAID); err != nil {
			t.Errorf("the link should still work: got %v", err)
		}
	})
	t.Run("command under 4 bytes is refused before sending", func(t *testing.T) {
		l := listen(t, Config{})
		serveCard(t, context.Background(), l, &testCard{}, Config{})
		r := accept(t, l)
		if _, err := r.Transmit(context.Background(), []byte{0x00}); !errors.Is(err, ErrProtocol) {
			t.Errorf("got %v, want ErrProtocol", err)
		}
	})
	for _, tt := range []struct{ name, hdr string }{
		{"zero-length frame to the card", "0000"},
		{"frame over the card's limit", "FFFF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, errc := rawReader(t, context.Background(), &testCard{}, Config{MaxFrame: 300})
			conn.Write(unhex(tt.hdr))
			if err := wait(t, errc); !errors.Is(err, ErrFrameSize) {
				t.Errorf("got %v, want ErrFrameSize", err)
			}
		})
	}
	t.Run("zero-length frame to the reader", func(t *testing.T) {
		l := listen(t, Config{})
		conn, r := rawCard(t, l)
		go func() {
			io.ReadFull(conn, make([]byte, 2+len(selectAID)))
			conn.Write([]byte{0, 0})
		}()
		if _, err := r.Transmit(context.Background(), selectAID); !errors.Is(err, ErrFrameSize) {
			t.Errorf("got %v, want ErrFrameSize", err)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Run("card never answers", func(t *testing.T) {
		l := listen(t, Config{ExchangeTimeout: 100 * time.Millisecond})
		conn, r := rawCard(t, l)
		go io.Copy(io.Discard, conn)
		if _, err := r.Transmit(context.Background(), selectAID); !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		if _, err := r.Transmit(context.Background(), selectAID); !errors.Is(err, ErrLinkClosed) {
			t.Errorf("after a timeout: got %v, want ErrLinkClosed", err)
		}
	})
	t.Run("card never sends its ATR", func(t *testing.T) {
		l := listen(t, Config{ExchangeTimeout: 100 * time.Millisecond})
		conn, r := rawCard(t, l)
		go io.Copy(io.Discard, conn)
		if _, err := r.ATR(context.Background()); !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v, want ErrTimeout", err)
		}
	})
	t.Run("reader stops inside a frame", func(t *testing.T) {
		conn, errc := rawReader(t, context.Background(), &testCard{}, Config{FrameTimeout: 100 * time.Millisecond})
		conn.Write(unhex("000E00A4"))
		if err := wait(t, errc); !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v, want ErrTimeout", err)
		}
	})
	t.Run("reader idle longer than IdleTimeout", func(t *testing.T) {
		_, errc := rawReader(t, context.Background(), &testCard{}, Config{IdleTimeout: 100 * time.Millisecond})
		if err := wait(t, errc); !errors.Is(err, ErrTimeout) {
			t.Errorf("got %v, want ErrTimeout", err)
		}
	})
}

func TestContext(t *testing.T) {
	t.Run("cancel stops Serve", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, errc := rawReader(t, ctx, &testCard{}, Config{})
		cancel()
		if err := wait(t, errc); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
	t.Run("cancel stops Accept", func(t *testing.T) {
		l := listen(t, Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		// The listener still works afterwards.
		serveCard(t, context.Background(), l, &testCard{}, Config{})
		r := accept(t, l)
		if _, err := r.Transmit(context.Background(), selectAID); err != nil {
			t.Errorf("after a cancelled Accept: got %v, want nil", err)
		}
	})
	t.Run("cancelled context leaves the link alone", func(t *testing.T) {
		l := listen(t, Config{})
		serveCard(t, context.Background(), l, &testCard{}, Config{})
		r := accept(t, l)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := r.Transmit(ctx, selectAID); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if _, err := r.Transmit(context.Background(), selectAID); err != nil {
			t.Errorf("next Transmit: got %v, want nil", err)
		}
	})
	t.Run("cancel during an exchange", func(t *testing.T) {
		l := listen(t, Config{ExchangeTimeout: 10 * time.Second})
		conn, r := rawCard(t, l)
		go io.Copy(io.Discard, conn)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		if _, err := r.Transmit(ctx, selectAID); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

func TestAirTime(t *testing.T) {
	bit := func(bits int64) time.Duration { return time.Duration(bits * 128 * int64(time.Second) / 13_560_000) }
	tests := []struct {
		name string
		n    int
		want time.Duration
	}{
		{"nothing", 0, 0},
		{"negative", -5, 0},
		{"SELECT command, one block", 14, bit((14+3)*9 + 2)},
		{"a full block", 253, bit((253+3)*9 + 2)},
		{"one byte over a block chains", 254, bit((254+6)*9 + 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AirTime(tt.n); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// 9 bits per byte at 9.44 µs a bit: a 14-byte command is 155 bits, about 1.46 ms.
	if got := AirTime(14); got < 1460*time.Microsecond || got > 1465*time.Microsecond {
		t.Errorf("AirTime(14): got %v, want about 1.463ms", got)
	}
}

func BenchmarkExchange(b *testing.B) {
	l, err := Listen("127.0.0.1:0", Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go DialAndServe(context.Background(), l.Addr().String(), &testCard{}, Config{})
	r, err := l.Accept(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < b.N; i++ {
		if _, err := r.Transmit(context.Background(), selectAID); err != nil {
			b.Fatal(err)
		}
	}
}
