package wallettest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
)

// Fake is an in-memory wallet.Store, safe for concurrent use: the unit
// tests of wallet.Service and lostphone run on it, and the suite holds it
// to what the SQL wing does.
type Fake struct {
	mu       sync.Mutex
	accounts map[string]*wallet.Account // by id
	byEmail  map[string]string
	sessions map[string]*fakeSession // by token hash
	phones   map[string]*wallet.Phone
	nonces   map[[2]string]time.Time
	events   []wallet.Event
}

type fakeSession struct {
	s       wallet.Session
	revoked bool
}

var _ wallet.Store = (*Fake)(nil)

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{accounts: map[string]*wallet.Account{}, byEmail: map[string]string{}, sessions: map[string]*fakeSession{},
		phones: map[string]*wallet.Phone{}, nonces: map[[2]string]time.Time{}}
}

var (
	errAccount = fault.E(fault.NotFound, "account_not_found", "no such account")
	errPhone   = fault.E(fault.NotFound, "phone_not_found", "no such phone on this account")
)

func (f *Fake) CreateAccount(_ context.Context, a wallet.Account) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byEmail[a.Email]; ok {
		return fault.E(fault.Conflict, "email_taken", "an account with this email already exists")
	}
	a.FailedLogins, a.LockedUntil = 0, time.Time{}
	f.accounts[a.ID], f.byEmail[a.Email] = &a, a.ID
	return nil
}

func (f *Fake) AccountByEmail(_ context.Context, email string) (wallet.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.byEmail[email]; ok {
		return *f.accounts[id], nil
	}
	return wallet.Account{}, errAccount
}

func (f *Fake) AccountByID(_ context.Context, id string) (wallet.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[id]; ok {
		return *a, nil
	}
	return wallet.Account{}, errAccount
}

func (f *Fake) CountLoginAttempt(_ context.Context, accountID string, now time.Time, maxTries int) (wallet.LoginAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[accountID]
	if !ok {
		return wallet.LoginAttempt{}, errAccount
	}
	if a.LockedUntil.After(now) {
		return wallet.LoginAttempt{N: a.FailedLogins, LockedUntil: a.LockedUntil}, nil
	}
	a.FailedLogins++
	att := wallet.LoginAttempt{Allowed: true, N: a.FailedLogins}
	if a.FailedLogins >= maxTries {
		a.LockedUntil = now.Add(wallet.LockTime(a.FailedLogins))
		att.LockedUntil = a.LockedUntil
	}
	return att, nil
}

func (f *Fake) ResetLoginFailures(_ context.Context, accountID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[accountID]; ok {
		a.FailedLogins, a.LockedUntil = 0, time.Time{}
	}
	return nil
}

func (f *Fake) SetPasswordHash(_ context.Context, accountID, hash string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[accountID]
	if !ok {
		return errAccount
	}
	a.PasswordHash, a.FailedLogins, a.LockedUntil = hash, 0, time.Time{}
	return nil
}

func (f *Fake) CreateSession(_ context.Context, tokenHash []byte, s wallet.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Token = ""
	f.sessions[string(tokenHash)] = &fakeSession{s: s}
	return nil
}

func (f *Fake) SessionByToken(_ context.Context, tokenHash []byte, now time.Time) (wallet.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fs, ok := f.sessions[string(tokenHash)]
	switch {
	case !ok:
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first: the session is unknown")
	case fs.revoked:
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in again: the session was ended")
	case !now.Before(fs.s.ExpiresAt):
		return wallet.Session{}, fault.E(fault.Unauthorized, "session_expired", "log in again: the session has expired")
	}
	return fs.s, nil
}

func (f *Fake) BindSession(_ context.Context, tokenHash []byte, phoneID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fs, ok := f.sessions[string(tokenHash)]; ok && fs.s.PhoneID == "" {
		fs.s.PhoneID = phoneID
	}
	return nil
}

func (f *Fake) RevokeSession(_ context.Context, tokenHash []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fs, ok := f.sessions[string(tokenHash)]; ok {
		fs.revoked = true
	}
	return nil
}

func (f *Fake) revoke(match func(h string, s wallet.Session) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for h, fs := range f.sessions {
		if !fs.revoked && match(h, fs.s) {
			fs.revoked = true
			n++
		}
	}
	return n
}

func (f *Fake) RevokePhoneSessions(_ context.Context, phoneID string, _ time.Time) (int, error) {
	return f.revoke(func(_ string, s wallet.Session) bool { return s.PhoneID == phoneID }), nil
}

func (f *Fake) RevokeSessions(_ context.Context, accountID, kind string, except []byte, _ time.Time) (int, error) {
	return f.revoke(func(h string, s wallet.Session) bool {
		return s.AccountID == accountID && (kind == "" || s.Kind == kind) && h != string(except)
	}), nil
}

func (f *Fake) CreatePhone(_ context.Context, p wallet.Phone) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.phones[p.ID]; ok {
		return fault.E(fault.Conflict, "phone_taken", "a phone with this id exists")
	}
	p.WalletOn = true
	f.phones[p.ID] = &p
	return nil
}

func (f *Fake) Phone(_ context.Context, id string) (wallet.Phone, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.phones[id]; ok {
		return *p, nil
	}
	return wallet.Phone{}, errPhone
}

func (f *Fake) Phones(_ context.Context, accountID string) ([]wallet.Phone, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wallet.Phone
	for _, p := range f.phones {
		if p.AccountID == accountID {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (f *Fake) phone(id string, change func(p *wallet.Phone)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.phones[id]
	if !ok {
		return fault.E(fault.NotFound, "phone_not_found", "no such phone")
	}
	change(p)
	return nil
}

func (f *Fake) SetPhoneLocation(_ context.Context, phoneID string, lat, lon float64, at time.Time) error {
	return f.phone(phoneID, func(p *wallet.Phone) { p.Lat, p.Lon, p.LocatedAt, p.LastSeen = &lat, &lon, at, at })
}

func (f *Fake) TouchPhone(_ context.Context, phoneID string, at time.Time) error {
	return f.phone(phoneID, func(p *wallet.Phone) { p.LastSeen = at })
}

func (f *Fake) SetWalletOn(_ context.Context, phoneID string, on bool) (bool, error) {
	changed := false
	err := f.phone(phoneID, func(p *wallet.Phone) { changed, p.WalletOn = p.WalletOn != on, on })
	return changed, err
}

func (f *Fake) UsePhoneNonce(_ context.Context, phoneID, nonce string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{phoneID, nonce}
	if _, ok := f.nonces[k]; ok {
		return fault.E(fault.Conflict, "replayed_request", "this signed request was already used")
	}
	f.nonces[k] = now
	for k, at := range f.nonces {
		if k[0] == phoneID && at.Before(now.Add(-2*wallet.MaxClockSkew)) {
			delete(f.nonces, k)
		}
	}
	return nil
}

func fillEvent(e wallet.Event) wallet.Event {
	e.Times = max(e.Times, 1)
	if e.FirstAt.IsZero() {
		e.FirstAt = e.At
	}
	return e
}

func (f *Fake) AddEvent(_ context.Context, e wallet.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fillEvent(e))
	return nil
}

func (f *Fake) FoldEvent(_ context.Context, e wallet.Event, since time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := -1
	for i, x := range f.events {
		if x.AccountID == e.AccountID && x.Kind == e.Kind && x.Source == e.Source && x.PhoneID == e.PhoneID && !x.At.Before(since) &&
			(last < 0 || !x.At.Before(f.events[last].At)) {
			last = i
		}
	}
	if last < 0 {
		f.events = append(f.events, fillEvent(e))
		return nil
	}
	x := &f.events[last]
	x.Times += max(e.Times, 1)
	x.Detail = e.Detail
	if e.At.After(x.At) {
		x.At = e.At
	}
	return nil
}

func (f *Fake) AddFinding(_ context.Context, e wallet.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.events {
		if x.AccountID == e.AccountID && x.PhoneID == e.PhoneID && x.Kind == e.Kind && x.Detail == e.Detail {
			return false, nil
		}
	}
	f.events = append(f.events, fillEvent(e))
	return true, nil
}

func (f *Fake) Events(_ context.Context, accountID string, limit int) ([]wallet.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wallet.Event
	for _, e := range f.events {
		if e.AccountID == accountID {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].ID > out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
