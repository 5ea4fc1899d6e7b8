package netmsg_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netmsg"
)

// BenchmarkDecode: the documented 0100 (17 elements, its chip data) read
// as the switch reads it — what the network's door does per authorization.
func BenchmarkDecode(b *testing.B) { benchDecode(b, netmsg.Network) }

// BenchmarkDecodeAtIssuer: the same 0100 read as an issuer host reads it
// (DE2 a PAN, DE55 checked but not mapped).
func BenchmarkDecodeAtIssuer(b *testing.B) { benchDecode(b, netmsg.Issuer) }

// benchDecode decodes the golden 0100 as side reads it.
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

// BenchmarkDecodeChip: DE55 as a tap's terminal sends it (18 tags, as
// nettest.DE55Tags) read into its tags.
func BenchmarkDecodeChip(b *testing.B) {
	var objs []emv.TLV
	for i, t := range []emv.Tag{0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x9F03, 0x5F2A, 0x82, 0x9F1A, 0x9F33, 0x9F34, 0x9F6C, 0x9F66, 0x84} {
		objs = append(objs, emv.New(t, make([]byte, 2+i%7)))
	}
	icc, err := emv.Encode(objs...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, err := netmsg.DecodeChip(icc); err != nil || len(c) != len(objs) {
			b.Fatal("does not decode", err)
		}
	}
}

// BenchmarkMux: the golden 0100 through the switch's Mux.Handle to a
// handler that reads its chip and answers nothing: the door's decoding as
// a stream of requests meets it (the chip's map given back after each).
func BenchmarkMux(b *testing.B) {
	m := golden(b)
	mux := &netmsg.Mux{Side: netmsg.Network, Authorization: func(_ context.Context, a *netmsg.Authorization) *iso8583.Message {
		if len(a.Chip) == 0 {
			b.Fatal("no chip")
		}
		return nil
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		mux.Handle(ctx, m)
	}
}
