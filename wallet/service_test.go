package wallet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strconv"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/wallet/wallettest"
)

// newService is the wallet service on the in-memory store, with a clock
// the test moves and cheap argon2.
func newService(t *testing.T) (*wallet.Service, *time.Time) {
	t.Helper()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := wallet.NewService(wallettest.NewFake(), nil)
	s.Now = func() time.Time { return now }
	s.ArgonTime, s.ArgonMemoryKiB = 1, 64
	return s, &now
}

func signUp(t *testing.T, s *wallet.Service, email string) wallet.Account {
	t.Helper()
	a, err := s.SignUp(context.Background(), email, "password-123", "198.51.100.1")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func events(t *testing.T, s *wallet.Service, acc string) map[string]wallet.Event {
	t.Helper()
	evs, err := s.Store.Events(context.Background(), acc, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]wallet.Event{}
	for _, e := range evs {
		if _, seen := out[e.Kind]; seen {
			t.Fatalf("two rows of %s: got %+v, want one (folded)", e.Kind, evs)
		}
		out[e.Kind] = e
	}
	return out
}

// TestSignUp: bad input is refused with its code; a taken email is
// email_taken and recorded on the account that has it.
func TestSignUp(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	a := signUp(t, s, " Ada@Example.com ")
	if a.Email != "ada@example.com" {
		t.Fatalf("email: got %q, want it trimmed and lower-case", a.Email)
	}
	for _, c := range []struct{ email, password, code string }{
		{"not an email", "password-123", "bad_email"},
		{"Ada <ada@example.com>", "password-123", "bad_email"},
		{"bob@example.com", "short", "weak_password"},
		{"ada@example.com", "password-456", "email_taken"},
	} {
		if _, err := s.SignUp(ctx, c.email, c.password, "203.0.113.9"); fault.CodeOf(err) != c.code {
			t.Errorf("SignUp(%q, %q): got %v, want %s", c.email, c.password, err, c.code)
		}
	}
	if e, ok := events(t, s, a.ID)[wallet.EventSignUpTaken]; !ok || e.Source != "203.0.113.9" {
		t.Fatalf("events: got %+v, want signup_existing from 203.0.113.9", events(t, s, a.ID))
	}
}

// TestLogInLock: wrong passwords and unknown emails answer alike; the
// fifth wrong one in a row locks the account, the right password is then
// refused unchecked until the lock ends (or the owner shows the second
// factor); the guesses fold into one event row.
func TestLogInLock(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	a := signUp(t, s, "lock@example.com")
	if _, err := s.LogIn(ctx, "nobody@example.com", "password-123", "x"); !fault.Has(err, fault.Unauthorized, "bad_credentials") {
		t.Fatalf("unknown email: got %v, want bad_credentials", err)
	}
	for i := range wallet.MaxFailedLogins {
		if _, err := s.LogIn(ctx, "lock@example.com", "wrong-password", "192.0.2.1"); !fault.Has(err, fault.Unauthorized, "bad_credentials") {
			t.Fatalf("wrong password %d: got %v, want bad_credentials", i+1, err)
		}
	}
	if _, err := s.LogIn(ctx, "lock@example.com", "password-123", "192.0.2.1"); !fault.Has(err, fault.Limit, "login_locked") {
		t.Fatalf("right password while locked: got %v, want login_locked", err)
	}
	evs := events(t, s, a.ID)
	if evs[wallet.EventLoginFailed].Times != wallet.MaxFailedLogins || evs[wallet.EventLoginLocked].Times != 1 {
		t.Fatalf("events: got %+v, want one login_failed row of %d, one login_locked", evs, wallet.MaxFailedLogins)
	}
	// The owner with the second factor passes the lock, and ends it.
	if _, err := s.VerifyPasswordAfterFactor(ctx, a.ID, "password-123", "192.0.2.2"); err != nil {
		t.Fatalf("after the second factor: got %v, want the password accepted", err)
	}
	if _, err := s.LogIn(ctx, "lock@example.com", "password-123", "192.0.2.1"); err != nil {
		t.Fatalf("log-in after the lock ended: got %v", err)
	}
	// Locked again, then the lock runs out: one more attempt passes.
	for range wallet.MaxFailedLogins {
		s.LogIn(ctx, "lock@example.com", "wrong-password", "192.0.2.1")
	}
	*now = now.Add(wallet.LockTime(wallet.MaxFailedLogins) + time.Second)
	if _, err := s.LogIn(ctx, "lock@example.com", "password-123", "192.0.2.1"); err != nil {
		t.Fatalf("log-in when the lock ran out: got %v", err)
	}
}

// TestSessions: a session is accepted only as its own kind and until it
// expires or ends; a phone's switch-off ends its bound sessions and the
// account's portal sessions but the one kept; a new password ends every
// other session and the old password opens nothing.
func TestSessions(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	a := signUp(t, s, "sess@example.com")
	api, err := s.LogIn(ctx, "sess@example.com", "password-123", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, api.Token, wallet.SessionPortal); !fault.Has(err, fault.Unauthorized, "bad_session") {
		t.Fatalf("API session at the portal: got %v, want bad_session", err)
	}
	if got, err := s.Authenticate(ctx, api.Token, wallet.SessionAPI); err != nil || got.AccountID != a.ID {
		t.Fatalf("API session: got %+v, %v", got, err)
	}
	p1, _ := s.OpenSession(ctx, a.ID, wallet.SessionPortal)
	p2, _ := s.OpenSession(ctx, a.ID, wallet.SessionPortal)
	other, _ := s.OpenSession(ctx, a.ID, wallet.SessionAPI) // not bound to the phone
	if err := s.BindSession(ctx, api.Token, "ph_lost"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.EndPhoneSessions(ctx, a.ID, "ph_lost", p2.Token); err != nil || n != 2 {
		t.Fatalf("EndPhoneSessions: got %d, %v, want 2 (the phone's and a portal session)", n, err)
	}
	for _, c := range []struct {
		name, tok, kind string
		live            bool
	}{{"the lost phone's", api.Token, wallet.SessionAPI, false}, {"a portal", p1.Token, wallet.SessionPortal, false},
		{"the kept portal", p2.Token, wallet.SessionPortal, true}, {"another API", other.Token, wallet.SessionAPI, true}} {
		if _, err := s.Authenticate(ctx, c.tok, c.kind); (err == nil) != c.live {
			t.Errorf("%s session: got %v, want live=%v", c.name, err, c.live)
		}
	}
	if err := s.ChangePassword(ctx, a.ID, "new-password-1", p2.Token, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, other.Token, wallet.SessionAPI); err == nil {
		t.Fatal("another session after a new password: got live, want ended")
	}
	if _, err := s.Authenticate(ctx, p2.Token, wallet.SessionPortal); err != nil {
		t.Fatalf("the asking session after a new password: got %v, want live", err)
	}
	if _, err := s.LogIn(ctx, "sess@example.com", "password-123", "x"); !fault.Has(err, fault.Unauthorized, "bad_credentials") {
		t.Fatalf("the old password: got %v, want bad_credentials", err)
	}
	if err := s.LogOut(ctx, p2.Token, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, p2.Token, wallet.SessionPortal); !fault.Has(err, fault.Unauthorized, "bad_session") {
		t.Fatalf("after log-out: got %v, want bad_session", err)
	}
	fresh, _ := s.LogIn(ctx, "sess@example.com", "new-password-1", "x")
	*now = now.Add(13 * time.Hour)
	if _, err := s.Authenticate(ctx, fresh.Token, wallet.SessionAPI); !fault.Has(err, fault.Unauthorized, "session_expired") {
		t.Fatalf("after 13 hours: got %v, want session_expired", err)
	}
}

// TestVerifyPhone: a request signed by the phone's device key passes once;
// a replay, a stale time, another key or another account's phone fail
// with their codes; bad signatures are security events.
func TestVerifyPhone(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	a := signUp(t, s, "phone@example.com")
	b := signUp(t, s, "other@example.com")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if _, err := s.RegisterPhone(ctx, a.ID, "x", "y", []byte("not a key"), "x"); fault.KindOf(err) != fault.Invalid {
		t.Fatalf("a bad device key: got %v, want invalid", err)
	}
	ph, err := s.RegisterPhone(ctx, a.ID, "", "", der, "x")
	if err != nil || ph.Name != "My phone" || !ph.WalletOn {
		t.Fatalf("RegisterPhone: got %+v, %v", ph, err)
	}
	if _, err := s.OwnedPhone(ctx, b.ID, ph.ID); !fault.Has(err, fault.NotFound, "phone_not_found") {
		t.Fatalf("another account's phone: got %v, want phone_not_found", err)
	}
	sign := func(k *ecdsa.PrivateKey, nonce string, at time.Time) wallet.SignedRequest {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig, err := devicekey.Sign(k, devicekey.SigningString("POST", "/v1/cards", ts, nonce, []byte(`{}`)))
		if err != nil {
			t.Fatal(err)
		}
		return wallet.SignedRequest{PhoneID: ph.ID, Method: "POST", Path: "/v1/cards", Time: ts, Nonce: nonce, Body: []byte(`{}`), Signature: sig}
	}
	if _, err := s.VerifyPhone(ctx, a.ID, sign(key, "nonce-0001", *now), "x"); err != nil {
		t.Fatalf("a signed request: got %v", err)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		name, account string
		r             wallet.SignedRequest
		code          string
	}{
		{"replayed", a.ID, sign(key, "nonce-0001", *now), "replayed_request"},
		{"stale", a.ID, sign(key, "nonce-0002", now.Add(-6*time.Minute)), "stale_request"},
		{"unsigned", a.ID, wallet.SignedRequest{PhoneID: ph.ID}, "unsigned_request"},
		{"another key", a.ID, sign(stranger, "nonce-0003", *now), "bad_signature"},
		{"another key again", a.ID, sign(stranger, "nonce-0004", *now), "bad_signature"},
		{"another account", b.ID, sign(key, "nonce-0005", *now), "phone_not_found"},
	} {
		if _, err := s.VerifyPhone(ctx, c.account, c.r, "203.0.113.5"); fault.CodeOf(err) != c.code {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
	if e := events(t, s, a.ID)[wallet.EventBadSignature]; e.Times != 2 {
		t.Fatalf("bad signatures: got %+v, want one row counting 2", e)
	}
}

// TestPhoneState: the wallet's on/off fact, the reported place and the
// last-seen time; places off Earth are refused.
func TestPhoneState(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	_, ph := wallettest.Fixture(t, s.Store, "state2@example.com")
	if changed, err := s.SetWalletOn(ctx, ph.ID, false); err != nil || !changed {
		t.Fatalf("switch off: got %v, %v, want changed", changed, err)
	}
	if changed, err := s.SetWalletOn(ctx, ph.ID, false); err != nil || changed {
		t.Fatalf("switch off again: got %v, %v, want unchanged", changed, err)
	}
	if err := s.ReportLocation(ctx, ph.ID, 91, 0); fault.CodeOf(err) != "bad_location" {
		t.Fatalf("latitude 91: got %v, want bad_location", err)
	}
	if err := s.ReportLocation(ctx, ph.ID, 31.2304, 121.4737); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Phone(ctx, ph.ID)
	if p.WalletOn || p.Lat == nil || *p.Lat != 31.2304 || !p.LastSeen.Equal(*now) {
		t.Fatalf("phone: got %+v, want off, at 31.2304, seen now", p)
	}
	if err := s.Seen(ctx, "ph_nope"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("an unknown phone seen: got %v, want not found", err)
	}
}

// TestOnLocation: the hook hears each stored place once, with the time
// stored; a refused place and an unknown phone are not told; nil stops it.
func TestOnLocation(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	_, ph := wallettest.Fixture(t, s.Store, "located@example.com")
	type heard struct {
		phone    string
		lat, lon float64
		at       time.Time
	}
	var got []heard
	s.OnLocation(func(_ context.Context, phoneID string, lat, lon float64, at time.Time) {
		got = append(got, heard{phoneID, lat, lon, at})
	})
	if err := s.ReportLocation(ctx, ph.ID, 91, 0); err == nil {
		t.Fatal("latitude 91 accepted")
	}
	if err := s.ReportLocation(ctx, "ph_nope", 39.9, 116.4); err == nil {
		t.Fatal("an unknown phone's place accepted")
	}
	if err := s.ReportLocation(ctx, ph.ID, 39.9355, 116.4551); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (heard{ph.ID, 39.9355, 116.4551, now.UTC()}) {
		t.Fatalf("heard %+v, want the one stored place at %v", got, *now)
	}
	s.OnLocation(nil)
	if err := s.ReportLocation(ctx, ph.ID, 31.2304, 121.4737); err != nil || len(got) != 1 {
		t.Fatalf("after OnLocation(nil): %v, heard %d", err, len(got))
	}
}
