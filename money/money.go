// Package money is amounts of money in integer minor units (fen for CNY)
// with their ISO 4217 numeric currency code. There are no floats here.
package money

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// CNY is the ISO 4217 numeric code of the Chinese yuan (renminbi).
const CNY Currency = 156

// Currency is an ISO 4217 numeric currency code.
type Currency uint16

// Exponent returns the number of minor-unit digits of the currency (ISO
// 4217; 2 for a code not in the table).
func (c Currency) Exponent() int {
	if e, ok := iso4217[c]; ok {
		return e.exp
	}
	return 2
}

// Amount is money in minor units of a currency.
type Amount struct {
	Minor    int64
	Currency Currency
}

// New returns an amount of minor units.
func New(minor int64, c Currency) Amount { return Amount{Minor: minor, Currency: c} }

// Fen returns an amount in CNY fen.
func Fen(minor int64) Amount { return Amount{Minor: minor, Currency: CNY} }

// String formats the amount as "12.34 CNY".
func (a Amount) String() string {
	return FormatMinor(a.Minor, a.Currency.Exponent()) + " " + a.Currency.Code()
}

// Code returns the ISO 4217 alphabetic code ("EUR" for 978), or the three
// digits for a number that is no currency in use.
func (c Currency) Code() string {
	if e, ok := iso4217[c]; ok {
		return e.code
	}
	return fmt.Sprintf("%03d", uint16(c))
}

// FormatMinor formats minor units with exp decimal digits.
func FormatMinor(minor int64, exp int) string {
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if exp > 0 {
		for len(s) <= exp {
			s = "0" + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Parse reads a decimal amount such as "12.34" or "12" into minor units of c.
// It refuses negatives, more decimals than the currency has, and overflow.
func Parse(s string, c Currency) (Amount, error) {
	exp := c.Exponent()
	s = strings.TrimSpace(s)
	if s == "" {
		return Amount{}, fault.E(fault.Invalid, "bad_amount", "amount is empty")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > exp {
		return Amount{}, fault.E(fault.Invalid, "bad_amount", "amount %q must be digits with at most %d decimals", s, exp)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return Amount{}, fault.E(fault.Invalid, "bad_amount", "amount %q must be digits with at most %d decimals", s, exp)
		}
	}
	for len(frac) < exp {
		frac += "0"
	}
	if len(whole) > 15 {
		return Amount{}, fault.E(fault.Invalid, "bad_amount", "amount %q is too large", s)
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return Amount{}, fault.E(fault.Invalid, "bad_amount", "amount %q is too large", s)
	}
	return Amount{Minor: v, Currency: c}, nil
}
