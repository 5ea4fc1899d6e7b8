package applet

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/apdu"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// purse is a minimal transit applet: it answers SELECT with its AID in an
// FCI and GET BALANCE with 4 bytes.
type purse struct {
	aid      []byte
	selected bool
}

func (p *purse) Name() string   { return "transit-test" }
func (p *purse) Kind() Kind     { return KindTransit }
func (p *purse) AIDs() [][]byte { return [][]byte{p.aid} }
func (p *purse) Deselect()      { p.selected = false }
func (p *purse) Select(name []byte, next bool) apdu.Response {
	if next {
		return apdu.Response{SW: apdu.SWFileNotFound}
	}
	p.selected = true
	return apdu.Response{Data: append([]byte{0x6F, byte(len(p.aid) + 2), 0x84, byte(len(p.aid))}, p.aid...), SW: apdu.SWSuccess}
}
func (p *purse) Process(cmd apdu.Command) apdu.Response {
	if cmd.INS == apdu.InsGetBalance {
		return apdu.Response{Data: []byte{0, 0, 0x27, 0x10}, SW: apdu.SWSuccess}
	}
	if cmd.INS == 0xEE {
		panic("applet bug")
	}
	return apdu.Response{SW: apdu.SWINSNotSupported}
}

func TestDispatcherRouting(t *testing.T) {
	transitAID := unhex(t, "A000000632010105")
	locked := false
	newD := func(express bool) (*Dispatcher, *purse) {
		p := &purse{aid: transitAID}
		d := NewDispatcher(p)
		d.Express = express
		d.Locked = func() bool { return locked }
		return d, p
	}
	tests := []struct {
		name    string
		express bool
		locked  bool
		cmds    []string
		wantSW  apdu.StatusWord // of the last command
		wantSel bool
	}{
		{"select transit AID", true, false, []string{"00A4040008A00000063201010500"}, 0x9000, true},
		{"partial AID", true, false, []string{"00A4040005A00000063200"}, 0x9000, true},
		{"command to the selected applet", true, false, []string{"00A4040008A00000063201010500", "805C000204"}, 0x9000, true},
		{"express mode while locked", true, true, []string{"00A4040008A00000063201010500", "805C000204"}, 0x9000, true},
		{"locked without express", false, true, []string{"00A4040008A00000063201010500"}, 0x6985, false},
		{"unknown AID deselects", true, false, []string{"00A4040008A00000063201010500", "00A4040007A000000003101000"}, 0x6A82, false},
		{"PPSE without a payment applet", true, false, []string{"00A404000E325041592E5359532E444446303100"}, 0x6A82, false},
		{"no applet selected, known INS", true, false, []string{"80A8000002830000"}, 0x6985, false},
		{"no applet selected, unknown INS", true, false, []string{"00EE0000"}, 0x6D00, false},
		{"select by file id with nothing selected", true, false, []string{"00A40000021001"}, 0x6A86, false},
		{"select CLA 80", true, false, []string{"80A40000021001"}, 0x6E00, false},
		{"select by name with CLA 80", true, false, []string{"80A4040008A00000063201010500"}, 0x6E00, false},
		{"select P2 0C", true, false, []string{"00A4040C08A00000063201010500"}, 0x6A86, false},
		{"select name too short", true, false, []string{"00A4040004A000000600"}, 0x6700, false},
		{"select name too long", true, false, []string{"00A4040011A0000006320101050102030405060708090000"}, 0x6700, false},
		{"unparsable APDU", true, false, []string{"00A404"}, 0x6700, false},
		{"Lc mismatch", true, false, []string{"00A4040008A000000632"}, 0x6700, false},
		{"applet panic", true, false, []string{"00A4040008A00000063201010500", "00EE0000"}, 0x6F00, false},
		{"Le too short", true, false, []string{"00A4040008A00000063201010504"}, 0x6C0C, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			locked = tc.locked
			d, _ := newD(tc.express)
			var resp []byte
			for _, c := range tc.cmds {
				resp = d.Process(unhex(t, c))
			}
			r, err := apdu.ParseResponse(resp)
			if err != nil {
				t.Fatalf("response %X: %v", resp, err)
			}
			if r.SW != tc.wantSW {
				t.Errorf("status: got %v, want %v", r.SW, tc.wantSW)
			}
			if got := d.Selected() != nil; got != tc.wantSel {
				t.Errorf("selected: got %v, want %v", got, tc.wantSel)
			}
		})
	}
}

func TestDispatcherReset(t *testing.T) {
	p := &purse{aid: unhex(t, "A000000632010105")}
	d := NewDispatcher(p)
	d.Process(unhex(t, "00A4040008A00000063201010500"))
	if !p.selected {
		t.Fatalf("selected: got false, want true")
	}
	d.Reset()
	if p.selected || d.Selected() != nil {
		t.Errorf("after reset: applet selected %v, dispatcher %v; want neither", p.selected, d.Selected())
	}
	if r := d.Process(unhex(t, "805C000204")); !bytes.Equal(r, []byte{0x69, 0x85}) {
		t.Errorf("GET BALANCE after reset: got %X, want 6985", r)
	}
}

func TestATR(t *testing.T) {
	atr := ATR()
	var x byte
	for _, b := range atr[1:] {
		x ^= b
	}
	if x != 0 {
		t.Errorf("ATR %X: checksum over T0..TCK got %02X, want 00", atr, x)
	}
	if atr[0] != 0x3B || atr[1]&0x0F != byte(len("TAPWALLET")) {
		t.Errorf("ATR %X: got TS %02X T0 %02X, want 3B and 9 historical bytes", atr, atr[0], atr[1])
	}
}
