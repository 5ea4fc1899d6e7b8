package portal_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/tsp"
)

const password = "correct horse battery"

// env is a running platform with a clock the test can move.
type env struct {
	p     *platform.Platform
	clock *atomic.Int64 // offset added to the real time, in ns
	base  string        // the portal's address (http://localhost:PORT)
	cards []*bank.Cardholder
	next  int
	pos   *taptest.Terminal // the store terminal all payments go through
}

func start(t *testing.T) *env {
	t.Helper()
	clock := &atomic.Int64{}
	p, err := platform.Start(context.Background(), platform.Config{
		DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Now().Add(time.Duration(clock.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e := &env{p: p, clock: clock, base: strings.TrimSuffix(p.Portal.URL(), "/")}
	for i := range p.Banks.Cards {
		c := &p.Banks.Cards[i]
		if c.IDV == bank.Green && c.Expiry.Year >= 2027 {
			e.cards = append(e.cards, c)
		}
	}
	return e
}

func (e *env) advance(d time.Duration) { e.clock.Add(int64(d)) }

// newPhone signs up (or logs in to) an account and registers a phone on it
// with n cards.
func (e *env) newPhone(t *testing.T, email, name string, n int) *phone.Phone {
	t.Helper()
	ctx := context.Background()
	ph, err := phone.Open(filepath.Join(t.TempDir(), "phone"), e.p.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.SignUp(ctx, email, password); err != nil && code(err) != "email_taken" {
		t.Fatal(err)
	}
	if err := ph.LogIn(ctx, email, password); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.Register(ctx, name, "Xiaomi Mi 5"); err != nil {
		t.Fatal(err)
	}
	for range n {
		c := e.cards[e.next]
		e.next++
		if _, err := ph.AddCard(ctx, c.PAN.Digits(), c.Expiry.MMYY(), c.CVN2.Digits()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ph.Cards(ctx); err != nil {
		t.Fatal(err)
	}
	return ph
}

func code(err error) string {
	if ae, ok := err.(*phone.APIError); ok {
		return ae.Code
	}
	if err == nil {
		return "ok"
	}
	return "not an API error: " + err.Error()
}

// pay pays 15.00 CNY at a store terminal through the card network with
// the phone's default card: "approved", the network's response code
// ("78"), or the tap's outcome ("tap: needs sync", "tap: no card offered").
func (e *env) pay(t *testing.T, ph *phone.Phone) string {
	t.Helper()
	if e.pos == nil {
		var err error
		// A store where the tests' phones report their place.
		if e.pos, err = taptest.NewTerminalAt(e.p.ISOAddr, "", "BEIJING"); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.pos.Pay(context.Background(), ph, money.Fen(1500))
	if err != nil {
		t.Fatalf("payment: %v", err)
	}
	if p.Approved || p.NoCard || p.Outcome != kernel.Online {
		return p.String()
	}
	return string(p.Code)
}

// rc is the response code the network answers for a token-service decline.
func rc(decline string) string {
	c, _ := netswitch.DeclineCode(fault.E(fault.Declined, decline, "declined"))
	return string(c)
}

func codeOf(err error) string { return fault.CodeOf(err) }

// tokenStates returns the states of a phone's tokens.
func (e *env) tokenStates(t *testing.T, phoneID string) []tsp.State {
	t.Helper()
	toks, err := e.p.Tokens.Cards(context.Background(), phoneID)
	if err != nil {
		t.Fatal(err)
	}
	var out []tsp.State
	for _, tk := range toks {
		out = append(out, tk.State)
	}
	return out
}

func allIn(states []tsp.State, want tsp.State) bool {
	for _, s := range states {
		if s != want {
			return false
		}
	}
	return len(states) > 0
}

// browser is a cookie-keeping HTTP client that reads each page's CSRF token
// the way a page's forms carry it.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	base string
	csrf string
	lang string // Accept-Language; "" is en (the tests' texts are English)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

func (e *env) browser(t *testing.T) *browser {
	return e.browserFrom(t, "")
}

// browserFrom is a browser whose connections come from a loopback address
// of its own (127.0.0.2, …): another source to the portal's throttling.
func (e *env) browserFrom(t *testing.T, ip string) *browser {
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ip != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		tr.DialContext = d.DialContext
	}
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: tr}, base: e.base}
}

var codeInMessage = regexp.MustCompile(`(?:code to .* is|验证码) ([0-9]{6})`)

// latestCode returns the newest one-time code in the account's messages.
func (e *env) latestCode(t *testing.T, email string) string {
	t.Helper()
	ctx := context.Background()
	a, err := e.p.Wallet.Store.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.p.Tokens.Outbox(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var code string
	var at time.Time
	for _, m := range msgs {
		if c := codeInMessage.FindStringSubmatch(m.Message); c != nil && !m.CreatedAt.Before(at) {
			code, at = c[1], m.CreatedAt
		}
	}
	if code == "" {
		t.Fatalf("no one-time code in the messages of %s", email)
	}
	return code
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	if req.Header.Get("Accept-Language") == "" {
		lang := b.lang
		if lang == "" {
			lang = "en"
		}
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfMeta.FindSubmatch(body); m != nil && len(m[1]) > 0 {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

// post posts a form with the page's CSRF token (unless the form names its
// own "csrf").
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// postJSON posts JSON the way the passkey script does.
func (b *browser) postJSON(path, body string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", b.csrf)
	return b.do(req)
}

// login logs in to an account with no passkey: the password, then the
// one-time code sent to the account's messages.
func (b *browser) login(email string) {
	b.t.Helper()
	b.get("/login")
	st, body := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if st != http.StatusOK || !strings.Contains(body, `id="login-code-form"`) {
		b.t.Fatalf("log-in: got %d %s, want the code page", st, snippet(body))
	}
	st, body = b.post("/login/code", url.Values{"code": {b.e.latestCode(b.t, email)}})
	if st != http.StatusOK || !strings.Contains(body, `id="phones"`) {
		b.t.Fatalf("log-in code: got %d %s, want the phones page", st, snippet(body))
	}
}

// loggedIn reports whether the browser holds a portal session that opens
// the phones page.
func (b *browser) loggedIn() bool {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+"/phones", nil)
	c := *b.c
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func snippet(s string) string {
	if i := strings.Index(s, "<main>"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 600 {
		s = s[:600]
	}
	return s
}

// signedCall sends a wallet API request signed by ph's device key.
func signedCall(t *testing.T, ph *phone.Phone, method, path, body string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := hex.EncodeToString([]byte(time.Now().Format("150405.000000000")))
	sig, err := ph.SE.Sign(devicekey.SigningString(method, path, ts, nonce, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, ph.Profile.Server+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ph.Profile.Session)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Phone-Id", ph.Profile.PhoneID)
	req.Header.Set("X-Phone-Time", ts)
	req.Header.Set("X-Phone-Nonce", nonce)
	req.Header.Set("X-Phone-Signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func formValue(body, name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkIn checks the phone in like `tapwallet phone sync` does: the
// check-in, then the sync with the token service (fresh keys for active
// cards). It returns the check-in and how many keys the sync installed.
func checkIn(t *testing.T, ph *phone.Phone, loc *phone.Location) (phone.CheckInResult, int) {
	t.Helper()
	ctx := context.Background()
	res, err := ph.CheckIn(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	cards, err := ph.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cards {
		n += c.NewKeys
	}
	return res, n
}
