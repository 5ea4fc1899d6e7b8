package clearfile

import (
	"strconv"
	"strings"

	"github.com/tapwallet/tapwallet/promo"
)

// Version 4 adds to every detail record (D and C), after the
// transmission time (docs/iso8583.md, "Clearing file"):
//
//	16 MCC (DE18, n4, or empty)
//	17 PAR (the card's payment account reference, an29, or empty)
//	18 campaign id, 19 fulfilment, 20 gross, 21 discount — all four empty
//	   when the record carries no promotion
//	22… one funder share per three fields: kind, funder, amount
//
// A presentment (D) of a discounted purchase: Amount is what the card
// holder is charged (the net) — for an instant discount gross = Amount +
// the shares, for a credit or points after clearing gross = Amount; the
// discount is at least 1 fen and below the gross. A refund (C) of one: the
// gross is what the merchant gives back, Amount the card holder's part
// and the shares the funders' parts (each may be 0), gross = Amount + the
// shares whatever the fulfilment.

// promoBase is the index of the first version 4 field (MCC).
const promoBase = 15

// promoNames name the version 4 fields by index; a share's fields repeat
// the last three.
var promoNames = []string{"MCC", "PAR", "campaign", "fulfilment", "gross", "discount", "funder kind", "funder", "share"}

func promoFieldName(i int) string {
	if i < promoBase+6 {
		return promoNames[i-promoBase]
	}
	return promoNames[6+(i-promoBase-6)%3]
}

// PromoDebits returns the sum of the presentments' (D) promotion
// discounts per currency: what the funders pay for the file's discounted
// purchases.
func (f File) PromoDebits() map[int]int64 { return f.promoSums(false) }

// PromoCredits returns the sum of the refunds' (C) funder parts per
// currency: what the funders get back.
func (f File) PromoCredits() map[int]int64 { return f.promoSums(true) }

func (f File) promoSums(credit bool) map[int]int64 {
	out := map[int]int64{}
	for _, d := range f.Details {
		if d.Credit == credit && d.Promo != nil {
			out[d.Currency] += d.Promo.Discount
		}
	}
	return out
}

// promoFields returns the version 4 fields of a record.
func promoFields(d Detail) []string {
	out := []string{d.MCC, d.PAR, "", "", "", ""}
	if p := d.Promo; p != nil {
		out[2], out[3] = p.Campaign, string(p.Fulfilment)
		out[4], out[5] = strconv.FormatInt(p.Gross, 10), strconv.FormatInt(p.Discount, 10)
		for _, s := range p.Shares {
			out = append(out, string(s.Kind), s.Party, strconv.FormatInt(s.Amount, 10))
		}
	}
	return out
}

// readPromo reads the version 4 fields of a record into d (whose other
// fields are read). It returns the index of the field that breaks its
// format and the rule broken, or 0 and the rule for a promotion whose
// arithmetic does not hold; "" when all hold.
func readPromo(d *Detail, fields []string) (int, string) {
	f := fields[promoBase:]
	if f[0] != "" && !digits(f[0], 4, 4) {
		return promoBase, "must be 4 digits (DE18 n4) or empty"
	}
	if f[1] != "" && !par(f[1]) {
		return promoBase + 1, "must be 29 letters or digits (a PAR) or empty"
	}
	d.MCC, d.PAR = f[0], f[1]
	if f[2] == "" {
		for i := 3; i < len(f); i++ {
			if f[i] != "" || i >= 6 {
				return promoBase + i, "must be empty: the record carries no promotion (field 18 is empty)"
			}
		}
		return 0, ""
	}
	p := &promo.Redemption{Campaign: f[2], Fulfilment: promo.Fulfilment(f[3]), Merchant: d.Merchant, CardBank: d.Bank, Net: d.Amount}
	if !campaignID(f[2]) {
		return promoBase + 2, "must be a campaign id: 1 to 64 letters, digits, '-' or '_'"
	}
	switch p.Fulfilment {
	case promo.FulfilInstant, promo.FulfilStatementCredit, promo.FulfilPoints:
	default:
		return promoBase + 3, "must be instant, statement_credit or points"
	}
	var ok bool
	if p.Gross, ok = amount(f[4]); !ok || p.Gross == 0 {
		return promoBase + 4, "must be a positive amount in minor units, digits only"
	}
	if p.Discount, ok = amount(f[5]); !ok {
		return promoBase + 5, "must be an amount in minor units, digits only (never negative)"
	}
	if len(f) == 6 {
		return 0, "a promotion has at least one funder share (fields 22-24)"
	}
	for i := 6; i+2 < len(f); i += 3 {
		s := promo.Share{Kind: promo.FunderKind(f[i]), Party: f[i+1]}
		if j, why := badShare(s); why != "" {
			return promoBase + i + j, why
		}
		if s.Amount, ok = amount(f[i+2]); !ok {
			return promoBase + i + 2, "must be an amount in minor units, digits only (never negative)"
		}
		p.Shares = append(p.Shares, s)
	}
	d.Promo = p
	if why := checkPromo(*d); why != "" {
		d.Promo = nil
		return 0, why
	}
	return 0, ""
}

// badShare returns the offset (0 kind, 1 funder) of a share's field that
// breaks its format and the rule broken; "" when both hold.
func badShare(s promo.Share) (int, string) {
	switch {
	case s.Kind != promo.FunderNetwork && s.Kind != promo.FunderIssuer && s.Kind != promo.FunderMerchant:
		return 0, "must be network, issuer or merchant"
	case s.Kind == promo.FunderNetwork && s.Party != "network":
		return 1, "must be network for a network share"
	case s.Kind == promo.FunderIssuer && !bankID.MatchString(s.Party):
		return 1, bankIDRule + " for an issuer share"
	case s.Kind == promo.FunderMerchant && !merchantID(s.Party):
		return 1, "must be a merchant id (DE42: 1 to 15 printable ASCII characters, not all spaces) for a merchant share"
	}
	return 0, ""
}

// checkPromo returns why a record's version 4 fields do not hold ("" when
// they do): the rules above, for the writer and the reader alike.
func checkPromo(d Detail) string {
	if d.MCC != "" && !digits(d.MCC, 4, 4) {
		return "the MCC is not 4 digits"
	}
	if d.PAR != "" && !par(d.PAR) {
		return "the PAR is not 29 letters or digits"
	}
	p := d.Promo
	if p == nil {
		return ""
	}
	if !campaignID(p.Campaign) {
		return "the promotion's campaign is not a campaign id"
	}
	switch p.Fulfilment {
	case promo.FulfilInstant, promo.FulfilStatementCredit, promo.FulfilPoints:
	default:
		return "the promotion's fulfilment is not instant, statement_credit or points"
	}
	if len(p.Shares) == 0 {
		return "a promotion has at least one funder share"
	}
	var sum int64
	seen := map[promo.Share]bool{}
	for _, s := range p.Shares {
		if s.Amount < 0 {
			return "a funder share is negative"
		}
		if _, why := badShare(s); why != "" {
			return "a funder share's kind or funder " + why
		}
		k := promo.Share{Kind: s.Kind, Party: s.Party}
		if seen[k] {
			return "a funder has two shares"
		}
		seen[k] = true
		sum += s.Amount
	}
	switch {
	case p.Gross <= 0 || p.Discount < 0:
		return "the promotion's gross must be positive and its discount not negative"
	case sum != p.Discount:
		return "the funder shares do not add up to the discount (field 21)"
	case d.Credit && p.Gross != d.Amount+sum:
		return "the refunded gross (field 20) is not the amount (field 10) plus the funder shares"
	case d.Credit:
	case p.Discount < 1 || p.Discount >= p.Gross:
		return "a presentment's discount must be at least 1 and below the gross"
	case p.Fulfilment == promo.FulfilInstant && p.Gross != d.Amount+sum:
		return "the gross (field 20) of an instant discount is not the amount (field 10) plus the funder shares"
	case p.Fulfilment != promo.FulfilInstant && p.Gross != d.Amount:
		return "the gross (field 20) of a credit or points after clearing is not the amount (field 10)"
	}
	return ""
}

// amount reads minor units: ASCII digits only (no sign), an int64.
func amount(v string) (int64, bool) {
	if !digits(v, 1, 19) {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// par reports whether v is a payment account reference: 29 letters or
// digits.
func par(v string) bool {
	return len(v) == 29 && an(v, 29) && !strings.Contains(v, " ")
}

// merchantID reports whether v is 1 to 15 printable ASCII characters, not
// all spaces.
func merchantID(v string) bool { return len(v) >= 1 && len(v) <= 15 && ans(v, len(v)) }

// campaignID reports whether v is a campaign id (promo's rule): 1 to 64
// letters, digits, '-' or '_'.
func campaignID(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
