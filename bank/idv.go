package bank

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
)

// The error codes of ID&V (fault.CodeOf of the errors of Verify, Route and
// an IDV's methods). Compare with fault.Has or fault.CodeOf, never with a
// string of one's own.
const (
	CodeUnknownBIN   = "unknown_bin"    // fault.NotFound: no bank issues in the card's BIN range
	CodeCardNotFound = "card_not_found" // fault.NotFound: the bank has no such card
	CodeCardExpired  = "card_expired"   // fault.Invalid: the expiry entered, or the card's own, is past
	CodeWrongExpiry  = "wrong_expiry"   // fault.Invalid: the expiry entered is not the card's
	CodeWrongCVN2    = "wrong_cvn2"     // fault.Invalid: the CVN2 entered is not the card's
	CodeCardBlocked  = "card_blocked"   // fault.Declined: blocked by the bank or reported lost
	CodeIDVDeclined  = "idv_declined"   // fault.Declined: the bank declines to tokenize the card
	CodeNoBankConfig = "no_bank_config" // fault.Internal: no configuration
)

// IDVRequest is what the token service asks a bank when a card is added
// to a phone: the card number, the expiry and the CVN2 the holder entered.
type IDVRequest struct {
	PAN    card.PAN
	Expiry card.Expiry
	CVN2   string // as entered; compared in constant time, never logged
	// The network's risk engine's view of the binding, as MDES sends an
	// issuer its scores and reason codes: the score (0-99), the verdict
	// (green, step_up, decline) and the reasons (rule ids, docs/risk.md).
	// Zero when the token service runs without the engine.
	RiskScore   int
	RiskVerdict string
	RiskReasons []string
}

// IDVVerdict is a bank's answer to an IDVRequest (or to a Route): its
// decision and, for a Red, the reason code (one of the Code constants);
// and what the token service needs to issue a token: the bank, its name,
// the card's product and art, the bank's token range.
type IDVVerdict struct {
	Decision   Decision // Green, StepUp or Red
	Reason     string   // for Red: the error code (CodeWrongCVN2, …); "" otherwise
	BankID     string
	BankName   string
	Product    ProductKind
	TokenRange int    // tokens start with 6288 and these two digits
	CardArt    string // "#RRGGBB"
	// Holder is the card holder's name as the bank knows it, on a Green or
	// StepUp verdict of Verify ("" otherwise, and from Route): the
	// network's risk engine counts distinct names on a phone by a keyed
	// reference to it; the token service never stores or logs the name.
	Holder string
}

// IDV is the bank side of ID&V as the token service calls it: find the
// issuer by BIN and let it check the card. issuer.IDV is the in-process
// side (every bank's host in this process). Errors are *fault.Error with
// the Code constants above; the verdict of a failed Verify is Red with
// the same code as Reason.
type IDV interface {
	// Verify runs the issuing bank's ID&V for the card.
	Verify(ctx context.Context, req IDVRequest) (IDVVerdict, error)
	// Route returns the bank, product and token range of a card, without
	// checks (Decision Green); CodeUnknownBIN when no bank issues it.
	Route(ctx context.Context, pan card.PAN) (IDVVerdict, error)
	// Bank describes a bank for display (name, card art) by id.
	Bank(id string) (name, cardArt string, ok bool)
}

// Route returns the bank, product and token range of a card from the
// directory, without checks, as a Green verdict. It fails with Red and a
// fault.NotFound CodeUnknownBIN error when no bank or product of the
// directory issues in the card's BIN range.
func (d *Directory) Route(pan card.PAN) (IDVVerdict, error) {
	b, ok := d.BankForBIN(pan)
	if !ok {
		return red(fault.E(fault.NotFound, CodeUnknownBIN, "no bank on the network issues cards with BIN %s", pan.BIN()))
	}
	p, ok := b.Product(pan)
	if !ok {
		return red(fault.E(fault.NotFound, CodeUnknownBIN, "%s has no product for BIN %s", b.Name, pan.BIN()))
	}
	return IDVVerdict{Decision: Green, BankID: b.ID, BankName: b.Name, Product: p.Kind, TokenRange: b.TokenRange, CardArt: p.Art}, nil
}

// red returns the Red verdict of err, its code as the reason, and err.
func red(err error) (IDVVerdict, error) {
	return IDVVerdict{Decision: Red, Reason: fault.CodeOf(err)}, err
}

// Verify is bank b's ID&V of a card being added to a phone, against its
// card holders h: it refuses an expired card, runs the bank's checks of
// the expiry and the CVN2 entered (the CVN2 compared in constant time) and
// returns the bank's decision for the card: Green (approve), StepUp (send
// a one-time code to the card holder) or Red.
//
// On failure it returns Red and a *fault.Error whose message never contains
// the card number, with one of the Code constants: CodeCardNotFound when
// the bank has no such card, CodeCardExpired when the expiry entered or
// the card's own expiry is past at now, CodeWrongExpiry or CodeWrongCVN2
// when a check fails, CodeCardBlocked when the bank blocked the card or
// its holder reported it lost (Status), CodeIDVDeclined when the bank
// declines the card.
func (h *Holders) Verify(b *Bank, req IDVRequest, now time.Time) (Decision, error) {
	c, ok := h.Lookup(req.PAN)
	if !ok || c.Bank != b.ID || h.bank != b.ID {
		return Red, fault.E(fault.NotFound, CodeCardNotFound, "%s has no card ending %s", b.Name, req.PAN.Last4())
	}
	return verifyCard(b, c, req, now)
}

// Verify is ID&V against a whole configuration: it finds the bank by the
// card's BIN and runs that bank's Holders.Verify. It fails like it, and
// with fault.NotFound CodeUnknownBIN when no bank issues in the card's BIN
// range and fault.Internal CodeNoBankConfig when cfg is nil.
func Verify(cfg *Config, pan card.PAN, expiry card.Expiry, cvn2 string, now time.Time) (Decision, error) {
	if cfg == nil {
		return Red, fault.E(fault.Internal, CodeNoBankConfig, "no bank configuration")
	}
	b, ok := cfg.BankForBIN(pan)
	if !ok {
		return Red, fault.E(fault.NotFound, CodeUnknownBIN, "no bank on the network issues cards with BIN %s", pan.BIN())
	}
	c, ok := cfg.LookupCard(pan)
	if !ok || c.Bank != b.ID {
		return Red, fault.E(fault.NotFound, CodeCardNotFound, "%s has no card ending %s", b.Name, pan.Last4())
	}
	return verifyCard(b, c, IDVRequest{PAN: pan, Expiry: expiry, CVN2: cvn2}, now)
}

// verifyCard runs bank b's checks of card c.
func verifyCard(b *Bank, c *Cardholder, req IDVRequest, now time.Time) (Decision, error) {
	if req.Expiry.Expired(now) {
		return Red, fault.E(fault.Invalid, CodeCardExpired, "the card expired at the end of %02d/%d", req.Expiry.Month, req.Expiry.Year)
	}
	if b.IDV.Runs(CheckExpiry) && req.Expiry != c.Expiry {
		return Red, fault.E(fault.Invalid, CodeWrongExpiry, "the expiry date does not match the card")
	}
	if b.IDV.Runs(CheckCVN2) && !c.CVN2.Matches(req.CVN2) {
		return Red, fault.E(fault.Invalid, CodeWrongCVN2, "the CVN2 does not match the card")
	}
	if c.Expiry.Expired(now) {
		return Red, fault.E(fault.Invalid, CodeCardExpired, "the card has expired")
	}
	if err := refuseBlocked(b, c); err != nil {
		return Red, err
	}
	switch c.IDV {
	case Green:
		return Green, nil
	case StepUp:
		if b.IDV.StepUp != nil {
			return StepUp, nil
		}
	}
	return Red, fault.E(fault.Declined, CodeIDVDeclined, "%s declined to add the card ending %s to a phone", b.Name, req.PAN.Last4())
}
