package bank

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

func mustDefault(t *testing.T) *Config {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: got error %v, want nil", err)
	}
	return c
}

func mustPAN(t *testing.T, s string) card.PAN {
	t.Helper()
	p, err := card.ParsePAN(s)
	if err != nil {
		t.Fatalf("ParsePAN: got error %v, want nil", err)
	}
	return p
}

// luhnPAN completes body with its Luhn digit.
func luhnPAN(t *testing.T, body string) card.PAN {
	t.Helper()
	return mustPAN(t, body+string(card.LuhnDigit(body)))
}

func TestDefault(t *testing.T) {
	c := mustDefault(t)
	if got := len(c.Banks); got != 20 {
		t.Errorf("banks: got %d, want 20", got)
	}
	if got := len(c.Cards); got < 40 {
		t.Errorf("cards: got %d, want at least 40", got)
	}
	outcomes := map[Decision]int{}
	kinds := map[ProductKind]int{}
	perBank := map[string]int{}
	expired, low := 0, 0
	for _, h := range c.Cards {
		outcomes[h.IDV]++
		kinds[h.Product]++
		perBank[h.Bank]++
		if h.Expiry.Year < 2028 {
			expired++
		} else if h.Expiry.Year > 2032 {
			t.Errorf("card ending %s: expiry year got %d, want 2028 to 2032", h.PAN.Last4(), h.Expiry.Year)
		}
		if h.Funds().Minor <= 1000 {
			low++
		}
	}
	mins := []struct {
		name string
		got  int
		want int
	}{
		{"green cards", outcomes[Green], 12},
		{"otp cards", outcomes[StepUp], 5},
		{"red cards", outcomes[Red], 3},
		{"debit cards", kinds[Debit], 15},
		{"credit cards", kinds[Credit], 15},
		{"expired cards", expired, 1},
		{"cards with 10 yuan or less", low, 2},
	}
	for _, m := range mins {
		t.Run(m.name, func(t *testing.T) {
			if m.got < m.want {
				t.Errorf("got %d, want at least %d", m.got, m.want)
			}
		})
	}
	if expired != 1 {
		t.Errorf("expired cards: got %d, want exactly 1", expired)
	}
	ranges := map[int]bool{}
	for _, b := range c.Banks {
		if perBank[b.ID] < 2 {
			t.Errorf("bank %s: got %d cards, want at least 2", b.ID, perBank[b.ID])
		}
		ranges[b.TokenRange] = true
		for _, p := range b.Products {
			if len(p.BIN) != 6 {
				t.Errorf("bank %s: BIN %s: got %d digits, want 6", b.ID, p.BIN, len(p.BIN))
			}
		}
	}
	for r := 1; r <= 20; r++ {
		if !ranges[r] {
			t.Errorf("token range %d: got no bank, want one", r)
		}
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a, b := mustDefault(t), mustDefault(t)
	a.Banks[0].Name = "changed"
	if b.Banks[0].Name == "changed" {
		t.Errorf("Default: got a shared configuration, want a fresh one each call")
	}
}

func TestBankForBIN(t *testing.T) {
	c := mustDefault(t)
	tests := []struct {
		name string
		pan  string // without the Luhn digit
		want string // bank id, "" for none
	}{
		{"icbc debit", "622202000000123", "icbc"},
		{"icbc 19 digits", "622202000000000123", "icbc"},
		{"icbc credit", "625330000000999", "icbc"},
		{"ccb debit", "621700123456789", "ccb"},
		{"cmb credit", "622588000000001", "cmb"},
		{"czb credit", "625821000000001", "czb"},
		{"jsb debit", "621076000000001", "jsb"},
		{"unknown 62 BIN", "622000000000001", ""},
		{"token range", "628801000000001", ""},
		{"visa", "411111111111111", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := c.BankForBIN(luhnPAN(t, tt.pan))
			got := ""
			if ok {
				got = b.ID
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("every product BIN", func(t *testing.T) {
		for _, b := range c.Banks {
			for _, p := range b.Products {
				got, ok := c.BankForBIN(luhnPAN(t, p.BIN+"000000000"))
				if !ok || got.ID != b.ID {
					t.Errorf("BIN %s: got %v, want %s", p.BIN, got, b.ID)
				}
			}
		}
	})
}

func TestLongestPrefixWithoutIndex(t *testing.T) {
	// A configuration built in code and not validated is scanned; the scan
	// also takes the longest BIN.
	c := &Config{Banks: []Bank{
		{ID: "short", Products: []Product{{Kind: Debit, BIN: "622202"}}, TokenRange: 1},
		{ID: "long", Products: []Product{{Kind: Debit, BIN: "62220299"}}, TokenRange: 2},
	}}
	tests := []struct {
		name string
		pan  string
		want string
	}{
		{"long", "622202990000001", "long"},
		{"short", "622202980000001", "short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := c.BankForBIN(luhnPAN(t, tt.pan))
			if !ok || b.ID != tt.want {
				t.Errorf("got %v %v, want %s", b, ok, tt.want)
			}
		})
	}
	if b, ok := c.BankForTokenRange("6288020000000000"); !ok || b.ID != "long" {
		t.Errorf("BankForTokenRange: got %v %v, want long", b, ok)
	}
}

func TestBankForTokenRange(t *testing.T) {
	c := mustDefault(t)
	tests := []struct {
		name   string
		digits string
		want   string
	}{
		{"first", "6288010000000001", "icbc"},
		{"prefix only", "628802", "ccb"},
		{"twentieth", "6288200000000000123", "czb"},
		{"unused range", "6288210000000000", ""},
		{"range zero", "6288000000000000", ""},
		{"a PAN", "6222020000000007", ""},
		{"too short", "62880", ""},
		{"not digits", "6288x1000000", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := c.BankForTokenRange(tt.digits)
			got := ""
			if ok {
				got = b.ID
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, b := range c.Banks {
		if got, want := b.TokenPrefix(), fmt.Sprintf("6288%02d", b.TokenRange); got != want {
			t.Errorf("%s TokenPrefix: got %s, want %s", b.ID, got, want)
		}
	}
}

func TestBankByID(t *testing.T) {
	c := mustDefault(t)
	for _, id := range []string{"icbc", "ccb", "abc", "boc", "bocom", "cmb", "citic", "ceb", "huaxia", "cmbc",
		"pab", "cib", "spdb", "cgb", "psbc", "bob", "bosc", "nbcb", "jsb", "czb"} {
		t.Run(id, func(t *testing.T) {
			b, ok := c.BankByID(id)
			if !ok || b.ID != id {
				t.Errorf("got %v %v, want %s", b, ok, id)
			}
		})
	}
	if b, ok := c.BankByID("nosuch"); ok {
		t.Errorf("nosuch: got %s, want none", b.ID)
	}
}

func TestLookupCard(t *testing.T) {
	c := mustDefault(t)
	for i := range c.Cards {
		h := &c.Cards[i]
		got, ok := c.LookupCard(mustPAN(t, h.PAN.Digits()))
		if !ok || got != h {
			t.Errorf("cards[%d]: got %v %v, want the card", i, got, ok)
			continue
		}
		b, ok := c.BankForBIN(h.PAN)
		if !ok || b.ID != h.Bank {
			t.Errorf("cards[%d]: BIN routes to %v, want %s", i, b, h.Bank)
		}
	}
	if _, ok := c.LookupCard(luhnPAN(t, "622202000009999")); ok {
		t.Errorf("unknown card: got found, want not found")
	}
	if _, ok := c.LookupCard(card.PAN{}); ok {
		t.Errorf("zero PAN: got found, want not found")
	}
	// The same lookups without the index.
	u := &Config{Banks: c.Banks, Cards: c.Cards}
	if got, ok := u.LookupCard(c.Cards[3].PAN); !ok || got.PAN.Last4() != c.Cards[3].PAN.Last4() {
		t.Errorf("unindexed: got %v %v, want cards[3]", got, ok)
	}
}

func TestCardsOf(t *testing.T) {
	c := mustDefault(t)
	for _, h := range c.CardsOf("cmb") {
		if h.Bank != "cmb" {
			t.Errorf("got a card of %s, want cmb", h.Bank)
		}
	}
	if got := len(c.CardsOf("nosuch")); got != 0 {
		t.Errorf("nosuch: got %d cards, want 0", got)
	}
}

func TestSecretsPrintMasked(t *testing.T) {
	c := mustDefault(t)
	h := c.Cards[0]
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("card", "cvn2", h.CVN2, "phone", h.Phone, "pan", h.PAN)
	out := fmt.Sprintf("%v|%+v|%#v|%s", h, h, h, b.String())
	for _, secret := range []string{h.PAN.Digits(), h.Phone.Number()} {
		if strings.Contains(out, secret) {
			t.Errorf("printed in full: %s", out)
		}
	}
	if got := fmt.Sprint(h.CVN2); got != "***" {
		t.Errorf("CVN2: got %s, want ***", got)
	}
	if got, want := h.Phone.String(), "+86138****0001"; got != want {
		t.Errorf("Phone: got %s, want %s", got, want)
	}
}

func TestParseCVN2AndPhone(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"cvn2 ok", func() error { _, err := ParseCVN2("007"); return err }(), ""},
		{"cvn2 short", func() error { _, err := ParseCVN2("12"); return err }(), "bad_cvn2"},
		{"cvn2 letters", func() error { _, err := ParseCVN2("12a"); return err }(), "bad_cvn2"},
		{"phone ok", func() error { _, err := ParsePhone("+8613800000001"); return err }(), ""},
		{"phone national", func() error { _, err := ParsePhone("13800000001"); return err }(), ""},
		{"phone letters", func() error { _, err := ParsePhone("+86138abc0001"); return err }(), "bad_phone"},
		{"phone short", func() error { _, err := ParsePhone("+123"); return err }(), "bad_phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == "" {
				if tt.err != nil {
					t.Errorf("got %v, want nil", tt.err)
				}
				return
			}
			if !fault.Has(tt.err, fault.Invalid, tt.code) {
				t.Errorf("got %v, want %s", tt.err, tt.code)
			}
		})
	}
}

// base is a small valid configuration that the broken-file tests change.
const base = `{
  "comment": "test",
  "banks": [
    {"id": "alpha", "name": "Alpha Bank", "short": "AB",
     "products": [
       {"kind": "debit", "name": "Alpha Debit", "bin": "621111", "art": "#112233", "default_idv": "green"},
       {"kind": "credit", "name": "Alpha Credit", "bin": "621112", "art": "#112244", "default_idv": "otp"}
     ],
     "idv": {"checks": ["expiry", "cvn2"], "step_up": {"channel": "sms", "digits": 6, "ttl_seconds": 300, "max_attempts": 3}},
     "settlement_account": "settlement:alpha", "token_range": 1},
    {"id": "beta", "name": "Beta Bank", "short": "BB",
     "products": [
       {"kind": "debit", "name": "Beta Debit", "bin": "621222", "art": "#445566"}
     ],
     "idv": {"checks": ["cvn2"], "step_up": null},
     "settlement_account": "settlement:beta", "token_range": 2}
  ],
  "cards": [
    {"pan": "PAN_A", "expiry": "1230", "cvn2": "123", "bank": "alpha", "product": "debit", "idv": "green", "holder": "ZHANG WEI", "phone": "+8613800000001", "balance_fen": 500000},
    {"pan": "PAN_B", "expiry": "0629", "cvn2": "456", "bank": "alpha", "product": "credit", "holder": "WANG FANG", "phone": "+8613800000002", "limit_fen": 2000000},
    {"pan": "PAN_C", "expiry": "0331", "cvn2": "789", "bank": "beta", "product": "debit", "idv": "red", "holder": "LI NA", "phone": "+8613800000003", "balance_fen": 1000}
  ]
}`

func pan(body string) string { return body + string(card.LuhnDigit(body)) }

var (
	panA = pan("621111000000001")
	panB = pan("621112000000002")
	panC = pan("621222000000000003")
	// panOut is Luhn-valid but in no bank's BIN; panTok is in the token range.
	panOut = pan("621333000000004")
	panTok = pan("628801000000005")
)

func baseJSON() string {
	return strings.NewReplacer("PAN_A", panA, "PAN_B", panB, "PAN_C", panC).Replace(base)
}

func TestParseBase(t *testing.T) {
	c, err := Parse([]byte(baseJSON()))
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if got := c.Cards[1].IDV; got != StepUp {
		t.Errorf("card without idv: got %s, want the product default otp", got)
	}
	if got := c.Cards[2].Balance; got != money.Fen(1000) {
		t.Errorf("balance: got %v, want 10.00 CNY", got)
	}
	if got := c.Cards[0].Status; got != Active {
		t.Errorf("card without status: got %q, want active", got)
	}
	if got := c.Banks[1].Products[0].DefaultIDV; got != Green {
		t.Errorf("missing default_idv: got %q, want green", got)
	}
}

func TestLoadBroken(t *testing.T) {
	badLuhn := panA[:len(panA)-1] + string('0'+(panA[len(panA)-1]-'0'+1)%10)
	tests := []struct {
		name string
		old  string // replaced in the valid file by new
		new  string
		want []string // substrings of the error
	}{
		{"syntax", `"banks": [`, `"banks": [,`, []string{"line 3", "not valid JSON"}},
		{"truncated", `"cards": [`, `"cards": [{`, []string{"bank configuration"}},
		{"unknown field", `"short": "AB",`, `"short": "AB", "colour": "red",`, []string{`unknown field "colour"`}},
		{"number as pan", `"pan": "` + panA + `"`, `"pan": ` + panA, []string{"line 19", "cards.pan must be a string"}},
		{"string as token range", `"token_range": 2`, `"token_range": "2"`, []string{"token_range", "whole number"}},
		{"trailing data", "\n}", "\n} {}", []string{"after the configuration"}},
		{"duplicate id", `"id": "beta"`, `"id": "alpha"`, []string{`banks[1] ("alpha"): id is also the id of banks[0]`}},
		{"bad id", `"id": "beta"`, `"id": "Beta Bank"`, []string{"banks[1]", "lowercase"}},
		{"same BIN", `"bin": "621222"`, `"bin": "621111"`, []string{"banks[1]", "overlaps bin 621111"}},
		{"nested BIN", `"bin": "621222"`, `"bin": "62111100"`, []string{"overlaps"}},
		{"token range BIN", `"bin": "621222"`, `"bin": "628812"`, []string{"token range 6288"}},
		{"outside 62", `"bin": "621222"`, `"bin": "411111"`, []string{"outside the network's 62 range"}},
		{"short BIN", `"bin": "621222"`, `"bin": "6212"`, []string{"6 to 8 digits"}},
		{"same token range", `"token_range": 2`, `"token_range": 1`, []string{"token_range 1 is also that of banks[0]"}},
		{"token range too big", `"token_range": 2`, `"token_range": 100`, []string{"1 to 99"}},
		{"same settlement", `"settlement:beta"`, `"settlement:alpha"`, []string{"settlement_account"}},
		{"bad art", `"#445566"`, `"red"`, []string{"art"}},
		{"bad kind", `"kind": "debit", "name": "Beta`, `"kind": "prepaid", "name": "Beta`, []string{"kind must be debit or credit"}},
		{"unknown check", `["cvn2"]`, `["cvn2", "pin"]`, []string{`"pin" is not expiry or cvn2`}},
		{"bad otp digits", `"digits": 6`, `"digits": 12`, []string{"digits must be 4 to 8"}},
		{"bad luhn", panA, badLuhn, []string{"cards[0]", "Luhn"}},
		{"pan in no BIN of the bank", panA, panOut, []string{"cards[0]", "not within a BIN"}},
		{"pan in the token range", panA, panTok, []string{"cards[0]", "not within a BIN"}},
		{"pan of another bank", panC, pan("621111000000000009"), []string{"cards[2]", "not within a BIN of the bank (621222)"}},
		{"wrong product", `"product": "credit"`, `"product": "debit"`, []string{"cards[1]", "needs balance_fen"}},
		{"product of other BIN", `"product": "debit", "idv": "green"`, `"product": "credit", "idv": "green"`, []string{"cards[0]"}},
		{"duplicate pan", panB, panA, []string{"cards[1]", "also that of cards[0]"}},
		{"short pan", panA, pan("62111100000001"), []string{"16 or 19 digits"}},
		{"bad expiry", `"expiry": "1230"`, `"expiry": "1330"`, []string{"cards[0]", "expiry"}},
		{"bad cvn2", `"cvn2": "123"`, `"cvn2": "12"`, []string{"cards[0]", "cvn2"}},
		{"no holder", `"holder": "ZHANG WEI"`, `"holder": ""`, []string{"holder name is missing"}},
		{"no phone", `"phone": "+8613800000001"`, `"phone": ""`, []string{"phone is missing"}},
		{"bad idv", `"idv": "green"`, `"idv": "amber"`, []string{"idv must be green, otp or red"}},
		{"bad status", `"idv": "green"`, `"idv": "green", "status": "stolen"`, []string{"cards[0]", "status must be active, blocked or lost"}},
		{"otp without step-up", `"idv": "red"`, `"idv": "otp"`, []string{"cards[2]", "no step_up policy"}},
		{"unknown bank", `"bank": "beta"`, `"bank": "gamma"`, []string{"cards[2]", "bank is not one of the banks"}},
		{"debit with limit", `"balance_fen": 1000}`, `"balance_fen": 1000, "limit_fen": 5}`, []string{"has no limit_fen"}},
		{"credit without limit", `"limit_fen": 2000000`, `"balance_fen": 2000000`, []string{"needs limit_fen"}},
		{"negative balance", `"balance_fen": 1000}`, `"balance_fen": -1}`, []string{"balance must be zero or more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := baseJSON()
			if !strings.Contains(src, tt.old) {
				t.Fatalf("test setup: %q not in the file", tt.old)
			}
			path := filepath.Join(t.TempDir(), "banks.json")
			if err := os.WriteFile(path, []byte(strings.Replace(src, tt.old, tt.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if !fault.Has(err, fault.Invalid, "bad_bank_config") {
				t.Fatalf("got %v, want a bad_bank_config error", err)
			}
			msg := err.Error()
			for _, w := range append(tt.want, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("got %q, want it to contain %q", msg, w)
				}
			}
			for _, p := range []string{panA, panB, panC, panOut, panTok, badLuhn} {
				if strings.Contains(msg, p) {
					t.Errorf("error contains a card number: %q", msg)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("good file", func(t *testing.T) {
		path := filepath.Join(dir, "good.json")
		if err := os.WriteFile(path, []byte(baseJSON()), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
		if got := len(c.Banks); got != 2 {
			t.Errorf("banks: got %d, want 2", got)
		}
	})
	t.Run("shipped file", func(t *testing.T) {
		path := filepath.Join(dir, "shipped.json")
		if err := os.WriteFile(path, defaultFile, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nosuch.json"))
		if !fault.Has(err, fault.NotFound, "bank_config_not_found") {
			t.Errorf("got %v, want bank_config_not_found", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		path := filepath.Join(dir, "empty.json")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !fault.Has(err, fault.Invalid, "bad_bank_config") || !strings.Contains(err.Error(), "empty") {
			t.Errorf("got %v, want bad_bank_config saying empty", err)
		}
	})
	t.Run("no banks", func(t *testing.T) {
		_, err := Parse([]byte(`{"banks": [], "cards": []}`))
		if !fault.Has(err, fault.Invalid, "bad_bank_config") || !strings.Contains(err.Error(), "no banks") {
			t.Errorf("got %v, want bad_bank_config saying no banks", err)
		}
	})
	t.Run("many problems are capped", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"banks": [`)
		for i := 0; i < 30; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`{"id": "x"}`)
		}
		b.WriteString(`], "cards": []}`)
		_, err := Parse([]byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), "more") {
			t.Errorf("got %v, want a capped list ending in 'and N more'", err)
		}
	})
}

func TestValidateInCode(t *testing.T) {
	c := mustDefault(t)
	c.Cards[0].CVN2 = CVN2{}
	c.Cards[1].Limit = money.Amount{Minor: 100}
	err := c.Validate()
	for _, w := range []string{"cards[0]", "cvn2 must be 3 digits", "cards[1]", "limit must be more than zero fen (CNY)"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want it to contain %q", err, w)
		}
	}
	if c.idx != nil {
		t.Errorf("index after a failed Validate: got one, want none")
	}
}

func TestVerifyBaseNoExpiryCheck(t *testing.T) {
	// Bank beta checks only the CVN2: a wrong expiry date passes to the
	// bank's decision, a wrong CVN2 does not.
	c, err := Parse([]byte(baseJSON()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 15, 0, 0, 0, 0, time.UTC)
	p := mustPAN(t, panC)
	_, err = Verify(c, p, card.Expiry{Year: 2030, Month: 1}, "789", now)
	if !fault.Has(err, fault.Declined, "idv_declined") {
		t.Errorf("wrong expiry at a bank that does not check it: got %v, want idv_declined", err)
	}
	_, err = Verify(c, p, card.Expiry{Year: 2030, Month: 1}, "788", now)
	if !fault.Has(err, fault.Invalid, "wrong_cvn2") {
		t.Errorf("wrong CVN2: got %v, want wrong_cvn2", err)
	}
}
