// Package bank is the configuration of the issuing banks on the card network
// and of their card holders: each bank's BIN ranges and card products, its
// ID&V policy (the checks it runs when a card is added to a phone and whether
// it steps up with a one-time code), its settlement account and the token
// range the network issues its tokens from. It also holds the bank side of
// ID&V itself (Verify).
//
// tapwallet ships 20 banks and their test cards in an embedded file,
// banks.json (Default); an operator replaces it with a file of the same
// format (Load). docs/test-cards.md explains every field.
//
// Card numbers, CVN2s and phone numbers print masked, and no error of this
// package contains a full card number.
package bank

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

//go:embed banks.json
var defaultFile []byte

// TokenBINPrefix is the first four digits of every token number: the network
// keeps 6288xx for its token ranges, so no bank's BIN may start with it. A
// bank's tokens start with TokenBINPrefix and its two-digit token range.
const TokenBINPrefix = "6288"

// ProductKind is the kind of a card product: debit or credit.
type ProductKind string

// The product kinds.
const (
	Debit  ProductKind = "debit"
	Credit ProductKind = "credit"
)

// Decision is the outcome of ID&V when a card is added to a phone, and, in
// the configuration, the outcome a bank gives for a card.
type Decision string

// The ID&V outcomes. Their values are the words used in banks.json.
const (
	Green  Decision = "green" // approve: the card may be tokenized at once
	StepUp Decision = "otp"   // step up: the card holder must enter a one-time code
	Red    Decision = "red"   // decline: the bank refuses to tokenize the card
)

// Check is one check a bank runs in ID&V.
type Check string

// The checks a bank can run. An expired card is always refused.
const (
	CheckExpiry Check = "expiry" // the expiry date entered must be the card's
	CheckCVN2   Check = "cvn2"   // the CVN2 entered must be the card's
)

// Bank is one issuing bank.
type Bank struct {
	ID                string    `json:"id"`                 // short lowercase id, e.g. "icbc"
	Name              string    `json:"name"`               // full name
	Short             string    `json:"short"`              // short name for card art, e.g. "ICBC"
	Products          []Product `json:"products"`           // its card products, each with its own BIN
	IDV               IDVPolicy `json:"idv"`                // how it checks a card being added to a phone
	SettlementAccount string    `json:"settlement_account"` // its account at the network for settlement
	TokenRange        int       `json:"token_range"`        // 1..99: tokens start with 6288 and these two digits
}

// Product is one card product of a bank.
type Product struct {
	Kind       ProductKind `json:"kind"`        // debit or credit
	Name       string      `json:"name"`        // e.g. "Peony Debit Card"
	BIN        string      `json:"bin"`         // 6 to 8 digits in 62…, not 6288…
	Art        string      `json:"art"`         // card art colour, "#RRGGBB"
	DefaultIDV Decision    `json:"default_idv"` // outcome for a card that does not set one; empty means green
}

// IDVPolicy is what a bank checks when one of its cards is added to a phone.
type IDVPolicy struct {
	Checks []Check    `json:"checks"`  // the checks it runs
	StepUp *OTPPolicy `json:"step_up"` // nil when the bank never steps up with a one-time code
}

// OTPPolicy is how a bank steps up with a one-time code.
type OTPPolicy struct {
	Channel     string `json:"channel"`      // how the code reaches the card holder: "sms"
	Digits      int    `json:"digits"`       // length of the code, 4 to 8
	TTLSeconds  int    `json:"ttl_seconds"`  // how long the code is valid, 30 to 3600
	MaxAttempts int    `json:"max_attempts"` // wrong codes allowed before the binding fails, 1 to 10
}

// TTL returns how long a one-time code is valid.
func (p OTPPolicy) TTL() time.Duration { return time.Duration(p.TTLSeconds) * time.Second }

// Runs reports whether the policy includes check c.
func (p IDVPolicy) Runs(c Check) bool {
	for _, x := range p.Checks {
		if x == c {
			return true
		}
	}
	return false
}

// TokenPrefix returns the six digits every token of the bank starts with,
// 6288 and the two-digit token range, or "" when the range is not 1..99.
func (b *Bank) TokenPrefix() string {
	if b.TokenRange < 1 || b.TokenRange > 99 {
		return ""
	}
	return fmt.Sprintf("%s%02d", TokenBINPrefix, b.TokenRange)
}

// BINs returns the BINs of the bank's products, in product order.
func (b *Bank) BINs() []string {
	bins := make([]string, len(b.Products))
	for i, p := range b.Products {
		bins[i] = p.BIN
	}
	return bins
}

// Product returns the bank's product whose BIN is the longest prefix of pan,
// or false when none is.
func (b *Bank) Product(pan card.PAN) (*Product, bool) {
	best := -1
	for i, p := range b.Products {
		if hasPrefix(pan.Digits(), p.BIN) && (best < 0 || len(p.BIN) > len(b.Products[best].BIN)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return &b.Products[best], true
}

// CVN2 is a card verification number (the 3 digits on the back of the card).
// It prints as "***" and compares in constant time.
type CVN2 struct{ digits string }

// ParseCVN2 checks that s is 3 digits; otherwise it returns a fault.Invalid
// "bad_cvn2" error.
func ParseCVN2(s string) (CVN2, error) {
	if len(s) != 3 || !allDigits(s) {
		return CVN2{}, fault.E(fault.Invalid, "bad_cvn2", "CVN2 must be 3 digits")
	}
	return CVN2{digits: s}, nil
}

// Digits returns the three digits. Callers must not log them.
func (c CVN2) Digits() string { return c.digits }

// IsZero reports whether c is the zero CVN2.
func (c CVN2) IsZero() bool { return c.digits == "" }

// Matches reports, in constant time, whether s is this CVN2.
// It returns false for the zero CVN2.
func (c CVN2) Matches(s string) bool {
	return c.digits != "" && subtle.ConstantTimeCompare([]byte(c.digits), []byte(s)) == 1
}

// String returns "***".
func (c CVN2) String() string { return "***" }

// GoString returns a redacted form for %#v.
func (c CVN2) GoString() string { return "bank.CVN2(***)" }

// LogValue makes slog print "***".
func (c CVN2) LogValue() slog.Value { return slog.StringValue("***") }

// Phone is a card holder's mobile number, where the bank sends one-time codes.
// It prints masked: all but the first few and the last four digits hidden.
type Phone struct{ number string }

// ParsePhone checks that s is a phone number: an optional "+" and 6 to 15
// digits. Otherwise it returns a fault.Invalid "bad_phone" error.
func ParsePhone(s string) (Phone, error) {
	d := s
	if len(d) > 0 && d[0] == '+' {
		d = d[1:]
	}
	if len(d) < 6 || len(d) > 15 || !allDigits(d) {
		return Phone{}, fault.E(fault.Invalid, "bad_phone", "phone number must be an optional + and 6 to 15 digits")
	}
	return Phone{number: s}, nil
}

// Number returns the full number, for sending a one-time code. Callers must
// not log it.
func (p Phone) Number() string { return p.number }

// IsZero reports whether p is the zero phone number.
func (p Phone) IsZero() bool { return p.number == "" }

// String returns the masked number, e.g. "+86138****0001".
func (p Phone) String() string {
	n := p.number
	if len(n) < 8 {
		return "****"
	}
	keep := len(n) - 8
	if keep > 6 {
		keep = 6
	}
	return n[:keep] + "****" + n[len(n)-4:]
}

// GoString keeps %#v masked too.
func (p Phone) GoString() string { return "bank.Phone(" + p.String() + ")" }

// LogValue makes slog print the masked number.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.String()) }

// Cardholder is one card at its bank: the card's data, its holder, the ID&V
// outcome the bank gives for it, and its opening balance or credit limit.
type Cardholder struct {
	Bank    string      // the issuing bank's id
	Product ProductKind // debit or credit
	PAN     card.PAN
	Expiry  card.Expiry
	CVN2    CVN2
	Name    string       // the holder's name as embossed
	Phone   Phone        // where one-time codes go
	IDV     Decision     // the bank's ID&V outcome for this card
	Balance money.Amount // debit: the opening balance
	Limit   money.Amount // credit: the credit limit
	Note    string       // what the card is for, e.g. "insufficient-funds demo"
	Status  Status       // active (the default), blocked or lost: see Usable
}

// Funds returns the opening balance of a debit card or the credit limit of a
// credit card.
func (c *Cardholder) Funds() money.Amount {
	if c.Product == Credit {
		return c.Limit
	}
	return c.Balance
}

// Config is the banks on the network and their card holders: the whole
// configuration file, as an operator (or the test-card listing) reads it.
// The parties get their parts of it: the network's Directory (no card
// holders) and each bank's Holders (only that bank's issuer host).
// Default and Load return a validated Config. One built in code should pass
// Validate, which also indexes it (without the index, lookups scan the
// slices); a Config must not change after Validate.
type Config struct {
	Banks []Bank
	Cards []Cardholder

	idx *index // built by Validate; lookups scan the slices without it
}

// index makes lookups fast: the directory's and the card holders'. Card
// numbers are keys of an in-memory map only.
type index struct {
	dirIndex
	cards map[string]int // PAN digits -> card index
}

// Default returns the configuration shipped with tapwallet: 20 banks and
// their test cards. It returns a fault.Internal error if the embedded file
// does not parse or validate (a bug).
func Default() (*Config, error) {
	c, err := Parse(defaultFile)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "bad_bank_config", "the shipped bank configuration is broken")
	}
	return c, nil
}

// Load reads and validates an operator's own bank configuration, in the
// format of the shipped banks.json. It returns a fault.NotFound
// "bank_config_not_found" error if the file does not exist and a
// fault.Invalid "bad_bank_config" error that names the file and the problem
// if it cannot be read, parsed or validated.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fault.E(fault.NotFound, "bank_config_not_found", "bank configuration %s does not exist", path)
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "bad_bank_config", "bank configuration %s", path)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "bad_bank_config", "bank configuration %s", path)
	}
	return c, nil
}

// file is the JSON form of a Config.
type file struct {
	Comment string      `json:"comment"`
	Banks   []Bank      `json:"banks"`
	Cards   []cardEntry `json:"cards"`
}

// cardEntry is the JSON form of a Cardholder.
type cardEntry struct {
	PAN        string `json:"pan"`
	Expiry     string `json:"expiry"`
	CVN2       string `json:"cvn2"`
	Bank       string `json:"bank"`
	Product    string `json:"product"`
	IDV        string `json:"idv"`
	Holder     string `json:"holder"`
	Phone      string `json:"phone"`
	BalanceFen *int64 `json:"balance_fen"`
	LimitFen   *int64 `json:"limit_fen"`
	Note       string `json:"note"`
	Status     string `json:"status"`
}

// Parse reads a bank configuration in the JSON format of banks.json and
// validates it. Unknown fields are errors. It returns a fault.Invalid
// "bad_bank_config" error that names the line (for JSON errors) or the bank
// or card index (for wrong values) and never contains a card number.
func Parse(data []byte) (*Config, error) {
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fault.E(fault.Invalid, "bad_bank_config", "%s: unexpected data after the configuration", position(data, dec.InputOffset()))
	}
	c := &Config{Banks: f.Banks}
	var p problems
	for i := range c.Banks {
		for j := range c.Banks[i].Products {
			if c.Banks[i].Products[j].DefaultIDV == "" {
				c.Banks[i].Products[j].DefaultIDV = Green
			}
		}
	}
	for i, e := range f.Cards {
		h, ok := c.cardFromEntry(i, e, &p)
		if ok {
			c.Cards = append(c.Cards, h)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// cardFromEntry parses the strings of card i, reporting problems to p.
func (c *Config) cardFromEntry(i int, e cardEntry, p *problems) (Cardholder, bool) {
	at := cardLabel(i, e.Bank, e.PAN)
	n := p.n
	h := Cardholder{Bank: e.Bank, Product: ProductKind(e.Product), IDV: Decision(e.IDV), Name: e.Holder, Note: e.Note, Status: Status(e.Status)}
	if h.Status == "" {
		h.Status = Active
	}
	var err error
	if e.PAN == "" {
		p.addf("%s: pan is missing", at)
	} else if h.PAN, err = card.ParsePAN(e.PAN); err != nil {
		p.addf("%s: pan: %s", at, fault.MessageOf(err))
	}
	if e.Expiry == "" {
		p.addf("%s: expiry is missing", at)
	} else if h.Expiry, err = card.ParseExpiry(e.Expiry); err != nil {
		p.addf("%s: expiry: %s", at, fault.MessageOf(err))
	}
	if h.CVN2, err = ParseCVN2(e.CVN2); err != nil {
		p.addf("%s: cvn2: %s", at, fault.MessageOf(err))
	}
	if e.Phone == "" {
		p.addf("%s: phone is missing", at)
	} else if h.Phone, err = ParsePhone(e.Phone); err != nil {
		p.addf("%s: phone: %s", at, fault.MessageOf(err))
	}
	switch h.Product {
	case Debit:
		if e.BalanceFen == nil {
			p.addf("%s: a debit card needs balance_fen", at)
		} else {
			h.Balance = money.Fen(*e.BalanceFen)
		}
		if e.LimitFen != nil {
			p.addf("%s: a debit card has no limit_fen", at)
		}
		h.Limit = money.Fen(0)
	case Credit:
		if e.LimitFen == nil {
			p.addf("%s: a credit card needs limit_fen", at)
		} else {
			h.Limit = money.Fen(*e.LimitFen)
		}
		if e.BalanceFen != nil {
			p.addf("%s: a credit card has no balance_fen", at)
		}
		h.Balance = money.Fen(0)
	}
	// An unknown product is reported by Validate. A missing outcome is the
	// product's default.
	if h.IDV == "" {
		if b, ok := c.BankByID(h.Bank); ok && !h.PAN.IsZero() {
			if pr, ok := b.Product(h.PAN); ok {
				h.IDV = pr.DefaultIDV
			}
		}
	}
	return h, p.n == n
}

// jsonError turns a decoding error into a safe message with a line number.
// It never quotes a value from the file: a card number could be one.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fault.E(fault.Invalid, "bad_bank_config", "%s: not valid JSON: %s", position(data, syn.Offset), syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the top level"
		}
		return fault.E(fault.Invalid, "bad_bank_config", "%s: %s must be %s", position(data, typ.Offset), field, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.EOF):
		return fault.E(fault.Invalid, "bad_bank_config", "the file is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fault.E(fault.Invalid, "bad_bank_config", "the file ends in the middle of the JSON")
	}
	// Unknown fields and the like: encoding/json names the field, not a value.
	return fault.E(fault.Invalid, "bad_bank_config", "%s (docs/test-cards.md lists the fields)", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64":
		return "a whole number"
	case "slice":
		return "a list"
	case "struct", "ptr":
		return "an object"
	}
	return "a " + k
}

// position returns "line L, column C" for a byte offset into data.
func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col := 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return "line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col)
}

// BankByID returns the bank with the given id, or false if there is none.
func (c *Config) BankByID(id string) (*Bank, bool) { return c.view().BankByID(id) }

// BankForBIN returns the bank one of whose product BINs is the longest prefix
// of pan, or false if no bank issues in pan's range.
func (c *Config) BankForBIN(pan card.PAN) (*Bank, bool) { return c.view().BankForBIN(pan) }

// BankForTokenRange returns the bank whose token range a token number (or
// just its first six digits) is in, or false if none is.
func (c *Config) BankForTokenRange(tokenDigits string) (*Bank, bool) {
	return c.view().BankForTokenRange(tokenDigits)
}

// LookupCard returns the card holder of pan, or false if no bank has issued
// that card.
func (c *Config) LookupCard(pan card.PAN) (*Cardholder, bool) {
	if pan.IsZero() {
		return nil, false
	}
	if c.idx != nil {
		i, ok := c.idx.cards[pan.Digits()]
		if !ok {
			return nil, false
		}
		return &c.Cards[i], true
	}
	found := -1
	for i := range c.Cards {
		if c.Cards[i].PAN.Equal(pan) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return nil, false
	}
	return &c.Cards[found], true
}

// CardsOf returns the card holders of the bank with the given id, in
// configuration order; none for an unknown bank.
func (c *Config) CardsOf(bankID string) []*Cardholder {
	var out []*Cardholder
	for i := range c.Cards {
		if c.Cards[i].Bank == bankID {
			out = append(out, &c.Cards[i])
		}
	}
	return out
}

func hasPrefix(s, prefix string) bool {
	return len(prefix) > 0 && len(s) >= len(prefix) && s[:len(prefix)] == prefix
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
