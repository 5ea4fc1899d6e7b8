package risk

import (
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
)

// Place is a point on the earth, in degrees.
type Place struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Sighting is where something was at a time: a tap at a terminal, or a
// place the phone reported.
type Sighting struct {
	Place
	At time.Time `json:"at"`
}

// Known reports whether the sighting holds anything.
func (s Sighting) Known() bool { return !s.At.IsZero() }

// Auth is the facts of one authorization as the network knows them before
// it asks the issuer. Cards and tokens are named by references, never by
// their numbers.
type Auth struct {
	ID       string    `json:"id"` // message identity (DE41|DE11|DE7)
	At       time.Time `json:"at"`
	Token    string    `json:"token"`   // the token's reference
	Card     string    `json:"card"`    // the card's reference (payment account reference)
	Phone    string    `json:"phone"`   // the phone (device) the token is bound to
	Account  string    `json:"account"` // the wallet account
	Bank     string    `json:"bank"`
	Amount   int64     `json:"amount"`   // minor units
	Currency int       `json:"currency"` // ISO 4217 numeric
	MCC      string    `json:"mcc"`      // DE18
	Merchant string    `json:"merchant"` // DE42
	City     string    `json:"city"`     // DE43's city
	Country  string    `json:"country"`  // DE43's country (ISO 3166 alpha-2)
	// EntryMode is DE22's first two digits (07 contactless chip).
	EntryMode string `json:"entry_mode"`
	// Terminal is the terminal's place when the merchant directory knows
	// it; otherwise the engine looks the city up in its own table.
	Terminal *Place `json:"terminal,omitempty"`
	// TokenCreated is when the token was made (the card/phone pair's age).
	TokenCreated time.Time `json:"token_created"`
	// PhoneSeen is the phone's last reported place, if any.
	PhoneSeen *Sighting `json:"phone_seen,omitempty"`
	// PhoneOff is set when the phone's wallet is switched off: every
	// authorization of its tokens is declined beyond any rule.
	PhoneOff bool `json:"phone_off,omitempty"`
}

// Binding is the facts of one attempt to add a card to a phone, as the
// token service knows them before it asks the issuer's ID&V.
type Binding struct {
	ID      string    `json:"id"` // the binding attempt's id
	At      time.Time `json:"at"`
	Card    string    `json:"card"` // the card's reference (the vault's keyed hash or PAR)
	Phone   string    `json:"phone"`
	Account string    `json:"account"`
	Bank    string    `json:"bank"`
	// Holder is a reference to the card holder's name (a keyed hash made
	// by the caller): only distinct names are counted, never kept.
	Holder         string    `json:"holder"`
	PhoneCreated   time.Time `json:"phone_created"`
	AccountCreated time.Time `json:"account_created"`
	// PhoneLostAt is when the phone's wallet was last switched off (zero:
	// never).
	PhoneLostAt time.Time `json:"phone_lost_at"`
	// PhoneOff is set while the phone's wallet is switched off: declined
	// beyond any rule.
	PhoneOff   bool `json:"phone_off,omitempty"`
	Tokens     int  `json:"tokens"`      // tokens already on the phone
	FailedOTPs int  `json:"failed_otps"` // wrong one-time codes for this card on this phone, in this attempt and before
	// WrongOTP marks a record (RecordBinding) of a wrong one-time code:
	// besides one more attempt of this card on this phone, it counts in
	// the phone's wrong codes (phone.failed_otps_24h), whatever the card.
	WrongOTP bool `json:"wrong_otp,omitempty"`
	// Recorded is set when deciding again a binding whose attempt is
	// already recorded (e.g. once the bank's ID&V named the holder):
	// binding.attempts_72h does not count it a second time.
	Recorded bool `json:"recorded,omitempty"`
}

// check refuses facts without identity or time, and card, token, phone
// or account references that look like a card number (a merchant id, DE42,
// may be all digits).
// TransitOperatorMCC is the merchant category of the transit operators'
// charges (a transit card's issue fee and deposit, its top-ups): in-app
// payments to an operator whose terminal stands in its own city.
const TransitOperatorMCC = "4111"

// AtTerminal reports whether the authorization was made where its
// terminal is — every store tap — and so says where the card holder was:
// not a transit operator's in-app charge (TransitOperatorMCC), which the
// phone makes from anywhere for a card of any city. Such a charge is no
// sighting, and the travel attributes are unknown for it.
func (a *Auth) AtTerminal() bool { return a.MCC != TransitOperatorMCC }

func (a *Auth) check() error {
	if a.ID == "" || a.At.IsZero() || a.Token == "" {
		return fault.E(fault.Invalid, CodeFacts, "authorization facts: want an id, a time and a token reference")
	}
	return refsClean(a.Token, a.Card, a.Phone, a.Account)
}

func (b *Binding) check() error {
	if b.ID == "" || b.At.IsZero() || b.Card == "" || b.Phone == "" {
		return fault.E(fault.Invalid, CodeFacts, "binding facts: want an id, a time, a card and a phone")
	}
	return refsClean(b.Card, b.Phone, b.Account, b.Holder)
}

// refsClean refuses a reference holding 12 or more digits in a row: a
// card or token number has no place in the engine's facts, state or
// decisions. An identifier of the form id.New gives (a phone's, an
// account's) is one: made before id.New kept clear of such runs, about one
// in sixteen of December 2026's holds 12–14 digits of its time part in a
// row, and refusing it left that phone or account unscreened for good.
//
// The run is looked for first and id.Made asked only about a reference
// holding one: most hold none, and Made's check of every character was
// most of the work of an authorization's facts.
func refsClean(refs ...string) error {
	for _, s := range refs {
		if digitRun(s) && !id.Made(s) {
			return fault.E(fault.Invalid, CodeCardNumber, "a risk fact holds what looks like a card number: use references")
		}
	}
	return nil
}

// digitRun reports whether s holds 12 or more digits in a row.
func digitRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= 12 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
