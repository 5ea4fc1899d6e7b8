package epurse_test

import (
	"testing"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
)

// FuzzPurse sends a sequence of APDUs (each a 1-byte length and that many
// bytes) to a purse behind the phone's dispatcher. Nothing may panic,
// every answer must carry a status word, and — since no command sequence
// without the operator's keys can make a valid MAC — the balance and the
// counters must never change.
func FuzzPurse(f *testing.F) {
	seeds := [][]byte{
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01})),
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01}), apdu.Command{CLA: 0x80, INS: 0x5C, P2: 2, Ne: 4}),
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01}),
			apdu.Command{CLA: 0x80, INS: 0x50, P1: 3, P2: 2, Data: []byte{1, 0, 0, 1, 0x2C, 0, 2, 0, 0x71, 0, 1}, Ne: 15},
			apdu.Command{CLA: 0x80, INS: 0xDC, P1: 1, P2: 0xB8, Data: make([]byte, 48)},
			apdu.Command{CLA: 0x80, INS: 0x54, P1: 1, Data: make([]byte, 15), Ne: 8}),
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01}),
			apdu.Command{CLA: 0x80, INS: 0x50, P1: 0, P2: 2, Data: []byte{1, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0, 1}, Ne: 16},
			apdu.Command{CLA: 0x80, INS: 0x52, Data: make([]byte, 11), Ne: 4}),
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01}),
			apdu.Command{INS: 0x84, Ne: 4}, apdu.Command{CLA: 0x84, INS: 0x1E, Data: []byte{1, 2, 3, 4}}),
		frame(apdu.Select([]byte{0xF0, 0x54, 0x57, 0x01, 0x56, 0x00, 0x21, 0x01}),
			apdu.ReadRecord(0x18, 1), apdu.ReadRecord(0x17, 1), apdu.Command{INS: 0xB0, P1: 0x95, Ne: 256},
			apdu.Command{CLA: 0x80, INS: 0x5A, P2: 9, Data: []byte{0, 0}, Ne: 8}),
		{3, 0x80, 0x50, 0x01},
		{0},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, _ := epursetest.Purse(t, "shanghai", 9, 5000)
		d := applet.NewDispatcher(p)
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n > len(in) {
				n = len(in)
			}
			resp := d.Process(in[:n])
			in = in[n:]
			if len(resp) < 2 {
				t.Fatalf("an answer of %d bytes has no status word", len(resp))
			}
		}
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Balance != 5000 || info.OfflineATC != 0 || info.OnlineATC != 0 {
			t.Fatalf("without keys the purse changed: balance %d, counters %d/%d; want 5000, 0/0", info.Balance, info.OfflineATC, info.OnlineATC)
		}
	})
}

func frame(cmds ...apdu.Command) []byte {
	var out []byte
	for _, c := range cmds {
		b, err := c.Marshal()
		if err != nil || len(b) > 255 {
			panic("seed APDU does not fit")
		}
		out = append(out, byte(len(b)))
		out = append(out, b...)
	}
	return out
}
