package bank

import (
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
)

// Verify is the bank side of ID&V when a card is added to a phone: it finds
// the bank by the card's BIN and the card at that bank, refuses an expired
// card, runs the bank's checks of the expiry and the CVN2 entered (the CVN2
// compared in constant time) and returns the bank's decision for the card:
// Green (approve), StepUp (send a one-time code to the card holder) or Red.
//
// On failure it returns Red and a *fault.Error whose message never contains
// the card number: fault.NotFound "unknown_bin" when no bank issues in the
// card's BIN range, fault.NotFound "card_not_found" when the bank has no such
// card, fault.Invalid "card_expired" when the expiry entered or the card's
// own expiry is past at now, fault.Invalid "wrong_expiry" or "wrong_cvn2"
// when a check fails, fault.Declined "card_blocked" when the bank blocked
// the card or its holder reported it lost (Status), fault.Declined
// "idv_declined" when the bank declines the card, and fault.Internal "no_bank_config" when cfg is nil.
func Verify(cfg *Config, pan card.PAN, expiry card.Expiry, cvn2 string, now time.Time) (Decision, error) {
	if cfg == nil {
		return Red, fault.E(fault.Internal, "no_bank_config", "no bank configuration")
	}
	b, ok := cfg.BankForBIN(pan)
	if !ok {
		return Red, fault.E(fault.NotFound, "unknown_bin", "no bank on the network issues cards with BIN %s", pan.BIN())
	}
	h, ok := cfg.LookupCard(pan)
	if !ok || h.Bank != b.ID {
		return Red, fault.E(fault.NotFound, "card_not_found", "%s has no card ending %s", b.Name, pan.Last4())
	}
	if expiry.Expired(now) {
		return Red, fault.E(fault.Invalid, "card_expired", "the card expired at the end of %02d/%d", expiry.Month, expiry.Year)
	}
	if b.IDV.Runs(CheckExpiry) && expiry != h.Expiry {
		return Red, fault.E(fault.Invalid, "wrong_expiry", "the expiry date does not match the card")
	}
	if b.IDV.Runs(CheckCVN2) && !h.CVN2.Matches(cvn2) {
		return Red, fault.E(fault.Invalid, "wrong_cvn2", "the CVN2 does not match the card")
	}
	if h.Expiry.Expired(now) {
		return Red, fault.E(fault.Invalid, "card_expired", "the card has expired")
	}
	if err := refuseBlocked(b, h); err != nil {
		return Red, err
	}
	switch h.IDV {
	case Green:
		return Green, nil
	case StepUp:
		if b.IDV.StepUp != nil {
			return StepUp, nil
		}
	}
	return Red, fault.E(fault.Declined, "idv_declined", "%s declined to add the card ending %s to a phone", b.Name, pan.Last4())
}
