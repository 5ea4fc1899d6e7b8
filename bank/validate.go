package bank

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

var (
	idPattern  = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,15}$`)
	artPattern = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)
)

// maxProblems is how many problems one error lists before "and N more".
const maxProblems = 12

// problems collects what is wrong with a configuration.
type problems struct {
	list []string
	n    int
}

func (p *problems) addf(format string, args ...any) {
	p.n++
	if len(p.list) < maxProblems {
		p.list = append(p.list, fmt.Sprintf(format, args...))
	}
}

// err returns nil or one fault.Invalid "bad_bank_config" error listing them.
func (p *problems) err() error {
	if p.n == 0 {
		return nil
	}
	msg := strings.Join(p.list, "; ")
	if p.n > len(p.list) {
		msg += fmt.Sprintf("; and %d more", p.n-len(p.list))
	}
	return fault.E(fault.Invalid, "bad_bank_config", "%s", msg)
}

// cardLabel names card i in an error without its number: its index, bank and
// last four digits.
func cardLabel(i int, bankID, digits string) string {
	s := fmt.Sprintf("cards[%d]", i)
	var parts []string
	if bankID != "" {
		parts = append(parts, fmt.Sprintf("%.20q", bankID))
	}
	if len(digits) >= 12 {
		parts = append(parts, "ending "+digits[len(digits)-4:])
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func bankLabel(i int, id string) string {
	if id == "" {
		return fmt.Sprintf("banks[%d]", i)
	}
	return fmt.Sprintf("banks[%d] (%.20q)", i, id)
}

func validDecision(d Decision) bool { return d == Green || d == StepUp || d == Red }

// Validate checks the configuration: at least one bank; unique bank ids,
// settlement accounts and token ranges (1..99); products that are debit or
// credit with a BIN of 6 to 8 digits in 62… outside the network's token
// range 6288…, no BIN equal to or a prefix of another, an art colour #RRGGBB;
// ID&V policies with known checks and a sane one-time-code policy; and card
// holders whose bank exists, whose PAN is Luhn-valid, 16 or 19 digits, unique
// and within the BIN of one of the bank's products of the card's kind, with
// an expiry, a CVN2, a holder name, a phone, an outcome the bank can give,
// and a balance (debit) or limit (credit) in CNY.
//
// It returns a fault.Invalid "bad_bank_config" error that lists the problems
// (naming the bank or card by index, never by full card number), or nil,
// after which the lookups of c use an in-memory index.
func (c *Config) Validate() error {
	c.idx = nil
	var p problems
	x := &index{
		dirIndex: dirIndex{bins: map[string]int{}, banks: map[string]int{}, tokenRanges: map[int]int{}},
		cards:    map[string]int{},
	}
	if len(c.Banks) == 0 {
		p.addf("no banks")
	}
	settlement := map[string]int{}
	type binOwner struct{ bank, product int }
	bins := map[string]binOwner{}
	for i := range c.Banks {
		b := &c.Banks[i]
		at := bankLabel(i, b.ID)
		switch j, dup := x.banks[b.ID]; {
		case !idPattern.MatchString(b.ID):
			p.addf("%s: id must be 2 to 16 lowercase letters, digits, - or _, starting with a letter", at)
		case dup:
			p.addf("%s: id is also the id of banks[%d]", at, j)
		default:
			x.banks[b.ID] = i
		}
		if strings.TrimSpace(b.Name) == "" {
			p.addf("%s: name is missing", at)
		}
		if b.SettlementAccount == "" {
			p.addf("%s: settlement_account is missing", at)
		} else if j, dup := settlement[b.SettlementAccount]; dup {
			p.addf("%s: settlement_account is also that of banks[%d]", at, j)
		} else {
			settlement[b.SettlementAccount] = i
		}
		switch j, dup := x.tokenRanges[b.TokenRange]; {
		case b.TokenRange < 1 || b.TokenRange > 99:
			p.addf("%s: token_range must be 1 to 99, got %d", at, b.TokenRange)
		case dup:
			p.addf("%s: token_range %d is also that of banks[%d]", at, b.TokenRange, j)
		default:
			x.tokenRanges[b.TokenRange] = i
		}
		if len(b.Products) == 0 {
			p.addf("%s: no products", at)
		}
		for j, pr := range b.Products {
			pat := fmt.Sprintf("%s products[%d]", at, j)
			if pr.Kind != Debit && pr.Kind != Credit {
				p.addf("%s: kind must be debit or credit", pat)
			}
			if strings.TrimSpace(pr.Name) == "" {
				p.addf("%s: name is missing", pat)
			}
			if !artPattern.MatchString(pr.Art) {
				p.addf("%s: art must be a colour like #C7000B", pat)
			}
			if pr.DefaultIDV != "" && !validDecision(pr.DefaultIDV) {
				p.addf("%s: default_idv must be green, otp or red", pat)
			}
			if pr.DefaultIDV == StepUp && b.IDV.StepUp == nil {
				p.addf("%s: default_idv is otp but the bank has no step_up policy", pat)
			}
			switch {
			case len(pr.BIN) < 6 || len(pr.BIN) > 8 || !allDigits(pr.BIN):
				p.addf("%s: bin must be 6 to 8 digits", pat)
				continue
			case !hasPrefix(pr.BIN, "62"):
				p.addf("%s: bin %s is outside the network's 62 range", pat, pr.BIN)
				continue
			case hasPrefix(pr.BIN, TokenBINPrefix):
				p.addf("%s: bin %s is in the network's token range %s", pat, pr.BIN, TokenBINPrefix)
				continue
			}
			clash := false
			for other, o := range bins {
				if hasPrefix(pr.BIN, other) || hasPrefix(other, pr.BIN) {
					p.addf("%s: bin %s overlaps bin %s of %s products[%d]", pat, pr.BIN, other, bankLabel(o.bank, c.Banks[o.bank].ID), o.product)
					clash = true
				}
			}
			if !clash {
				bins[pr.BIN] = binOwner{i, j}
				x.bins[pr.BIN] = i
				if x.binMin == 0 || len(pr.BIN) < x.binMin {
					x.binMin = len(pr.BIN)
				}
				x.binMax = max(x.binMax, len(pr.BIN))
			}
		}
		seen := map[Check]bool{}
		for _, ch := range b.IDV.Checks {
			if ch != CheckExpiry && ch != CheckCVN2 {
				p.addf("%s: idv check %.20q is not expiry or cvn2", at, string(ch))
			} else if seen[ch] {
				p.addf("%s: idv check %s is listed twice", at, ch)
			}
			seen[ch] = true
		}
		if s := b.IDV.StepUp; s != nil {
			if s.Channel != "sms" {
				p.addf("%s: step_up channel must be sms", at)
			}
			if s.Digits < 4 || s.Digits > 8 {
				p.addf("%s: step_up digits must be 4 to 8, got %d", at, s.Digits)
			}
			if s.TTLSeconds < 30 || s.TTLSeconds > 3600 {
				p.addf("%s: step_up ttl_seconds must be 30 to 3600, got %d", at, s.TTLSeconds)
			}
			if s.MaxAttempts < 1 || s.MaxAttempts > 10 {
				p.addf("%s: step_up max_attempts must be 1 to 10, got %d", at, s.MaxAttempts)
			}
		}
	}

	for i := range c.Cards {
		h := &c.Cards[i]
		d := h.PAN.Digits()
		at := cardLabel(i, h.Bank, d)
		b, bankOK := (*Bank)(nil), false
		if j, ok := x.banks[h.Bank]; ok {
			b, bankOK = &c.Banks[j], true
		} else {
			p.addf("%s: bank is not one of the banks", at)
		}
		if h.Product != Debit && h.Product != Credit {
			p.addf("%s: product must be debit or credit", at)
		}
		switch {
		case h.PAN.IsZero():
			p.addf("%s: pan is missing", at)
		case len(d) != 16 && len(d) != 19:
			p.addf("%s: pan must have 16 or 19 digits, got %d", at, len(d))
		case !card.LuhnValid(d):
			p.addf("%s: pan fails the Luhn check", at)
		default:
			if j, dup := x.cards[d]; dup {
				p.addf("%s: pan is also that of cards[%d]", at, j)
			} else {
				x.cards[d] = i
			}
			if bankOK {
				pr, ok := b.Product(h.PAN)
				switch {
				case !ok:
					p.addf("%s: pan is not within a BIN of the bank (%s)", at, strings.Join(b.BINs(), ", "))
				case pr.Kind != h.Product:
					p.addf("%s: product is %s but BIN %s is the bank's %s product", at, h.Product, pr.BIN, pr.Kind)
				}
			}
		}
		if h.Expiry.Month < 1 || h.Expiry.Month > 12 || h.Expiry.Year < 2000 || h.Expiry.Year > 2099 {
			p.addf("%s: expiry is missing or not a month MMYY", at)
		}
		if len(h.CVN2.digits) != 3 || !allDigits(h.CVN2.digits) {
			p.addf("%s: cvn2 must be 3 digits", at)
		}
		if strings.TrimSpace(h.Name) == "" {
			p.addf("%s: holder name is missing", at)
		}
		if h.Phone.IsZero() {
			p.addf("%s: phone is missing", at)
		}
		if h.Status != "" && !validStatus(h.Status) {
			p.addf("%s: status must be active, blocked or lost", at)
		}
		switch {
		case !validDecision(h.IDV):
			p.addf("%s: idv must be green, otp or red", at)
		case h.IDV == StepUp && bankOK && b.IDV.StepUp == nil:
			p.addf("%s: idv is otp but the bank has no step_up policy", at)
		}
		switch h.Product {
		case Debit:
			if h.Balance.Currency != money.CNY || h.Balance.Minor < 0 {
				p.addf("%s: balance must be zero or more fen (CNY)", at)
			}
			if h.Limit.Minor != 0 {
				p.addf("%s: a debit card has no credit limit", at)
			}
		case Credit:
			if h.Limit.Currency != money.CNY || h.Limit.Minor <= 0 {
				p.addf("%s: limit must be more than zero fen (CNY)", at)
			}
			if h.Balance.Minor != 0 {
				p.addf("%s: a credit card has no opening balance", at)
			}
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	c.idx = x
	return nil
}
