package netmsg_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/netmsg"
)

// BenchmarkDecode: the documented 0100 (17 elements, its chip data) read
// as the switch reads it — what the network's door does per authorization.
func BenchmarkDecode(b *testing.B) { benchDecode(b, netmsg.Network) }

// BenchmarkDecodeAtIssuer: the same 0100 read as an issuer's host reads
// it (DE2 the PAN, DE123 the token data, no chip data).
func BenchmarkDecodeAtIssuer(b *testing.B) { benchDecode(b, netmsg.Issuer) }

func benchDecode(b *testing.B, side netmsg.Side) {
	m := golden(b)
	b.ReportAllocs()
	for b.Loop() {
		v, err := netmsg.Decode(m, side)
		if err != nil {
			b.Fatal(err)
		}
		if a := v.(*netmsg.Authorization); a.ChipErr != nil || a.Terminal == "" {
			b.Fatal("does not decode", a.ChipErr)
		}
	}
}
