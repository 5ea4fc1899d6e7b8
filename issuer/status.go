package issuer

import (
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
)

// statusDecline is the answer to an authorization on a card that is not
// active at its bank (bank.Cardholder.Status): 57 (transaction not
// permitted to cardholder) for a blocked card, 41 (lost card) for one its
// holder reported lost, with the reason recorded; false for an active
// card.
func statusDecline(h *bank.Cardholder) (iso8583.ResponseCode, Decline, bool) {
	switch {
	case h.Usable():
		return "", "", false
	case h.Status == bank.Lost:
		return iso8583.LostCard, DeclineCardLost, true
	}
	return iso8583.NotPermittedToCardholder, DeclineCardBlocked, true
}
