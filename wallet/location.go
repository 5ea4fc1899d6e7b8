package wallet

import (
	"context"
	"math"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Security event kinds of the lost-phone portal (package portal) and the
// wallet switch (package lostphone).
const (
	EventLoginThrottled = "login_throttled"  // too many log-in attempts from one place or for one account
	EventPasskeyAdded   = "passkey_added"    // a passkey was registered as the second factor
	EventPasskeyRemoved = "passkey_removed"  // a passkey was removed
	EventPasskeyFailed  = "passkey_failed"   // a passkey assertion did not verify
	EventPhoneRing      = "phone_ring"       // a ring request was queued for the phone
	EventPhoneMessage   = "phone_message"    // a message was queued for the phone's screen
	EventWalletOnFailed = "wallet_on_failed" // a switch-on was refused (wrong password, passkey or code)
)

// PhoneStateStore is the part of Store that keeps what phones report about
// themselves (their place, when they were last seen), whether each phone's
// wallet is on, and accounts looked up by id.
type PhoneStateStore interface {
	// SetPhoneLocation records a phone's reported place and marks it seen.
	SetPhoneLocation(ctx context.Context, phoneID string, lat, lon float64, at time.Time) error
	// TouchPhone marks a phone seen at a time.
	TouchPhone(ctx context.Context, phoneID string, at time.Time) error
	// AccountByID returns an account (fault.NotFound "account_not_found").
	AccountByID(ctx context.Context, id string) (Account, error)
	// SetWalletOn sets whether the wallet on a phone is on and reports
	// whether that changed anything (fault.NotFound "phone_not_found").
	SetWalletOn(ctx context.Context, phoneID string, on bool) (changed bool, err error)
}

func (s *Service) phoneState() (PhoneStateStore, error) { return s.Store, nil }

// SetWalletOn switches the wallet on a phone on or off in the wallet's own
// records (the lost-phone switch tells the token service apart); it
// reports whether that changed anything. It fails with fault.NotFound for
// an unknown phone or the store's error.
func (s *Service) SetWalletOn(ctx context.Context, phoneID string, on bool) (bool, error) {
	return s.Store.SetWalletOn(ctx, phoneID, on)
}

// Phone returns a phone by id (fault.NotFound "phone_not_found"); the
// caller has checked who may see it (OwnedPhone checks the account).
func (s *Service) Phone(ctx context.Context, phoneID string) (Phone, error) {
	return s.Store.Phone(ctx, phoneID)
}

// AccountByEmail returns the account of an email as stored (lower-case),
// or fault.NotFound "account_not_found".
func (s *Service) AccountByEmail(ctx context.Context, email string) (Account, error) {
	return s.Store.AccountByEmail(ctx, email)
}

// Events lists an account's newest security events (by their last time).
func (s *Service) Events(ctx context.Context, accountID string, limit int) ([]Event, error) {
	return s.Store.Events(ctx, accountID, limit)
}

// Clock is the service's time now (Now, in UTC).
func (s *Service) Clock() time.Time { return s.Now().UTC() }

// Phones lists an account's phones, oldest first.
func (s *Service) Phones(ctx context.Context, accountID string) ([]Phone, error) {
	return s.Store.Phones(ctx, accountID)
}

// ValidLocation reports whether lat, lon is a place on Earth in degrees
// (WGS 84): latitude -90..90, longitude -180..180, both finite.
func ValidLocation(lat, lon float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// ReportLocation records the place a phone reported when it synced (find
// my phone) and marks it seen. It fails with fault.Invalid "bad_location"
// for coordinates that are not a place on Earth, fault.NotFound for an
// unknown phone, or the store's error. The caller has checked that the
// report comes from the phone itself (its device-key signature).
func (s *Service) ReportLocation(ctx context.Context, phoneID string, lat, lon float64) error {
	if !ValidLocation(lat, lon) {
		return fault.E(fault.Invalid, "bad_location", "latitude must be within -90..90 and longitude within -180..180 degrees")
	}
	st, err := s.phoneState()
	if err != nil {
		return err
	}
	at := s.Now().UTC()
	if err := st.SetPhoneLocation(ctx, phoneID, lat, lon, at); err != nil {
		return err
	}
	if f := s.located.Load(); f != nil {
		(*f)(ctx, phoneID, lat, lon, at)
	}
	return nil
}

// Seen marks a phone as seen now (it reached the wallet service). It fails
// with fault.NotFound for an unknown phone or the store's error.
func (s *Service) Seen(ctx context.Context, phoneID string) error {
	st, err := s.phoneState()
	if err != nil {
		return err
	}
	return st.TouchPhone(ctx, phoneID, s.Now().UTC())
}

// Account returns an account by id, or fault.NotFound "account_not_found".
func (s *Service) Account(ctx context.Context, accountID string) (Account, error) {
	st, err := s.phoneState()
	if err != nil {
		return Account{}, err
	}
	return st.AccountByID(ctx, accountID)
}

// VerifyAccountPassword checks the password of a known account (a step-up
// before a sensitive change such as switching a wallet back on), counting
// failures and locking like LogIn. It fails with fault.Unauthorized
// "bad_credentials", fault.Limit "login_locked" or fault.NotFound.
func (s *Service) VerifyAccountPassword(ctx context.Context, accountID, password, source string) (Account, error) {
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return Account{}, err
	}
	return s.VerifyPassword(ctx, a.Email, password, source)
}
