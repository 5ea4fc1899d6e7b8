package applet_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/applet/applettest"
)

// script packs APDUs for FuzzPhone: each is a length byte and the bytes.
func script(t testing.TB, cmds ...string) []byte {
	var out []byte
	for _, c := range cmds {
		b := unhex(t, c)
		out = append(out, byte(len(b)))
		out = append(out, b...)
	}
	return out
}

// allowed are the status words the phone may answer; 6F00 (an applet
// failure or panic) is not among them.
var allowed = map[apdu.StatusWord]bool{
	0x9000: true, 0x6700: true, 0x6A82: true, 0x6985: true, 0x6D00: true, 0x6E00: true,
	0x6A86: true, 0x6A80: true, 0x6A83: true, 0x6A88: true, applet.SWNoKeys: true, applet.SWSeePhone: true,
}

// FuzzPhone sends any sequence of APDUs to the phone's card OS with the
// payment applet of two cards: every command gets a response with a status
// word from the documented set, an error status carries no data, and
// nothing panics.
func FuzzPhone(f *testing.F) {
	good := gpo(f, pdolData(f))
	seeds := [][]string{
		{selectPPSE, selectDebit, good, readRecord},
		{selectPPSE, selectCredit, good, readRecord, "80CA9F3600"},
		{selectDebit, good, good},
		{selectDebit, "80A80000028305", "00B2010C"},
		{"00A4040208A00000033301010100", "00A4040205A000000333", good},
		{"00A4", "00A40400FF", "80A800000000", "00B20000"},
		{selectDebit, "80A8000000", "80A800000183"},
		{selectDebit, "80A80000" + "27" + "8325" + "00000000", "00B2010C00"},
		{"FFCA000000", "00C0000000", "8050010B"},
	}
	for _, s := range seeds {
		f.Add(script(f, s...), true)
		f.Add(script(f, s...), false)
	}
	ph := newPhone(f, 100, applettest.DebitCard(), applettest.CreditCard())
	f.Fuzz(func(t *testing.T, in []byte, finger bool) {
		ph.d.Reset()
		ph.finger.OK = finger
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			cmd := in[:n]
			in = in[n:]
			raw := ph.d.Process(cmd)
			r, err := apdu.ParseResponse(raw)
			if err != nil {
				t.Fatalf("command %X: response %X does not parse: %v", cmd, raw, err)
			}
			if !allowed[r.SW] && r.SW.SW1() != 0x6C {
				t.Fatalf("command %X: got status %v, want one of the documented ones", cmd, r.SW)
			}
			if r.SW != apdu.SWSuccess && len(r.Data) != 0 {
				t.Fatalf("command %X: got %d data bytes with %v, want none", cmd, len(r.Data), r.SW)
			}
		}
	})
}
