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
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
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
type Session struct {
	Token     string
	AccountID string
	ExpiresAt time.Time
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
	At        time.Time
}

// Security event kinds.
const (
	EventSignUp        = "signup"
	EventLogin         = "login"
	EventLoginFailed   = "login_failed"
	EventLoginLocked   = "login_locked"
	EventLogout        = "logout"
	EventPhoneAdded    = "phone_registered"
	EventCardAdded     = "card_added"
	EventCardRemoved   = "card_removed"
	EventCardStepUp    = "card_step_up"
	EventCardDeclined  = "card_declined"
	EventBadSignature  = "phone_bad_signature"
	EventWalletOff     = "wallet_off"
	EventWalletOn      = "wallet_on"
	EventDefaultChosen = "default_card"
)

// Store is what the wallet service needs from storage.
type Store interface {
	CreateAccount(ctx context.Context, a Account) error                // fault.Conflict "email_taken"
	AccountByEmail(ctx context.Context, email string) (Account, error) // fault.NotFound
	RecordLoginFailure(ctx context.Context, accountID string, lockedUntil time.Time) (int, error)
	ResetLoginFailures(ctx context.Context, accountID string) error
	CreateSession(ctx context.Context, tokenHash []byte, accountID string, expires time.Time) error
	SessionAccount(ctx context.Context, tokenHash []byte, now time.Time) (string, error) // fault.Unauthorized
	RevokeSession(ctx context.Context, tokenHash []byte) error
	CreatePhone(ctx context.Context, p Phone) error
	Phone(ctx context.Context, id string) (Phone, error) // fault.NotFound
	Phones(ctx context.Context, accountID string) ([]Phone, error)
	UsePhoneNonce(ctx context.Context, phoneID, nonce string, now time.Time) error // fault.Conflict "replayed_request"
	AddEvent(ctx context.Context, e Event) error
	Events(ctx context.Context, accountID string, limit int) ([]Event, error)
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
}

// NewService returns a Service with defaults.
func NewService(st Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: st, Log: log, Now: time.Now, SessionTTL: 12 * time.Hour, ArgonTime: 2, ArgonMemoryKiB: 19 * 1024}
}

// NewID returns a unique identifier with a readable prefix; identifiers
// made later sort after earlier ones (a time part, then a random part).
func NewID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%013x%s", prefix, time.Now().UnixNano()/1000, strings.ToLower(base32(b[:])))
}

func base32(b []byte) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(alphabet[c&31])
		s.WriteByte(alphabet[(c>>5)|((c&1)<<3)])
	}
	return s.String()
}

// SignUp creates an account. It fails with fault.Invalid for a bad email or a
// password under 8 characters, fault.Conflict "email_taken" if the email is
// in use.
func (s *Service) SignUp(ctx context.Context, email, password, source string) (Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return Account{}, fault.E(fault.Invalid, "bad_email", "email must be a plain address like name@example.com")
	}
	if len(password) < 8 {
		return Account{}, fault.E(fault.Invalid, "weak_password", "password must have at least 8 characters")
	}
	if len(password) > 256 {
		return Account{}, fault.E(fault.Invalid, "weak_password", "password must have at most 256 characters")
	}
	a := Account{ID: NewID("acc"), Email: email, PasswordHash: s.hashPassword(password), CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateAccount(ctx, a); err != nil {
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
	sess, err := s.OpenSession(ctx, a.ID)
	if err != nil {
		return Session{}, err
	}
	s.event(ctx, Event{AccountID: a.ID, Kind: EventLogin, Source: source})
	return sess, nil
}

// VerifyPassword checks an account's password without opening a session
// (the first factor of a portal log-in, or a step-up before a sensitive
// change), counting failures and locking the account exactly as LogIn does.
// It fails with fault.Unauthorized "bad_credentials" or fault.Limit
// "login_locked".
func (s *Service) VerifyPassword(ctx context.Context, email, password, source string) (Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	now := s.Now().UTC()
	a, err := s.Store.AccountByEmail(ctx, email)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			s.hashPassword(password) // same work for unknown accounts
			return Account{}, fault.E(fault.Unauthorized, "bad_credentials", "wrong email or password")
		}
		return Account{}, err
	}
	if now.Before(a.LockedUntil) {
		s.event(ctx, Event{AccountID: a.ID, Kind: EventLoginLocked, Source: source})
		return Account{}, fault.E(fault.Limit, "login_locked", "too many failed log-ins: try again after %s", a.LockedUntil.Format(time.RFC3339))
	}
	if !s.CheckPassword(a, password) {
		n := a.FailedLogins + 1
		var until time.Time
		if n >= 5 {
			d := time.Minute << min(n-5, 6) // 1 min, doubling, at most ~1 h
			until = now.Add(d)
		}
		if _, err := s.Store.RecordLoginFailure(ctx, a.ID, until); err != nil {
			return Account{}, err
		}
		s.event(ctx, Event{AccountID: a.ID, Kind: EventLoginFailed, Detail: fmt.Sprintf("failure %d in a row", n), Source: source})
		return Account{}, fault.E(fault.Unauthorized, "bad_credentials", "wrong email or password")
	}
	if a.FailedLogins > 0 {
		if err := s.Store.ResetLoginFailures(ctx, a.ID); err != nil {
			return Account{}, err
		}
	}
	return a, nil
}

// OpenSession makes a new session for an account already authenticated.
func (s *Service) OpenSession(ctx context.Context, accountID string) (Session, error) {
	var b [32]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	exp := s.Now().UTC().Add(s.SessionTTL)
	if err := s.Store.CreateSession(ctx, hashToken(tok), accountID, exp); err != nil {
		return Session{}, err
	}
	return Session{Token: tok, AccountID: accountID, ExpiresAt: exp}, nil
}

// CheckPassword reports whether password matches the account's hash.
func (s *Service) CheckPassword(a Account, password string) bool {
	return verifyPassword(a.PasswordHash, password)
}

// Authenticate returns the account of a live session token, or
// fault.Unauthorized "bad_session" (unknown, expired or logged out).
func (s *Service) Authenticate(ctx context.Context, token string) (string, error) {
	if token == "" || len(token) > 100 {
		return "", fault.E(fault.Unauthorized, "bad_session", "log in first")
	}
	return s.Store.SessionAccount(ctx, hashToken(token), s.Now().UTC())
}

// LogOut ends a session.
func (s *Service) LogOut(ctx context.Context, token, source string) error {
	acc, err := s.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeSession(ctx, hashToken(token)); err != nil {
		return err
	}
	s.event(ctx, Event{AccountID: acc, Kind: EventLogout, Source: source})
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

// Record appends a security event; failures to record are logged, never lost silently.
func (s *Service) Record(ctx context.Context, e Event) { s.event(ctx, e) }

func (s *Service) event(ctx context.Context, e Event) {
	if e.ID == "" {
		e.ID = NewID("ev")
	}
	if e.At.IsZero() {
		e.At = s.Now().UTC()
	}
	if err := s.Store.AddEvent(ctx, e); err != nil {
		s.Log.Error("security event not recorded", "kind", e.Kind, "account", e.AccountID, "err", err)
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
