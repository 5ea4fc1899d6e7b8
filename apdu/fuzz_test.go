package apdu

import (
	"bytes"
	"testing"
)

// FuzzParseCommand checks that ParseCommand never panics and that every
// command it accepts marshals back to the same bytes.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"00A40400", "00C0000010", "00B2010C00", "00A404000E325041592E5359532E4444463031",
		"00A4040008A00000033301010100", "00B00000000100", "00B00000000000", "00A404000000",
		"80A800001F831D3600400000000000100000000000000001560000000000015612345678" + "00",
		"80AE80000201020" + "0", "00A40400000000AA", "00",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCommand(in)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed command: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("round trip: got %X, want %X", out, in)
		}
		_ = c.String()
	})
}

// FuzzParseResponse checks that ParseResponse never panics and round-trips.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{"9000", "6A82", "770A9F2701809F360200019000", "90"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseResponse(in)
		if err != nil {
			return
		}
		if out := r.Marshal(); !bytes.Equal(out, in) {
			t.Fatalf("round trip: got %X, want %X", out, in)
		}
		_ = r.String()
	})
}
