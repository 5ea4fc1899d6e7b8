package bank

import (
	"github.com/tapwallet/tapwallet/fault"
)

// Status is the state of a card at its bank. A card is Active unless the
// bank blocked it or its holder reported it lost; banks.json sets it per
// card with "status" (missing means active).
type Status string

// The card states. Their values are the words used in banks.json.
const (
	Active  Status = "active"  // the card may be used
	Blocked Status = "blocked" // the bank blocked the card (arrears, fraud suspicion, closed account)
	Lost    Status = "lost"    // the holder reported the card lost
)

// validStatus reports whether s is one of the card states.
func validStatus(s Status) bool { return s == Active || s == Blocked || s == Lost }

// Usable reports whether the card may be added to a phone and pay: only an
// Active card (the zero Status counts as Active). It never fails.
func (c *Cardholder) Usable() bool { return c.Status == "" || c.Status == Active }

// refuseBlocked returns the ID&V error for a card that is not active:
// fault.Declined "card_blocked", naming the bank, the last four digits and
// why; nil for an active card.
func refuseBlocked(b *Bank, h *Cardholder) error {
	if h.Usable() {
		return nil
	}
	why := "the bank has blocked it"
	if h.Status == Lost {
		why = "it was reported lost"
	}
	return fault.E(fault.Declined, CodeCardBlocked, "%s cannot add the card ending %s to a phone: %s; call the bank", b.Name, h.PAN.Last4(), why)
}
