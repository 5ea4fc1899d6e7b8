// Package card is the vocabulary of payment cards: primary account numbers
// (PAN), token numbers, the Luhn check digit and expiry dates. A PAN never
// prints in full: its String and LogValue show the BIN and last four digits.
package card

import (
	"crypto/subtle"
	"log/slog"
	"strconv"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// PAN is a primary account number: 12 to 19 digits, Luhn-valid.
// Its digits are unexported; use Digits only where the number must travel.
type PAN struct{ digits string }

// ParsePAN checks s (digits only, 12-19 of them, valid Luhn digit).
func ParsePAN(s string) (PAN, error) {
	if err := checkDigits(s); err != nil {
		return PAN{}, err
	}
	if !LuhnValid(s) {
		return PAN{}, fault.E(fault.Invalid, "bad_luhn", "card number fails the Luhn check")
	}
	return PAN{digits: s}, nil
}

func checkDigits(s string) error {
	if len(s) < 12 || len(s) > 19 {
		return fault.E(fault.Invalid, "bad_pan", "card number must have 12 to 19 digits, got %d characters", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fault.E(fault.Invalid, "bad_pan", "card number must contain digits only")
		}
	}
	return nil
}

// Digits returns the full number. Callers must not log it.
func (p PAN) Digits() string { return p.digits }

// IsZero reports whether p is the zero PAN.
func (p PAN) IsZero() bool { return p.digits == "" }

// Last4 returns the last four digits.
func (p PAN) Last4() string { return last4(p.digits) }

// BIN returns the first six digits (the bank identification number).
func (p PAN) BIN() string {
	if len(p.digits) < 6 {
		return ""
	}
	return p.digits[:6]
}

// Equal compares two PANs in constant time.
func (p PAN) Equal(q PAN) bool {
	return subtle.ConstantTimeCompare([]byte(p.digits), []byte(q.digits)) == 1
}

// String returns a masked form: BIN, stars and the last four digits.
func (p PAN) String() string { return mask(p.digits) }

// LogValue makes slog print the masked form.
func (p PAN) LogValue() slog.Value { return slog.StringValue(mask(p.digits)) }

// GoString keeps %#v masked too.
func (p PAN) GoString() string { return "card.PAN(" + mask(p.digits) + ")" }

func mask(s string) string {
	if len(s) < 10 {
		return "****"
	}
	b := []byte(s)
	for i := 6; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

// Token is a payment token number: PAN-shaped, Luhn-valid, from the network's
// token range. It is not secret like a PAN but is still shown masked in logs.
type Token struct{ digits string }

// ParseToken checks s like ParsePAN does.
func ParseToken(s string) (Token, error) {
	if err := checkDigits(s); err != nil {
		return Token{}, fault.E(fault.Invalid, "bad_token", "token must have 12 to 19 digits")
	}
	if !LuhnValid(s) {
		return Token{}, fault.E(fault.Invalid, "bad_token", "token fails the Luhn check")
	}
	return Token{digits: s}, nil
}

// Digits returns the full token number.
func (t Token) Digits() string { return t.digits }

// Last4 returns the last four digits.
func (t Token) Last4() string { return last4(t.digits) }

// IsZero reports whether t is the zero token.
func (t Token) IsZero() bool { return t.digits == "" }

// String returns a masked form.
func (t Token) String() string { return mask(t.digits) }

// LogValue makes slog print the masked form.
func (t Token) LogValue() slog.Value { return slog.StringValue(mask(t.digits)) }

// LuhnValid reports whether the digit string s ends in a correct Luhn digit.
func LuhnValid(s string) bool {
	if len(s) < 2 {
		return false
	}
	return LuhnDigit(s[:len(s)-1]) == s[len(s)-1]
}

// LuhnDigit returns the Luhn check digit for the digit string s
// (which must contain only digits).
func LuhnDigit(s string) byte {
	sum := 0
	double := true
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// Expiry is a card expiry month.
type Expiry struct {
	Year  int // four digits
	Month int // 1-12
}

// ParseExpiry reads MMYY.
func ParseExpiry(s string) (Expiry, error) {
	if len(s) != 4 {
		return Expiry{}, fault.E(fault.Invalid, "bad_expiry", "expiry must be MMYY")
	}
	mm, err1 := strconv.Atoi(s[:2])
	yy, err2 := strconv.Atoi(s[2:])
	if err1 != nil || err2 != nil || mm < 1 || mm > 12 || s[0] == '-' || s[2] == '-' || s[0] == '+' || s[2] == '+' {
		return Expiry{}, fault.E(fault.Invalid, "bad_expiry", "expiry must be MMYY with a month 01-12")
	}
	return Expiry{Year: 2000 + yy, Month: mm}, nil
}

// MMYY formats the expiry as MMYY.
func (e Expiry) MMYY() string {
	return two(e.Month) + two(e.Year%100)
}

// YYMM formats the expiry as YYMM (the EMV and track-2 order).
func (e Expiry) YYMM() string {
	return two(e.Year%100) + two(e.Month)
}

func two(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Expired reports whether the card has expired at now: a card is valid
// through the last day of its expiry month.
func (e Expiry) Expired(now time.Time) bool {
	y, m, _ := now.UTC().Date()
	return y > e.Year || (y == e.Year && int(m) > e.Month)
}
