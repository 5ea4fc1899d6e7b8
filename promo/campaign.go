// Package promo is the card network's and the banks' promotions and
// rewards: campaigns (who funds them, when and where they apply, how much
// they give, their limits and budget), the matcher that picks at most one
// promotion for a purchase, the two-phase budget holds that a store keeps
// (reserve at authorization, post at clearing, void on decline, reversal
// or expiry), the settlement split between the funders, and each bank's
// points programme with its lots (accrual, refund, oldest-first expiry,
// pay with points) as postings of the bank's ledger. It holds no storage
// and no transport: promo/sqlstore keeps campaigns and budgets, the
// network and the issuer hosts call in here. docs/promotions.md is the
// model in prose.
package promo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// Amount is money in fen (CNY minor units). In a campaign file it is a
// string of yuan with at most two decimals ("50.00"); a negative value
// parses, so that Validate can refuse it naming its field.
type Amount int64

// MarshalJSON writes the amount as "50.00".
func (a Amount) MarshalJSON() ([]byte, error) {
	return json.Marshal(money.FormatMinor(int64(a), 2))
}

// UnmarshalJSON reads "50.00", "50" or "-5.00". It fails for anything
// else (a JSON number among them: amounts are strings, so that no float
// ever carries money).
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("amount %s: want a string of yuan such as \"50.00\"", b)
	}
	neg := strings.HasPrefix(s, "-")
	v, err := money.Parse(strings.TrimPrefix(s, "-"), money.CNY)
	if err != nil {
		return fmt.Errorf("amount %q: want a string of yuan with at most 2 decimals such as \"50.00\"", s)
	}
	*a = Amount(v.Minor)
	if neg {
		*a = -*a
	}
	return nil
}

// String formats the amount as "50.00".
func (a Amount) String() string { return money.FormatMinor(int64(a), 2) }

// Names is a campaign's name in Chinese and English.
type Names struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// FunderKind is who pays (part of) a discount.
type FunderKind string

// The funders of a promotion.
const (
	FunderNetwork  FunderKind = "network"  // the card network
	FunderIssuer   FunderKind = "issuer"   // the card's issuing bank
	FunderMerchant FunderKind = "merchant" // the merchant (settled less its share)
)

// Funder is one funder's share of every discount of a campaign, in basis
// points (1/100 of a percent); a campaign's shares add up to 10000. Party
// names the funder: a bank id for an issuer, a merchant id for a merchant,
// "network" (or empty) for the network; an issuer funder with no Party is
// the card's own bank.
type Funder struct {
	Kind    FunderKind `json:"kind"`
	Party   string     `json:"party,omitempty"`
	ShareBP int        `json:"share_bp"`
}

// Window is when a campaign applies: Start <= t < End.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is inside the window. It never fails.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Channel is where a purchase is made.
type Channel string

// The channels of a purchase.
const (
	ChannelNFC          Channel = "nfc"           // a tap at a store terminal
	ChannelInApp        Channel = "in_app"        // a payment inside an app
	ChannelTransitTopUp Channel = "transit_topup" // a transit card top-up from a bank card
)

// BINRange is an inclusive range of card number prefixes of one length
// (6 to 11 digits), e.g. 622202 to 622202.
type BINRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Contains reports whether a card number prefix (at least as long as the
// range's bounds) falls in the range. It never fails.
func (r BINRange) Contains(bin string) bool {
	if len(bin) < len(r.From) {
		return false
	}
	p := bin[:len(r.From)]
	return p >= r.From && p <= r.To
}

// Eligibility says which purchases a campaign applies to. An empty list
// does not restrict; a non-empty one must contain the purchase's value.
// Banks and BINRanges together: the card must match one of either.
type Eligibility struct {
	Banks         []string   `json:"banks,omitempty"`
	BINRanges     []BINRange `json:"bin_ranges,omitempty"`
	Products      []string   `json:"products,omitempty"` // "debit", "credit"
	MCCs          []string   `json:"mccs,omitempty"`     // ISO 18245 merchant category codes
	Merchants     []string   `json:"merchants,omitempty"`
	Cities        []string   `json:"cities,omitempty"`
	NewCardHolder bool       `json:"new_card_holder,omitempty"` // only a card's first purchase on the network
}

// MechanicKind is how a campaign computes its discount.
type MechanicKind string

// The mechanics.
const (
	MechanicFixed   MechanicKind = "fixed"   // Amount off a purchase of at least Threshold (满减)
	MechanicPercent MechanicKind = "percent" // PercentBP of the purchase, at most Cap
	MechanicTiers   MechanicKind = "tiers"   // the highest tier whose Spend the purchase reaches
	MechanicRandom  MechanicKind = "random"  // a random amount in [Min, Max] (随机立减), fixed by the message identity
)

// Tier is one step of a spend-X-save-Y campaign.
type Tier struct {
	Spend Amount `json:"spend"`
	Save  Amount `json:"save"`
}

// Mechanic is the discount rule; only the fields of its Kind are used
// (Validate refuses the others).
type Mechanic struct {
	Kind      MechanicKind `json:"kind"`
	Threshold Amount       `json:"threshold,omitempty"`  // fixed, percent, random: the least purchase
	Amount    Amount       `json:"amount,omitempty"`     // fixed
	PercentBP int          `json:"percent_bp,omitempty"` // percent, basis points
	Cap       Amount       `json:"cap,omitempty"`        // percent
	Tiers     []Tier       `json:"tiers,omitempty"`      // tiers, increasing
	Min       Amount       `json:"min,omitempty"`        // random
	Max       Amount       `json:"max,omitempty"`        // random
}

// Limits bound what one card (per day of authorization, UTC, and over the
// whole campaign) and the campaign as a whole may take. Zero means no
// limit.
type Limits struct {
	CardDayCount  int64  `json:"card_day_count,omitempty"`
	CardDayAmount Amount `json:"card_day_amount,omitempty"`
	CardCount     int64  `json:"card_count,omitempty"`
	CardAmount    Amount `json:"card_amount,omitempty"`
	Count         int64  `json:"count,omitempty"` // redemptions of the whole campaign
}

// Enrolment is how a card joins a campaign.
type Enrolment string

// The enrolments.
const (
	EnrolAuto      Enrolment = "auto"        // every eligible card
	EnrolAddToCard Enrolment = "add_to_card" // only cards whose holder added the offer
)

// Fulfilment is how the card holder gets the benefit.
type Fulfilment string

// The fulfilments.
const (
	FulfilInstant         Fulfilment = "instant"          // off the amount charged, at authorization
	FulfilStatementCredit Fulfilment = "statement_credit" // credited to the card after the purchase clears
	FulfilPoints          Fulfilment = "points"           // bonus points worth the benefit, after clearing
)

// RefundRule is what a refund of a discounted purchase gives back.
type RefundRule string

// The refund rules (docs/promotions.md, "Refunds"). The money of a refund
// is split alike under both (RefundSplit): the card holder gets back their
// part of what they paid, each funder its part of the discount, in
// proportion to the amount refunded. The rule says what the campaign gets
// back.
const (
	// RefundRestore: the funders' refunded part goes back to the budget,
	// and a full refund gives the card back its count in the limits.
	RefundRestore RefundRule = "restore"
	// RefundForfeit: the budget and the card's limits stay used (a
	// "first purchase" offer is not given twice by refunding).
	RefundForfeit RefundRule = "forfeit"
)

// Campaign is one promotion.
type Campaign struct {
	ID          string      `json:"id"`
	Name        Names       `json:"name"`
	Owner       string      `json:"owner"` // who publishes it: "network" or a bank id
	Funders     []Funder    `json:"funders"`
	Window      Window      `json:"window"`
	Channels    []Channel   `json:"channels"`
	Eligibility Eligibility `json:"eligibility"`
	Mechanic    Mechanic    `json:"mechanic"`
	Limits      Limits      `json:"limits"`
	Budget      Amount      `json:"budget"`
	Enrolment   Enrolment   `json:"enrolment"`
	Fulfilment  Fulfilment  `json:"fulfilment"`
	RefundRule  RefundRule  `json:"refund_rule,omitempty"` // default restore
	Paused      bool        `json:"paused,omitempty"`
}

// MaxCampaigns bounds a campaign file.
const MaxCampaigns = 10000

// ErrInvalid is the kind and code of every refusal of a campaign or a
// campaign file: errors.Is(err, promo.ErrInvalid).
var ErrInvalid = fault.E(fault.Invalid, "promo_campaign", "")

// invalid returns a refusal naming the campaign and the field.
func invalid(id, field, format string, args ...any) error {
	who := "campaign"
	if id != "" {
		who = fmt.Sprintf("campaign %q", id)
	}
	return fault.E(fault.Invalid, "promo_campaign", "%s: %s: %s", who, field, fmt.Sprintf(format, args...))
}

// Validate checks every rule of a campaign and returns the first one
// broken, as a fault.Invalid error (code promo_campaign) naming the
// campaign and the field, or nil. It fills RefundRule's default.
func (c *Campaign) Validate() error {
	id := c.ID
	if c.RefundRule == "" {
		c.RefundRule = RefundRestore
	}
	switch {
	case !validID(c.ID):
		return invalid("", "id", "%q: want 1-64 letters, digits, '-' or '_'", c.ID)
	case strings.TrimSpace(c.Name.ZH) == "" || strings.TrimSpace(c.Name.EN) == "":
		return invalid(id, "name", "both name.zh and name.en are required")
	case c.Owner == "":
		return invalid(id, "owner", "required: \"network\" or a bank id")
	case c.Window.Start.IsZero() || c.Window.End.IsZero():
		return invalid(id, "window", "both window.start and window.end are required (RFC 3339)")
	case !c.Window.End.After(c.Window.Start):
		return invalid(id, "window.end", "%s ends before (or when) the window starts at %s",
			c.Window.End.Format(time.RFC3339), c.Window.Start.Format(time.RFC3339))
	case len(c.Channels) == 0:
		return invalid(id, "channels", "at least one of nfc, in_app, transit_topup")
	case c.Budget <= 0:
		return invalid(id, "budget", "%s: must be more than 0", c.Budget)
	}
	for i, ch := range c.Channels {
		if ch != ChannelNFC && ch != ChannelInApp && ch != ChannelTransitTopUp {
			return invalid(id, fmt.Sprintf("channels[%d]", i), "%q: want nfc, in_app or transit_topup", ch)
		}
	}
	if err := c.validateFunders(); err != nil {
		return err
	}
	if err := c.Eligibility.validate(id); err != nil {
		return err
	}
	if err := c.Mechanic.validate(id); err != nil {
		return err
	}
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int64
	}{{"limits.card_day_count", l.CardDayCount}, {"limits.card_day_amount", int64(l.CardDayAmount)},
		{"limits.card_count", l.CardCount}, {"limits.card_amount", int64(l.CardAmount)}, {"limits.count", l.Count}} {
		if f.v < 0 {
			return invalid(id, f.name, "%d is negative", f.v)
		}
	}
	switch c.Enrolment {
	case EnrolAuto, EnrolAddToCard:
	default:
		return invalid(id, "enrolment", "%q: want auto or add_to_card", c.Enrolment)
	}
	switch c.Fulfilment {
	case FulfilInstant, FulfilStatementCredit, FulfilPoints:
	default:
		return invalid(id, "fulfilment", "%q: want instant, statement_credit or points", c.Fulfilment)
	}
	switch c.RefundRule {
	case RefundRestore, RefundForfeit:
	default:
		return invalid(id, "refund_rule", "%q: want restore or forfeit", c.RefundRule)
	}
	return nil
}

func (c *Campaign) validateFunders() error {
	if len(c.Funders) == 0 {
		return invalid(c.ID, "funders", "at least one funder")
	}
	total := 0
	seen := map[string]bool{}
	for i, f := range c.Funders {
		field := fmt.Sprintf("funders[%d]", i)
		switch f.Kind {
		case FunderNetwork, FunderIssuer:
		case FunderMerchant:
			if f.Party == "" {
				return invalid(c.ID, field+".party", "a merchant funder names its merchant id")
			}
		default:
			return invalid(c.ID, field+".kind", "%q: want network, issuer or merchant", f.Kind)
		}
		if f.ShareBP <= 0 || f.ShareBP > 10000 {
			return invalid(c.ID, field+".share_bp", "%d: want 1-10000 basis points", f.ShareBP)
		}
		key := string(f.Kind) + "/" + f.Party
		if seen[key] {
			return invalid(c.ID, field, "%s %q funds twice", f.Kind, f.Party)
		}
		seen[key] = true
		total += f.ShareBP
	}
	if total != 10000 {
		return invalid(c.ID, "funders", "shares add up to %d basis points, want 10000", total)
	}
	return nil
}

func (e Eligibility) validate(id string) error {
	for i, r := range e.BINRanges {
		field := fmt.Sprintf("eligibility.bin_ranges[%d]", i)
		if len(r.From) < 6 || len(r.From) > 11 || !digits(r.From) || len(r.To) != len(r.From) || !digits(r.To) {
			return invalid(id, field, "from and to must be card number prefixes of one length, 6-11 digits")
		}
		if r.To < r.From {
			return invalid(id, field, "to %s is below from %s", r.To, r.From)
		}
	}
	for i, p := range e.Products {
		if p != "debit" && p != "credit" {
			return invalid(id, fmt.Sprintf("eligibility.products[%d]", i), "%q: want debit or credit", p)
		}
	}
	for i, m := range e.MCCs {
		if len(m) != 4 || !digits(m) {
			return invalid(id, fmt.Sprintf("eligibility.mccs[%d]", i), "%q: want 4 digits", m)
		}
	}
	return nil
}

func (m Mechanic) validate(id string) error {
	amounts := []struct {
		name string
		v    Amount
	}{{"threshold", m.Threshold}, {"amount", m.Amount}, {"cap", m.Cap}, {"min", m.Min}, {"max", m.Max}}
	for _, a := range amounts {
		if a.v < 0 {
			return invalid(id, "mechanic."+a.name, "%s is negative", a.v)
		}
	}
	if m.PercentBP < 0 {
		return invalid(id, "mechanic.percent_bp", "%d is negative", m.PercentBP)
	}
	for i, t := range m.Tiers {
		if t.Spend < 0 || t.Save < 0 {
			return invalid(id, fmt.Sprintf("mechanic.tiers[%d]", i), "spend %s save %s: an amount is negative", t.Spend, t.Save)
		}
	}
	unused := func(names ...string) error {
		for _, n := range names {
			set := false
			switch n {
			case "threshold":
				set = m.Threshold != 0
			case "amount":
				set = m.Amount != 0
			case "percent_bp":
				set = m.PercentBP != 0
			case "cap":
				set = m.Cap != 0
			case "tiers":
				set = len(m.Tiers) != 0
			case "min":
				set = m.Min != 0
			case "max":
				set = m.Max != 0
			}
			if set {
				return invalid(id, "mechanic."+n, "not used by a %s mechanic", m.Kind)
			}
		}
		return nil
	}
	switch m.Kind {
	case MechanicFixed:
		if m.Amount <= 0 {
			return invalid(id, "mechanic.amount", "must be more than 0")
		}
		if m.Threshold != 0 && m.Amount >= m.Threshold {
			return invalid(id, "mechanic.amount", "%s must be less than the threshold %s", m.Amount, m.Threshold)
		}
		return unused("percent_bp", "cap", "tiers", "min", "max")
	case MechanicPercent:
		if m.PercentBP <= 0 || m.PercentBP >= 10000 {
			return invalid(id, "mechanic.percent_bp", "%d: want 1-9999 basis points", m.PercentBP)
		}
		if m.Cap <= 0 {
			return invalid(id, "mechanic.cap", "a percentage discount needs a cap more than 0")
		}
		return unused("amount", "tiers", "min", "max")
	case MechanicTiers:
		if len(m.Tiers) == 0 {
			return invalid(id, "mechanic.tiers", "at least one tier")
		}
		for i, t := range m.Tiers {
			field := fmt.Sprintf("mechanic.tiers[%d]", i)
			if t.Save <= 0 || t.Save >= t.Spend {
				return invalid(id, field, "save %s must be more than 0 and less than spend %s", t.Save, t.Spend)
			}
			if i > 0 {
				p := m.Tiers[i-1]
				if t.Spend <= p.Spend {
					return invalid(id, field, "spend %s overlaps tier %d (spend %s): tiers go up in spend", t.Spend, i-1, p.Spend)
				}
				if t.Save <= p.Save {
					return invalid(id, field, "save %s overlaps tier %d (save %s): a higher tier saves more", t.Save, i-1, p.Save)
				}
			}
		}
		return unused("threshold", "amount", "percent_bp", "cap", "min", "max")
	case MechanicRandom:
		if m.Min <= 0 || m.Max < m.Min {
			return invalid(id, "mechanic.max", "want 0 < min <= max, got min %s max %s", m.Min, m.Max)
		}
		if m.Threshold != 0 && m.Max >= m.Threshold {
			return invalid(id, "mechanic.max", "%s must be less than the threshold %s", m.Max, m.Threshold)
		}
		return unused("amount", "percent_bp", "cap", "tiers")
	}
	return invalid(id, "mechanic.kind", "%q: want fixed, percent, tiers or random", m.Kind)
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ParseFile reads a campaign file — {"campaigns": [ … ]} — strictly: an
// unknown field, a value of the wrong type, trailing data, a duplicate id
// or any campaign that Validate refuses makes the whole file refused with
// a fault.Invalid error (code promo_campaign) that names the campaign and
// the field. It returns every campaign, validated, or none.
func ParseFile(r io.Reader) ([]Campaign, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "promo_campaign", "campaign file: read")
	}
	var file struct {
		Campaigns []json.RawMessage `json:"campaigns"`
	}
	if err := strict(data, &file); err != nil {
		return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: %s", jsonText(err))
	}
	if len(file.Campaigns) == 0 {
		return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: campaigns: no campaign in the file (want {\"campaigns\": [ … ]})")
	}
	if len(file.Campaigns) > MaxCampaigns {
		return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: campaigns: %d campaigns, at most %d", len(file.Campaigns), MaxCampaigns)
	}
	out := make([]Campaign, 0, len(file.Campaigns))
	seen := map[string]int{}
	for i, raw := range file.Campaigns {
		var c Campaign
		if err := strict(raw, &c); err != nil {
			return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: campaigns[%d]: %s", i, jsonText(err))
		}
		if err := c.Validate(); err != nil {
			return nil, fault.Wrap(err, fault.Invalid, "promo_campaign", "campaign file: campaigns[%d]", i)
		}
		if j, dup := seen[c.ID]; dup {
			return nil, fault.E(fault.Invalid, "promo_campaign", "campaign file: campaigns[%d]: id %q is also campaigns[%d]", i, c.ID, j)
		}
		seen[c.ID] = i
		out = append(out, c)
	}
	return out, nil
}

// strict decodes one JSON value into v, refusing unknown fields and
// anything after the value.
func strict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// DecodeStrict decodes one JSON value into v as the campaign files are
// read: an unknown field or anything after the value is refused, and the
// error reads as the field it is about (for the other files of the
// promotions, such as the points programmes).
func DecodeStrict(data []byte, v any) error {
	if err := strict(data, v); err != nil {
		return errors.New(jsonText(err))
	}
	return nil
}

// jsonText makes a decoding error read as the field it is about.
func jsonText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s: got a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// SortCampaigns orders campaigns by id, the order of listings. It never
// fails.
func SortCampaigns(cs []Campaign) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
}
