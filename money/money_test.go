package money

import (
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"12.34", 1234}, {"12", 1200}, {"0.5", 50}, {"0.05", 5}, {" 7.00 ", 700}} {
		got, err := Parse(tt.in, CNY)
		if err != nil || got.Minor != tt.want || got.Currency != CNY {
			t.Errorf("Parse(%q) = %v, %v; want %d fen", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-1", "1.234", "1.", ".5", "1e3", "12,34", "9999999999999999"} {
		if _, err := Parse(bad, CNY); !fault.Has(err, fault.Invalid, "bad_amount") {
			t.Errorf("Parse(%q): got %v, want bad_amount", bad, err)
		}
	}
	if got, _ := Parse("1000", 392); got.Minor != 1000 {
		t.Errorf("JPY has no minor unit: got %d", got.Minor)
	}
}

func TestString(t *testing.T) {
	for _, tt := range []struct {
		a    Amount
		want string
	}{{Fen(1234), "12.34 CNY"}, {Fen(5), "0.05 CNY"}, {Fen(-150), "-1.50 CNY"}, {New(7, 999), "0.07 999"}} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// The phone shows any terminal's currency in letters and its minor units
// (issue 9 item 9).
func TestCurrencyCodes(t *testing.T) {
	for _, tc := range []struct {
		c    Currency
		want string
	}{{978, "0.00 EUR"}, {826, "0.00 GBP"}, {392, "0 JPY"}, {414, "0.000 KWD"}, {756, "0.00 CHF"}, {999, "0.00 999"}} {
		if got := New(0, tc.c).String(); got != tc.want {
			t.Errorf("currency %d: got %q, want %q", tc.c, got, tc.want)
		}
	}
}
