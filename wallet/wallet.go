// Package wallet is the wallet service's account side: wallet accounts
// (sign-up, log-in with argon2id passwords, bearer sessions stored only
// hashed, back-off after failed log-ins), the phones registered under an
// account with their device keys, the proof-of-possession check on phone
// requests, and the append-only trail of security events.
package wallet

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
)

// Account is a wallet account.
type Account struct {
	ID           string
	Email        string
	PasswordHash string
	FailedLogins int
	LockedUntil  time.Time
	CreatedAt    time.Time
}

// Session is a logged-in session; Token is shown once, only its hash is kept.
// A session is of one kind: an API session (POST /v1/login, the phone app)
// is never accepted by the portal, nor a portal session by the wallet API.
type Session struct {
	Token     string
	AccountID string
	Kind      string // SessionAPI or SessionPortal
	PhoneID   string // the phone that holds it: set at its first signed request ("" until then; always "" for the portal)
	ExpiresAt time.Time
}

// Session kinds.
const (
	SessionAPI    = "api"    // the wallet API's bearer token: password only, for the phone app
	SessionPortal = "portal" // the portal's cookie: password and the account's second factor
)

// LoginAttempt is what counting one log-in attempt found.
type LoginAttempt struct {
	Allowed     bool      // false: the account is locked, the password is not checked
	N           int       // attempts in a row not yet followed by a right password, this one included
	LockedUntil time.Time // the lock this attempt set or found (zero: none)
}

// MaxFailedLogins is how many password attempts in a row an account allows
// before it locks; the attempt that reaches it sets the lock (and is still
// checked), then each lock lets one more attempt through when it ends.
const MaxFailedLogins = 5

// LockTime is how long an account stays locked after the n-th attempt in a
// row (n >= MaxFailedLogins): one minute, doubling, at most about an hour.
func LockTime(n int) time.Duration {
	return time.Minute << min(max(n-MaxFailedLogins, 0), 6)
}

// Phone is a phone registered under an account.
type Phone struct {
	ID        string
	AccountID string
	Name      string
	Model     string
	PublicKey []byte // PKIX DER, P-256
	WalletOn  bool
	CardCount int
	LastSeen  time.Time
	Lat, Lon  *float64
	LocatedAt time.Time
	CreatedAt time.Time
}

// Event is one security event in the audit trail.
type Event struct {
	ID        string
	AccountID string
	PhoneID   string
	Kind      string
	Detail    string
	Source    string
	At        time.Time // the last time it happened
	Times     int       // how many times it happened (repeated events are folded into one)
	FirstAt   time.Time // the first time it happened
}

// Security event kinds.
const (
	EventSignUp          = "signup"
	EventLogin           = "login"
	EventLoginFailed     = "login_failed"
	EventLoginLocked     = "login_locked"
	EventLogout          = "logout"
	EventPhoneAdded      = "phone_registered"
	EventCardAdded       = "card_added"
	EventCardRemoved     = "card_removed"
	EventCardStepUp      = "card_step_up"
	EventCardDeclined    = "card_declined"
	EventBadSignature    = "phone_bad_signature"
	EventWalletOff       = "wallet_off"
	EventWalletOn        = "wallet_on"
	EventDefaultChosen   = "default_card"
	EventSignUpTaken     = "signup_existing" // a sign-up named this account's email again
	EventLoginBusy       = "login_busy"      // a log-in refused because too many password checks were running
	EventPasswordChanged = "password_changed"
)

// Store is what the wallet service needs from storage.
type Store interface {
	CreateAccount(ctx context.Context, a Account) error                // fault.Conflict "email_taken"
	AccountByEmail(ctx context.Context, email string) (Account, error) // fault.NotFound
	// CountLoginAttempt counts one password attempt atomically, before the
	// password is checked: unless the account is locked at now it adds one
	// to the attempts in a row and, when they reach maxTries, locks the
	// account until now + LockTime(n). A locked account is not counted.
	CountLoginAttempt(ctx context.Context, accountID string, now time.Time, maxTries int) (LoginAttempt, error)
	ResetLoginFailures(ctx context.Context, accountID string) error
	CreateSession(ctx context.Context, tokenHash []byte, s Session) error
	// SessionByToken returns a live session (fault.Unauthorized
	// "bad_session" or "session_expired" otherwise); Token is left empty.
	SessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (Session, error)
	// BindSession records the phone that holds a session, if none is yet.
	BindSession(ctx context.Context, tokenHash []byte, phoneID string) error
	RevokeSession(ctx context.Context, tokenHash []byte) error
	// RevokePhoneSessions ends every live session a phone holds; it
	// returns how many.
	RevokePhoneSessions(ctx context.Context, phoneID string, at time.Time) (int, error)
	// RevokeSessions ends every live session of an account of a kind
	// ("" for both) but the one whose hash is except (nil: none kept); it
	// returns how many.
	RevokeSessions(ctx context.Context, accountID, kind string, except []byte, at time.Time) (int, error)
	// SetPasswordHash replaces an account's password hash and clears its
	// failures and lock (fault.NotFound "account_not_found").
	SetPasswordHash(ctx context.Context, accountID, hash string) error
	CreatePhone(ctx context.Context, p Phone) error
	Phone(ctx context.Context, id string) (Phone, error) // fault.NotFound
	Phones(ctx context.Context, accountID string) ([]Phone, error)
	UsePhoneNonce(ctx context.Context, phoneID, nonce string, now time.Time) error // fault.Conflict "replayed_request"
	AddEvent(ctx context.Context, e Event) error
	// FoldEvent adds one occurrence to the event of the same account,
	// phone, kind and source last seen at or after since (its count, its
	// last time and detail), or appends e as a new event if there is none.
	FoldEvent(ctx context.Context, e Event, since time.Time) error
	// AddFinding appends e unless an event of the same account, phone,
	// kind and detail exists; it reports whether it appended.
	AddFinding(ctx context.Context, e Event) (bool, error)
	Events(ctx context.Context, accountID string, limit int) ([]Event, error)
	PhoneStateStore
}

// Service is the wallet's account service.
type Service struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
	// SessionTTL is how long a session lasts (default 12h).
	SessionTTL time.Duration
	// Argon2 cost (defaults: 2 passes, 19 MiB, 1 thread — the OWASP minimum).
	ArgonTime, ArgonMemoryKiB uint32
	// MaxPasswordChecks bounds the argon2 computations running at once
	// (each takes ArgonMemoryKiB of memory); one more waits at most
	// PasswordCheckWait for a free slot, then is refused with fault.Limit
	// "busy" (HTTP 429). Defaults 4 and 1 s.
	MaxPasswordChecks int
	PasswordCheckWait time.Duration
	// FoldWindow is how long repeated events of one kind from one source
	// are folded into one row (default 1 hour).
	FoldWindow time.Duration

	semOnce sync.Once
	sem     chan struct{}

	located atomic.Pointer[LocationFunc] // OnLocation's
}

// LocationFunc is told of each place a phone reported, once it is stored.
type LocationFunc func(ctx context.Context, phoneID string, lat, lon float64, at time.Time)

// OnLocation has f told of each place a phone reports once the wallet
// stored it (the risk engine keeps it as the phone's last sighting, read
// with the taps at authorization); nil stops telling. f must not block.
func (s *Service) OnLocation(f func(ctx context.Context, phoneID string, lat, lon float64, at time.Time)) {
	if f == nil {
		s.located.Store(nil)
		return
	}
	lf := LocationFunc(f)
	s.located.Store(&lf)
}

// foldKinds are the events that repeat while someone guesses: each burst
// is one row with a count, not a row per attempt.
var foldKinds = map[string]bool{
	EventLoginFailed: true, EventLoginLocked: true, EventLoginThrottled: true, EventLoginBusy: true,
	EventSignUpTaken: true, EventBadSignature: true, EventWalletOnFailed: true, EventPasskeyFailed: true,
}

// NewService returns a Service with defaults.
func NewService(st Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: st, Log: log, Now: time.Now, SessionTTL: 12 * time.Hour, ArgonTime: 2, ArgonMemoryKiB: 19 * 1024,
		MaxPasswordChecks: 4, PasswordCheckWait: time.Second, FoldWindow: time.Hour}
}

// errBusy is the answer when every password-check slot is taken.
var errBusy = fault.E(fault.Limit, "busy", "too many log-ins at this moment: try again in a second")

// argonSlot takes one of the MaxPasswordChecks slots, waiting at most
// PasswordCheckWait; it fails with fault.Limit "busy" when none frees in
// time (or the request ends). The caller releases the slot with the
// returned function.
func (s *Service) argonSlot(ctx context.Context) (func(), error) {
	s.semOnce.Do(func() {
		n := s.MaxPasswordChecks
		if n <= 0 {
			n = 4
		}
		s.sem = make(chan struct{}, n)
	})
	release := func() { <-s.sem }
	select {
	case s.sem <- struct{}{}:
		return release, nil
	default:
	}
	wait := s.PasswordCheckWait
	if wait <= 0 {
		wait = time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return release, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, errBusy
}

// NewID returns a unique identifier with a readable prefix; identifiers
// made later sort after earlier ones (a time part, then a random part).
// (id.New, which every party uses).
func NewID(prefix string) string { return id.New(prefix) }

// SignUp creates an account. It fails with fault.Invalid for a bad email or a
// password under 8 characters, fault.Conflict "email_taken" if the email is
// in use.
func (s *Service) SignUp(ctx context.Context, email, password, source string) (Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return Account{}, fault.E(fault.Invalid, "bad_email", "email must be a plain address like name@example.com")
	}
	if err := checkPassword(password); err != nil {
		return Account{}, err
	}
	release, err := s.argonSlot(ctx)
	if err != nil {
		return Account{}, err
	}
	hash := s.hashPassword(password)
	release()
	a := Account{ID: NewID("acc"), Email: email, PasswordHash: hash, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateAccount(ctx, a); err != nil {
		if fault.CodeOf(err) == "email_taken" {
			if old, err2 := s.Store.AccountByEmail(ctx, email); err2 == nil {
				s.event(ctx, Event{AccountID: old.ID, Kind: EventSignUpTaken, Detail: "someone tried to sign up with this account's email", Source: source})
			}
		}
		return Account{}, err
	}
	s.event(ctx, Event{AccountID: a.ID, Kind: EventSignUp, Source: source})
	return a, nil
}

// LogIn checks the password and opens a session. A wrong email or password
// is fault.Unauthorized "bad_credentials" (the same for both); after 5 failures
// in a row the account is locked for a doubling time (fault.Limit "login_locked").
func (s *Service) LogIn(ctx context.Context, email, password, source string) (Session, error) {
	a, err := s.VerifyPassword(ctx, email, password, source)
	if err != nil {
		return Session{}, err
	}
	sess, err := s.OpenSession(ctx, a.ID, SessionAPI)
	if err != nil {
		return Session{}, err
	}
	s.event(ctx, Event{AccountID: a.ID, Kind: EventLogin, Detail: "wallet API: password", Source: source})
	return sess, nil
}

// VerifyPassword checks an account's password without opening a session
// (the first factor of a portal log-in, or a step-up before a sensitive
// change). The attempt is counted in the database before the password is
// checked, so concurrent guesses cannot all pass the lock: the
// MaxFailedLogins-th attempt in a row locks the account and later ones are
// refused unchecked until the lock ends. At most MaxPasswordChecks
// argon2 checks run at once. It fails with fault.Unauthorized
// "bad_credentials" (unknown email or wrong password, alike), fault.Limit
// "login_locked" or fault.Limit "busy".
func (s *Service) VerifyPassword(ctx context.Context, email, password, source string) (Account, error) {
	return s.verify(ctx, email, password, source, false)
}

// VerifyPasswordAfterFactor checks the password of an owner who has just
// proven the account's second factor (a passkey assertion or a one-time
// code): the account's lock does not refuse it — so no one guessing the
// password can lock the owner out — and a right password ends the lock.
// A wrong one is recorded but does not count towards the lock (each try
// costs the guesser the second factor). It fails with fault.Unauthorized
// "bad_credentials" or fault.Limit "busy".
func (s *Service) VerifyPasswordAfterFactor(ctx context.Context, accountID, password, source string) (Account, error) {
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return Account{}, err
	}
	return s.verify(ctx, a.Email, password, source, true)
}

func (s *Service) verify(ctx context.Context, email, password, source string, factorShown bool) (Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	now := s.Now().UTC()
	release, err := s.argonSlot(ctx)
	if err != nil {
		if a, err2 := s.Store.AccountByEmail(ctx, email); err2 == nil {
			s.event(ctx, Event{AccountID: a.ID, Kind: EventLoginBusy, Detail: "refused: too many password checks at once", Source: source})
		}
		return Account{}, err
	}
	defer release()
	wrong := fault.E(fault.Unauthorized, "bad_credentials", "wrong email or password")
	a, err := s.Store.AccountByEmail(ctx, email)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			s.hashPassword(password) // same work for unknown accounts
			return Account{}, wrong
		}
		return Account{}, err
	}
	if !factorShown {
		att, err := s.Store.CountLoginAttempt(ctx, a.ID, now, MaxFailedLogins)
		if err != nil {
			return Account{}, err
		}
		if !att.Allowed {
			s.event(ctx, Event{AccountID: a.ID, Kind: EventLoginLocked, Detail: "refused unchecked: the account is locked", Source: source})
			return Account{}, fault.E(fault.Limit, "login_locked", "too many failed log-ins: try again after %s (or log in at the portal with your passkey or a one-time code)", att.LockedUntil.Format(time.RFC3339))
		}
		a.FailedLogins = att.N
	}
	if !s.CheckPassword(a, password) {
		detail := fmt.Sprintf("attempt %d in a row", a.FailedLogins)
		if factorShown {
			detail = "after the second factor"
		}
		s.event(ctx, Event{AccountID: a.ID, Kind: EventLoginFailed, Detail: detail, Source: source})
		return Account{}, wrong
	}
	if err := s.Store.ResetLoginFailures(ctx, a.ID); err != nil {
		return Account{}, err
	}
	return a, nil
}

// OpenSession makes a new session of a kind (SessionAPI, SessionPortal)
// for an account already authenticated as that kind requires.
func (s *Service) OpenSession(ctx context.Context, accountID, kind string) (Session, error) {
	if kind != SessionAPI && kind != SessionPortal {
		return Session{}, fault.E(fault.Internal, "session_kind", "unknown session kind")
	}
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	exp := s.Now().UTC().Add(s.SessionTTL)
	sess := Session{Token: tok, AccountID: accountID, Kind: kind, ExpiresAt: exp}
	if err := s.Store.CreateSession(ctx, hashToken(tok), sess); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// CheckPassword reports whether password matches the account's hash.
func (s *Service) CheckPassword(a Account, password string) bool {
	return verifyPassword(a.PasswordHash, password)
}

// Authenticate returns the live session of a token if it is of the kind
// asked (SessionAPI or SessionPortal); any other — unknown, expired,
// logged out, switched off with its phone, or of the other kind — is
// fault.Unauthorized "bad_session" (or "session_expired").
func (s *Service) Authenticate(ctx context.Context, token, kind string) (Session, error) {
	if token == "" || len(token) > 100 {
		return Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first")
	}
	sess, err := s.Store.SessionByToken(ctx, hashToken(token), s.Now().UTC())
	if err != nil {
		return Session{}, err
	}
	if subtle.ConstantTimeCompare([]byte(sess.Kind), []byte(kind)) != 1 {
		return Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first: this is not a %s session", kind)
	}
	sess.Token = token
	return sess, nil
}

// BindSession records that the phone holds the session (its first request
// signed by the phone's device key); switching that phone's wallet off
// then ends the session. A session bound to another phone already is
// left as it is.
func (s *Service) BindSession(ctx context.Context, token, phoneID string) error {
	return s.Store.BindSession(ctx, hashToken(token), phoneID)
}

// EndPhoneSessions ends every session a phone holds and every portal
// session of its account except keep's (the portal session asking, if
// any): a lost phone's app and any portal page left open are logged out.
// It returns how many sessions it ended.
func (s *Service) EndPhoneSessions(ctx context.Context, accountID, phoneID, keep string) (int, error) {
	now := s.Now().UTC()
	n, err := s.Store.RevokePhoneSessions(ctx, phoneID, now)
	if err != nil {
		return 0, err
	}
	var except []byte
	if keep != "" {
		except = hashToken(keep)
	}
	m, err := s.Store.RevokeSessions(ctx, accountID, SessionPortal, except, now)
	return n + m, err
}

// ChangePassword sets a new password for an account whose owner has just
// proven the old password and the second factor (the caller checks both),
// and ends every other session of the account (API and portal; keep's
// stays). It fails with fault.Invalid "weak_password", fault.Limit "busy",
// or the store's error.
func (s *Service) ChangePassword(ctx context.Context, accountID, password, keep, source string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	release, err := s.argonSlot(ctx)
	if err != nil {
		return err
	}
	hash := s.hashPassword(password)
	release()
	if err := s.Store.SetPasswordHash(ctx, accountID, hash); err != nil {
		return err
	}
	var except []byte
	if keep != "" {
		except = hashToken(keep)
	}
	n, err := s.Store.RevokeSessions(ctx, accountID, "", except, s.Now().UTC())
	if err != nil {
		return err
	}
	s.event(ctx, Event{AccountID: accountID, Kind: EventPasswordChanged, Detail: fmt.Sprintf("%d other sessions ended", n), Source: source})
	return nil
}

func checkPassword(password string) error {
	if len(password) < 8 {
		return fault.E(fault.Invalid, "weak_password", "password must have at least 8 characters")
	}
	if len(password) > 256 {
		return fault.E(fault.Invalid, "weak_password", "password must have at most 256 characters")
	}
	return nil
}

// LogOut ends a session of either kind.
func (s *Service) LogOut(ctx context.Context, token, source string) error {
	if token == "" || len(token) > 100 {
		return fault.E(fault.Unauthorized, "bad_session", "log in first")
	}
	sess, err := s.Store.SessionByToken(ctx, hashToken(token), s.Now().UTC())
	if err != nil {
		return err
	}
	if err := s.Store.RevokeSession(ctx, hashToken(token)); err != nil {
		return err
	}
	s.event(ctx, Event{AccountID: sess.AccountID, Kind: EventLogout, Detail: sess.Kind, Source: source})
	return nil
}

// RegisterPhone registers a phone under an account with its device public
// key (PKIX DER, P-256). It fails with fault.Invalid for a bad key or name.
func (s *Service) RegisterPhone(ctx context.Context, accountID, name, model string, pub []byte, source string) (Phone, error) {
	if _, err := devicekey.ParsePublic(pub); err != nil {
		return Phone{}, err
	}
	name, model = strings.TrimSpace(name), strings.TrimSpace(model)
	if name == "" {
		name = "My phone"
	}
	if model == "" {
		model = "tapwallet phone"
	}
	if len(name) > 64 || len(model) > 64 {
		return Phone{}, fault.E(fault.Invalid, "bad_phone_name", "phone name and model must have at most 64 characters")
	}
	now := s.Now().UTC()
	p := Phone{ID: NewID("ph"), AccountID: accountID, Name: name, Model: model, PublicKey: pub, WalletOn: true, CreatedAt: now, LastSeen: now}
	if err := s.Store.CreatePhone(ctx, p); err != nil {
		return Phone{}, err
	}
	s.event(ctx, Event{AccountID: accountID, PhoneID: p.ID, Kind: EventPhoneAdded, Detail: name, Source: source})
	return p, nil
}

// OwnedPhone returns a phone of the account; another account's phone is
// reported as fault.NotFound, exactly like a phone that does not exist.
func (s *Service) OwnedPhone(ctx context.Context, accountID, phoneID string) (Phone, error) {
	p, err := s.Store.Phone(ctx, phoneID)
	if err != nil {
		return Phone{}, err
	}
	if subtle.ConstantTimeCompare([]byte(p.AccountID), []byte(accountID)) != 1 {
		return Phone{}, fault.E(fault.NotFound, "phone_not_found", "no such phone on this account")
	}
	return p, nil
}

// SignedRequest is the proof of possession a phone attaches to a request.
type SignedRequest struct {
	PhoneID, Method, Path, Time, Nonce string
	Body, Signature                    []byte
}

// MaxClockSkew is how far a signed request's time may be from ours.
const MaxClockSkew = 5 * time.Minute

// VerifyPhone checks that a request was signed by the device key of a phone
// of this account, recently, and only once. It fails with fault.Unauthorized
// ("unsigned_request", "bad_signature", "stale_request"), fault.Conflict
// "replayed_request", or fault.NotFound for a phone not on the account.
func (s *Service) VerifyPhone(ctx context.Context, accountID string, r SignedRequest, source string) (Phone, error) {
	if r.PhoneID == "" || r.Time == "" || r.Nonce == "" || len(r.Signature) == 0 {
		return Phone{}, fault.E(fault.Unauthorized, "unsigned_request", "this request must be signed by the phone's device key")
	}
	p, err := s.OwnedPhone(ctx, accountID, r.PhoneID)
	if err != nil {
		return Phone{}, err
	}
	ts, err := strconv.ParseInt(r.Time, 10, 64)
	now := s.Now().UTC()
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > MaxClockSkew {
		return Phone{}, fault.E(fault.Unauthorized, "stale_request", "signed request time is missing or more than 5 minutes off")
	}
	if len(r.Nonce) < 8 || len(r.Nonce) > 64 {
		return Phone{}, fault.E(fault.Unauthorized, "unsigned_request", "request nonce must have 8 to 64 characters")
	}
	pub, err := devicekey.ParsePublic(p.PublicKey)
	if err != nil {
		return Phone{}, err
	}
	if err := devicekey.Verify(pub, devicekey.SigningString(r.Method, r.Path, r.Time, r.Nonce, r.Body), r.Signature); err != nil {
		s.event(ctx, Event{AccountID: accountID, PhoneID: p.ID, Kind: EventBadSignature, Detail: r.Method + " " + r.Path, Source: source})
		return Phone{}, err
	}
	if err := s.Store.UsePhoneNonce(ctx, p.ID, r.Nonce, now); err != nil {
		return Phone{}, err
	}
	return p, nil
}

// PublicKey parses a phone's stored device key.
func (p Phone) PublicKeyECDSA() (*ecdsa.PublicKey, error) { return devicekey.ParsePublic(p.PublicKey) }

// Record appends a security event; failures to record are logged, never
// lost silently. Events that repeat while someone guesses (wrong
// passwords, locks, throttling) are folded: one row per account, phone,
// kind and source within FoldWindow, with a count and the first and last
// time.
func (s *Service) Record(ctx context.Context, e Event) { s.event(ctx, e) }

// Finding records a finding (such as a key the phone used that the network
// never saw) once: the same finding — account, phone, kind and detail —
// found again at a later sync adds nothing. It reports whether it was new.
func (s *Service) Finding(ctx context.Context, e Event) bool {
	s.fill(&e)
	added, err := s.Store.AddFinding(ctx, e)
	if err != nil {
		s.Log.ErrorContext(ctx, "security finding not recorded", "kind", e.Kind, "account", e.AccountID, "err", err)
	}
	return added
}

func (s *Service) fill(e *Event) {
	if e.ID == "" {
		e.ID = NewID("ev")
	}
	if e.At.IsZero() {
		e.At = s.Now().UTC()
	}
	if e.FirstAt.IsZero() {
		e.FirstAt = e.At
	}
	if e.Times == 0 {
		e.Times = 1
	}
}

func (s *Service) event(ctx context.Context, e Event) {
	s.fill(&e)
	var err error
	if foldKinds[e.Kind] {
		w := s.FoldWindow
		if w <= 0 {
			w = time.Hour
		}
		err = s.Store.FoldEvent(ctx, e, e.At.Add(-w))
	} else {
		err = s.Store.AddEvent(ctx, e)
	}
	if err != nil {
		s.Log.ErrorContext(ctx, "security event not recorded", "kind", e.Kind, "account", e.AccountID, "err", err)
	}
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte("tapwallet session\x00" + tok))
	return h[:]
}

// hashPassword returns a PHC-style argon2id string.
func (s *Service) hashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, s.ArgonTime, s.ArgonMemoryKiB, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=1$%s$%s", s.ArgonMemoryKiB, s.ArgonTime,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func verifyPassword(phc, pw string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// Fingerprint returns a short, stable, non-secret fingerprint of a device key
// for display.
func Fingerprint(pub []byte) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:6])
}
