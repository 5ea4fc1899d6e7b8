package netmsg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netmsg"
)

// FuzzDecode decodes every message that unpacks, at both sides: no panic;
// a failure is a 30 (a format error) or a 40 (a type nobody answers), and
// never names the card number; a success is the type its MTI says, with
// the identity of the message. The seed corpus is testdata/fuzz/FuzzDecode
// and the golden 0100 as an authorization, reversal, refund and 0800.
func FuzzDecode(f *testing.F) {
	g := golden(f)
	for _, mti := range []iso8583.MTI{iso8583.AuthorizationRequest, iso8583.ReversalRequest, iso8583.FinancialRequest, iso8583.NetworkRequest, "0120"} {
		m := g.Clone()
		m.MTI = mti
		_ = m.SetString(iso8583.DEOriginal, "0100"+"000123"+"0314090000"+strings.Repeat("0", 22))
		_ = m.SetString(iso8583.DEReplacement, "000000000500000000000500C00000000C00000000")
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := iso8583.Unpack(b)
		if err != nil {
			return
		}
		for _, side := range []netmsg.Side{netmsg.Network, netmsg.Issuer} {
			got, err := netmsg.Decode(m, side)
			if err != nil {
				rc := netmsg.ResponseCode(err)
				if rc != iso8583.FormatError && rc != iso8583.FunctionNotSupported {
					t.Fatalf("error %v answered %s, want 30 or 40", err, rc)
				}
				if rc == iso8583.FormatError && !errors.Is(err, iso8583.ErrFormat) {
					t.Fatalf("format error %v does not match iso8583.ErrFormat", err)
				}
				if pan, ok := m.String(iso8583.DEPAN); ok && len(pan) >= 12 && strings.Contains(err.Error(), pan) {
					t.Fatalf("error text names DE2: %v", err)
				}
				continue
			}
			var h netmsg.Header
			switch x := got.(type) {
			case *netmsg.Authorization:
				h = x.Header
			case *netmsg.Reversal:
				h = x.Header
			case *netmsg.Refund:
				h = x.Header
			case *netmsg.NetworkManagement:
				h = x.Header
			default:
				t.Fatalf("Decode returned %T", got)
			}
			if h.Raw != m || h.MTI != m.MTI {
				t.Fatalf("header does not carry the message: %v %v", h.MTI, m.MTI)
			}
		}
	})
}
