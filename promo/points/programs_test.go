package points_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/promo/points"
)

// TestDefaultPrograms: every bank of the directory has a programme (its
// own or the default), with the rates docs/promotions.md states.
func TestDefaultPrograms(t *testing.T) {
	ps, err := points.DefaultPrograms()
	if err != nil {
		t.Fatal(err)
	}
	banks, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range banks.Banks {
		p := ps.For(b.ID)
		if p.Bank != b.ID || p.FenPerPoint != 1 || p.MoneyAccount != b.ID+":promotion" || p.Life < 24*points.Month {
			t.Errorf("%s: got %+v", b.ID, p)
		}
	}
	icbc := ps.For("icbc")
	for _, c := range []struct {
		product, mcc string
		want         int64
	}{{"debit", "5999", 12}, {"credit", "5999", 24}, {"debit", "5812", 36}, {"debit", "5814", 36}, {"credit", "5812", 72}} {
		if got := icbc.Earn(c.product, c.mcc, 1299); got != c.want {
			t.Errorf("icbc %s %s 12.99: got %d, want %d", c.product, c.mcc, got, c.want)
		}
	}
	if icbc.Life != 730*24*time.Hour {
		t.Errorf("default life %s, want 730 days", icbc.Life)
	}
	if !ps.Own("cmb") || ps.Own("icbc") || ps.For("cmb").Earn("credit", "5812", 1000) != 100 {
		t.Errorf("cmb's own programme: got %+v", ps.For("cmb"))
	}
}

// TestParseProgramsRefuses: a bad programme file is refused whole, naming
// the field.
func TestParseProgramsRefuses(t *testing.T) {
	good := `"default_per_yuan": 1, "life_months": 24, "fen_per_point": 1`
	for name, c := range map[string]struct{ file, want string }{
		"unknown field":      {`{"default": {` + good + `, "bonus": 2}}`, `unknown field "bonus"`},
		"no default":         {`{"banks": []}`, "default: missing"},
		"negative rate":      {`{"default": {` + good + `, "rates": [{"mcc": "5812", "per_yuan": -3}]}}`, "rates[0].per_yuan: -3 is negative"},
		"bad mcc":            {`{"default": {` + good + `, "rates": [{"mcc": "58", "per_yuan": 3}]}}`, `rates[0].mcc: "58"`},
		"bad product":        {`{"default": {` + good + `, "rates": [{"product": "gold", "per_yuan": 3}]}}`, `rates[0].product: "gold"`},
		"rate for nothing":   {`{"default": {` + good + `, "rates": [{"per_yuan": 3}]}}`, "names neither"},
		"same rate twice":    {`{"default": {` + good + `, "rates": [{"mcc": "5812", "per_yuan": 3}, {"mcc": "5812", "per_yuan": 4}]}}`, "twice"},
		"no life":            {`{"default": {"default_per_yuan": 1, "fen_per_point": 1}}`, "life_months: 0"},
		"free points":        {`{"default": {"default_per_yuan": 1, "life_months": 24, "fen_per_point": 0}}`, "fen_per_point: 0"},
		"bank twice":         {`{"default": {` + good + `}, "banks": [{"bank": "cmb", ` + good + `}, {"bank": "cmb", ` + good + `}]}`, `banks[1]: bank: "cmb" twice`},
		"bank without id":    {`{"default": {` + good + `}, "banks": [{` + good + `}]}`, "banks[0]: bank: missing"},
		"data after":         {`{"default": {` + good + `}} {}`, "data after"},
		"a string for a num": {`{"default": {"default_per_yuan": "1", "life_months": 24, "fen_per_point": 1}}`, "default_per_yuan"},
	} {
		_, err := points.ParsePrograms(strings.NewReader(c.file))
		if !errors.Is(err, points.ErrProgram) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a promo_program error saying %q", name, err, c.want)
		}
	}
}
