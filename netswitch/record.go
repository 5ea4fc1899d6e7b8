package netswitch

import (
	"context"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo"
)

// Auth is the switch's record of one authorization (0100): who asked, for
// which token and amount, which bank answered and how. It never holds the
// PAN in clear: only its last four digits, and the PAN sealed with the
// platform key store (SealedPAN), so that a reversal can reach the issuer
// without asking the token service again.
type Auth struct {
	ID           string     // message identity: DE41|DE11|DE7
	Digest       string     // hash of what the request asks (token, amount, merchant …): a different request under the same identity is not a duplicate
	Acquirer     string     // DE32
	Terminal     string     // DE41
	STAN         string     // DE11
	Transmission string     // DE7, MMDDhhmmss UTC
	RRN          string     // DE37
	Merchant     string     // DE42
	MerchantName string     // DE43 name part, trimmed
	MCC          string     // DE18
	LocalDate    string     // DE13, MMDD
	LocalTime    string     // DE12, hhmmss
	Token        card.Token // zero for a marker (Early) or a token that did not parse
	TokenLast4   string
	PANLast4     string
	SealedPAN    []byte // the PAN sealed by the key store (aad "switch:"+ID); nil when the token check failed
	PhoneID      string
	AccountID    string
	BankID       string
	PAR          string       // the card's payment account reference (DE123 DF02): the card's identity without its number, for rewards
	Amount       money.Amount // DE4 in DE49's currency: the gross, what the merchant is settled
	// Promo is the promotion applied to the authorization (docs/promotions.md),
	// nil when none did: for an instant discount the issuer holds Promo.Net
	// and the funders pay the shares; the merchant is settled the gross.
	Promo        *promo.Redemption
	AuthCode     string
	ResponseCode iso8583.ResponseCode // "" while being decided
	Reason       Reason               // why it was declined: a token-service decline code, ReasonIssuerTimeout, …
	Answer       []byte               // the packed answer sent to the acquirer (token in DE2, never the PAN)
	BusinessDate string               // YYYYMMDD, the UTC date the switch received it
	ReceivedAt   time.Time
	AnsweredAt   time.Time
	ReversedAt   time.Time // zero unless reversed
	ReversalRC   string    // the issuer's answer to the reversal
	ClearAmount  int64     // the amount to clear, minor units of Amount's currency: Amount, or less after a partial reversal
	ClearedAt    time.Time // zero until cleared
	ClearingDate string    // the business date it was cleared in
}

// Approved reports whether the authorization was approved.
func (a Auth) Approved() bool { return a.ResponseCode == iso8583.Approved }

// Why is why an authorization was declined, in words: its response
// code's meaning and, unless the issuer declined it, the network's reason
// ("" for an approved one).
func (a Auth) Why() string {
	if a.Approved() {
		return ""
	}
	why := a.ResponseCode.Text()
	if a.Reason != "" && a.Reason != ReasonIssuerDeclined {
		why += " (" + strings.ReplaceAll(string(a.Reason), "_", " ") + ")"
	}
	return why
}

// Captured reports whether the authorization is to be cleared: approved
// and not fully reversed (a partially reversed one clears ClearAmount).
func (a Auth) Captured() bool { return a.Approved() && a.ClearAmount > 0 }

// Reversed reports whether the authorization was reversed in full.
func (a Auth) Reversed() bool { return a.Approved() && !a.ReversedAt.IsZero() && a.ClearAmount <= 0 }

// PartiallyReversed reports whether a partial reversal reduced the
// authorization to ClearAmount, which stays captured.
func (a Auth) PartiallyReversed() bool {
	return a.Approved() && !a.ReversedAt.IsZero() && a.ClearAmount > 0 && a.ClearAmount < a.Amount.Minor
}

// Early reports whether the row is the marker a reversal left for an
// original the switch had not seen (no digest; 05 reversed_before_arrival):
// the original, should it come to any switch sharing the store, is
// declined over it (Store.SettleEarly).
func (a Auth) Early() bool { return a.Digest == "" && a.Reason == ReasonReversedBeforeArrival }

// Reversal is a reversal (0400) the switch received whose original it did
// not know: remembered so that a late original is declined, not approved.
type Reversal struct {
	OriginalID string // the identity of the original authorization
	RRN        string
	At         time.Time
}

// Deciding reports whether the record was stored before the issuer was
// asked and its answer is not stored yet.
func (a Auth) Deciding() bool { return a.ResponseCode == "" }

// PendingReversal is a reversal the switch owes an issuer and keeps
// sending until the issuer answers, across restarts: the original's
// elements an issuer reversal carries (Auth: ID, BankID, Token, SealedPAN,
// Acquirer, Terminal, STAN, Transmission, RRN, Merchant, LocalDate,
// LocalTime, Amount, Currency) and the amount that stays authorised (0:
// a full reversal).
type PendingReversal struct {
	Auth      Auth
	Remaining int64
	QueuedAt  time.Time
}

// The error codes of a Store (fault codes, checked with fault.Has).
const (
	CodeAuthExists   = "auth_exists"    // fault.Conflict: the identity is stored already
	CodeAuthSettled  = "auth_settled"   // fault.Conflict: the record is not being decided any more
	CodeAuthNotFound = "auth_not_found" // fault.NotFound
)

// Store keeps the switch's authorization records. It is where switches
// sharing it decide each message once: an identity is stored once, by
// whichever switch comes first (SaveAuth, SaveEarlyReversal).
type Store interface {
	// SaveAuth stores a new authorization record — one being decided
	// (ResponseCode "", before the issuer is asked) or a decided one; it
	// fails with fault.Conflict CodeAuthExists when the identity is already
	// stored (a record, or the marker of a reversal that came first).
	SaveAuth(ctx context.Context, a Auth) error
	// FinishAuth stores the answer (ResponseCode, Reason, AuthCode,
	// Answer, AnsweredAt) of a record saved while being decided; it fails
	// with fault.Conflict "auth_settled" when the record is not waiting
	// for its answer any more (AbandonAuth settled it).
	FinishAuth(ctx context.Context, a Auth) error
	// Deciding returns up to limit records still being decided that were
	// received before t, oldest first.
	Deciding(ctx context.Context, before time.Time, limit int) ([]Auth, error)
	// AbandonAuth settles a record still being decided as never answered
	// (96, reason "interrupted", nothing to clear) and queues its full
	// reversal at the issuer (QueueReversal), in one transaction; it fails
	// with fault.Conflict "auth_settled" when the record is not being
	// decided.
	AbandonAuth(ctx context.Context, id string, at time.Time) error
	// QueueReversal keeps a reversal the issuer has still to answer,
	// replacing one queued for the same original.
	QueueReversal(ctx context.Context, p PendingReversal) error
	// DoneReversal forgets a queued reversal once its issuer answered,
	// unless one for another remaining amount replaced it meanwhile.
	DoneReversal(ctx context.Context, originalID string, remaining int64) error
	// PendingReversals returns the queued reversals, oldest first.
	PendingReversals(ctx context.Context) ([]PendingReversal, error)
	// Auth returns a record by identity, or a fault.NotFound error.
	Auth(ctx context.Context, id string) (Auth, error)
	// MarkReversed records that an authorization was reversed, with the
	// amount that remains to clear (0 for a full reversal). A later
	// reversal lowers what remains; one that would raise it changes
	// nothing. It fails with fault.NotFound for an unknown id.
	MarkReversed(ctx context.Context, id string, at time.Time, rc string, remaining int64) error
	// SaveEarlyReversal remembers a reversal of an original with no record
	// and claims the original's identity with a marker (Auth.Early), in
	// one transaction; saving it again changes nothing. It fails with
	// fault.Conflict CodeAuthExists when the original's record is stored.
	SaveEarlyReversal(ctx context.Context, r Reversal) error
	// SettleEarly stores the record of an original over its reversal's
	// marker; it fails with fault.Conflict CodeAuthExists when no marker is
	// there any more (another switch stored the original first).
	SettleEarly(ctx context.Context, a Auth) error
	// ReversalFor returns the remembered reversal of an original, or a
	// fault.NotFound error.
	ReversalFor(ctx context.Context, originalID string) (Reversal, error)
	// PhoneAuths returns a phone's authorizations, newest first.
	PhoneAuths(ctx context.Context, phoneID string, limit int) ([]Auth, error)
	// TokenAuths returns the authorizations of the given tokens, newest
	// first.
	TokenAuths(ctx context.Context, tokens []string, limit int) ([]Auth, error)
	// DayAuths returns every authorization of a business date (YYYYMMDD),
	// oldest first (never a marker).
	DayAuths(ctx context.Context, businessDate string) ([]Auth, error)
	// MarkCleared records that authorizations were cleared on a date;
	// those already cleared keep their first clearing.
	MarkCleared(ctx context.Context, ids []string, clearingDate string, at time.Time) error
}
