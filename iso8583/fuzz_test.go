package iso8583

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzUnpack feeds Unpack arbitrary bytes. Seeds: the committed corpus in
// testdata/fuzz/FuzzUnpack and the messages below. Properties: no panic;
// every failure is a format error; a message that unpacks packs back to
// exactly the same bytes (the layout is canonical; a secondary bitmap of zeros
// is left out); Describe never panics.
func FuzzUnpack(f *testing.F) {
	for _, m := range seedMessages(f) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("0100"))
	f.Add(outsideAnswer)
	f.Add(append([]byte("0100"), "0020000000800000"+"000042"+"T0000001"...))
	f.Add(raw("0100", []int{2, 55}, "19"+"6222020000000000004"+"003"+"\x9f\x27\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unpack(b)
		if err != nil {
			if m != nil {
				t.Fatalf("Unpack: got a message and error %v", err)
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Unpack: got error %v, want a format error", err)
			}
			p, perr := UnpackPartial(b)
			if perr == nil {
				t.Fatalf("UnpackPartial: got no error where Unpack had %v", err)
			}
			if p != nil {
				_ = p.Describe()
			}
			return
		}
		again, err := m.Pack()
		if err != nil {
			t.Fatalf("Pack(Unpack(b)): %v", err)
		}
		if want := canonical(b); !bytes.Equal(again, want) {
			t.Fatalf("Pack(Unpack(b)):\ngot  %x\nwant %x", again, want)
		}
		_ = m.Describe()
		if td, err := m.TokenData(); err == nil {
			_ = td.String()
		}
	})
}

// canonical returns b as Pack writes it: a secondary bitmap of zeros, which
// Unpack accepts, is left out and its flag cleared.
func canonical(b []byte) []byte {
	if len(b) < 20 || b[4]&0x80 == 0 || !bytes.Equal(b[12:20], make([]byte, 8)) {
		return b
	}
	out := append(bytes.Clone(b[:12]), b[20:]...)
	out[4] &^= 0x80
	return out
}

// FuzzParseTokenData feeds ParseTokenData arbitrary bytes: no panic, every
// failure a format error, and whatever parses marshals and parses back equal.
func FuzzParseTokenData(f *testing.F) {
	b, err := TokenData{Token: testPAN, PAR: "50010000000000000000000000001", RequestorID: "50110030273", Assurance: "02", DeviceID: "d"}.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(mustHex("DF7F0178DF0103313233"))
	f.Add(mustHex("DF018110"))
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := ParseTokenData(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("got error %v, want a format error", err)
			}
			return
		}
		enc, err := td.Marshal()
		if err != nil {
			t.Fatalf("Marshal(ParseTokenData(b)): %v", err)
		}
		back, err := ParseTokenData(enc)
		if err != nil || back != td {
			t.Fatalf("round trip: got %+v, %v; want %+v", back, err, td)
		}
	})
}

// seedMessages are the message shapes tapwallet sends, for fuzz seeds.
func seedMessages(tb testing.TB) []*Message {
	tb.Helper()
	auth := New(AuthorizationRequest)
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	set := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	set(auth.SetString(DEPAN, testPAN))
	set(auth.SetString(DEProcessingCode, "000000"))
	set(auth.SetNumber(DEAmount, 12345))
	auth.SetTransmissionTime(at)
	set(auth.SetSTAN(4711))
	set(auth.SetString(DEPOSEntryMode, "072"))
	set(auth.SetString(DETrack2, testTrack2))
	set(auth.SetString(DETerminal, "T0000001"))
	set(auth.SetNumber(DECurrency, 156))
	set(auth.SetBytes(DEICC, testICC))
	set(auth.SetTokenData(TokenData{Token: testPAN, Assurance: "02"}))

	resp, err := NewResponse(auth, Approved)
	set(err)
	set(resp.SetString(DEAuthID, "123456"))

	echo := New(NetworkRequest)
	echo.SetTransmissionTime(at)
	set(echo.SetSTAN(1))
	set(echo.SetString(DENetworkCode, string(SignOn)))

	rev := New(ReversalRequest)
	set(rev.SetSTAN(2))
	set(rev.SetString(DEOriginal, "010000471103140926530000480210000000000000"))
	set(rev.SetString(DEReplacement, "000000000000000000000000C00000000C00000000"))
	set(rev.SetString(DEAccount, "ACC-1"))
	set(rev.SetString(DEPrivate127, "note"))
	return []*Message{auth, resp, echo, rev}
}
