package clearing

import (
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
)

// refundSplit is the split the switch recorded for a refund of a
// discounted purchase.
type refundSplit struct {
	campaign, hold string
	split          promo.RefundSplit
	restored       bool // the switch gave the campaign's budget its part
}

// refundPromo returns the split the switch recorded for r; false when r
// gives back a purchase without a promotion. (The switch's record has no
// split yet: every refund is one of a full-price purchase.)
func refundPromo(r netswitch.Refund) (refundSplit, bool) {
	return refundSplit{}, false
}
