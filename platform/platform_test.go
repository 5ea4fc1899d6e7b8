package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/phone/phonetest"
	"github.com/tapwallet/tapwallet/platform"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	p     *platform.Platform
	logs  *syncBuffer
	data  string
	clock *atomic.Int64 // offset added to the real time, in ns
}

func start(t *testing.T) *env {
	t.Helper()
	logs := &syncBuffer{}
	data := t.TempDir()
	clock := &atomic.Int64{}
	p, err := platform.Start(context.Background(), platform.Config{
		DataDir: data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return time.Now().Add(time.Duration(clock.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &env{p: p, logs: logs, data: data, clock: clock}
}

func (e *env) newPhone(t *testing.T, email string) *phone.Phone {
	t.Helper()
	return phonetest.Registered(t, filepath.Join(t.TempDir(), "phone"), e.p.URL, email, "password-123", "test phone")
}

func cardsBy(cfg *bank.Config, idv bank.Decision) []*bank.Cardholder {
	var out []*bank.Cardholder
	for i := range cfg.Cards {
		c := &cfg.Cards[i]
		if c.IDV == idv && c.Expiry.Year >= 2027 {
			out = append(out, c)
		}
	}
	return out
}

func code(err error) string {
	var ae *phone.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	if err == nil {
		return "ok"
	}
	return "not an API error: " + err.Error()
}

// TestNoPlaintextPAN runs the add-card flows and then looks for any card
// number in the data folder (database, WAL, key file) and the logs.
func TestNoPlaintextPAN(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "carol@example.com")
	green, otp := cardsBy(e.p.Banks, bank.Green), cardsBy(e.p.Banks, bank.StepUp)
	var pans []string
	for _, c := range green[:3] {
		pans = append(pans, c.PAN.Digits())
		if _, err := ph.AddCard(ctx, c.PAN.Digits(), c.Expiry.MMYY(), c.CVN2.Digits()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ph.AddCard(ctx, otp[0].PAN.Digits(), otp[0].Expiry.MMYY(), otp[0].CVN2.Digits())
	if err != nil || res.BindingID == "" {
		t.Fatalf("got %+v, %v, want a step-up", res, err)
	}
	pans = append(pans, otp[0].PAN.Digits())
	c, _ := ph.LatestOTP(ctx)
	if _, err := ph.VerifyOTP(ctx, res.BindingID, c); err != nil {
		t.Fatal(err)
	}
	// Failures log too: a wrong CVN2 and an unknown BIN.
	ph.AddCard(ctx, green[4].PAN.Digits(), green[4].Expiry.MMYY(), "000")
	pans = append(pans, green[4].PAN.Digits())
	// A payment through the terminal, the switch (PAN swap) and the issuer,
	// then the end-of-day clearing files.
	term, err := taptest.NewTerminal(e.p.ISOAddr, "T0000777")
	if err != nil {
		t.Fatal(err)
	}
	pay, err := term.Pay(ctx, ph, money.Fen(1234))
	if err != nil || !pay.Approved {
		t.Fatalf("payment: got %v, %v, want approved", pay, err)
	}
	if _, err := e.p.Clear(ctx, time.Now().UTC().Format("20060102"), filepath.Join(e.data, "clearing")); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, c := range ph.Profile.Cards {
		tokens = append(tokens, c.Token)
	}
	if err := ph.RemoveCard(ctx, green[1].PAN.Last4()); err != nil {
		t.Fatal(err)
	}
	e.p.Close()

	var files []string
	filepath.Walk(e.data, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) < 4 {
		t.Fatalf("found only %v in the data folder, want the database, its WAL, the key file and clearing files", files)
	}
	if !strings.Contains(strings.Join(files, " "), "TWCLR-") {
		t.Fatalf("no clearing file among %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, pan := range pans {
			if bytes.Contains(b, []byte(pan)) {
				t.Errorf("%s holds a card number in plaintext", filepath.Base(f))
			}
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "/cards") {
		t.Fatal("no request was logged: the log scan would prove nothing")
	}
	for _, pan := range pans {
		if strings.Contains(logs, pan) || strings.Contains(logs, pan[6:]) {
			t.Errorf("the logs hold a card number")
		}
	}
	// Token numbers address cards in API paths; the logs show them masked.
	if len(tokens) < 4 || !strings.Contains(logs, tokens[1][:6]+"******"+tokens[1][12:]) {
		t.Fatalf("the removal of token %d… was not logged masked", len(tokens))
	}
	for _, tok := range tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("the logs hold a full token number")
		}
	}
}

// rawCall sends a request with full control of headers and body.
func rawCall(t *testing.T, method, url, session string, body []byte, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Error.Code
}

// TestBadInput: every kind of bad input gets its own error and changes nothing.
func TestBadInput(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "dave@example.com")
	g := cardsBy(e.p.Banks, bank.Green)[0]
	url := e.p.URL

	t.Run("json", func(t *testing.T) {
		for _, tt := range []struct {
			name, body, code string
			status           int
		}{
			{"malformed", `{"email": "x@y.z", "password": `, "bad_json", 400},
			{"not json", `hello`, "bad_json", 400},
			{"wrong type", `{"email": 42, "password": "password-1"}`, "bad_json", 400},
			{"unknown field", `{"email": "a@b.cd", "password": "password-1", "admin": true}`, "unknown_field", 400},
			{"two objects", `{"email": "a@b.cd", "password": "password-1"} {}`, "bad_json", 400},
			{"empty", ``, "bad_json", 400},
			{"bad email", `{"email": "not-an-email", "password": "password-1"}`, "bad_email", 400},
			{"short password", `{"email": "e@f.gh", "password": "short"}`, "weak_password", 400},
			{"taken: answered as a new email (no enumeration)", `{"email": "dave@example.com", "password": "password-123"}`, "", 202},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st, c := rawCall(t, "POST", url+"/v1/signup", "", []byte(tt.body), nil)
				if st != tt.status || c != tt.code {
					t.Errorf("got %d %s, want %d %s", st, c, tt.status, tt.code)
				}
			})
		}
	})

	t.Run("card", func(t *testing.T) {
		expired := g.PAN.Digits()
		badLuhn := expired[:len(expired)-1] + string('0'+(expired[len(expired)-1]-'0'+1)%10)
		for _, tt := range []struct {
			name, pan, exp, cvn2, code string
		}{
			{"bad luhn", badLuhn, g.Expiry.MMYY(), g.CVN2.Digits(), "bad_luhn"},
			{"not digits", "62220200000000AB", g.Expiry.MMYY(), g.CVN2.Digits(), "bad_pan"},
			{"bad expiry", g.PAN.Digits(), "1330", g.CVN2.Digits(), "bad_expiry"},
			{"expired", g.PAN.Digits(), "0120", g.CVN2.Digits(), "card_expired"},
			{"wrong cvn2", g.PAN.Digits(), g.Expiry.MMYY(), wrong(g.CVN2.Digits()), "wrong_cvn2"},
			{"bad cvn2", g.PAN.Digits(), g.Expiry.MMYY(), "12", "bad_cvn2"},
			{"unknown bin", "4111111111111111", "1230", "123", "unknown_bin"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := ph.AddCard(ctx, tt.pan, tt.exp, tt.cvn2)
				if code(err) != tt.code {
					t.Errorf("got %v, want %s", err, tt.code)
				}
				if err != nil && (strings.Contains(err.Error(), tt.pan) && len(tt.pan) > 12) {
					t.Errorf("error text holds the card number")
				}
			})
		}
		if cards, _ := ph.Cards(ctx); len(cards) != 0 {
			t.Errorf("bad input added %d cards", len(cards))
		}
	})

	t.Run("declined", func(t *testing.T) {
		red := cardsBy(e.p.Banks, bank.Red)
		if len(red) == 0 {
			t.Fatal("no red test card")
		}
		_, err := ph.AddCard(ctx, red[0].PAN.Digits(), red[0].Expiry.MMYY(), red[0].CVN2.Digits())
		if code(err) != "idv_declined" {
			t.Errorf("got %v, want idv_declined", err)
		}
	})

	t.Run("signature", func(t *testing.T) {
		path := "/v1/phones/" + ph.Profile.PhoneID + "/cards"
		body := []byte(`{"pan":"` + g.PAN.Digits() + `","expiry":"` + g.Expiry.MMYY() + `","cvn2":"` + g.CVN2.Digits() + `"}`)
		ts := func(d time.Duration) string { return itoa(time.Now().Add(d).Unix()) }
		sign := func(b []byte, tsv, nonce string) string {
			sig, _ := ph.SE.Sign(devicekey.SigningString("POST", path, tsv, nonce, b))
			return b64(sig)
		}
		now := ts(0)
		good := map[string]string{devicekey.HeaderPhone: ph.Profile.PhoneID, devicekey.HeaderTime: now, devicekey.HeaderNonce: "nonce-0001", devicekey.HeaderSignature: sign(body, now, "nonce-0001")}
		for _, tt := range []struct {
			name   string
			hdr    map[string]string
			body   []byte
			status int
			code   string
		}{
			{"unsigned", nil, body, 401, "unsigned_request"},
			{"signature over other body", good, []byte(`{"pan":"4111111111111111","expiry":"1230","cvn2":"123"}`), 401, "bad_signature"},
			{"garbage signature", with(good, devicekey.HeaderSignature, "AAAA"), body, 401, "bad_signature"},
			{"stale", with(with(good, devicekey.HeaderTime, ts(-time.Hour)), devicekey.HeaderSignature, sign(body, ts(-time.Hour), "nonce-0001")), body, 401, "stale_request"},
			{"other phone id", with(good, devicekey.HeaderPhone, "ph_other"), body, 401, "bad_signature"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st, c := rawCall(t, "POST", e.p.URL+path, ph.Profile.Session, tt.body, tt.hdr)
				if st != tt.status || c != tt.code {
					t.Errorf("got %d %s, want %d %s", st, c, tt.status, tt.code)
				}
			})
		}
		// The good request works once; its replay is refused.
		if st, c := rawCall(t, "POST", e.p.URL+path, ph.Profile.Session, body, good); st != 201 {
			t.Fatalf("good signed request: got %d %s", st, c)
		}
		if st, c := rawCall(t, "POST", e.p.URL+path, ph.Profile.Session, body, good); st != 409 || c != "replayed_request" {
			t.Errorf("replay: got %d %s, want 409 replayed_request", st, c)
		}
		// A stolen session from another device cannot add a card to this phone.
		other := e.newPhone(t, "mallory@example.com")
		st, c := rawCall(t, "POST", e.p.URL+path, other.Profile.Session, body, good)
		if st != 404 || c != "phone_not_found" {
			t.Errorf("another account's session: got %d %s, want 404 phone_not_found", st, c)
		}
	})

	t.Run("session", func(t *testing.T) {
		if st, c := rawCall(t, "GET", url+"/v1/phones", "", nil, nil); st != 401 || c != "bad_session" {
			t.Errorf("no session: got %d %s", st, c)
		}
		if st, c := rawCall(t, "GET", url+"/v1/phones", "made-up", nil, nil); st != 401 || c != "bad_session" {
			t.Errorf("unknown session: got %d %s", st, c)
		}
		e.clock.Store(int64(13 * time.Hour))
		defer e.clock.Store(0)
		if st, c := rawCall(t, "GET", url+"/v1/phones", ph.Profile.Session, nil, nil); st != 401 || c != "session_expired" {
			t.Errorf("expired session: got %d %s, want 401 session_expired", st, c)
		}
	})

	t.Run("otp", func(t *testing.T) {
		otp := cardsBy(e.p.Banks, bank.StepUp)[0]
		res, err := ph.AddCard(ctx, otp.PAN.Digits(), otp.Expiry.MMYY(), otp.CVN2.Digits())
		if err != nil || res.BindingID == "" {
			t.Fatalf("got %+v %v", res, err)
		}
		if _, err := ph.VerifyOTP(ctx, res.BindingID, "12345"); code(err) != "wrong_otp" {
			t.Errorf("short code: got %v", err)
		}
		c, _ := ph.LatestOTP(ctx)
		e.clock.Store(int64(6 * time.Minute))
		ph.Now = func() time.Time { return time.Now().Add(6 * time.Minute) }
		defer func() { e.clock.Store(0); ph.Now = time.Now }()
		if _, err := ph.VerifyOTP(ctx, res.BindingID, c); code(err) != "otp_expired" {
			t.Errorf("late code: got %v, want otp_expired", err)
		}
	})

	t.Run("login throttle", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if err := ph.LogIn(ctx, "dave@example.com", "wrong-password"); code(err) != "bad_credentials" {
				t.Fatalf("attempt %d: got %v", i+1, err)
			}
		}
		if err := ph.LogIn(ctx, "dave@example.com", "password-123"); code(err) != "login_locked" {
			t.Errorf("after 5 failures the right password: got %v, want login_locked", err)
		}
	})
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func wrong(c string) string {
	if c == "999" {
		return "998"
	}
	return "999"
}
