// Package walletapi is the wallet service's HTTP/JSON API for the phone app
// (documented in docs/openapi.yaml): sign-up, log-in, phones, and adding,
// listing, choosing and removing cards. Requests that change cards must be
// signed with the phone's device key. Errors are JSON objects with a kind,
// a stable code and a safe message; the kind picks the HTTP status.
package walletapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/tapwallet/tapwallet/transit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Wallet is the wallet service as its API uses it (*wallet.Service):
// accounts, sessions, phones and their signed requests, security events.
type Wallet interface {
	SignUp(ctx context.Context, email, password, source string) (wallet.Account, error)
	LogIn(ctx context.Context, email, password, source string) (wallet.Session, error)
	LogOut(ctx context.Context, token, source string) error
	Authenticate(ctx context.Context, token, kind string) (wallet.Session, error)
	BindSession(ctx context.Context, token, phoneID string) error
	AccountByEmail(ctx context.Context, email string) (wallet.Account, error)
	VerifyAccountPassword(ctx context.Context, accountID, password, source string) (wallet.Account, error)
	RegisterPhone(ctx context.Context, accountID, name, model string, pub []byte, source string) (wallet.Phone, error)
	Phone(ctx context.Context, phoneID string) (wallet.Phone, error)
	Phones(ctx context.Context, accountID string) ([]wallet.Phone, error)
	OwnedPhone(ctx context.Context, accountID, phoneID string) (wallet.Phone, error)
	VerifyPhone(ctx context.Context, accountID string, r wallet.SignedRequest, source string) (wallet.Phone, error)
	Record(ctx context.Context, e wallet.Event)
	Finding(ctx context.Context, e wallet.Event) bool
	Events(ctx context.Context, accountID string, limit int) ([]wallet.Event, error)
	Clock() time.Time
}

var _ Wallet = (*wallet.Service)(nil)

// API serves the wallet API.
type API struct {
	Wallet Wallet
	Tokens tsp.Requestor
	Log    *slog.Logger
	// Limits throttles the routes that check a secret (New sets the
	// defaults of DefaultLimits; SetLimits changes them).
	limits limiters
	mux    *http.ServeMux
	// promo is what the promotions' routes use (MountPromotions), its
	// routes added once.
	promo     atomic.Pointer[Promotions]
	promoOnce sync.Once
	// transit is the operators' service (MountTransit): a "no" to a
	// transit ride's alert hot-lists that transit card.
	transit *transit.Service
}

// Limits are the attempts allowed on the routes that check a password or a
// one-time code, by source address and by account (memory of one process).
type Limits struct {
	LoginPerSource, LoginPerAccount wallet.Rate // POST /v1/login
	SignUpPerSource                 wallet.Rate // POST /v1/signup
	CodePerSource, CodePerAccount   wallet.Rate // one-time codes and password step-ups: cards/verify, wallet-on
}

// DefaultLimits: 20 log-ins a minute from one address and 10 per 10
// minutes for one account; 20 sign-ups per 10 minutes from one address;
// 20 codes a minute from one address and 10 per 10 minutes per account.
var DefaultLimits = Limits{
	LoginPerSource:  wallet.Rate{N: 20, Per: time.Minute},
	LoginPerAccount: wallet.Rate{N: 10, Per: 10 * time.Minute},
	SignUpPerSource: wallet.Rate{N: 20, Per: 10 * time.Minute},
	CodePerSource:   wallet.Rate{N: 20, Per: time.Minute},
	CodePerAccount:  wallet.Rate{N: 10, Per: 10 * time.Minute},
}

type limiters struct {
	loginSource, loginAccount, signUpSource, codeSource, codeAccount *wallet.Limiter
}

// SetLimits replaces the API's limits (a zero Rate allows everything).
func (a *API) SetLimits(l Limits) {
	now := a.Wallet.Clock
	a.limits = limiters{
		loginSource: wallet.NewLimiter(l.LoginPerSource, now), loginAccount: wallet.NewLimiter(l.LoginPerAccount, now),
		signUpSource: wallet.NewLimiter(l.SignUpPerSource, now),
		codeSource:   wallet.NewLimiter(l.CodePerSource, now), codeAccount: wallet.NewLimiter(l.CodePerAccount, now),
	}
}

// throttle spends one attempt of each limiter for its key; the first that
// has none left refuses with fault.Limit "throttled" (429, Retry-After),
// recorded on the account when one is known.
func (a *API) throttle(w http.ResponseWriter, r *http.Request, what, accountID string, checks ...limitCheck) bool {
	for _, c := range checks {
		ok, wait := c.l.Allow(c.key)
		if ok {
			continue
		}
		if accountID != "" {
			a.Wallet.Record(r.Context(), wallet.Event{AccountID: accountID, Kind: wallet.EventLoginThrottled, Detail: "wallet API: too many " + what + " attempts " + c.where, Source: source(r)})
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		a.fail(w, r, fault.E(fault.Limit, "throttled", "too many %s attempts %s: try again in %d seconds", what, c.where, int(wait.Seconds())+1))
		return false
	}
	return true
}

type limitCheck struct {
	l          *wallet.Limiter
	key, where string
}

// New returns the API with its routes.
func New(w Wallet, t tsp.Requestor, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{Wallet: w, Tokens: t, Log: log, mux: http.NewServeMux()}
	a.SetLimits(DefaultLimits)
	a.routes()
	return a
}

// Handle adds another route (later parts of the system add theirs).
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) routes() {
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("POST /v1/signup", a.signUp)
	a.mux.HandleFunc("POST /v1/login", a.logIn)
	a.mux.HandleFunc("POST /v1/logout", a.logOut)
	a.mux.HandleFunc("GET /v1/phones", a.authed(a.listPhones))
	a.mux.HandleFunc("POST /v1/phones", a.authed(a.registerPhone))
	a.mux.HandleFunc("GET /v1/phones/{phone}/cards", a.authed(a.listCards))
	a.mux.HandleFunc("POST /v1/phones/{phone}/cards", a.signed(a.addCard))
	a.mux.HandleFunc("POST /v1/phones/{phone}/cards/verify", a.codeLimited(a.signed(a.verifyOTP)))
	a.mux.HandleFunc("PUT /v1/phones/{phone}/cards/{token}/default", a.signed(a.setDefault))
	a.mux.HandleFunc("DELETE /v1/phones/{phone}/cards/{token}", a.signed(a.removeCard))
	a.mux.HandleFunc("GET /v1/otp", a.authed(a.outbox))
	a.mux.HandleFunc("GET /v1/events", a.authed(a.events))
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, fault.E(fault.NotFound, "no_route", "no such API route: %s %s", r.Method, r.URL.Path))
	})
}

// Status maps an error kind to an HTTP status (fault.HTTPStatus).
func Status(k fault.Kind) int { return fault.HTTPStatus(k) }

// ErrorBody is the JSON shape of every error answer.
type ErrorBody = client.Error

// WriteError writes err as a JSON error answer.
func WriteError(w http.ResponseWriter, err error) {
	var b ErrorBody
	b.Error.Kind, b.Error.Code, b.Error.Message = string(fault.KindOf(err)), fault.CodeOf(err), fault.MessageOf(err)
	writeJSON(w, Status(fault.KindOf(err)), b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fail logs internal errors (their text is safe) and answers.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if k := fault.KindOf(err); k == fault.Internal || k == fault.Unavailable {
		a.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if fault.KindOf(err) == fault.Limit && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	WriteError(w, err)
}

// readBody reads a bounded body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, fault.E(fault.Invalid, "bad_body", "could not read the request body")
	}
	if len(b) > MaxBody {
		return nil, fault.E(fault.Invalid, "body_too_large", "request body is larger than %d bytes", MaxBody)
	}
	return b, nil
}

// readJSON reads a bounded body and decodes it strictly into v.
func readJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decode(body, v)
}

// decode parses one JSON object strictly: no unknown fields, no field
// given twice, field names spelled exactly (case included), right types,
// nothing after it.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fault.E(fault.Invalid, "bad_json", "request body must be a JSON object")
	}
	if err := checkKeys(body, v); err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fault.E(fault.Invalid, "bad_json", "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return fault.E(fault.Invalid, "bad_json", "field %q must be a %s", te.Field, te.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			if len(name) > 40 || strings.ContainsAny(name, "0123456789") {
				// A field name could be anything a client sent, a card number too.
				return fault.E(fault.Invalid, "unknown_field", "the body has an unknown field")
			}
			return fault.E(fault.Invalid, "unknown_field", "unknown field %s", name)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fault.E(fault.Invalid, "bad_json", "JSON body ends too early")
		}
		return fault.E(fault.Invalid, "bad_json", "request body must be a JSON object")
	}
	if d.More() {
		return fault.E(fault.Invalid, "bad_json", "request body must hold one JSON object only")
	}
	return nil
}

func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// BearerToken returns the session token of a request.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// authed runs h for a live API session (a portal session is refused: it
// is another kind of credential).
func (a *API) authed(h func(w http.ResponseWriter, r *http.Request, account string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := a.Wallet.Authenticate(r.Context(), BearerToken(r), wallet.SessionAPI)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r, sess.AccountID)
	}
}

// codeLimited throttles a route that checks a one-time code or a password
// by source address and by the session's account, before anything else.
func (a *API) codeLimited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		checks := []limitCheck{{a.limits.codeSource, source(r), "from this address"}}
		acc := ""
		if sess, err := a.Wallet.Authenticate(r.Context(), BearerToken(r), wallet.SessionAPI); err == nil {
			acc = sess.AccountID
			checks = append(checks, limitCheck{a.limits.codeAccount, acc, "for this account"})
		}
		if a.throttle(w, r, "code", acc, checks...) {
			h(w, r)
		}
	}
}

// holdSession records that the signing phone holds the request's session
// (switching its wallet off ends it).
func (a *API) holdSession(r *http.Request, ph wallet.Phone) {
	if err := a.Wallet.BindSession(r.Context(), BearerToken(r), ph.ID); err != nil {
		a.Log.ErrorContext(r.Context(), "session not bound to its phone", "phone", ph.ID, "err", err)
	}
}

// signed requires a session and a request signed by the device key of the
// phone named in the path.
func (a *API) signed(h func(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte)) http.HandlerFunc {
	return a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		body, err := readBody(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		switch hdrPhone := r.Header.Get(devicekey.HeaderPhone); {
		case hdrPhone == "":
			a.fail(w, r, fault.E(fault.Unauthorized, "unsigned_request", "this request must be signed by the phone's device key"))
			return
		case hdrPhone != r.PathValue("phone"):
			a.fail(w, r, fault.E(fault.Unauthorized, "bad_signature", "request is signed by another phone than the one it changes"))
			return
		}
		ph, err := a.Wallet.VerifyPhone(r.Context(), acc, signedRequest(r, r.PathValue("phone"), body), source(r))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.holdSession(r, ph)
		h(w, r, ph, body)
	})
}

// signedRequest is the proof of possession a request carries in its
// headers, for the phone named.
func signedRequest(r *http.Request, phoneID string, body []byte) wallet.SignedRequest {
	sig, _ := base64.StdEncoding.DecodeString(r.Header.Get(devicekey.HeaderSignature))
	return wallet.SignedRequest{PhoneID: phoneID, Method: r.Method, Path: r.URL.Path,
		Time: r.Header.Get(devicekey.HeaderTime), Nonce: r.Header.Get(devicekey.HeaderNonce), Body: body, Signature: sig}
}

type credentials = client.Credentials

// SignUpJSON is the answer to a sign-up: the same whether the email was
// new or had an account already, so the API does not tell who has one.
type SignUpJSON = client.SignUp

func (a *API) signUp(w http.ResponseWriter, r *http.Request) {
	if !a.throttle(w, r, "sign-up", "", limitCheck{a.limits.signUpSource, source(r), "from this address"}) {
		return
	}
	var c credentials
	if err := readJSON(r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	_, err := a.Wallet.SignUp(r.Context(), c.Email, c.Password, source(r))
	if err != nil && fault.CodeOf(err) != "email_taken" {
		a.fail(w, r, err)
		return
	}
	// A taken email is answered exactly like a new one (the owner's
	// account records the attempt); only its owner's password logs in.
	writeJSON(w, http.StatusAccepted, SignUpJSON{Status: "accepted", Email: strings.ToLower(strings.TrimSpace(c.Email)),
		Message: "if this email had no account, it has one now: log in with its password"})
}

// SessionJSON is the answer to a log-in.
type SessionJSON = client.Session

func (a *API) logIn(w http.ResponseWriter, r *http.Request) {
	if !a.throttle(w, r, "log-in", "", limitCheck{a.limits.loginSource, source(r), "from this address"}) {
		return
	}
	var c credentials
	if err := readJSON(r, &c); err != nil {
		a.fail(w, r, err)
		return
	}
	email := strings.ToLower(strings.TrimSpace(c.Email))
	if len(email) > 254 {
		email = email[:254]
	}
	if !a.throttle(w, r, "log-in", a.accountOf(r, email), limitCheck{a.limits.loginAccount, email, "for this account"}) {
		return
	}
	s, err := a.Wallet.LogIn(r.Context(), c.Email, c.Password, source(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, SessionJSON{Token: s.Token, AccountID: s.AccountID, ExpiresAt: s.ExpiresAt})
}

// accountOf returns the id of the account of an email, or "" (for the
// throttling event only: the answer never tells).
func (a *API) accountOf(r *http.Request, email string) string {
	acc, err := a.Wallet.AccountByEmail(r.Context(), email)
	if err != nil {
		return ""
	}
	return acc.ID
}

func (a *API) logOut(w http.ResponseWriter, r *http.Request) {
	if _, err := a.Wallet.Authenticate(r.Context(), BearerToken(r), wallet.SessionAPI); err != nil {
		a.fail(w, r, err) // a portal session is not the API's to end
		return
	}
	if err := a.Wallet.LogOut(r.Context(), BearerToken(r), source(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// PhoneJSON is a phone in API answers.
type PhoneJSON = client.Phone

// PhoneView turns a phone into its JSON form.
func PhoneView(p wallet.Phone) PhoneJSON {
	j := PhoneJSON{ID: p.ID, Name: p.Name, Model: p.Model, WalletOn: p.WalletOn, Cards: p.CardCount, LastSeen: p.LastSeen, Lat: p.Lat, Lon: p.Lon, KeyFP: wallet.Fingerprint(p.PublicKey)}
	if !p.LocatedAt.IsZero() {
		t := p.LocatedAt
		j.LocatedAt = &t
	}
	return j
}

func (a *API) listPhones(w http.ResponseWriter, r *http.Request, acc string) {
	ps, err := a.Wallet.Phones(r.Context(), acc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []PhoneJSON{}
	for _, p := range ps {
		j := PhoneView(p)
		// The token service owns the count of cards bound to a device.
		toks, err := a.Tokens.Cards(r.Context(), p.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		j.Cards = len(toks)
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, client.Phones{Phones: out})
}

type registerReq = client.RegisterPhone

func (a *API) registerPhone(w http.ResponseWriter, r *http.Request, acc string) {
	var req registerReq
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	der, err := base64.StdEncoding.DecodeString(req.PublicKey)
	if err != nil || len(der) == 0 {
		a.fail(w, r, fault.E(fault.Invalid, "bad_device_key", "public_key must be a base64 DER (PKIX) P-256 public key"))
		return
	}
	p, err := a.Wallet.RegisterPhone(r.Context(), acc, req.Name, req.Model, der, source(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.holdSession(r, p)
	writeJSON(w, http.StatusCreated, PhoneView(p))
}

// CardJSON is a card (token) in API answers.
type CardJSON = client.Card

// device is the phone as the token service knows it.
func device(ph wallet.Phone) tsp.Device {
	return tsp.Device{ID: ph.ID, AccountID: ph.AccountID, PublicKey: ph.PublicKey}
}

func (a *API) cardView(t tsp.Token) CardJSON {
	name, art := t.BankID, "#444444"
	if t.BankName != "" {
		name, art = t.BankName, t.CardArt
	}
	return CardJSON{TokenLast4: t.Number.Last4(), PANLast4: t.PANLast4, Bank: t.BankID, BankName: name, Product: t.Product,
		CardArt: art, Default: t.Default, State: string(t.State), AID: t.AID, Expiry: t.Expiry.MMYY(), TokenHandle: t.Number.Digits()}
}

func (a *API) provisioned(p *tsp.Provisioned) CardJSON {
	c := a.cardView(p.Token)
	c.Token, c.PSN, c.PAR = p.Token.Number.Digits(), p.Token.PSN, p.Token.PAR
	c.KeyBatch = base64.StdEncoding.EncodeToString(p.KeyBatch)
	return c
}

func (a *API) listCards(w http.ResponseWriter, r *http.Request, acc string) {
	ph, err := a.Wallet.OwnedPhone(r.Context(), acc, r.PathValue("phone"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	toks, err := a.Tokens.Cards(r.Context(), ph.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []CardJSON{}
	for _, t := range toks {
		out = append(out, a.cardView(t))
	}
	writeJSON(w, http.StatusOK, client.Cards{Cards: out, MaxCards: tsp.MaxCardsPerPhone})
}

type addCardReq = client.AddCard

func (a *API) addCard(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req addCardReq
	if err := decode(body, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.Tokens.AddCard(r.Context(), tsp.AddCardRequest{Device: device(ph), PAN: req.PAN, Expiry: req.Expiry, CVN2: req.CVN2})
	if err != nil {
		kind := wallet.EventCardDeclined
		a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: kind, Detail: fault.CodeOf(err), Source: source(r)})
		a.fail(w, r, err)
		return
	}
	if res.Card == nil {
		a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: wallet.EventCardStepUp, Detail: res.BindingID, Source: source(r)})
		writeJSON(w, http.StatusAccepted, client.StepUp{Status: "otp_required", BindingID: res.BindingID, SentTo: res.SentTo})
		return
	}
	a.cardAdded(w, r, ph, res.Card)
}

func (a *API) cardAdded(w http.ResponseWriter, r *http.Request, ph wallet.Phone, p *tsp.Provisioned) {
	a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: wallet.EventCardAdded,
		Detail: p.BankName + " " + p.Token.Product + " card ending " + p.Token.PANLast4 + ", token ending " + p.Token.Number.Last4(), Source: source(r)})
	writeJSON(w, http.StatusCreated, a.provisioned(p))
}

type verifyReq = client.VerifyOTP

func (a *API) verifyOTP(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	var req verifyReq
	if err := decode(body, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.Tokens.ConfirmOTP(r.Context(), device(ph), req.BindingID, req.OTP)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.cardAdded(w, r, ph, p)
}

func (a *API) setDefault(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	if err := a.Tokens.SetDefault(r.Context(), device(ph), r.PathValue("token")); err != nil {
		a.fail(w, r, err)
		return
	}
	a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: wallet.EventDefaultChosen, Detail: "token ending " + last4(r.PathValue("token")), Source: source(r)})
	writeJSON(w, http.StatusOK, map[string]string{"status": "default"})
}

func (a *API) removeCard(w http.ResponseWriter, r *http.Request, ph wallet.Phone, body []byte) {
	if err := a.Tokens.RemoveCard(r.Context(), device(ph), r.PathValue("token"), "account:"+ph.AccountID); err != nil {
		a.fail(w, r, err)
		return
	}
	a.Wallet.Record(r.Context(), wallet.Event{AccountID: ph.AccountID, PhoneID: ph.ID, Kind: wallet.EventCardRemoved, Detail: "token ending " + last4(r.PathValue("token")), Source: source(r)})
	writeJSON(w, http.StatusOK, map[string]string{"status": "removed"})
}

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

func (a *API) outbox(w http.ResponseWriter, r *http.Request, acc string) {
	msgs, err := a.Tokens.Outbox(r.Context(), acc)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []client.Message{}
	for _, m := range msgs {
		out = append(out, client.Message{BindingID: m.BindingID, Message: m.Message, At: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, client.Messages{Messages: out})
}

func (a *API) events(w http.ResponseWriter, r *http.Request, acc string) {
	evs, err := a.Wallet.Events(r.Context(), acc, 100)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type ev struct {
		Kind    string    `json:"kind"`
		PhoneID string    `json:"phone_id,omitempty"`
		Detail  string    `json:"detail,omitempty"`
		Source  string    `json:"source,omitempty"`
		At      time.Time `json:"at"`       // the last time
		Times   int       `json:"times"`    // how many times (repeats are folded)
		FirstAt time.Time `json:"first_at"` // the first time
	}
	out := []ev{}
	for _, e := range evs {
		out = append(out, ev{e.Kind, e.PhoneID, e.Detail, e.Source, e.At, max(e.Times, 1), e.FirstAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}
