package clearing

import (
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

// refundSplit is the split the switch recorded for a refund of a
// discounted purchase (netswitch.Refund.Promo).
type refundSplit struct {
	campaign, hold string
	split          promo.RefundSplit
	restored       bool // the switch gave the campaign's budget its part
}

// refundPromo returns the split the switch recorded for r; false when r
// gives back a purchase without a promotion.
func refundPromo(r netswitch.Refund) (refundSplit, bool) {
	if r.Promo == nil {
		return refundSplit{}, false
	}
	return refundSplit{campaign: r.Promo.Campaign, hold: r.Promo.HoldID, split: r.Promo.Split, restored: r.Promo.Restored}, true
}
