package iso8583

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The BER-TLV tags of the promotion data in DE124 (docs/iso8583.md,
// "DE124: promotion data"; docs/promotions.md). TagPromoFunder is
// constructed and holds TagPromoFunderKind, TagPromoFunderParty and
// TagPromoFunderShare; it repeats, once per funder.
const (
	TagPromoCampaign    = 0xDF60 // campaign id, ans 1-64
	TagPromoGross       = 0xDF61 // gross amount (the acquirer's DE4; for a refund the refunded gross), n12
	TagPromoDiscount    = 0xDF62 // the benefit (for a refund the funders' part), n12
	TagPromoFulfilment  = 0xDF63 // b1: PromoInstant, PromoStatementCredit, PromoPoints
	TagPromoFunder      = 0xFF64 // one funder's share (constructed, repeated)
	TagPromoFunderKind  = 0xDF65 // b1: PromoFunderNetwork, PromoFunderIssuer, PromoFunderMerchant
	TagPromoFunderParty = 0xDF66 // "network", a bank id or a merchant id, ans 1-16
	TagPromoFunderShare = 0xDF67 // the funder's share in minor units, n12
	TagPromoName        = 0xDF68 // the campaign's display name, UTF-8, 1-80 bytes (0110 only)
)

// The fulfilments of DF63.
const (
	PromoInstant         byte = 1 // off the amount charged: the issuer holds DE4 = gross − discount
	PromoStatementCredit byte = 2 // credited to the card after clearing: the issuer holds the gross
	PromoPoints          byte = 3 // bonus points after clearing: the issuer holds the gross
)

// The funder kinds of DF65.
const (
	PromoFunderNetwork  byte = 1
	PromoFunderIssuer   byte = 2
	PromoFunderMerchant byte = 3
)

// Bounds of the promotion data.
const (
	MaxPromoFunders   = 16 // funders in one DE124
	maxPromoCampaign  = 64
	maxPromoParty     = 16
	maxPromoName      = 80
	maxPromoAmount    = 999_999_999_999 // n12
	promoAmountDigits = 12
)

// PromotionFunder is one funder's share of a discount (FF64).
type PromotionFunder struct {
	Kind  byte   // DF65: PromoFunderNetwork, PromoFunderIssuer or PromoFunderMerchant
	Party string // DF66: "network", a bank id or a merchant id
	Share int64  // DF67: minor units
}

// PromotionData is the promotion applied to an authorization or a refund,
// carried in DE124 as BER-TLV (docs/promotions.md): toward the issuer the
// campaign, the gross, the discount, the fulfilment and the funders'
// shares (the issuer checks Gross = DE4 + Σ shares for an instant
// discount); toward the acquirer the campaign, the gross, the discount and
// the display name. It carries no card data. Campaign, Gross and Discount
// are always sent; Fulfilment 0, no Funders and an empty Name are left out.
type PromotionData struct {
	Campaign   string            // DF60
	Gross      int64             // DF61
	Discount   int64             // DF62
	Fulfilment byte              // DF63, 0 = absent
	Funders    []PromotionFunder // FF64 each
	Name       string            // DF68, UTF-8
}

// Shares returns the sum of the funders' shares. It never fails.
func (p PromotionData) Shares() int64 {
	var sum int64
	for _, f := range p.Funders {
		sum += f.Share
	}
	return sum
}

func promoErr(class error, format string, args ...any) error {
	return formatErr(class, DEPromotionData, format, args...)
}

// Check returns a format error (naming the field) when p breaks a rule of
// DE124: a campaign id of 1-64 printable ASCII characters, amounts of 0 to
// 12 digits with the discount at most the gross, a fulfilment of 0-3,
// at most MaxPromoFunders funders each of a known kind with a party of 1-16
// printable ASCII characters, shares that add up to the discount, a name of
// at most 80 bytes of UTF-8 without control characters.
func (p PromotionData) Check() error {
	if err := checkPromoText("campaign id", p.Campaign, maxPromoCampaign); err != nil {
		return err
	}
	if p.Gross < 0 || p.Gross > maxPromoAmount {
		return promoErr(ErrBadLength, "gross amount must be 0 to 12 digits")
	}
	if p.Discount < 0 || p.Discount > p.Gross {
		return promoErr(ErrBadLength, "discount %d must be 0 to the gross amount %d", p.Discount, p.Gross)
	}
	if p.Fulfilment > PromoPoints {
		return promoErr(ErrBadCharacters, "fulfilment must be 01, 02 or 03, got %02X", p.Fulfilment)
	}
	if len(p.Funders) > MaxPromoFunders {
		return promoErr(ErrBadLength, "has %d funders, at most %d", len(p.Funders), MaxPromoFunders)
	}
	var sum int64
	for i, f := range p.Funders {
		if f.Kind < PromoFunderNetwork || f.Kind > PromoFunderMerchant {
			return promoErr(ErrBadCharacters, "funder %d: kind must be 01, 02 or 03, got %02X", i, f.Kind)
		}
		if err := checkPromoText(fmt.Sprintf("funder %d: party", i), f.Party, maxPromoParty); err != nil {
			return err
		}
		if f.Share < 0 || f.Share > maxPromoAmount {
			return promoErr(ErrBadLength, "funder %d: share must be 0 to 12 digits", i)
		}
		sum += f.Share
	}
	if len(p.Funders) > 0 && sum != p.Discount {
		return promoErr(ErrBadLength, "funders' shares add up to %d, the discount is %d", sum, p.Discount)
	}
	if len(p.Name) > maxPromoName {
		return promoErr(ErrBadLength, "display name must be at most %d bytes, got %d", maxPromoName, len(p.Name))
	}
	if !utf8.ValidString(p.Name) {
		return promoErr(ErrBadCharacters, "display name must be UTF-8")
	}
	for _, r := range p.Name {
		if unicode.IsControl(r) {
			return promoErr(ErrBadCharacters, "display name must not contain control characters")
		}
	}
	return nil
}

// checkPromoText checks an ans field of 1 to max characters.
func checkPromoText(name, v string, max int) error {
	if len(v) < 1 || len(v) > max {
		return promoErr(ErrBadLength, "%s must be 1 to %d characters, got %d", name, max, len(v))
	}
	sp := Spec{Type: ANS}
	if !sp.validChars([]byte(v)) {
		return promoErr(ErrBadCharacters, "%s must contain printable ASCII only", name)
	}
	return nil
}

// Marshal encodes p as BER-TLV in tag order (DF60, DF61, DF62, DF63, each
// FF64, DF68). It returns a format error naming the field (Check) when p
// breaks a rule, or when it would not fit DE124.
func (p PromotionData) Marshal() ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 64+24*len(p.Funders)+len(p.Name))
	out = appendTLV(out, TagPromoCampaign, []byte(p.Campaign))
	out = appendTLV(out, TagPromoGross, promoAmount(p.Gross))
	out = appendTLV(out, TagPromoDiscount, promoAmount(p.Discount))
	if p.Fulfilment != 0 {
		out = appendTLV(out, TagPromoFulfilment, []byte{p.Fulfilment})
	}
	for _, f := range p.Funders {
		var in []byte
		in = appendTLV(in, TagPromoFunderKind, []byte{f.Kind})
		in = appendTLV(in, TagPromoFunderParty, []byte(f.Party))
		in = appendTLV(in, TagPromoFunderShare, promoAmount(f.Share))
		out = appendTLV(out, TagPromoFunder, in)
	}
	if p.Name != "" {
		out = appendTLV(out, TagPromoName, []byte(p.Name))
	}
	if len(out) > specs[DEPromotionData].Max {
		return nil, promoErr(ErrBadLength, "must be at most %d bytes, got %d", specs[DEPromotionData].Max, len(out))
	}
	return out, nil
}

// promoAmount is an n12 ASCII amount.
func promoAmount(v int64) []byte {
	s := strconv.FormatInt(v, 10)
	b := make([]byte, promoAmountDigits-len(s), promoAmountDigits)
	for i := range b {
		b[i] = '0'
	}
	return append(b, s...)
}

// appendTLV appends a two-byte tag, a BER length and v.
func appendTLV(out []byte, tag uint32, v []byte) []byte {
	out = append(out, byte(tag>>8), byte(tag))
	switch {
	case len(v) < 0x80:
		out = append(out, byte(len(v)))
	case len(v) <= 0xff:
		out = append(out, 0x81, byte(len(v)))
	default:
		out = append(out, 0x82, byte(len(v)>>8), byte(len(v)))
	}
	return append(out, v...)
}

// tlv is one decoded BER-TLV of DE124.
type tlv struct {
	tag uint32
	v   []byte
}

// readTLVs splits b into its TLVs (one level), failing on a broken one.
func readTLVs(b []byte, de int) ([]tlv, error) {
	var out []tlv
	for pos := 0; pos < len(b); {
		tag, n, err := readTag(b[pos:], de)
		if err != nil {
			return nil, err
		}
		pos += n
		l, n, err := readLen(b[pos:], de)
		if err != nil {
			return nil, err
		}
		pos += n
		if l > len(b)-pos {
			return nil, formatErr(ErrTruncated, de, "a TLV value runs past the end")
		}
		out = append(out, tlv{tag: tag, v: b[pos : pos+l]})
		pos += l
	}
	return out, nil
}

// parsePromoAmount reads an n12 amount.
func parsePromoAmount(name string, v []byte) (int64, error) {
	if len(v) != promoAmountDigits {
		return 0, promoErr(ErrBadLength, "%s must be %d digits, got %d", name, promoAmountDigits, len(v))
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, promoErr(ErrBadCharacters, "%s must contain digits only", name)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// parseByte reads a b1 value.
func parsePromoByte(name string, v []byte) (byte, error) {
	if len(v) != 1 {
		return 0, promoErr(ErrBadLength, "%s must be 1 byte, got %d", name, len(v))
	}
	return v[0], nil
}

// ParsePromotionData decodes DE124 (at most 999 bytes). Tags it does not
// know are skipped, at the top level and inside FF64, so that senders can
// add some. It returns a format error (ErrTruncated, ErrBadLength,
// ErrBadCharacters) naming the field for a broken TLV, a repeated tag
// (other than FF64), a missing campaign, gross or discount, a funder
// without its kind, party or share, or a value that breaks a rule of
// PromotionData.Check. It never panics.
func ParsePromotionData(b []byte) (PromotionData, error) {
	if len(b) > specs[DEPromotionData].Max {
		return PromotionData{}, promoErr(ErrBadLength, "must be at most %d bytes, got %d", specs[DEPromotionData].Max, len(b))
	}
	tlvs, err := readTLVs(b, DEPromotionData)
	if err != nil {
		return PromotionData{}, err
	}
	var p PromotionData
	seen := map[uint32]bool{}
	for _, t := range tlvs {
		if t.tag != TagPromoFunder && seen[t.tag] {
			return PromotionData{}, promoErr(ErrBadLength, "tag %X is repeated", t.tag)
		}
		seen[t.tag] = true
		switch t.tag {
		case TagPromoCampaign:
			p.Campaign = string(t.v)
		case TagPromoGross:
			p.Gross, err = parsePromoAmount("gross amount", t.v)
		case TagPromoDiscount:
			p.Discount, err = parsePromoAmount("discount", t.v)
		case TagPromoFulfilment:
			p.Fulfilment, err = parsePromoByte("fulfilment", t.v)
			if err == nil && p.Fulfilment == 0 {
				err = promoErr(ErrBadCharacters, "fulfilment must be 01, 02 or 03, got 00")
			}
		case TagPromoFunder:
			if len(p.Funders) == MaxPromoFunders {
				return PromotionData{}, promoErr(ErrBadLength, "has more than %d funders", MaxPromoFunders)
			}
			var f PromotionFunder
			f, err = parsePromoFunder(len(p.Funders), t.v)
			p.Funders = append(p.Funders, f)
		case TagPromoName:
			p.Name = string(t.v)
			if p.Name == "" {
				err = promoErr(ErrBadLength, "display name is empty")
			}
		}
		if err != nil {
			return PromotionData{}, err
		}
	}
	if err := need(seen, "", promoTopNeeds); err != nil {
		return PromotionData{}, err
	}
	if err := p.Check(); err != nil {
		return PromotionData{}, err
	}
	return p, nil
}

// promoNeed is a tag that must be present, and its name for the error.
type promoNeed struct {
	tag  uint32
	name string
}

var (
	promoTopNeeds    = []promoNeed{{TagPromoCampaign, "campaign id (DF60)"}, {TagPromoGross, "gross amount (DF61)"}, {TagPromoDiscount, "discount (DF62)"}}
	promoFunderNeeds = []promoNeed{{TagPromoFunderKind, "kind (DF65)"}, {TagPromoFunderParty, "party (DF66)"}, {TagPromoFunderShare, "share (DF67)"}}
)

// need returns a format error naming the first of needs not seen.
func need(seen map[uint32]bool, who string, needs []promoNeed) error {
	for _, n := range needs {
		if !seen[n.tag] {
			return promoErr(ErrBadLength, "%shas no %s", who, n.name)
		}
	}
	return nil
}

// parsePromoFunder decodes the inside of FF64 number i.
func parsePromoFunder(i int, b []byte) (PromotionFunder, error) {
	tlvs, err := readTLVs(b, DEPromotionData)
	if err != nil {
		return PromotionFunder{}, err
	}
	var f PromotionFunder
	seen := map[uint32]bool{}
	for _, t := range tlvs {
		if seen[t.tag] {
			return PromotionFunder{}, promoErr(ErrBadLength, "funder %d: tag %X is repeated", i, t.tag)
		}
		seen[t.tag] = true
		switch t.tag {
		case TagPromoFunderKind:
			f.Kind, err = parsePromoByte(fmt.Sprintf("funder %d: kind", i), t.v)
		case TagPromoFunderParty:
			f.Party = string(t.v)
		case TagPromoFunderShare:
			f.Share, err = parsePromoAmount(fmt.Sprintf("funder %d: share", i), t.v)
		}
		if err != nil {
			return PromotionFunder{}, err
		}
	}
	if err := need(seen, fmt.Sprintf("funder %d ", i), promoFunderNeeds); err != nil {
		return PromotionFunder{}, err
	}
	return f, nil
}

// SetPromotionData encodes p into DE124; it fails like
// PromotionData.Marshal.
func (m *Message) SetPromotionData(p PromotionData) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	return m.SetBytes(DEPromotionData, b)
}

// PromotionData decodes DE124. It returns a format error wrapping
// ErrWrongType when DE124 is absent (a message without a promotion), and
// fails like ParsePromotionData otherwise.
func (m *Message) PromotionData() (PromotionData, error) {
	if !m.Has(DEPromotionData) {
		return PromotionData{}, formatErr(ErrWrongType, DEPromotionData, "is absent")
	}
	return ParsePromotionData(m.get(DEPromotionData))
}

// String shows the promotion on one line, safe to log (the name as
// printable ASCII, other bytes as '?'). It carries no card data.
func (p PromotionData) String() string {
	s := fmt.Sprintf("{Campaign:%s Gross:%d Discount:%d Fulfilment:%d", safeText(p.Campaign), p.Gross, p.Discount, p.Fulfilment)
	for _, f := range p.Funders {
		s += fmt.Sprintf(" Funder:%d/%s/%d", f.Kind, safeText(f.Party), f.Share)
	}
	if p.Name != "" {
		s += " Name:" + safeText(p.Name)
	}
	return s + "}"
}

// Format makes every fmt verb print String.
func (p PromotionData) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, p.String()) }

// LogValue makes slog print the promotion's campaign and amounts.
func (p PromotionData) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("campaign", safeText(p.Campaign)),
		slog.Int64("gross", p.Gross),
		slog.Int64("discount", p.Discount),
		slog.Int("fulfilment", int(p.Fulfilment)),
		slog.Int("funders", len(p.Funders)),
	)
}
