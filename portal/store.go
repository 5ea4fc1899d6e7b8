package portal

import (
	"context"
	"time"
)

// Passkey is a WebAuthn credential registered as an account's second factor.
type Passkey struct {
	ID         []byte // the credential id
	AccountID  string
	Name       string
	Record     []byte // the credential record, as the WebAuthn library's JSON
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Ceremony kinds.
const (
	CeremonyLogin        = "login"          // the passkey step of a log-in, after the password
	CeremonyRegister     = "register"       // adding a passkey
	CeremonyWalletOn     = "wallet_on"      // the passkey step of switching a wallet back on
	CeremonyWalletOnCode = "wallet_on_code" // the one-time code of switching a wallet back on (no passkey)
	CeremonyLoginCode    = "login_code"     // the one-time code (no passkey) or the password (after the passkey) of a log-in
	CeremonyStepUp       = "step_up"        // the passkey step before a sensitive change (remove a passkey, change the password)
	CeremonyStepUpCode   = "step_up_code"   // the one-time code before a sensitive change (no passkey)
)

// Ceremony is a step-up in flight: a WebAuthn challenge, or a one-time
// code's hash, found by the hash of its id and used once.
type Ceremony struct {
	IDHash    []byte
	AccountID string
	Kind      string
	PhoneID   string
	Data      []byte
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Store is what the portal needs from storage.
type Store interface {
	// WebAuthnHandle returns the account's WebAuthn user handle, storing
	// fresh (random) the first time.
	WebAuthnHandle(ctx context.Context, accountID string, fresh []byte) ([]byte, error)
	// Passkeys lists the account's passkeys, oldest first.
	Passkeys(ctx context.Context, accountID string) ([]Passkey, error)
	// AddPasskey stores a passkey (fault.Conflict "passkey_taken" if its id
	// is registered already).
	AddPasskey(ctx context.Context, p Passkey) error
	// UsePasskey saves a passkey's new signature counter and record after a
	// verified assertion (fault.NotFound if it is not the account's).
	UsePasskey(ctx context.Context, accountID string, id []byte, signCount uint32, record []byte, at time.Time) error
	// RemovePasskey deletes one of the account's passkeys (fault.NotFound).
	RemovePasskey(ctx context.Context, accountID string, id []byte) error
	// PutCeremony stores a ceremony in flight.
	PutCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony returns a ceremony and deletes it (one use) if it is of
	// the kind, phone and account (any account when empty) of want; an
	// unknown, expired or different one is fault.NotFound
	// "ceremony_not_found" and a different one is left in place.
	TakeCeremony(ctx context.Context, idHash []byte, want Ceremony, now time.Time) (Ceremony, error)
}
