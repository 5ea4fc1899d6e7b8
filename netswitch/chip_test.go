package netswitch

import (
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/qpboc"
)

// TestMatchChip: the chip's amount (9F02, n12 BCD) and currency (5F2A, n4
// BCD) must be DE4 and DE49; anything else is 13 with its reason.
func TestMatchChip(t *testing.T) {
	a := &netmsg.Authorization{Amount: money.New(12345, money.CNY)}
	cases := []struct {
		name   string
		chip   netmsg.Chip
		reason Reason
	}{
		{"both match", netmsg.Chip{qpboc.TagAmount: {0, 0, 0, 1, 0x23, 0x45}, qpboc.TagCurrency: {0x01, 0x56}}, ""},
		{"neither given", netmsg.Chip{}, ""},
		{"another amount", netmsg.Chip{qpboc.TagAmount: {0, 0, 0, 1, 0x23, 0x46}}, ReasonChipAmount},
		{"amount too short", netmsg.Chip{qpboc.TagAmount: {0x01, 0x23, 0x45}}, ReasonChipAmount},
		{"amount too long", netmsg.Chip{qpboc.TagAmount: {0, 0, 0, 0, 1, 0x23, 0x45}}, ReasonChipAmount},
		{"amount not BCD", netmsg.Chip{qpboc.TagAmount: {0, 0, 0, 1, 0x23, 0x4f}}, ReasonChipAmount},
		{"another currency", netmsg.Chip{qpboc.TagCurrency: {0x09, 0x78}}, ReasonChipCurrency},
		{"currency of 3 bytes", netmsg.Chip{qpboc.TagCurrency: {0, 0x01, 0x56}}, ReasonChipCurrency},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc, reason, ok := matchChip(a, c.chip)
			if ok != (c.reason == "") || reason != c.reason || (!ok && rc != iso8583.InvalidAmount) {
				t.Fatalf("got %v %q %q, want reason %q", ok, rc, reason, c.reason)
			}
		})
	}
	if bcdIs([]byte{0x99}, 100) || !bcdIs([]byte{0x01, 0x00}, 100) || bcdIs([]byte{0x00}, -1) {
		t.Error("bcdIs: overflow, padding or a negative number read wrong")
	}
}
