// Package wallettest is the conformance suite of wallet.Store — what any
// store of the wallet service must do, run on the in-memory Fake and on
// the wallet's SQL wing on SQLite and PostgreSQL — and that Fake.
package wallettest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
)

// Open returns a fresh, empty store for one case of the suite.
type Open func(t *testing.T) wallet.Store

// Run runs every case of the suite, each on a fresh store.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Accounts", accounts},
		{"LoginAttemptsRace", loginAttemptsRace},
		{"Sessions", sessions},
		{"Phones", phones},
		{"Nonces", nonces},
		{"EventFolding", eventFolding},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// Fixture makes an account with one phone in st.
func Fixture(t *testing.T, st wallet.Store, email string) (wallet.Account, wallet.Phone) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := wallet.Account{ID: wallet.NewID("acc"), Email: email, PasswordHash: "x", CreatedAt: now}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	ph := wallet.Phone{ID: wallet.NewID("ph"), AccountID: a.ID, Name: "p", Model: "m", PublicKey: der, WalletOn: true, CreatedAt: now, LastSeen: now}
	if err := st.CreatePhone(ctx, ph); err != nil {
		t.Fatal(err)
	}
	return a, ph
}

// accounts: an email is taken once; accounts are found by email and id;
// a new password hash clears the failures and the lock.
func accounts(t *testing.T, open Open) {
	ctx := context.Background()
	ws := open(t)
	a, _ := Fixture(t, ws, "acc@example.com")
	dup := wallet.Account{ID: wallet.NewID("acc"), Email: "acc@example.com", PasswordHash: "y", CreatedAt: time.Now()}
	if err := ws.CreateAccount(ctx, dup); !fault.Has(err, fault.Conflict, "email_taken") {
		t.Fatalf("second account with one email: got %v, want email_taken", err)
	}
	if got, err := ws.AccountByEmail(ctx, "acc@example.com"); err != nil || got.ID != a.ID || got.PasswordHash != "x" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("AccountByEmail: got %+v, %v, want %+v", got, err, a)
	}
	if got, err := ws.AccountByID(ctx, a.ID); err != nil || got.Email != "acc@example.com" {
		t.Fatalf("AccountByID: got %+v, %v", got, err)
	}
	if _, err := ws.AccountByEmail(ctx, "nobody@example.com"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("unknown email: got %v, want not found", err)
	}
	if _, err := ws.AccountByID(ctx, "acc_nope"); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("unknown id: got %v, want not found", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for range wallet.MaxFailedLogins {
		if _, err := ws.CountLoginAttempt(ctx, a.ID, now, wallet.MaxFailedLogins); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.SetPasswordHash(ctx, a.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := ws.AccountByID(ctx, a.ID); got.PasswordHash != "new" || got.FailedLogins != 0 || got.LockedUntil.After(now) {
		t.Fatalf("after SetPasswordHash: got %+v, want the new hash, no failures, no lock", got)
	}
	if err := ws.SetPasswordHash(ctx, "acc_nope", "h"); !fault.Has(err, fault.NotFound, "account_not_found") {
		t.Fatalf("SetPasswordHash of an unknown account: got %v, want account_not_found", err)
	}
	if _, err := ws.CountLoginAttempt(ctx, "acc_nope", now, wallet.MaxFailedLogins); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("CountLoginAttempt of an unknown account: got %v, want not found", err)
	}
}

// phones: listed per account oldest first; the wallet switches on and off
// (reporting a change once); place and last-seen kept; unknown phones are
// not found.
func phones(t *testing.T, open Open) {
	ctx := context.Background()
	ws := open(t)
	a, ph := Fixture(t, ws, "ph@example.com")
	_, other := Fixture(t, ws, "other@example.com")
	second := ph
	second.ID, second.Name, second.CreatedAt = wallet.NewID("ph"), "second", ph.CreatedAt.Add(time.Second)
	if err := ws.CreatePhone(ctx, second); err != nil {
		t.Fatal(err)
	}
	list, err := ws.Phones(ctx, a.ID)
	if err != nil || len(list) != 2 || list[0].ID != ph.ID || list[1].ID != second.ID {
		t.Fatalf("Phones: got %+v, %v, want the two phones of the account, oldest first", list, err)
	}
	got, err := ws.Phone(ctx, ph.ID)
	if err != nil || got.AccountID != a.ID || !bytes.Equal(got.PublicKey, ph.PublicKey) || !got.WalletOn || got.Name != "p" || got.Model != "m" {
		t.Fatalf("Phone: got %+v, %v, want the stored phone, wallet on", got, err)
	}
	if _, err := ws.Phone(ctx, "ph_nope"); !fault.Has(err, fault.NotFound, "phone_not_found") {
		t.Fatalf("unknown phone: got %v, want phone_not_found", err)
	}
	for i, c := range []struct {
		on, changed bool
	}{{false, true}, {false, false}, {true, true}, {true, false}, {false, true}} {
		changed, err := ws.SetWalletOn(ctx, ph.ID, c.on)
		if err != nil || changed != c.changed {
			t.Fatalf("SetWalletOn #%d (%v): got changed=%v, %v, want %v", i, c.on, changed, err, c.changed)
		}
		if p, _ := ws.Phone(ctx, ph.ID); p.WalletOn != c.on {
			t.Fatalf("SetWalletOn #%d: wallet_on %v, want %v", i, p.WalletOn, c.on)
		}
	}
	if p, _ := ws.Phone(ctx, other.ID); !p.WalletOn {
		t.Fatal("another account's phone: got wallet off, want untouched")
	}
	if _, err := ws.SetWalletOn(ctx, "ph_nope", false); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("SetWalletOn of an unknown phone: got %v, want not found", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Hour)
	if err := ws.SetPhoneLocation(ctx, ph.ID, 39.9042, 116.4074, now); err != nil {
		t.Fatal(err)
	}
	p, _ := ws.Phone(ctx, ph.ID)
	if p.Lat == nil || *p.Lat != 39.9042 || *p.Lon != 116.4074 || !p.LocatedAt.Equal(now) || !p.LastSeen.Equal(now) {
		t.Fatalf("location: got %v,%v at %v, want 39.9042,116.4074 at %v", p.Lat, p.Lon, p.LocatedAt, now)
	}
	later := now.Add(time.Minute)
	if err := ws.TouchPhone(ctx, ph.ID, later); err != nil {
		t.Fatal(err)
	}
	if p, _ := ws.Phone(ctx, ph.ID); !p.LastSeen.Equal(later) || !p.LocatedAt.Equal(now) {
		t.Fatalf("touch: got seen %v located %v, want seen %v, the place's time unchanged", p.LastSeen, p.LocatedAt, later)
	}
	if err := ws.SetPhoneLocation(ctx, "ph_nope", 1, 1, now); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("location of an unknown phone: got %v, want not found", err)
	}
	if err := ws.TouchPhone(ctx, "ph_nope", now); fault.KindOf(err) != fault.NotFound {
		t.Fatalf("touch of an unknown phone: got %v, want not found", err)
	}
}

// nonces: a signed request's nonce is used once per phone, even by
// concurrent requests; another phone may use the same one.
func nonces(t *testing.T, open Open) {
	ctx := context.Background()
	ws := open(t)
	_, ph := Fixture(t, ws, "n@example.com")
	_, other := Fixture(t, ws, "n2@example.com")
	now := time.Now().UTC()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, replayed := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := ws.UsePhoneNonce(ctx, ph.ID, "nonce-0001", now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case fault.Has(err, fault.Conflict, "replayed_request"):
				replayed++
			default:
				t.Errorf("UsePhoneNonce: got %v, want nil or replayed_request", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || replayed != 7 {
		t.Fatalf("8 concurrent uses of one nonce: %d accepted, %d replayed; want 1 and 7", ok, replayed)
	}
	if err := ws.UsePhoneNonce(ctx, other.ID, "nonce-0001", now); err != nil {
		t.Fatalf("the same nonce on another phone: got %v, want accepted", err)
	}
}

// loginAttemptsRace: 30 attempts counted at once pass the
// lock no more than wallet.MaxFailedLogins times; the attempt reaching it
// sets the lock; a locked account is not counted; a reset ends the lock.
func loginAttemptsRace(t *testing.T, open Open) {
	{
		ctx := context.Background()
		ws := open(t)
		a, _ := Fixture(t, ws, "race@example.com")
		now := time.Now().UTC().Truncate(time.Millisecond)
		var mu sync.Mutex
		allowed, locks := 0, 0
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				att, err := ws.CountLoginAttempt(ctx, a.ID, now, wallet.MaxFailedLogins)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if att.Allowed {
					allowed++
					if !att.LockedUntil.IsZero() {
						locks++
					}
				}
			}()
		}
		wg.Wait()
		if allowed != wallet.MaxFailedLogins || locks != 1 {
			t.Fatalf("30 concurrent attempts: %d allowed (%d set the lock), want %d allowed, 1 lock", allowed, locks, wallet.MaxFailedLogins)
		}
		acc, err := ws.AccountByEmail(ctx, "race@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if acc.FailedLogins != wallet.MaxFailedLogins || !acc.LockedUntil.Equal(now.Add(wallet.LockTime(wallet.MaxFailedLogins))) {
			t.Fatalf("account: %d attempts, locked until %v; want %d, %v", acc.FailedLogins, acc.LockedUntil, wallet.MaxFailedLogins, now.Add(time.Minute))
		}
		// When the lock ends, one more attempt passes and sets a longer one.
		later := acc.LockedUntil
		att, err := ws.CountLoginAttempt(ctx, a.ID, later, wallet.MaxFailedLogins)
		if err != nil || !att.Allowed || att.N != 6 || !att.LockedUntil.Equal(later.Add(2*time.Minute)) {
			t.Fatalf("after the lock: got %+v, %v; want allowed, 6, locked 2 minutes", att, err)
		}
		if err := ws.ResetLoginFailures(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if att, _ := ws.CountLoginAttempt(ctx, a.ID, later, wallet.MaxFailedLogins); !att.Allowed || att.N != 1 {
			t.Fatalf("after a reset: got %+v, want allowed, 1", att)
		}
	}
}

// sessions: kinds kept, a phone's sessions and an account's
// portal sessions end together (but the one kept), binding happens once.
func sessions(t *testing.T, open Open) {
	{
		ctx := context.Background()
		ws := open(t)
		a, ph := Fixture(t, ws, "s@example.com")
		exp := time.Now().Add(time.Hour)
		mk := func(tok, kind string) []byte {
			h := bytes.Repeat([]byte(tok), 32)[:32]
			if err := ws.CreateSession(ctx, h, wallet.Session{AccountID: a.ID, Kind: kind, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		api, api2, portal1, portal2 := mk("a", wallet.SessionAPI), mk("b", wallet.SessionAPI), mk("c", wallet.SessionPortal), mk("d", wallet.SessionPortal)
		if err := ws.BindSession(ctx, api, ph.ID); err != nil {
			t.Fatal(err)
		}
		if err := ws.BindSession(ctx, api, "ph_other"); err != nil { // bound once
			t.Fatal(err)
		}
		if s, err := ws.SessionByToken(ctx, api, time.Now()); err != nil || s.Kind != wallet.SessionAPI || s.PhoneID != ph.ID || s.AccountID != a.ID {
			t.Fatalf("api session: got %+v, %v", s, err)
		}
		if n, err := ws.RevokePhoneSessions(ctx, ph.ID, time.Now()); err != nil || n != 1 {
			t.Fatalf("phone's sessions ended: got %d, %v, want 1", n, err)
		}
		if n, err := ws.RevokeSessions(ctx, a.ID, wallet.SessionPortal, portal2, time.Now()); err != nil || n != 1 {
			t.Fatalf("portal sessions ended: got %d, %v, want 1 (one kept)", n, err)
		}
		for _, c := range []struct {
			name string
			h    []byte
			live bool
		}{{"the phone's", api, false}, {"another API", api2, true}, {"a portal", portal1, false}, {"the kept portal", portal2, true}} {
			_, err := ws.SessionByToken(ctx, c.h, time.Now())
			if (err == nil) != c.live || (err != nil && !fault.Has(err, fault.Unauthorized, "bad_session")) {
				t.Errorf("%s session: got %v, want live=%v", c.name, err, c.live)
			}
		}
		if n, _ := ws.RevokeSessions(ctx, a.ID, "", nil, time.Now()); n != 2 {
			t.Fatalf("every session ended: got %d, want 2", n)
		}
	}
}

// eventFolding: repeats within the window fold into one row
// with a count and the first and last times; a finding is recorded once.
func eventFolding(t *testing.T, open Open) {
	{
		ctx := context.Background()
		ws := open(t)
		a, ph := Fixture(t, ws, "e@example.com")
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		for i := range 100 {
			at := t0.Add(time.Duration(i) * time.Second)
			src := "10.0.0.1"
			if i%10 == 9 {
				src = "10.0.0.2"
			}
			e := wallet.Event{ID: wallet.NewID("ev"), AccountID: a.ID, Kind: wallet.EventLoginThrottled, Source: src, At: at, FirstAt: at, Times: 1}
			if err := ws.FoldEvent(ctx, e, at.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := ws.Events(ctx, a.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]wallet.Event{}
		for _, e := range evs {
			got[e.Source] = e
		}
		if len(evs) != 2 || got["10.0.0.1"].Times != 90 || got["10.0.0.2"].Times != 10 {
			t.Fatalf("100 throttled attempts from 2 sources: got %d rows %+v, want 2 rows of 90 and 10", len(evs), got)
		}
		if e := got["10.0.0.1"]; !e.FirstAt.Equal(t0) || !e.At.Equal(t0.Add(98*time.Second)) {
			t.Fatalf("first/last: got %v / %v, want %v / %v", e.FirstAt, e.At, t0, t0.Add(98*time.Second))
		}
		// Past the window a new row starts.
		late := t0.Add(3 * time.Hour)
		if err := ws.FoldEvent(ctx, wallet.Event{ID: wallet.NewID("ev"), AccountID: a.ID, Kind: wallet.EventLoginThrottled, Source: "10.0.0.1", At: late, FirstAt: late, Times: 1}, late.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if evs, _ := ws.Events(ctx, a.ID, 100); len(evs) != 3 {
			t.Fatalf("after the window: got %d rows, want 3", len(evs))
		}
		f := wallet.Event{AccountID: a.ID, PhoneID: ph.ID, Kind: "sync_mismatch", Detail: "token ending 1234: unknown key 7", At: t0, FirstAt: t0, Times: 1}
		for i := range 3 {
			f.ID = wallet.NewID("ev")
			added, err := ws.AddFinding(ctx, f)
			if err != nil || added != (i == 0) {
				t.Fatalf("finding %d: added=%v, %v; want added only the first time", i, added, err)
			}
		}
	}
}
