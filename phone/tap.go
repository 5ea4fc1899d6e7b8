package phone

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/qpboc"
)

// appletMakers make the extra applets every tap serves (transit cards).
var (
	makersMu     sync.Mutex
	appletMakers []func(*Phone) ([]applet.Applet, error)
)

// RegisterApplet adds a maker of applets that every tap serves after the
// payment applet (call it from an init function, e.g. for the transit
// cards kept in the secure element). The maker gets the phone and returns
// its applets, or none; an error stops the tap.
func RegisterApplet(maker func(*Phone) ([]applet.Applet, error)) {
	makersMu.Lock()
	defer makersMu.Unlock()
	appletMakers = append(appletMakers, maker)
}

// PaymentCards returns the phone's live cards as the payment applet serves
// them: the card ref names (token, token or PAN last 4) first if given,
// else the default card first, then the others in the profile's order. It
// fails with fault.NotFound "card_not_found" for an unknown ref, and
// fault.Invalid "bad_card" if a card in the profile is damaged.
func (p *Phone) PaymentCards(ref string) ([]applet.PaymentCard, error) {
	var first *Card
	if ref != "" {
		c, err := p.FindCard(ref)
		if err != nil {
			return nil, err
		}
		first = &c
	}
	var ordered []Card
	for _, c := range p.Profile.Cards {
		if c.State != "" && c.State != "active" {
			continue
		}
		switch {
		case first != nil && c.Token == first.Token:
			ordered = append([]Card{c}, ordered...)
		case first == nil && c.Default:
			ordered = append([]Card{c}, ordered...)
		default:
			ordered = append(ordered, c)
		}
	}
	if first != nil && (len(ordered) == 0 || ordered[0].Token != first.Token) {
		return nil, fault.E(fault.Forbidden, "card_inactive", "card %s is not active", ref)
	}
	out := make([]applet.PaymentCard, 0, len(ordered))
	for _, c := range ordered {
		pc, err := c.paymentCard()
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	return out, nil
}

func (c Card) paymentCard() (applet.PaymentCard, error) {
	aid, err := hex.DecodeString(c.AID)
	if err != nil || len(aid) < 5 || len(aid) > 16 {
		return applet.PaymentCard{}, fault.E(fault.Invalid, "bad_card", "card ending %s has a damaged AID in the profile", c.TokenLast4)
	}
	exp, err := card.ParseExpiry(c.Expiry)
	if err != nil {
		return applet.PaymentCard{}, fault.E(fault.Invalid, "bad_card", "card ending %s has a damaged expiry in the profile", c.TokenLast4)
	}
	psn := 0
	if c.PSN != "" {
		if psn, err = strconv.Atoi(c.PSN); err != nil || psn < 0 || psn > 99 {
			return applet.PaymentCard{}, fault.E(fault.Invalid, "bad_card", "card ending %s has a damaged sequence number in the profile", c.TokenLast4)
		}
	}
	label := strings.ToUpper(c.Bank)
	if len(label) > 6 {
		label = label[:6]
	}
	label = strings.TrimSpace(label + " " + c.TokenLast4)
	return applet.PaymentCard{Token: c.Token, AID: aid, Label: label, Expiry: exp, PSN: byte(psn), Alg: emv.TDES}, nil
}

// CardOS returns the phone's card OS for one tap: the payment applet with
// the phone's cards (ref first, see PaymentCards) and the fingerprint check,
// then the registered applets. onEvent, if not nil, hears the payment
// applet's events. It fails as PaymentCards and the applet makers do.
func (p *Phone) CardOS(ref string, onEvent func(applet.Event)) (*applet.Dispatcher, error) {
	cards, err := p.PaymentCards(ref)
	if err != nil {
		return nil, err
	}
	pay := applet.NewPayment(p.SE, p.CDCVM(), cards...)
	pay.OnEvent = onEvent
	d := applet.NewDispatcher(pay)
	makersMu.Lock()
	makers := append([]func(*Phone) ([]applet.Applet, error){}, appletMakers...)
	makersMu.Unlock()
	for _, m := range makers {
		as, err := m(p)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			d.Install(a)
		}
	}
	return d, nil
}

// TapOptions are how the phone taps a reader.
type TapOptions struct {
	Reader string // the reader's NFC link address, host:port
	Card   string // the card to pay with (token, token or PAN last 4); "" = default
	// Link holds the link's limits; an IdleTimeout of 0 becomes 30 s so
	// that a silent reader does not hold the phone forever.
	Link nfc.Config
}

// TapReport is what the phone learnt from a tap.
type TapReport struct {
	Events []applet.Event
	Cards  map[string]Card // the phone's cards by token, to describe events
	// Transit lists what the tap did to the phone's transit cards (a gate
	// entry, exit or bus ride), one line per card that changed.
	Transit []string
}

// Summary says what happened, as the phone shows it, one line per event:
// "paid 12.34 CNY at TAPWALLET MART with card ending 0004: approved by the
// bank (counter 3, key 7)", "declined: 51 insufficient funds (12.34 CNY at
// …)", "see phone: verify your fingerprint for 12.34 CNY at … and tap
// again", "the terminal reported an error: …", "card ending 0004 needs a
// sync: …"; "no payment was asked" when the reader only read the
// directory. Amounts are the terminal's, in its currency.
func (r TapReport) Summary() string {
	if len(r.Events) == 0 && len(r.Transit) == 0 {
		return "no payment was asked"
	}
	lines := append([]string(nil), r.Transit...)
	var paid *applet.Event // the payment an outcome is about
	for i, e := range r.Events {
		ending := r.ending(e.Token)
		what := describe(e)
		switch e.Kind {
		case applet.Paid:
			paid = &r.Events[i]
			if i+1 < len(r.Events) && r.Events[i+1].Kind == applet.Outcome {
				continue // said with the outcome
			}
			lines = append(lines, fmt.Sprintf("sent %s with card ending %s to the bank (online cryptogram, counter %d, key %d); the terminal did not pass on the bank's answer: see tapwallet phone history", what, ending, e.ATC, e.KeyIndex))
		case applet.Outcome:
			lines = append(lines, outcomeLine(e, paid, ending))
		case applet.SeePhone:
			lines = append(lines, fmt.Sprintf("see phone: the terminal asks %s; verify your fingerprint for it and tap again", what))
		case applet.NoKeys:
			lines = append(lines, fmt.Sprintf("card ending %s has no payment key left: sync the phone online (tapwallet phone cards) and tap again", ending))
		case applet.Refused:
			lines = append(lines, fmt.Sprintf("the terminal reported an error: the phone refused its request (%s)", e.SW))
		}
	}
	return strings.Join(lines, "\n")
}

// Describe says what a terminal asked, as the phone shows it: "12.34 CNY
// at TAPWALLET MART" (any ISO 4217 currency in letters).
func Describe(r applet.Request) string {
	s := money.New(r.Amount, money.Currency(r.Currency)).String()
	if r.Merchant != "" {
		s += " at " + r.Merchant
	}
	return s
}

func describe(e applet.Event) string { return Describe(e.Request()) }

func (r TapReport) ending(token string) string {
	c := r.Cards[token]
	if c.PANLast4 != "" {
		return c.PANLast4
	}
	return c.TokenLast4
}

// outcomeLine says what the terminal told of the payment paid.
func outcomeLine(o applet.Event, paid *applet.Event, ending string) string {
	what, detail := "the payment", ""
	if paid != nil {
		what = describe(*paid)
		detail = fmt.Sprintf(" with card ending %s (counter %d, key %d)", ending, paid.ATC, paid.KeyIndex)
	}
	msg := ""
	if o.Message != "" {
		msg = ": " + o.Message
	}
	switch rc := iso8583.ResponseCode(o.ARC); {
	case o.ARC == "":
		return fmt.Sprintf("the terminal reported an error%s; %s was not paid%s", msg, what, detail)
	case rc.Approved():
		return fmt.Sprintf("paid %s%s: approved by the bank", what, detail)
	case o.ARC == qpboc.ARCUnableOnline:
		return fmt.Sprintf("not paid: the terminal could not reach the bank (%s%s)", what, detail)
	case o.ARC == qpboc.ARCOfflineDeclined:
		return fmt.Sprintf("declined by the terminal%s (%s%s)", msg, what, detail)
	default:
		return fmt.Sprintf("declined: %s (%s%s)", rc, what, detail)
	}
}

// Err says whether the tap paid: nil when the terminal reported the
// bank's approval, or when it reported nothing after the phone made its
// cryptogram (the bank's answer is then in the history); otherwise an
// error whose text is the last line of Summary: declined (with the
// response code), not paid, see phone, no keys or the terminal's error.
// A tap that asked no payment (a reader that only read the directory, a
// transit gate) is not an error.
func (r TapReport) Err() error {
	last, ok := r.Last()
	if !ok {
		return nil // a read of the directory, or a transit gate
	}
	if last.Kind == applet.Paid || (last.Kind == applet.Outcome && iso8583.ResponseCode(last.ARC).Approved()) {
		return nil
	}
	lines := strings.Split(r.Summary(), "\n")
	return fault.E(fault.Unavailable, "not_paid", "%s", lines[len(lines)-1])
}

// Last returns the last event and whether there was one.
func (r TapReport) Last() (applet.Event, bool) {
	if len(r.Events) == 0 {
		return applet.Event{}, false
	}
	return r.Events[len(r.Events)-1], true
}

// Tap dials the reader and serves the phone's applets on the NFC link
// until the reader closes it. It returns what the payment applet did, and
// the link's error (nfc.ErrLinkClosed, nfc.ErrTimeout, a dial error) or the
// context's, if the tap did not end cleanly; or an error from CardOS.
func (p *Phone) Tap(ctx context.Context, opts TapOptions) (TapReport, error) {
	rep := TapReport{Cards: map[string]Card{}}
	for _, c := range p.Profile.Cards {
		rep.Cards[c.Token] = c
	}
	var mu sync.Mutex
	d, err := p.CardOS(opts.Card, func(e applet.Event) {
		mu.Lock()
		rep.Events = append(rep.Events, e)
		mu.Unlock()
	})
	if err != nil {
		return rep, err
	}
	if opts.Link.IdleTimeout == 0 {
		opts.Link.IdleTimeout = 30 * time.Second
	}
	before := p.transitState()
	err = nfc.DialAndServe(ctx, opts.Reader, d, opts.Link)
	rep.Transit = p.transitChanges(before)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		return rep, fault.Wrap(err, fault.Unavailable, "nfc_link", "the tap on %s did not end cleanly", opts.Reader)
	}
	return rep, nil
}

// transitMark is a transit card's state as a tap may change it.
type transitMark struct {
	balance int64
	counter uint16
	rides   int
}

func (p *Phone) transitState() map[string]transitMark {
	out := map[string]transitMark{}
	cards, err := p.TransitCards()
	if err != nil {
		return out
	}
	for _, c := range cards {
		m := transitMark{balance: c.Balance}
		if rides, err := p.TransitHistory(c.City); err == nil {
			m.rides = len(rides)
			if len(rides) > 0 {
				m.counter = rides[0].Counter
			}
		}
		out[c.City] = m
	}
	return out
}

// transitChanges describes the transit cards whose record changed since before.
func (p *Phone) transitChanges(before map[string]transitMark) []string {
	var lines []string
	cards, err := p.TransitCards()
	if err != nil {
		return nil
	}
	for _, c := range cards {
		rides, err := p.TransitHistory(c.City)
		if err != nil || len(rides) == 0 {
			continue
		}
		b, had := before[c.City]
		newest := rides[0]
		if had && b.balance == c.Balance && b.rides == len(rides) && b.counter == newest.Counter {
			continue
		}
		where := newest.Station
		if newest.Line != "" {
			where += ", " + newest.Line
		}
		lines = append(lines, fmt.Sprintf("%s: %s %s, %s — balance %s", c.Name, newest.Kind, where,
			money.Fen(newest.Fen).String(), money.Fen(c.Balance).String()))
	}
	return lines
}
