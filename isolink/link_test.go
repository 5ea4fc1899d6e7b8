package isolink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
)

const testPAN = "6222020000000004"

// logBuffer collects log lines from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startServer runs s on a loopback port until the test ends and returns
// its address and a function that stops it and returns Serve's result.
func startServer(t testing.TB, s *Server) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, s, ln)
}

// startServerOn is startServer on a listener of the test's.
func startServerOn(t testing.TB, s *Server, ln net.Listener) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("Serve did not return within 10s of cancel")
			}
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

func dial(t testing.TB, addr string, opts Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// authRequest returns an 0100 with the given STAN and terminal, or nil if
// one of them does not fit (which Send then refuses, failing the test).
func authRequest(stan iso8583.STAN, terminal string, fen int64) *iso8583.Message {
	m := iso8583.New(iso8583.AuthorizationRequest)
	for _, err := range []error{
		m.SetString(iso8583.DEPAN, testPAN),
		m.SetString(iso8583.DEProcessingCode, "000000"),
		m.SetAmount(money.Fen(fen)),
		m.SetSTAN(stan),
		m.SetString(iso8583.DEPOSEntryMode, "072"),
		m.SetString(iso8583.DERRN, fmt.Sprintf("%012d", stan)),
		m.SetString(iso8583.DETerminal, terminal),
	} {
		if err != nil {
			return nil
		}
	}
	m.SetTransmissionTime(time.Now())
	return m
}

// authIDFor is what the test issuer answers in DE38, derived from the request.
func authIDFor(stan, terminal string) string {
	return stan[2:] + terminal[6:]
}

// issuer answers like an issuer host, after a random short pause so answers
// come back out of order: DE38 is derived from DE11 and DE41.
func issuer(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	resp, err := iso8583.NewResponse(req, iso8583.Approved)
	if err != nil {
		return nil
	}
	stan, _ := req.String(iso8583.DESTAN)
	tid, _ := req.String(iso8583.DETerminal)
	_ = resp.SetString(iso8583.DEAuthID, authIDFor(stan, tid))
	return resp
}

func TestConcurrentRequestsMatched(t *testing.T) {
	addr, _ := startServer(t, &Server{Handler: issuer})
	clients := make([]*Client, 4)
	for i := range clients {
		clients[i] = dial(t, addr, Options{Timeout: 20 * time.Second})
	}
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two terminals share every STAN, and both go over the same connection.
			stan := iso8583.STAN(i/2 + 1)
			tid := fmt.Sprintf("T%07d", i%2)
			c := clients[(i/2)%len(clients)]
			resp, err := c.Send(context.Background(), authRequest(stan, tid, int64(i+1)))
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			gotSTAN, _ := resp.STAN()
			gotTID, _ := resp.String(iso8583.DETerminal)
			gotAmount, _ := resp.Amount()
			gotAuth, _ := resp.String(iso8583.DEAuthID)
			rc, _ := resp.ResponseCode()
			if gotSTAN != stan || gotTID != tid || gotAmount != money.Fen(int64(i+1)) ||
				gotAuth != authIDFor(stan.String(), tid) || rc != iso8583.Approved || resp.MTI != iso8583.AuthorizationResponse {
				errs <- fmt.Errorf("request %d: got %s STAN %v TID %s amount %v auth %s rc %s, want 0110 STAN %v TID %s amount %v auth %s rc 00",
					i, resp.MTI, gotSTAN, gotTID, gotAmount, gotAuth, rc, stan, tid, money.Fen(int64(i+1)), authIDFor(stan.String(), tid))
			}
		}()
	}
	wg.Wait()
	close(errs)
	count := 0
	for err := range errs {
		if count++; count <= 10 {
			t.Error(err)
		}
	}
	if count > 0 {
		t.Errorf("got %d mismatched or failed requests of %d, want 0", count, n)
	}
}

func TestResponseTimeout(t *testing.T) {
	release := make(chan struct{})
	handler := func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		switch stan, _ := req.STAN(); stan {
		case 666:
			return nil // never answers
		case 777:
			<-release // answers only after the client gave up
		}
		return EchoHandler(ctx, req)
	}
	addr, _ := startServer(t, &Server{Handler: handler})
	t.Cleanup(func() { close(release) }) // before the server stops: it waits for its handlers
	c := dial(t, addr, Options{Timeout: 200 * time.Millisecond})

	tests := []struct {
		name string
		stan iso8583.STAN
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"no answer, client timeout", 666, func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, ErrTimeout},
		{"late answer, ctx deadline", 777, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, ErrTimeout},
		{"cancelled", 666, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(20*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			resp, err := c.Send(ctx, authRequest(tt.stan, "T0000001", 100))
			if resp != nil || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want %v", resp, err, tt.want)
			}
			if fault.KindOf(err) != fault.Unavailable {
				t.Errorf("got kind %s, want unavailable", fault.KindOf(err))
			}
		})
	}
	// The client still works, and a STAN that timed out can be used again.
	resp, err := c.Send(context.Background(), authRequest(666+1, "T0000001", 100))
	if err != nil {
		t.Fatalf("Send after timeouts: got %v, want an answer", err)
	}
	if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
		t.Errorf("Send after timeouts: got DE39 %s, want 00", rc)
	}
}

// rawServer accepts one connection and runs fn on it.
func rawServer(t *testing.T, fn func(conn net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		fn(conn)
	}()
	return ln.Addr().String()
}

func TestServerDropsConnectionMidFlight(t *testing.T) {
	const inFlight = 20
	received := make(chan struct{})
	addr := rawServer(t, func(conn net.Conn) {
		for i := 0; i < inFlight; i++ {
			if _, err := ReadFrame(conn, 0); err != nil {
				return
			}
		}
		close(received)
		// Close without answering anything.
	})
	c := dial(t, addr, Options{Timeout: time.Minute})
	var wg sync.WaitGroup
	errs := make([]error, inFlight)
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Send(context.Background(), authRequest(iso8583.STAN(i+1), "T0000001", 1))
		}()
	}
	wg.Wait()
	<-received
	for i, err := range errs {
		if !errors.Is(err, ErrConnLost) {
			t.Errorf("request %d: got %v, want ErrConnLost (not a timeout: the minute has not passed)", i, err)
		}
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done: got open, want closed after the connection dropped")
	}
	if _, err := c.Send(context.Background(), authRequest(99, "T0000001", 1)); !errors.Is(err, ErrConnLost) {
		t.Errorf("Send on a dead client: got %v, want ErrConnLost", err)
	}
	if !errors.Is(c.Err(), ErrConnLost) {
		t.Errorf("Err: got %v, want ErrConnLost", c.Err())
	}
}

func TestClientClose(t *testing.T) {
	block := make(chan struct{})
	addr, _ := startServer(t, &Server{Handler: func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		<-block
		return nil
	}})
	t.Cleanup(func() { close(block) }) // before the server stops: it waits for its handlers
	c := dial(t, addr, Options{Timeout: time.Minute})
	done := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), authRequest(1, "T0000001", 1))
		done <- err
	}()
	waitPending(t, c, 1)
	if err := c.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if err := <-done; !errors.Is(err, ErrConnLost) {
		t.Errorf("Send during Close: got %v, want ErrConnLost", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestSendRefuses(t *testing.T) {
	block := make(chan struct{})
	addr, _ := startServer(t, &Server{Handler: func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		<-block
		return nil
	}})
	t.Cleanup(func() { close(block) }) // before the server stops: it waits for its handlers
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	noSTAN := authRequest(1, "T0000001", 1)
	noSTAN.Unset(iso8583.DESTAN)
	answer, err := iso8583.NewResponse(authRequest(1, "T0000001", 1), iso8583.Approved)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    *iso8583.Message
		want error
	}{
		{"nil message", nil, iso8583.ErrFormat},
		{"an answer", answer, iso8583.ErrFormat},
		{"no STAN", noSTAN, iso8583.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Send(context.Background(), tt.m); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("duplicate in flight", func(t *testing.T) {
		first := make(chan error, 1)
		go func() {
			_, err := c.Send(context.Background(), authRequest(42, "T0000001", 1))
			first <- err
		}()
		waitPending(t, c, 1)
		if _, err := c.Send(context.Background(), authRequest(42, "T0000001", 1)); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second Send with the same STAN and terminal: got %v, want ErrDuplicate", err)
		}
	})
}

// waitPending waits until n requests are registered on c.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == n
	}, fmt.Sprintf("%d requests in flight", n))
}

// frameOf puts a 2-byte length header in front of payload.
func frameOf(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(payload))), payload...)
}

func mustPack(t *testing.T, m *iso8583.Message) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outside0100 is an 0100 as codecs that always send the secondary bitmap
// write it (npm iso_8583, Postilion-style hosts), built byte by byte and not
// by iso8583's Pack: bit 1 set, a secondary bitmap of zeros, then DE3, DE4,
// DE11 and DE41.
func outside0100(stan int) []byte {
	return append([]byte("0100"+
		"\xb0\x20\x00\x00\x00\x80\x00\x00"+ // primary: 1, 3, 4, 11, 41
		"\x00\x00\x00\x00\x00\x00\x00\x00"), // secondary: none
		fmt.Sprintf("000000"+"000000000500"+"%06d"+"T0000009", stan)...)
}

// TestOutsideCodecMessages sends what other codecs write: an ASCII-hex
// bitmap gets a 30 in an ASCII-hex bitmap (so its sender can read it) and
// the connection stays open; one whose DE11 and DE41 cannot be found is
// closed with a log line that says why.
func TestOutsideCodecMessages(t *testing.T) {
	logs := &logBuffer{}
	addr, _ := startServer(t, &Server{Handler: EchoHandler, Log: slog.New(slog.NewTextHandler(logs, nil))})
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	hexAuth := "0100" + "3020000000800000" + "000000" + "000000000500" + "000042" + "T0000009" // DE3, 4, 11, 41
	if _, err := conn.Write(frameOf([]byte(hexAuth))); err != nil {
		t.Fatal(err)
	}
	payload, err := ReadFrame(conn, 0)
	if err != nil {
		t.Fatalf("ASCII-hex bitmap: got %v, want an answer", err)
	}
	// 0110 with DE3, 4, 11, 39, 41 echoed, the bitmap in ASCII hex.
	want := "0110" + "3020000002800000" + "000000" + "000000000500" + "000042" + "30" + "T0000009"
	if string(payload) != want {
		t.Errorf("ASCII-hex bitmap: got %q, want %q", payload, want)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "hex_bitmap=true") }, "a log line naming the hex bitmap")
	if _, err := conn.Write(frameOf(outside0100(10))); err != nil {
		t.Fatal(err)
	}
	if payload, err = ReadFrame(conn, 0); err != nil {
		t.Fatalf("after the hex bitmap: got %v, want an answer", err)
	}
	if resp, err := iso8583.Unpack(payload); err != nil || resp.MTI != iso8583.AuthorizationResponse {
		t.Errorf("after the hex bitmap: got %v, %v; want an 0110", resp, err)
	}
	// Hex digits, but the bitmap names an element without a spec first.
	if _, err := conn.Write(frameOf([]byte("0100" + "0800000000000000" + "1"))); err != nil {
		t.Fatal(err)
	}
	if payload, err := ReadFrame(conn, 0); !errors.Is(err, io.EOF) && !errors.Is(err, ErrConnLost) {
		t.Fatalf("unanswerable hex-bitmap message: got %x, %v; want the connection closed", payload, err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "the link takes binary bitmaps only") }, "a log line saying why")
}

// TestClientReadsZeroSecondaryBitmap: the terminal's client takes an 0110
// with a secondary bitmap of zeros as the answer (it used to drop it, time
// out and reverse an approved payment).
func TestClientReadsZeroSecondaryBitmap(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	c := NewClient(client, Options{Timeout: 5 * time.Second})
	defer c.Close()
	go func() {
		if _, err := ReadFrame(server, 0); err != nil {
			return
		}
		answer := append([]byte("0110"+
			"\x80\x20\x00\x00\x06\x80\x00\x00"+ // primary: 1, 11, 38, 39, 41
			"\x00\x00\x00\x00\x00\x00\x00\x00"), // secondary: none
			"000077"+"A1B2C3"+"00"+"T0000009"...)
		_, _ = server.Write(frameOf(answer))
	}()
	resp, err := c.Send(context.Background(), authRequest(77, "T0000009", 500))
	if err != nil {
		t.Fatalf("Send: got %v, want the 0110", err)
	}
	if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
		t.Errorf("DE39: got %s, want 00", rc)
	}
	if code, _ := resp.String(iso8583.DEAuthID); code != "A1B2C3" {
		t.Errorf("DE38: got %q, want A1B2C3", code)
	}
}

func TestGarbageFrames(t *testing.T) {
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr, _ := startServer(t, &Server{Handler: EchoHandler, Log: log})
	good := dial(t, addr, Options{Timeout: 5 * time.Second})

	full := mustPack(t, authRequest(4711, "T0000009", 500))
	withDE43 := authRequest(4712, "T0000009", 500)
	if err := withDE43.SetString(iso8583.DEMerchantName, fmt.Sprintf("%-40s", "SHOP "+testPAN)); err != nil {
		t.Fatal(err)
	}
	cut := mustPack(t, withDE43)
	cut = cut[:len(cut)-5] // DE43 cut short, after DE11 and DE41
	badDigits := bytes.Replace(bytes.Clone(full), []byte("000000000500"), []byte("0000000005x0"), 1)
	notAnswerable := func(mti string, bitmap ...byte) []byte { return append([]byte(mti), bitmap...) }
	other := iso8583.New("0300")
	_ = other.SetSTAN(5)
	_ = other.SetString(iso8583.DETerminal, "T0000009")

	tests := []struct {
		name      string
		send      []byte // whole bytes on the wire, header included
		wantRC    iso8583.ResponseCode
		wantMTI   iso8583.MTI
		wantSTAN  iso8583.STAN
		wantClose bool
		wantLog   string
	}{
		{"truncated message", frameOf(cut), iso8583.FormatError, "0110", 4712, false, "answered a format error"},
		{"non-digits in the amount", frameOf(badDigits), iso8583.FormatError, "0110", 4711, false, "DE4"},
		{"element without a spec", frameOf(append(notAnswerable("0100", 0x00, 0x20, 0x00, 0x00, 0x01, 0, 0, 0), "000006123"...)), iso8583.FormatError, "0110", 6, false, "DE40"},
		{"unsupported but well-formed MTI", frameOf(mustPack(t, other)), iso8583.FunctionNotSupported, "0310", 5, false, ""},
		{"secondary bitmap of zeros (outside codec)", frameOf(outside0100(9)), iso8583.Approved, "0110", 9, false, ""},
		{"bad characters in DE11, DE41 readable", frameOf(append(notAnswerable("0100", 0x00, 0x20, 0, 0, 0, 0x80, 0, 0), "00004x"+"T0000009"...)), iso8583.FormatError, "0110", 0, false, "DE11"},
		{"zero length header", []byte{0, 0, '0', '1'}, "", "", 0, true, "bad frame header"},
		{"oversize length header", []byte{0xff, 0xff, '0', '1'}, "", "", 0, true, "bad frame header"},
		{"unknown MTI", frameOf(append(notAnswerable("0900", 0x00, 0x20, 0, 0, 0, 0, 0, 0), "000007"...)), "", "", 0, true, "cannot be answered"},
		{"MTI not digits", frameOf(append(notAnswerable("01X0", 0x00, 0x20, 0, 0, 0, 0, 0, 0), "000008"...)), "", "", 0, true, "cannot be answered"},
		{"bad bitmap", frameOf(append(notAnswerable("0100", 0x80, 0, 0, 0, 0, 0, 0, 0), make([]byte, 8)...)), "", "", 0, true, "bad bitmap"},
		{"garbage PAN text", frameOf([]byte(testPAN)), "", "", 0, true, "cannot be answered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			payload, err := ReadFrame(conn, 0)
			if tt.wantClose {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrConnLost) {
					t.Fatalf("got %x, %v; want the connection closed", payload, err)
				}
			} else {
				if err != nil {
					t.Fatalf("got %v, want an answer", err)
				}
				resp, err := iso8583.Unpack(payload)
				if err != nil {
					t.Fatalf("answer does not unpack: %v", err)
				}
				rc, _ := resp.ResponseCode()
				stan, _ := resp.STAN()
				if resp.MTI != tt.wantMTI || rc != tt.wantRC || stan != tt.wantSTAN {
					t.Errorf("got %s DE39 %s DE11 %v, want %s DE39 %s DE11 %v", resp.MTI, rc, stan, tt.wantMTI, tt.wantRC, tt.wantSTAN)
				}
				// The connection keeps working after a format error.
				if _, err := conn.Write(frameOf(full)); err != nil {
					t.Fatal(err)
				}
				payload, err := ReadFrame(conn, 0)
				if err != nil {
					t.Fatalf("after the format error: got %v, want an answer", err)
				}
				if resp, err := iso8583.Unpack(payload); err != nil || resp.MTI != iso8583.AuthorizationResponse {
					t.Errorf("after the format error: got %v, %v; want an 0110", resp, err)
				}
			}
			if tt.wantLog != "" {
				waitFor(t, func() bool { return strings.Contains(logs.String(), tt.wantLog) }, "a log line with "+tt.wantLog)
			}
		})
	}
	// The other connection was never disturbed.
	resp, err := good.Send(context.Background(), authRequest(1, "T0000001", 1))
	if err != nil {
		t.Fatalf("Send on another connection after the garbage: got %v, want an answer", err)
	}
	if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
		t.Errorf("Send on another connection: got DE39 %s, want 00", rc)
	}
	out := logs.String()
	for _, secret := range []string{testPAN, "SHOP", "0000000005x0"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks message bytes (%s):\n%s", secret, out)
		}
	}
}

// waitFor polls cond for up to 5 seconds (no timing is asserted: only that it happens).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("got no %s within 5s", what)
		}
	}
}

func TestNetworkManagement(t *testing.T) {
	var seen atomic.Int32
	byHandler := func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		if req.MTI == iso8583.NetworkRequest {
			seen.Add(1)
		}
		return EchoHandler(ctx, req)
	}
	tests := []struct {
		name          string
		handleNetwork bool
		code          iso8583.NetworkCode
		want          error
		wantSeen      int32
	}{
		{"sign-on answered by the server", false, iso8583.SignOn, nil, 0},
		{"echo answered by the server", false, iso8583.EchoTest, nil, 0},
		{"sign-off answered by the server", false, iso8583.SignOff, nil, 0},
		{"unknown code declined", false, "999", fault.E(fault.Declined, "network_declined", ""), 0},
		{"echo passed to the handler", true, iso8583.EchoTest, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen.Store(0)
			addr, _ := startServer(t, &Server{Handler: byHandler, HandleNetwork: tt.handleNetwork})
			c := dial(t, addr, Options{Timeout: 5 * time.Second})
			err := c.Network(context.Background(), tt.code)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if got := seen.Load(); got != tt.wantSeen {
				t.Errorf("0800s seen by the handler: got %d, want %d", got, tt.wantSeen)
			}
		})
	}
}

func TestAnswerNetwork(t *testing.T) {
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	noCode := NetworkRequest(iso8583.SignOn, 3, now)
	noCode.Unset(iso8583.DENetworkCode)
	acquirerSignOn := NetworkRequest(iso8583.SignOn, 1, now)
	_ = acquirerSignOn.SetString(iso8583.DEAcquirer, "48021000")
	_ = acquirerSignOn.SetString(iso8583.DETerminal, "T0000001")
	tests := []struct {
		name string
		req  *iso8583.Message
		want iso8583.ResponseCode
	}{
		{"sign-on", acquirerSignOn, iso8583.Approved},
		{"echo", NetworkRequest(iso8583.EchoTest, 2, now), iso8583.Approved},
		{"unknown code", NetworkRequest("555", 2, now), iso8583.FunctionNotSupported},
		{"no DE70", noCode, iso8583.FormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := AnswerNetwork(tt.req)
			if resp == nil || resp.MTI != iso8583.NetworkResponse {
				t.Fatalf("got %v, want an 0810", resp)
			}
			rc, _ := resp.ResponseCode()
			if rc != tt.want {
				t.Errorf("DE39: got %s, want %s", rc, tt.want)
			}
			for _, de := range []int{iso8583.DETransmission, iso8583.DESTAN, iso8583.DEAcquirer, iso8583.DETerminal, iso8583.DENetworkCode} {
				g, _ := resp.String(de)
				w, _ := tt.req.String(de)
				if g != w {
					t.Errorf("DE%d: got %s, want %s echoed", de, g, w)
				}
			}
			if _, err := resp.Pack(); err != nil {
				t.Errorf("Pack: got %v, want nil", err)
			}
		})
	}
	if got := AnswerNetwork(iso8583.New(iso8583.AuthorizationRequest)); got != nil {
		t.Errorf("AnswerNetwork(0100): got %v, want nil", got)
	}
}

func TestEchoHandler(t *testing.T) {
	tests := []struct {
		mti    iso8583.MTI
		want   iso8583.MTI
		wantRC iso8583.ResponseCode
	}{
		{"0100", "0110", iso8583.Approved},
		{"0200", "0210", iso8583.Approved},
		{"0400", "0410", iso8583.Approved},
		{"0401", "0410", iso8583.Approved},
		{"0120", "0130", iso8583.FunctionNotSupported},
		{"0800", "0810", iso8583.Approved},
		{"0110", "", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.mti), func(t *testing.T) {
			req := authRequest(12, "T0000012", 1)
			req.MTI = tt.mti
			if tt.mti == "0800" {
				req = NetworkRequest(iso8583.EchoTest, 12, time.Now())
			}
			resp := EchoHandler(context.Background(), req)
			if tt.want == "" {
				if resp != nil {
					t.Errorf("got %v, want no answer", resp)
				}
				return
			}
			if resp == nil {
				t.Fatalf("got no answer, want %s", tt.want)
			}
			rc, _ := resp.ResponseCode()
			stan, _ := resp.STAN()
			if resp.MTI != tt.want || rc != tt.wantRC || stan != 12 {
				t.Errorf("got %s DE39 %s DE11 %v, want %s DE39 %s DE11 000012", resp.MTI, rc, stan, tt.want, tt.wantRC)
			}
			if tt.mti != "0800" {
				rrn, _ := resp.String(iso8583.DERRN)
				tid, _ := resp.String(iso8583.DETerminal)
				if rrn != "000000000012" || tid != "T0000012" || resp.Has(iso8583.DEPAN) {
					t.Errorf("got DE37 %s DE41 %s DE2 present %v, want 000000000012, T0000012, false", rrn, tid, resp.Has(iso8583.DEPAN))
				}
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	handler := func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		close(entered)
		<-release
		return EchoHandler(ctx, req)
	}
	addr, stop := startServer(t, &Server{Handler: handler})
	c := dial(t, addr, Options{Timeout: 10 * time.Second})
	answer := make(chan error, 1)
	go func() {
		resp, err := c.Send(context.Background(), authRequest(1, "T0000001", 1))
		if err == nil {
			if rc, _ := resp.ResponseCode(); rc != iso8583.Approved {
				err = fmt.Errorf("got DE39 %s, want 00", rc)
			}
		}
		answer <- err
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// New connections are refused once the listener is closed.
	waitFor(t, func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "refused connection after shutdown began")
	close(release)
	if err := <-answer; err != nil {
		t.Errorf("request in flight during shutdown: got %v, want its answer", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: got %v, want nil after a graceful shutdown", err)
	}
	waitFor(t, func() bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}, "client connection closed by the server")
}

func TestServerRecoversFromHandlerPanic(t *testing.T) {
	addr, _ := startServer(t, &Server{Handler: func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		if stan, _ := req.STAN(); stan == 13 {
			panic("bug")
		}
		bad := iso8583.New(iso8583.AuthorizationResponse) // an answer that does not pack: no elements
		if stan, _ := req.STAN(); stan == 14 {
			return bad
		}
		return EchoHandler(ctx, req)
	}})
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	tests := []struct {
		name string
		stan iso8583.STAN
		want iso8583.ResponseCode
	}{
		{"handler panics", 13, iso8583.SystemMalfunction},
		{"answer does not pack", 14, iso8583.SystemMalfunction},
		{"ordinary request afterwards", 15, iso8583.Approved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.Send(context.Background(), authRequest(tt.stan, "T0000001", 1))
			if err != nil {
				t.Fatalf("got %v, want an answer", err)
			}
			if rc, _ := resp.ResponseCode(); rc != tt.want {
				t.Errorf("DE39: got %s, want %s", rc, tt.want)
			}
		})
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	addr, _ := startServer(t, &Server{Handler: EchoHandler, IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr, Options{})
	waitFor(t, func() bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}, "idle connection closed by the server")
	if !errors.Is(c.Err(), ErrConnLost) {
		t.Errorf("Err: got %v, want ErrConnLost", c.Err())
	}
}

func TestClientGivesUpOnSilentPeer(t *testing.T) {
	addr := rawServer(t, func(conn net.Conn) {
		_, _ = io.Copy(io.Discard, conn) // reads everything, answers nothing
	})
	c := dial(t, addr, Options{Timeout: 50 * time.Millisecond, ReadTimeout: 150 * time.Millisecond})
	if _, err := c.Send(context.Background(), authRequest(1, "T0000001", 1)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	waitFor(t, func() bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}, "connection closed after the peer stayed silent")
}

func TestClientMatchesAnswersWithoutTerminal(t *testing.T) {
	// A peer that answers a format error with DE11 only, and sends an echo
	// of its own, which the client must answer.
	echoAnswered := make(chan *iso8583.Message, 1)
	addr := rawServer(t, func(conn net.Conn) {
		payload, err := ReadFrame(conn, 0)
		if err != nil {
			return
		}
		req, err := iso8583.Unpack(payload)
		if err != nil {
			return
		}
		echo, _ := NetworkRequest(iso8583.EchoTest, 900, time.Now()).Pack()
		if err := WriteFrame(conn, echo, 0); err != nil {
			return
		}
		resp := iso8583.New(iso8583.AuthorizationResponse)
		resp.Copy(req, iso8583.DESTAN)
		_ = resp.SetResponseCode(iso8583.FormatError)
		answer, _ := resp.Pack()
		if err := WriteFrame(conn, answer, 0); err != nil {
			return
		}
		payload, err = ReadFrame(conn, 0)
		if err != nil {
			return
		}
		m, _ := iso8583.Unpack(payload)
		echoAnswered <- m
	})
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	resp, err := c.Send(context.Background(), authRequest(31, "T0000031", 1))
	if err != nil {
		t.Fatalf("got %v, want the format-error answer", err)
	}
	if rc, _ := resp.ResponseCode(); rc != iso8583.FormatError {
		t.Errorf("DE39: got %s, want 30", rc)
	}
	select {
	case m := <-echoAnswered:
		rc, _ := m.ResponseCode()
		if m == nil || m.MTI != iso8583.NetworkResponse || rc != iso8583.Approved {
			t.Errorf("client's answer to the peer's echo: got %v, want 0810 with DE39 00", m)
		}
	case <-time.After(5 * time.Second):
		t.Error("client's answer to the peer's echo: got none within 5s")
	}
}

// TestConnectionLimits floods a server: connections beyond the limit per
// source and in total are closed at once with a log line each; those within
// are answered; a place freed by a close is taken again.
func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name    string
		limits  ConnLimits
		wantLog string
	}{
		{"per source", ConnLimits{Total: 100, PerSource: 3}, "too many connections from one source address"},
		{"in total", ConnLimits{Total: 3, PerSource: 100}, "too many connections in total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logBuffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr, _ := startServerOn(t, &Server{Handler: EchoHandler, Log: log}, LimitListener(ln, tt.limits, log))
			var clients []*Client
			for i := range 3 {
				c := dial(t, addr, Options{Timeout: 5 * time.Second})
				if _, err := c.Send(context.Background(), authRequest(iso8583.STAN(i+1), "T0000001", 1)); err != nil {
					t.Fatalf("connection %d within the limit: got %v, want an answer", i+1, err)
				}
				clients = append(clients, c)
			}
			for i := range 5 {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = conn.Write(frameOf(mustPack(t, authRequest(iso8583.STAN(10+i), "T0000002", 1))))
				if payload, err := ReadFrame(conn, 0); !errors.Is(err, io.EOF) && !errors.Is(err, ErrConnLost) {
					t.Errorf("connection %d beyond the limit: got %x, %v; want it closed", 4+i, payload, err)
				}
				conn.Close()
			}
			waitFor(t, func() bool { return strings.Count(logs.String(), tt.wantLog) == 5 }, "5 log lines "+tt.wantLog)
			if !strings.Contains(logs.String(), "source=127.0.0.1") || !strings.Contains(logs.String(), "limit=3") {
				t.Errorf("refusal log lacks the source or the limit:\n%s", logs)
			}
			clients[0].Close()
			var again *Client
			waitFor(t, func() bool {
				c, err := Dial(context.Background(), addr, Options{Timeout: time.Second})
				if err != nil {
					return false
				}
				if _, err := c.Send(context.Background(), authRequest(99, "T0000001", 1)); err != nil {
					c.Close()
					return false
				}
				again = c
				return true
			}, "a connection answered after one closed")
			again.Close()
		})
	}
}

// TestDefaultConnectionLimits: a Server on a plain listener applies the
// default limits.
func TestDefaultConnectionLimits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	addr, _ := startServerOn(t, &Server{Handler: EchoHandler, Log: slog.New(slog.NewTextHandler(logs, nil))}, ln)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range DefaultMaxConnsPerSource + 1 {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	waitFor(t, func() bool {
		return strings.Count(logs.String(), "too many connections from one source address") == 1
	}, "one refusal at the default limit per source")
}
