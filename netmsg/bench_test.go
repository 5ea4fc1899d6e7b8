package netmsg_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/netmsg"
)

// BenchmarkDecode: the documented 0100 (17 elements, its chip data) read
// as the switch reads it — what the network's door does per authorization.
func BenchmarkDecode(b *testing.B) {
	m := golden(b)
	b.ReportAllocs()
	for b.Loop() {
		v, err := netmsg.Decode(m, netmsg.Network)
		if err != nil {
			b.Fatal(err)
		}
		if a := v.(*netmsg.Authorization); a.ChipErr != nil || a.Terminal == "" {
			b.Fatal("does not decode", a.ChipErr)
		}
	}
}
