package card

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

func TestLuhn(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"6222020000000004", LuhnDigit("622202000000000") == '4'},
		{"79927398713", true},
		{"79927398710", false},
	}
	for _, tt := range tests {
		if got := LuhnValid(tt.in); got != tt.want {
			t.Errorf("LuhnValid(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if d := LuhnDigit("7992739871"); d != '3' {
		t.Errorf("LuhnDigit = %c, want 3", d)
	}
}

func TestParsePANErrors(t *testing.T) {
	for in, code := range map[string]string{
		"4111111111111112": "bad_luhn",
		"41111":            "bad_pan",
		"41111111111a1111": "bad_pan",
	} {
		_, err := ParsePAN(in)
		if !fault.Has(err, fault.Invalid, code) {
			t.Errorf("ParsePAN(%q) = %v, want %s", in, err, code)
		}
		if err != nil && strings.Contains(err.Error(), in) {
			t.Errorf("error text leaks the number: %v", err)
		}
	}
}

func TestPANNeverPrints(t *testing.T) {
	p, err := ParsePAN("4111111111111111")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "pan", p)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p), b.String()} {
		if strings.Contains(s, "4111111111111111") {
			t.Errorf("PAN printed in full: %s", s)
		}
	}
	if p.Last4() != "1111" || p.BIN() != "411111" {
		t.Errorf("got last4 %s bin %s", p.Last4(), p.BIN())
	}
}

func TestExpiry(t *testing.T) {
	e, err := ParseExpiry("1226")
	if err != nil {
		t.Fatal(err)
	}
	if e.Year != 2026 || e.Month != 12 || e.YYMM() != "2612" || e.MMYY() != "1226" {
		t.Errorf("got %+v", e)
	}
	if e.Expired(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)) {
		t.Error("card must be valid through its expiry month")
	}
	if !e.Expired(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("card must be expired the month after")
	}
	for _, bad := range []string{"1326", "0026", "12/2", "122", "ab26"} {
		if _, err := ParseExpiry(bad); !fault.Has(err, fault.Invalid, "bad_expiry") {
			t.Errorf("ParseExpiry(%q) = %v", bad, err)
		}
	}
}
