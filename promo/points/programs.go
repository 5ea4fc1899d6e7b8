package points

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/promo"
)

//go:embed programs.json
var programsJSON []byte

// Month is a month of a lot's life: a twelfth of a 365-day year (730
// hours), so 24 months are 730 days.
const Month = 730 * time.Hour

// ErrProgram is the kind and code of a programme file refused:
// errors.Is(err, points.ErrProgram).
var ErrProgram = fault.E(fault.Invalid, "promo_program", "")

// programSpec is one programme as a file writes it.
type programSpec struct {
	Bank        string `json:"bank,omitempty"`
	Default     int64  `json:"default_per_yuan"`
	Rates       []Rate `json:"rates,omitempty"`
	LifeMonths  int    `json:"life_months"`
	FenPerPoint int64  `json:"fen_per_point"`
}

// Programs is the banks' points programmes: the one every bank of the
// directory runs unless it runs its own, and those of the banks that do.
type Programs struct {
	def   programSpec
	banks map[string]programSpec
}

// PromotionAccount is the id of a bank's promotion money account
// (ledger.CodePromotion, CNY) in its own ledger: it pays the credits of
// pay with points and the statement credits of campaigns.
func PromotionAccount(bankID string) string { return bankID + ":promotion" }

// DefaultPrograms returns the programmes shipped in promo/programs.json
// (docs/promotions.md, Points). It fails only if the embedded file is
// broken (a test keeps it valid).
func DefaultPrograms() (*Programs, error) { return ParsePrograms(bytes.NewReader(programsJSON)) }

// ParsePrograms reads a programme file, {"default": {…}, "banks": [{"bank":
// …, …}]}, strictly: an unknown field at any depth, a value of the wrong
// type, data after the object, a rate below 0, a rate for another product
// than debit or credit or an MCC that is not 4 digits, a life under one
// month or over 120, a point worth less than 1 fen, a bank twice or
// without an id — each refuses the whole file with a fault.Invalid error
// (code promo_program) naming the programme and the field.
func ParsePrograms(r io.Reader) (*Programs, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "promo_program", "programme file: read")
	}
	var file struct {
		Default *programSpec  `json:"default"`
		Banks   []programSpec `json:"banks"`
	}
	if err := promo.DecodeStrict(data, &file); err != nil {
		return nil, fault.E(fault.Invalid, "promo_program", "programme file: %s", err)
	}
	if file.Default == nil {
		return nil, fault.E(fault.Invalid, "promo_program", "programme file: default: missing (every bank's programme unless it runs its own)")
	}
	if file.Default.Bank != "" {
		return nil, fault.E(fault.Invalid, "promo_program", "programme file: default: bank: the default programme is every bank's, it names none")
	}
	if err := file.Default.check("default"); err != nil {
		return nil, err
	}
	ps := &Programs{def: *file.Default, banks: map[string]programSpec{}}
	for i, b := range file.Banks {
		where := fmt.Sprintf("banks[%d]", i)
		if b.Bank == "" {
			return nil, fault.E(fault.Invalid, "promo_program", "programme file: %s: bank: missing", where)
		}
		if _, dup := ps.banks[b.Bank]; dup {
			return nil, fault.E(fault.Invalid, "promo_program", "programme file: %s: bank: %q twice", where, b.Bank)
		}
		if err := b.check(fmt.Sprintf("%s (%s)", where, b.Bank)); err != nil {
			return nil, err
		}
		ps.banks[b.Bank] = b
	}
	return ps, nil
}

// check refuses a programme that breaks a rule, naming where it is.
func (s programSpec) check(where string) error {
	bad := func(field, format string, args ...any) error {
		return fault.E(fault.Invalid, "promo_program", "programme file: %s: %s: %s", where, field, fmt.Sprintf(format, args...))
	}
	if s.Default < 0 {
		return bad("default_per_yuan", "%d is negative", s.Default)
	}
	if s.LifeMonths < 1 || s.LifeMonths > 120 {
		return bad("life_months", "%d: want 1 to 120", s.LifeMonths)
	}
	if s.FenPerPoint < 1 || s.FenPerPoint > 10000 {
		return bad("fen_per_point", "%d: want 1 to 10000", s.FenPerPoint)
	}
	seen := map[[2]string]bool{}
	for i, r := range s.Rates {
		f := fmt.Sprintf("rates[%d]", i)
		if r.PerYuan < 0 {
			return bad(f+".per_yuan", "%d is negative", r.PerYuan)
		}
		if r.Product != "" && r.Product != "debit" && r.Product != "credit" {
			return bad(f+".product", "%q: want debit or credit", r.Product)
		}
		if r.MCC != "" && (len(r.MCC) != 4 || strings.Trim(r.MCC, "0123456789") != "") {
			return bad(f+".mcc", "%q: want 4 digits", r.MCC)
		}
		if r.Product == "" && r.MCC == "" {
			return bad(f, "names neither product nor mcc (default_per_yuan is the rate of the rest)")
		}
		k := [2]string{r.Product, r.MCC}
		if seen[k] {
			return bad(f, "product %q and mcc %q twice", r.Product, r.MCC)
		}
		seen[k] = true
	}
	return nil
}

// For returns the programme of a bank: its own, else the default, with the
// bank's promotion account (PromotionAccount) paying its credits. It never
// fails.
func (ps *Programs) For(bankID string) *Program {
	s, ok := ps.banks[bankID]
	if !ok {
		s = ps.def
	}
	return &Program{Bank: bankID, Rates: append([]Rate(nil), s.Rates...), Default: s.Default,
		Life: time.Duration(s.LifeMonths) * Month, FenPerPoint: s.FenPerPoint, MoneyAccount: PromotionAccount(bankID)}
}

// Own reports whether a bank runs its own programme rather than the
// default. It never fails.
func (ps *Programs) Own(bankID string) bool {
	_, ok := ps.banks[bankID]
	return ok
}

// RestoreBook returns the book of card as a store kept it: its lots and
// the operations applied (Applied of the book it saved), so that an
// operation applied before is found again. It never fails.
func RestoreBook(p *Program, card string, lots []Lot, applied map[string]int64) *Book {
	b := NewBook(p, card)
	b.Lots = append([]Lot(nil), lots...)
	maps.Copy(b.done, applied)
	return b
}

// Applied returns a copy of the operations applied to the book (operation
// id → points it moved), for a store to keep beside the lots. It never
// fails.
func (b *Book) Applied() map[string]int64 { return maps.Clone(b.done) }

// Link chains transfers of several operations so that they stand or fall
// together (every one but the last Linked), as each operation's own are.
// It returns ts.
func Link(ts []ledger.Transfer) []ledger.Transfer { return link(ts) }
