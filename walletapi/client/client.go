// Package client holds the wallet API's request and answer bodies as JSON
// types, the one definition that the server (walletapi) writes and reads
// and its clients (the phone app, package phone) send and decode. It
// depends on nothing of the payment system, so a device can import it
// without the servers' packages. docs/openapi.yaml describes the same
// bodies route by route.
package client

import "time"

// Error is the body of every error answer.
type Error struct {
	Error struct {
		Kind    string `json:"kind"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Credentials is the body of POST /v1/signup and POST /v1/login.
type Credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignUp is the answer to a sign-up: the same whether the email was new or
// had an account already, so the API does not tell who has one.
type SignUp struct {
	Status  string `json:"status"` // "accepted"
	Email   string `json:"email"`
	Message string `json:"message"`
}

// Session is the answer to a log-in.
type Session struct {
	Token     string    `json:"token"`
	AccountID string    `json:"account_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RegisterPhone is the body of POST /v1/phones.
type RegisterPhone struct {
	Name      string `json:"name"`
	Model     string `json:"model"`
	PublicKey string `json:"public_key"` // base64 PKIX DER
}

// Phone is a phone of the account (POST /v1/phones, GET /v1/phones, and
// in a switch's answer).
type Phone struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Model     string     `json:"model"`
	WalletOn  bool       `json:"wallet_on"`
	Cards     int        `json:"cards"`
	LastSeen  time.Time  `json:"last_seen"`
	Lat       *float64   `json:"lat,omitempty"`
	Lon       *float64   `json:"lon,omitempty"`
	LocatedAt *time.Time `json:"located_at,omitempty"`
	KeyFP     string     `json:"device_key_fingerprint"`
}

// Phones is the answer to GET /v1/phones.
type Phones struct {
	Phones []Phone `json:"phones"`
}

// AddCard is the body of POST /v1/phones/{phone}/cards.
type AddCard struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVN2   string `json:"cvn2"`
}

// StepUp is the answer (202) to adding a card the bank wants verified
// with a one-time code first.
type StepUp struct {
	Status    string `json:"status"` // "otp_required"
	BindingID string `json:"binding_id"`
	SentTo    string `json:"sent_to"`
}

// VerifyOTP is the body of POST /v1/phones/{phone}/cards/verify.
type VerifyOTP struct {
	BindingID string `json:"binding_id"`
	OTP       string `json:"otp"`
}

// Card is a card (token) in answers.
type Card struct {
	Token       string `json:"token,omitempty"` // full token number, only when provisioned
	TokenLast4  string `json:"token_last4"`
	PANLast4    string `json:"pan_last4"`
	Bank        string `json:"bank"`
	BankName    string `json:"bank_name"`
	Product     string `json:"product"`
	CardArt     string `json:"card_art"`
	Default     bool   `json:"default"`
	State       string `json:"state"`
	AID         string `json:"aid"`
	Expiry      string `json:"expiry"`
	PSN         string `json:"psn,omitempty"`
	PAR         string `json:"par,omitempty"`
	KeyBatch    string `json:"key_batch,omitempty"` // base64, sealed to the device key
	TokenHandle string `json:"id"`                  // the token number; cards are addressed by it
}

// Provisioned is the answer to adding a card: the card with its keys
// (201), or the step-up (202) — the fields of both, as a client reads
// either.
type Provisioned struct {
	Card
	StepUp
}

// WalletOff is the body of POST /v1/phones/{phone}/wallet-off.
type WalletOff struct {
	Reason string `json:"reason"`
}

// WalletOn is the body of POST /v1/phones/{phone}/wallet-on.
type WalletOn struct {
	Password string `json:"password"`
}

// Switch is the answer to wallet-off and wallet-on.
type Switch struct {
	Phone     Phone    `json:"phone"`
	Changed   bool     `json:"changed"`
	Tokens    []string `json:"tokens"` // last 4 digits of the tokens suspended or resumed
	Transit   []string `json:"transit_cards"`
	NoTransit bool     `json:"no_transit_operator,omitempty"`
	Message   string   `json:"message"`
}

// Ask is the body of POST /v1/phones/{phone}/ask.
type Ask struct {
	Kind    string `json:"kind"` // ring | message
	Message string `json:"message"`
}

// Command is a request waiting for (or handed to) a phone.
type Command struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // ring | message | wipe_keys | fresh_keys
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// CheckIn is the body of POST /v1/phones/{phone}/checkin: the phone's
// place, if it reports one.
type CheckIn struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

// CheckInAnswer is the answer to a check-in.
type CheckInAnswer struct {
	WalletOn bool      `json:"wallet_on"`
	Commands []Command `json:"commands"`
	// FreshKeys: the wallet was switched back on; sync now
	// (POST /v1/phones/{phone}/sync) to take fresh limited-use keys.
	FreshKeys bool `json:"fresh_keys"`
}

// KeyUse is one limited-use key the phone used since its last sync.
type KeyUse struct {
	Index int `json:"index"`
	ATC   int `json:"atc,omitempty"`
}

// TokenLog is the phone's log of one token's keys.
type TokenLog struct {
	Token  string   `json:"token"`
	ATC    int      `json:"atc"`
	Unused []int    `json:"unused"`
	Used   []KeyUse `json:"used,omitempty"`
}

// Sync is the body of POST /v1/phones/{phone}/sync.
type Sync struct {
	Tokens []TokenLog `json:"tokens"`
}

// Mismatch is one difference the token service found between a phone's
// log and its own record.
type Mismatch struct {
	Kind     string `json:"kind"`
	KeyIndex int    `json:"key_index,omitempty"`
	Detail   string `json:"detail"`
}

// SyncToken is the answer for one token of a sync.
type SyncToken struct {
	Token      string     `json:"token"`
	State      string     `json:"state"`
	Suspended  bool       `json:"suspended,omitempty"`
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	KeyBatch   string     `json:"key_batch,omitempty"` // base64, sealed to the device key
	Keys       int        `json:"keys"`
}

// SyncAnswer is the answer to a sync.
type SyncAnswer struct {
	Tokens []SyncToken `json:"tokens"`
}

// Payment is one payment in the phone's history.
type Payment struct {
	Merchant     string    `json:"merchant"`
	Amount       int64     `json:"amount"` // minor units
	Currency     string    `json:"currency"`
	Display      string    `json:"display"` // e.g. ¥123.45
	CardLast4    string    `json:"card_last4"`
	TokenLast4   string    `json:"token_last4"`
	Bank         string    `json:"bank"`
	At           time.Time `json:"at"`
	Status       string    `json:"status"` // approved | declined | reversed
	ResponseCode string    `json:"response_code"`
	Reason       string    `json:"reason,omitempty"`
	AuthCode     string    `json:"auth_code,omitempty"`
	// ID is the payment's identity at the network (POST /v1/points/pay
	// names it).
	ID string `json:"id,omitempty"`
	// Charged is what the card holder pays, minor units: the amount less
	// an instant discount (and less what a terminal reversed).
	Charged        int64  `json:"charged"`
	ChargedDisplay string `json:"charged_display"`
	// The promotion applied, if one did: the benefit in minor units, the
	// campaign, how it is given (instant: off the amount charged;
	// statement_credit, points: after clearing) and who funded it.
	Discount        int64    `json:"discount,omitempty"`
	DiscountDisplay string   `json:"discount_display,omitempty"`
	Campaign        string   `json:"campaign,omitempty"`
	CampaignName    *Names   `json:"campaign_name,omitempty"`
	Fulfilment      string   `json:"fulfilment,omitempty"`
	Funders         []string `json:"funders,omitempty"` // e.g. "ICBC", "network"
	// Promotion is the benefit in words: "¥50.00 off, funded by the network".
	Promotion string `json:"promotion,omitempty"`
}

// Payments is the answer to GET /v1/phones/{phone}/payments.
type Payments struct {
	Payments []Payment `json:"payments"`
}

// Cards is the answer to GET /v1/phones/{phone}/cards.
type Cards struct {
	Cards    []Card `json:"cards"`
	MaxCards int    `json:"max_cards"`
}

// Message is a message in the account's messages (standing for SMS): a
// one-time code of a card binding or of the portal.
type Message struct {
	BindingID string    `json:"binding_id"`
	Message   string    `json:"message"`
	At        time.Time `json:"at"`
}

// Messages is the answer to GET /v1/otp.
type Messages struct {
	Messages []Message `json:"messages"`
}
