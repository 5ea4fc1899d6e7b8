// Package portal is the lost-phone web portal of the wallet service: the
// website where a card holder whose phone is lost logs in (password, then a
// passkey once one is added), sees the phones of the account with their
// cards and where each last reported itself (a map drawn as an inline SVG,
// no map tiles), asks a phone to ring or show a message at its next
// check-in, switches the wallet off on it (package lostphone) and back on
// after verifying again, and reads the recent transactions and the
// security events of the account.
//
// Pages are rendered on the server with html/template from embedded
// templates and one embedded style sheet; the only script is the small
// embedded passkey.js that runs the WebAuthn ceremonies. Portal sessions are
// wallet sessions held in Secure (under TLS), HttpOnly, SameSite=Strict
// cookies; every POST carries a per-session CSRF token; log-ins are
// throttled per source address and per account and each is recorded as a
// security event. Another account's phone is answered exactly like a phone
// that does not exist.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Indexer makes keyed hashes (keystore.Keys does): the portal derives its
// CSRF tokens and hashes ceremony ids and one-time codes with it.
type Indexer interface {
	Index(purpose string, data []byte) []byte
}

// Rate is how many attempts are allowed per period.
type Rate = wallet.Rate

// Wallet is the wallet service as the portal uses it (*wallet.Service):
// the account's password and sessions, its phones and security events.
type Wallet interface {
	Account(ctx context.Context, accountID string) (wallet.Account, error)
	AccountByEmail(ctx context.Context, email string) (wallet.Account, error)
	VerifyPassword(ctx context.Context, email, password, source string) (wallet.Account, error)
	VerifyPasswordAfterFactor(ctx context.Context, accountID, password, source string) (wallet.Account, error)
	VerifyAccountPassword(ctx context.Context, accountID, password, source string) (wallet.Account, error)
	ChangePassword(ctx context.Context, accountID, password, keep, source string) error
	OpenSession(ctx context.Context, accountID, kind string) (wallet.Session, error)
	Authenticate(ctx context.Context, token, kind string) (wallet.Session, error)
	LogOut(ctx context.Context, token, source string) error
	Phones(ctx context.Context, accountID string) ([]wallet.Phone, error)
	OwnedPhone(ctx context.Context, accountID, phoneID string) (wallet.Phone, error)
	Record(ctx context.Context, e wallet.Event)
	Events(ctx context.Context, accountID string, limit int) ([]wallet.Event, error)
}

// LostPhone is the lost-phone switch as the portal uses it (*lostphone.Service).
type LostPhone interface {
	SwitchOff(ctx context.Context, r lostphone.Request) (lostphone.Result, error)
	SwitchOn(ctx context.Context, r lostphone.Request) (lostphone.Result, error)
	Ask(ctx context.Context, r lostphone.Request, kind, message string) (lostphone.Command, error)
	Pending(ctx context.Context, accountID, phoneID string) ([]lostphone.Command, error)
	History(ctx context.Context, accountID, phoneID string) ([]lostphone.Switch, error)
	TransitCards(ctx context.Context, accountID, phoneID string) ([]lostphone.TransitCard, error)
	HasTransit() bool
}

var (
	_ Wallet    = (*wallet.Service)(nil)
	_ LostPhone = (*lostphone.Service)(nil)
)

// Config is what the portal is built from.
type Config struct {
	Wallet  Wallet
	Tokens  tsp.Requestor
	Lost    LostPhone
	Store   Store
	Keys    Indexer
	Records Records // the card network's records (nil: no network connected; the transactions page shows the security events)
	// Risk is the risk engine's "was this you?" alerts and kept decisions
	// (zero: no engine; no alerts page, payments without their decision).
	Risk Risk
	// Promotions are the offers each card can get, "add to card" for the
	// campaigns that ask it (nil: none listed). A payment's discount comes
	// with the network's record (netswitch.Auth.Promo) whatever this is.
	Promotions Promotions
	// Points is the banks' points programmes (bank.Rewards; nil: no
	// points shown).
	Points Points
	// Zone is the card holder's time zone the pages write times in
	// (default Asia/Shanghai), the zone shown beside each time.
	Zone *time.Location
	// Messages is where one-time codes go: the account's messages, which
	// the token service keeps (its outbox: GET /v1/otp, `tapwallet phone
	// otp`). Nil: the token service's Notify.
	Messages Messenger
	// URL is the portal's public address (scheme://host[:port]). Passkeys
	// are bound to its host name, which must be a domain name such as
	// localhost (browsers refuse IP addresses as a passkey's site).
	URL string
	Log *slog.Logger
	Now func() time.Time
	// LoginPerIP and LoginPerAccount throttle password attempts (defaults:
	// 10 a minute from one address, 10 per 10 minutes for one account).
	LoginPerIP, LoginPerAccount Rate
	// CodesPerAccount throttles the one-time codes a logged-in account
	// asks for to switch a wallet on or change the password, each tried
	// once (default 10 per 10 minutes).
	CodesPerAccount Rate
}

// Messenger puts a message in an account's messages (standing for SMS).
type Messenger interface {
	AddMessage(ctx context.Context, m tsp.OTPMessage) error
}

// Portal is the web portal; it is an http.Handler for "/".
type Portal struct {
	cfg       Config
	mux       *http.ServeMux
	pages     map[string]*template.Template
	byIP      *wallet.Limiter
	byAccount *wallet.Limiter
	codes     *wallet.Limiter // one-time codes sent to a logged-in account (switch-on, password)
	origin    string
	rpID      string
	secureURL bool
}

// Cookie names.
const (
	cookieSession = "tw_session" // the wallet session
	cookieLogin   = "tw_login"   // a log-in waiting for its passkey
	cookiePre     = "tw_pre"     // binds the log-in form's CSRF token before any session
)

// MaxForm is the largest form or JSON body the portal reads.
const MaxForm = 64 << 10

// LoginTTL is how long a checked password waits for its passkey.
const LoginTTL = 5 * time.Minute

// New returns the portal. It fails with fault.Invalid if the URL is not an
// absolute http(s) address, or a service is missing.
func New(cfg Config) (*Portal, error) {
	if cfg.Wallet == nil || cfg.Tokens == nil || cfg.Lost == nil || cfg.Store == nil || cfg.Keys == nil {
		return nil, fault.E(fault.Invalid, "portal_config", "the portal needs the wallet, token and lost-phone services, a store and keys")
	}
	if (cfg.Risk.Cases == nil) != (cfg.Risk.State == nil) {
		return nil, fault.E(fault.Invalid, "portal_config", "the portal's alerts need both the risk engine's cases and its state")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Zone == nil {
		z, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, "portal_zone", "the time zone Asia/Shanghai is not known")
		}
		cfg.Zone = z
	}
	if cfg.LoginPerIP.N <= 0 {
		cfg.LoginPerIP = Rate{N: 10, Per: time.Minute}
	}
	if cfg.LoginPerAccount.N <= 0 {
		cfg.LoginPerAccount = Rate{N: 10, Per: 10 * time.Minute}
	}
	if cfg.CodesPerAccount.N <= 0 {
		cfg.CodesPerAccount = Rate{N: 10, Per: 10 * time.Minute}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.E(fault.Invalid, "portal_url", "the portal URL must be an absolute http(s) address like http://localhost:8080")
	}
	p := &Portal{cfg: cfg, mux: http.NewServeMux(),
		byIP:      wallet.NewLimiter(cfg.LoginPerIP, cfg.Now),
		byAccount: wallet.NewLimiter(cfg.LoginPerAccount, cfg.Now),
		codes:     wallet.NewLimiter(cfg.CodesPerAccount, cfg.Now),
		origin:    u.Scheme + "://" + u.Host, rpID: u.Hostname(), secureURL: u.Scheme == "https"}
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	p.routes()
	return p, nil
}

// URL returns the portal's public address.
func (p *Portal) URL() string { return p.origin + "/" }

// PasskeysUsable reports whether passkeys can work at the portal's address
// (a domain name, not an IP address).
func (p *Portal) PasskeysUsable() bool { return net.ParseIP(p.rpID) == nil }

func (p *Portal) routes() {
	static, _ := fs.Sub(staticFS, "static")
	p.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	p.mux.HandleFunc("GET /{$}", p.home)
	p.mux.HandleFunc("GET /lang", p.setLanguage)
	p.mux.HandleFunc("POST /phones/{phone}/cards/default", p.authed(p.cardDefault))
	p.mux.HandleFunc("POST /phones/{phone}/cards/remove", p.authed(p.cardRemove))
	p.mux.HandleFunc("GET /transactions.csv", p.authed(p.transactionsCSV))
	p.mux.HandleFunc("POST /phones/{phone}/cards/offer", p.authed(p.addOffer))
	p.mux.HandleFunc("GET /alerts", p.authed(p.alertsPage))
	p.mux.HandleFunc("POST /alerts/answer", p.authed(p.answerAlert))
	p.mux.HandleFunc("GET /login", p.loginPage)
	p.mux.HandleFunc("POST /login", p.login)
	p.mux.HandleFunc("GET /login/code", p.loginCodePage)
	p.mux.HandleFunc("POST /login/code", p.loginCode)
	p.mux.HandleFunc("GET /login/passkey", p.loginPasskeyPage)
	p.mux.HandleFunc("POST /login/passkey/begin", p.loginPasskeyBegin)
	p.mux.HandleFunc("POST /login/passkey/finish", p.loginPasskeyFinish)
	p.mux.HandleFunc("POST /logout", p.authed(p.logout))
	p.mux.HandleFunc("GET /phones", p.authed(p.phonesPage))
	p.mux.HandleFunc("GET /phones/{phone}", p.authed(p.phonePage))
	p.mux.HandleFunc("POST /phones/{phone}/ring", p.authed(p.ask))
	p.mux.HandleFunc("POST /phones/{phone}/message", p.authed(p.ask))
	p.mux.HandleFunc("POST /phones/{phone}/wallet-off", p.authed(p.walletOff))
	p.mux.HandleFunc("GET /phones/{phone}/wallet-on", p.authed(p.walletOnPage))
	p.mux.HandleFunc("POST /phones/{phone}/wallet-on", p.authed(p.walletOnSendCode))
	p.mux.HandleFunc("POST /phones/{phone}/wallet-on/code", p.authed(p.walletOnCode))
	p.mux.HandleFunc("POST /phones/{phone}/wallet-on/begin", p.authed(p.walletOnBegin))
	p.mux.HandleFunc("POST /phones/{phone}/wallet-on/finish", p.authed(p.walletOnFinish))
	p.mux.HandleFunc("GET /transactions", p.authed(p.transactionsPage))
	p.mux.HandleFunc("GET /security", p.authed(p.securityPage))
	p.mux.HandleFunc("GET /settings", p.authed(p.settingsPage))
	p.mux.HandleFunc("POST /settings/passkeys/begin", p.authed(p.passkeyAddBegin))
	p.mux.HandleFunc("POST /settings/passkeys/finish", p.authed(p.passkeyAddFinish))
	p.mux.HandleFunc("POST /settings/passkeys/remove/begin", p.authed(p.stepUpBegin(actionRemovePasskey)))
	p.mux.HandleFunc("POST /settings/passkeys/remove/finish", p.authed(p.stepUpFinish))
	p.mux.HandleFunc("POST /settings/password/begin", p.authed(p.stepUpBegin(actionChangePassword)))
	p.mux.HandleFunc("POST /settings/password/finish", p.authed(p.stepUpFinish))
	p.mux.HandleFunc("POST /settings/password", p.authed(p.passwordSendCode))
	p.mux.HandleFunc("POST /settings/zone", p.authed(p.setZone))
	p.mux.HandleFunc("POST /settings/password/code", p.authed(p.passwordCode))
	p.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.fail(w, r, nil, fault.E(fault.NotFound, "no_page", "there is no such page"))
	})
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the portal: security headers on every answer, and the
// CSRF check on every POST before any handler runs.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if p.secure(r) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
		if !p.csrfOK(r) {
			p.csrfRefused(w, r)
			return
		}
	}
	p.mux.ServeHTTP(w, r)
}

func (p *Portal) now() time.Time { return p.cfg.Now().UTC() }

func (p *Portal) secure(r *http.Request) bool { return r.TLS != nil || p.secureURL }

func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: p.secure(r), SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
	}
	http.SetCookie(w, c)
}

func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > 100 {
		return ""
	}
	return c.Value
}

// csrfToken is the form token bound to one cookie value.
func (p *Portal) csrfToken(binding string) string {
	if binding == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(p.cfg.Keys.Index("portal csrf", []byte(binding)))
}

// csrfOK checks a POST's token (form field "csrf" or header X-CSRF-Token)
// against the cookies that bind it: the session, a log-in waiting for its
// passkey, or the log-in form's own cookie.
func (p *Portal) csrfOK(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		if err := r.ParseForm(); err != nil {
			return false
		}
		got = r.PostForm.Get("csrf")
	}
	if got == "" {
		return false
	}
	for _, name := range []string{cookieSession, cookieLogin, cookiePre} {
		if v := cookie(r, name); v != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.csrfToken(v))) == 1 {
			return true
		}
	}
	return false
}

func (p *Portal) csrfRefused(w http.ResponseWriter, r *http.Request) {
	p.cfg.Log.WarnContext(r.Context(), "portal: POST without a valid CSRF token", "path", r.URL.Path, "source", source(r))
	err := fault.E(fault.Forbidden, "csrf", "this form did not come from a page of the portal, or it has expired: go back, reload the page and try again")
	if wantsJSON(r) {
		p.writeJSONError(w, r, err)
		return
	}
	p.render(w, r, http.StatusForbidden, "error", &view{Title: "page.refused", Data: errorView{Code: "csrf", Message: p.tr(r).errText(err)}})
}

// visit is a logged-in request.
type visit struct {
	AccountID string
	Email     string
	Token     string
	CSRF      string
	Alerts    bool // the risk engine's alerts are connected: the navigation links them
}

// authed runs h for a visitor with a live portal session (opened by the
// portal's own log-in with every factor of the account); others — a
// wallet API token in the cookie included — go to the log-in page (a GET)
// or are refused (a POST).
func (p *Portal) authed(h func(w http.ResponseWriter, r *http.Request, v *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := cookie(r, cookieSession)
		sess, err := p.cfg.Wallet.Authenticate(r.Context(), tok, wallet.SessionPortal)
		if err != nil {
			if fault.KindOf(err) != fault.Unauthorized {
				p.fail(w, r, nil, err)
				return
			}
			if tok != "" {
				p.setCookie(w, r, cookieSession, "", "/", 0)
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			p.fail(w, r, nil, fault.E(fault.Unauthorized, "bad_session", "log in first"))
			return
		}
		a, err := p.cfg.Wallet.Account(r.Context(), sess.AccountID)
		if err != nil {
			p.fail(w, r, nil, err)
			return
		}
		h(w, r, &visit{AccountID: sess.AccountID, Email: a.Email, Token: tok, CSRF: p.csrfToken(tok), Alerts: p.alertsOn()})
	}
}

func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Header.Get("X-CSRF-Token") != ""
}

// errorView is the data of the error page.
type errorView struct {
	Code    string
	Message string
	Back    string
}

// status maps an error kind to an HTTP status, as the wallet API does.
func status(k fault.Kind) int { return walletapi.Status(k) }

// fail answers with an error page (or a JSON error to the passkey script).
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	if k := fault.KindOf(err); k == fault.Internal || k == fault.Unavailable {
		p.cfg.Log.ErrorContext(r.Context(), "portal request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wantsJSON(r) {
		p.writeJSONError(w, r, err)
		return
	}
	back := "/phones"
	if v == nil {
		back = "/login"
	}
	p.render(w, r, status(fault.KindOf(err)), "error", &view{Title: "page.sorry", Visit: v, Data: errorView{Code: fault.CodeOf(err), Message: p.tr(r).errText(err), Back: back}})
}
