package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	acqsql "github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/qpboc"
)

// tapUntilListening runs `phone tap` until the terminal listens (a refused
// dial makes no tap).
func tapUntilListening(t *testing.T, envv map[string]string, args ...string) (string, string, error) {
	t.Helper()
	for i := 0; ; i++ {
		out, errs, err := runCLI(t, envv, args...)
		if err == nil || !strings.Contains(err.Error(), "refused") || i == 100 {
			return out, errs, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPosChargeAndPhoneTap runs `tapwallet pos charge` and `tapwallet phone
// tap` against each other: the first tap without a fingerprint gets "see
// phone", the second with one pays, and the terminal prints the masked
// trace and the authorization request.
func TestPosChargeAndPhoneTap(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv, green := phoneWithCard(t, p, "pat@example.com", nil)
	addr := freeAddr(t)
	type result struct {
		out string
		err error
	}
	posDone := make(chan result, 1)
	go func() {
		out, _, err := runCLI(t, envv, "pos", "charge", "--amount", "12.34", "--listen", addr, "--trace", "--timeout", "20s", "--merchant", "CORNER SHOP")
		posDone <- result{out, err}
	}()

	out, _, err := tapUntilListening(t, envv, "phone", "tap", "--reader", addr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "see phone") || !strings.Contains(out, "12.34 CNY at CORNER SHOP") || !strings.Contains(out, "tap again") {
		t.Fatalf("tap without fingerprint: got %q, %v; want see phone and exit code 1", out, err)
	}
	out, _, err = runCLI(t, envv, "phone", "tap", "--reader", addr, "--finger", "right-thumb")
	if err != nil || !strings.Contains(out, "12.34 CNY at CORNER SHOP with card ending "+green.PAN.Last4()) {
		t.Fatalf("tap with fingerprint: got %q, %v; want the payment sent", out, err)
	}
	pos := <-posDone
	if pos.err != nil {
		t.Fatalf("pos charge: %v\n%s", pos.err, pos.out)
	}
	for _, want := range []string{
		"[terminal] verify on your phone and tap again",
		"← 6986 see phone",
		"→ GET PROCESSING OPTIONS",
		"4 APDUs",
		"estimated air time",
		"0100 DE2=",
		"DE22=072",
		"DE43=CORNER SHOP",
		"DE11=000001", // the terminal's own counter, kept in its state file
		"DE55=[",
	} {
		if !strings.Contains(pos.out, want) {
			t.Errorf("pos output lacks %q:\n%s", want, pos.out)
		}
	}
	// The terminal's books keep its STAN: the next number is 2.
	st, err := acqsql.Open(context.Background(), "", envv["TAPWALLET_POS_STATE"])
	if err != nil {
		t.Fatal(err)
	}
	if stan, _, err := st.Counters("T0000001").Next(context.Background(), time.Now(), false); err != nil || stan != 2 {
		t.Errorf("terminal state: the next STAN is %v (%v), want 000002 (000001 kept)", stan, err)
	}
	st.Close()
	var tokenDigits string
	cards, _, _ := runCLI(t, envv, "phone", "cards")
	for _, f := range strings.Fields(cards) {
		if len(f) == 4 && strings.Contains(pos.out, "******"+f) {
			tokenDigits = f
		}
	}
	if tokenDigits == "" {
		t.Errorf("pos output shows no masked token ending in one of the phone's tokens:\n%s", pos.out)
	}
	if strings.Contains(pos.out, green.PAN.Digits()) || strings.Contains(pos.out, "D3012") {
		t.Errorf("pos output shows card data unmasked:\n%s", pos.out)
	}
}

func TestFingerLockCLI(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv := map[string]string{"TAPWALLET_PASSWORD": "password-123", "TAPWALLET_SERVER": p.URL, "TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone")}
	for _, args := range [][]string{
		{"phone", "signup", "--email", "lee@example.com"},
		{"phone", "login", "--email", "lee@example.com"},
		{"phone", "enroll-finger"},
	} {
		if _, _, err := runCLI(t, envv, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for i := 1; i <= 5; i++ {
		_, _, err := runCLI(t, envv, "phone", "verify-finger", "--finger", "left-thumb")
		want := "fingerprint not recognised"
		if i == 5 {
			want = "payments are locked"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("wrong finger %d: got %v, want %q", i, err, want)
		}
	}
	if _, _, err := runCLI(t, envv, "phone", "verify-finger"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("right finger while locked: got %v, want locked", err)
	}
	bad := map[string]string{"TAPWALLET_PASSWORD": "wrong", "TAPWALLET_SERVER": envv["TAPWALLET_SERVER"], "TAPWALLET_PROFILE": envv["TAPWALLET_PROFILE"]}
	if _, _, err := runCLI(t, bad, "phone", "unlock"); err == nil {
		t.Errorf("unlock with a wrong password: got nil, want an error")
	}
	if out, _, err := runCLI(t, envv, "phone", "unlock"); err != nil || !strings.Contains(out, "unlocked") {
		t.Fatalf("unlock: got %q, %v", out, err)
	}
	if out, _, err := runCLI(t, envv, "phone", "verify-finger"); err != nil || !strings.Contains(out, "verified") {
		t.Errorf("right finger after unlock: got %q, %v", out, err)
	}
}

func TestTapCommandsUsage(t *testing.T) {
	envv := map[string]string{"TAPWALLET_PROFILE": filepath.Join(t.TempDir(), "phone"), "TAPWALLET_POS_STATE": filepath.Join(t.TempDir(), "pos")}
	for _, args := range [][]string{
		{"pos"},
		{"pos", "refund"},
		{"pos", "charge", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "12.345", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "-1", "--listen", "127.0.0.1:0"},
		{"pos", "charge", "--amount", "1", "--listen", "127.0.0.1:0", "--currency", "1000"},
		{"pos", "charge", "--amount", "1", "--listen", "127.0.0.1:0", "--terminal", "TOO-LONG-ID"},
		{"pos", "charge", "--amount", "1"},
		{"phone", "tap"},
		{"phone", "tap", "--reader", "127.0.0.1:1", "--timeout", "0s"},
		{"phone", "enroll-finger", "--finger", ""},
		{"bench", "tap", "--count", "0"},
	} {
		_, _, err := runCLI(t, envv, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: got %v, want exit code 2", args, err)
		}
	}
}

func TestBenchTapJSON(t *testing.T) {
	out, _, err := runCLI(t, nil, "bench", "tap", "--count", "5", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var f struct {
		Taps  int     `json:"taps"`
		P50   float64 `json:"p50_ms"`
		P99   float64 `json:"p99_ms"`
		Bytes int     `json:"bytes"`
		Air   float64 `json:"air_ms"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if f.Taps != 5 || f.Bytes == 0 || f.Air <= 0 || f.P99 < f.P50 {
		t.Errorf("figures: got %+v, want 5 taps, bytes, air time and p99 >= p50", f)
	}
}

// TestPosRefusesAmounts: an amount the authorization cannot carry (DE4 and
// the chip's 9F02 are 12 digits of minor units) and a zero sale are refused
// at start with a clear text, before any tap.
func TestPosRefusesAmounts(t *testing.T) {
	envv := map[string]string{"TAPWALLET_POS_STATE": t.TempDir()}
	tests := []struct{ amount, want string }{
		{"99999999999", "cannot be sent: the authorization carries at most 12 digits of minor units (DE4 and the chip's 9F02), so at most 9999999999.99 CNY"},
		{"10000000000", "cannot be sent"},
		{"0", "--amount must be above zero for a sale"},
		{"0.00", "--amount must be above zero for a sale"},
	}
	for _, tt := range tests {
		t.Run(tt.amount, func(t *testing.T) {
			_, _, err := runCLI(t, envv, "pos", "charge", "--amount", tt.amount, "--listen", "127.0.0.1:0")
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error (exit 2) saying %q", err, tt.want)
			}
		})
	}
	// The largest amount that fits starts the terminal (and times out
	// waiting for a tap).
	out, _, err := runCLI(t, envv, "pos", "charge", "--amount", "9999999999.99", "--listen", "127.0.0.1:0", "--timeout", "50ms")
	var ee *exitError
	if (errors.As(err, &ee) && ee.code == 2) || !strings.Contains(out, "charge 9999999999.99 CNY, waiting for a tap") {
		t.Errorf("the largest amount: got %q, %v; want the terminal started", out, err)
	}
}

// testAuth is a terminal's 0100 for the network tests.
func testAuth(t *testing.T) *iso8583.Message {
	t.Helper()
	m := iso8583.New(iso8583.AuthorizationRequest)
	now := time.Now()
	err := errors.Join(m.SetString(iso8583.DEPAN, "6288010000000004"), m.SetString(iso8583.DEProcessingCode, "000000"),
		m.SetAmount(money.Fen(1234)), m.SetSTAN(4711), m.SetString(iso8583.DEAcquirer, "48021000"),
		m.SetString(iso8583.DERRN, "607317004711"), m.SetString(iso8583.DETerminal, "T0000001"),
		m.SetString(iso8583.DEMerchant, "898310054110001"))
	if err != nil {
		t.Fatal(err)
	}
	m.SetTransmissionTime(now)
	m.SetLocalTime(now)
	return m
}

// fakeNetwork accepts one connection and answers each request with
// answer(request) (nil: no answer); it returns its address and the requests it got.
func fakeNetwork(t *testing.T, answer func(req *iso8583.Message) []byte) (string, <-chan *iso8583.Message) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan *iso8583.Message, 10)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				for {
					b, err := isolink.ReadFrame(conn, 0)
					if err != nil {
						return
					}
					req, err := iso8583.Unpack(b)
					if err != nil {
						return
					}
					got <- req
					if b := answer(req); b != nil && isolink.WriteFrame(conn, b, 0) != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

// outsideAnswer writes an 0110 byte by byte as codecs that always send the
// secondary bitmap do (not with our encoder): bit 1 set, a secondary bitmap
// of zeros, DE11, DE38, DE39 rc, DE41 from req.
func outsideAnswer(req *iso8583.Message, rc string) []byte {
	stan, _ := req.String(iso8583.DESTAN)
	tid, _ := req.String(iso8583.DETerminal)
	return append([]byte("0110"+
		"\x80\x20\x00\x00\x06\x80\x00\x00"+ // primary: 1, 11, 38, 39, 41
		"\x00\x00\x00\x00\x00\x00\x00\x00"), // secondary: none
		stan+"A1B2C3"+rc+tid...)
}

// TestPosReadsOutsideAnswer: the terminal takes an 0110 with a secondary
// bitmap of zeros as the answer; it used to time out and reverse the
// approved payment.
func TestPosReadsOutsideAnswer(t *testing.T) {
	addr, got := fakeNetwork(t, func(req *iso8583.Message) []byte { return outsideAnswer(req, "00") })
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	term, run := testTerminal(t, e, t.TempDir(), addr, 3*time.Second)
	if _, err := authorizeOnline(context.Background(), e, term, run, acquirer.KindSale, testAuth(t), &qpboc.Outcome{}); err != nil {
		t.Fatalf("authorizeOnline: got %v, want approved\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "APPROVED  12.34 CNY  auth code A1B2C3") || strings.Contains(out.String(), "revers") {
		t.Errorf("got %q, want APPROVED with auth code A1B2C3 and no reversal", out.String())
	}
	if n := len(got); n != 1 {
		t.Errorf("the network got %d messages, want the 0100 only", n)
	}
}

// TestPosReversesUnreadableAnswer: an answer that does not unpack (DE39
// with a bad character) cannot say approved or declined: the terminal
// reverses at once (not after the timeout), with a STAN of its counters.
func TestPosReversesUnreadableAnswer(t *testing.T) {
	addr, got := fakeNetwork(t, func(req *iso8583.Message) []byte {
		if req.MTI == iso8583.AuthorizationRequest {
			return outsideAnswer(req, "0-")
		}
		resp, _ := iso8583.NewResponse(req, iso8583.Approved)
		b, _ := resp.Pack()
		return b
	})
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	term, run := testTerminal(t, e, t.TempDir(), addr, 20*time.Second)
	if _, _, err := run.counters.Next(context.Background(), time.Now(), true); err != nil { // the 0100's number
		t.Fatal(err)
	}
	start := time.Now()
	_, err := authorizeOnline(context.Background(), e, term, run, acquirer.KindSale, testAuth(t), &qpboc.Outcome{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("got %v after %s, want a failure (exit 1) before the 20s timeout\n%s", err, time.Since(start), out.String())
	}
	if !strings.Contains(out.String(), "answer cannot be read") || !strings.Contains(out.String(), "reversal answered: 00") {
		t.Errorf("got %q, want the unreadable answer named and the reversal answered", out.String())
	}
	<-got // the 0100
	rev := <-got
	stan, _ := rev.STAN()
	orig, _ := rev.String(iso8583.DEOriginal)
	if rev.MTI != iso8583.ReversalRequest || stan != 2 || !strings.HasPrefix(orig, "0100004711") {
		t.Errorf("reversal: got %s STAN %v DE90 %s, want 0400 with STAN 000002 naming 0100 004711", rev.MTI, stan, orig)
	}
}

// testTerminal opens a terminal's books in the state folder dir and its
// acquirer for the network at addr, as a pos command with --network does.
func testTerminal(t *testing.T, e *env, dir, addr string, timeout time.Duration) (*posTerminal, *posRun) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	term := terminalFlags(e, fs)
	if err := fs.Parse([]string{"--state", dir, "--network", addr, "--answer-timeout", timeout.String()}); err != nil {
		t.Fatal(err)
	}
	run, err := openPosTerminal(context.Background(), e, term, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.close)
	return term, run
}

// TestPosReversalOwedNextRun: a network that answers neither the 0100 nor
// its reversal leaves the reversal owed in the state folder; the next
// pos run (a new acquirer on the same folder) sends it, as 0401 naming
// the 0100, before anything else.
func TestPosReversalOwedNextRun(t *testing.T) {
	dir := t.TempDir()
	silent, _ := fakeNetwork(t, func(*iso8583.Message) []byte { return nil })
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	term, run := testTerminal(t, e, dir, silent, 200*time.Millisecond)
	run.acq.ReversalTimeout, run.acq.ReversalTries, run.acq.RetryWait = 200*time.Millisecond, 2, time.Millisecond
	if _, err := authorizeOnline(context.Background(), e, term, run, acquirer.KindSale, testAuth(t), &qpboc.Outcome{}); err == nil ||
		!strings.Contains(out.String(), "it stays owed and the next pos command with --network sends it") {
		t.Fatalf("got %v, %q; want a failure and the reversal left owed", err, out.String())
	}
	run.close()

	addr, got := fakeNetwork(t, func(req *iso8583.Message) []byte {
		resp, _ := iso8583.NewResponse(req, iso8583.Approved)
		b, _ := resp.Pack()
		return b
	})
	out.Reset()
	_, next := testTerminal(t, e, dir, addr, 2*time.Second) // opening it sends what is owed
	if !strings.Contains(out.String(), "reversals owed from an earlier run: 1 sent and answered") {
		t.Errorf("next run: got %q, want the reversal owed sent and answered", out.String())
	}
	rev := <-got
	orig, _ := rev.String(iso8583.DEOriginal)
	if rev.MTI != iso8583.ReversalRequestRepeat || !strings.HasPrefix(orig, "0100004711") {
		t.Errorf("got %s DE90 %s, want the 0401 naming 0100 004711", rev.MTI, orig)
	}
	if owed, _ := next.store.OwedReversals(context.Background(), 10); len(owed) != 0 {
		t.Errorf("still owed after the answer: %d", len(owed))
	}
}

// TestPosCarriesOldCounters: a state folder of an older version kept the
// STAN in terminal-ID.json; the books continue after it (never lower),
// and a damaged file is refused with its name, not silently restarted.
func TestPosCarriesOldCounters(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "terminal-T0000001.json"), []byte(`{"stan":41,"rrn":"634012000041"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e := &env{getenv: func(string) string { return "" }, stdout: &out, stderr: &out}
	_, run := testTerminal(t, e, dir, "127.0.0.1:1", time.Second)
	if stan, _, err := run.counters.Next(context.Background(), time.Now(), false); err != nil || stan != 42 {
		t.Fatalf("the next STAN: got %v, %v; want 000042", stan, err)
	}
	run.close()
	_, again := testTerminal(t, e, dir, "127.0.0.1:1", time.Second) // carried once: not lowered back to 41
	if stan, _, err := again.counters.Next(context.Background(), time.Now(), false); err != nil || stan != 43 {
		t.Fatalf("the next STAN of the next run: got %v, %v; want 000043", stan, err)
	}
	again.close()

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "terminal-T0000001.json"), []byte(`{"stan":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCLI(t, map[string]string{"TAPWALLET_POS_STATE": bad}, "pos", "batch")
	if err == nil || !strings.Contains(err.Error(), "the old counters file of terminal T0000001") {
		t.Errorf("a damaged counters file: got %v, want it named", err)
	}
}

// TestPosRefundAgainByRef: a refund the network answers 91 names the
// --ref that sends it again; sent again with it, it is the same message
// (same STAN and DE7), approved, and no second refund.
func TestPosRefundAgainByRef(t *testing.T) {
	var answered atomic.Int32
	addr, got := fakeNetwork(t, func(req *iso8583.Message) []byte {
		rc := iso8583.Approved
		if req.MTI == iso8583.FinancialRequest && answered.Add(1) == 1 {
			rc = iso8583.IssuerInoperative
		}
		resp, _ := iso8583.NewResponse(req, rc)
		b, _ := resp.Pack()
		return b
	})
	dir := t.TempDir()
	st, err := acqsql.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := acquirer.ChargeOf("607317004711", testAuth(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCharge(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	st.Close()
	envv := map[string]string{"TAPWALLET_POS_STATE": dir, "TAPWALLET_NETWORK": addr}
	_, _, err = runCLI(t, envv, "pos", "refund", "--rrn", "607317004711", "--amount", "2.00")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "send the same refund again with --ref refund|607317004711|") {
		t.Fatalf("unanswered refund: got %v, want exit 1 naming the --ref", err)
	}
	ref := err.Error()[strings.Index(err.Error(), "--ref ")+len("--ref "):]
	out, _, err := runCLI(t, envv, "pos", "refund", "--rrn", "607317004711", "--amount", "2.00", "--ref", ref, "--json")
	if err != nil || !strings.Contains(out, `"result":"approved"`) || !strings.Contains(out, `"amount_minor":200`) {
		t.Fatalf("again by --ref: got %s, %v; want approved 2.00", out, err)
	}
	var refunds []*iso8583.Message
	for len(got) > 0 {
		if m := <-got; m.MTI == iso8583.FinancialRequest {
			refunds = append(refunds, m)
		}
	}
	de := func(m *iso8583.Message, n int) string { v, _ := m.String(n); return v }
	if len(refunds) != 2 || de(refunds[0], iso8583.DESTAN) != de(refunds[1], iso8583.DESTAN) ||
		de(refunds[0], iso8583.DETransmission) != de(refunds[1], iso8583.DETransmission) {
		t.Fatalf("the network got %d refunds, want the same one twice", len(refunds))
	}
	out, _, _ = runCLI(t, envv, "pos", "batch", "--json")
	if !strings.Contains(out, `"refunds":{"count":1,"amount":200}`) {
		t.Errorf("batch: got %s, want one refund of 2.00", out)
	}
}
