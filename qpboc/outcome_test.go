package qpboc

import (
	"bytes"
	"testing"
)

func TestOutcomeRoundTrip(t *testing.T) {
	for _, o := range []Outcome{
		{ARC: "00", IssuerAuth: []byte{1, 2, 3, 4, 5, 6, 7, 8, '0', '0'}, Message: "APPROVED"},
		{ARC: ARCUnableOnline},
		{Message: "card read error: tap again"},
	} {
		got, err := ParseOutcome(o.Bytes())
		if err != nil || got.ARC != o.ARC || !bytes.Equal(got.IssuerAuth, o.IssuerAuth) || got.Message != o.Message {
			t.Errorf("round trip of %+v: got %+v, %v", o, got, err)
		}
	}
	if b := (Outcome{Message: "bad\x00byte" + string(make([]byte, 100))}).Bytes(); len(b) > 4+64 {
		t.Errorf("message not cut to 64 printable characters: %d bytes", len(b))
	}
}

// FuzzParseOutcome: the terminal's PUT DATA is outside input to the
// phone: it never panics, and what parses encodes back to the same.
func FuzzParseOutcome(f *testing.F) {
	f.Add(Outcome{ARC: "51", IssuerAuth: []byte{1, 2, 3, 4, 5, 6, 7, 8, '5', '1'}, Message: "DECLINED"}.Bytes())
	f.Add(Outcome{}.Bytes())
	f.Add([]byte{0xFF, 0x71, 0x05, 0x8A, 0x03, '5', '1', '5'})
	f.Add([]byte{0xFF, 0x71, 0x81})
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOutcome(data)
		if err != nil {
			return
		}
		again, err := ParseOutcome(o.Bytes())
		if err != nil || again.ARC != o.ARC || !bytes.Equal(again.IssuerAuth, o.IssuerAuth) || again.Message != o.Message {
			t.Errorf("%X parsed as %+v, which does not re-encode: %+v %v", data, o, again, err)
		}
	})
}
