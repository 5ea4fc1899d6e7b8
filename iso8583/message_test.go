package iso8583

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	testPAN    = "6222020000000004"
	testTrack2 = "6222020000000004D29122010000000000"
)

// testICC is a plausible DE55: 9F26 ARQC, 9F27 CID, 9F36 ATC, 95 TVR, 9F37 UN.
var testICC = mustHex("9F2608A1B2C3D4E5F60718" + "9F270180" + "9F36020017" + "95050000000000" + "9F370412345678")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// sampleAuth returns a complete contactless 0100 as a store terminal sends it.
func sampleAuth(t *testing.T) *Message {
	t.Helper()
	m := New(AuthorizationRequest)
	at := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	must(t, m.SetString(DEPAN, testPAN))
	must(t, m.SetString(DEProcessingCode, "000000"))
	must(t, m.SetAmount(money.Fen(12345)))
	m.SetTransmissionTime(at)
	must(t, m.SetSTAN(4711))
	m.SetLocalTime(at.In(time.FixedZone("CST", 8*3600)))
	must(t, m.SetString(DEExpiry, "2912"))
	must(t, m.SetNumber(DEMCC, 5411))
	must(t, m.SetString(DEPOSEntryMode, "072"))
	must(t, m.SetNumber(DECardSequence, 1))
	must(t, m.SetString(DEPOSCondition, "00"))
	must(t, m.SetString(DEAcquirer, "48021000"))
	must(t, m.SetString(DETrack2, testTrack2))
	must(t, m.SetString(DERRN, "607309004711"))
	must(t, m.SetString(DETerminal, "T0000001"))
	must(t, m.SetString(DEMerchant, "898310054110001"))
	must(t, m.SetString(DEMerchantName, "TAPWALLET MART           SHANGHAI     CN"))
	must(t, m.SetBytes(DEICC, testICC))
	must(t, m.SetTokenData(TokenData{Token: testPAN, PAR: "50010000000000000000000000001", RequestorID: "50110030273", Assurance: "02", DeviceID: "dev-1"}))
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpecTable(t *testing.T) {
	seen := map[int]bool{}
	for _, s := range table {
		t.Run(s.Name, func(t *testing.T) {
			if s.DE < 2 || s.DE > 128 {
				t.Errorf("DE%d: got number outside 2..128", s.DE)
			}
			if seen[s.DE] {
				t.Errorf("DE%d: got it twice in the table, want once", s.DE)
			}
			seen[s.DE] = true
			if s.Max < 1 || (s.Length == LLVAR && s.Max > 99) || (s.Length == LLLVAR && s.Max > 999) {
				t.Errorf("DE%d: got max %d for %v", s.DE, s.Max, s.Length)
			}
			if s.Type == B && s.Length == LLVAR {
				t.Errorf("DE%d: got binary LLVAR, want LLLVAR for binary private elements", s.DE)
			}
			got, ok := SpecOf(s.DE)
			if !ok || got != s {
				t.Errorf("SpecOf(%d) = %+v, %v, want %+v", s.DE, got, ok, s)
			}
		})
	}
	if got := len(Specs()); got != len(table) {
		t.Errorf("len(Specs()) = %d, want %d", got, len(table))
	}
	for _, de := range []int{0, 1, 5, 64, 65, 128, 129, -1} {
		if _, ok := SpecOf(de); ok {
			t.Errorf("SpecOf(%d): got a spec, want none", de)
		}
	}
	formats := map[int]string{DEPAN: "n..19 LLVAR", DEAmount: "n12", DEICC: "b..255 LLLVAR", DETrack2: "z..37 LLVAR", DEPrivate127: "ans..999 LLLVAR"}
	for de, want := range formats {
		s, _ := SpecOf(de)
		if got := s.Format(); got != want {
			t.Errorf("DE%d Format() = %q, want %q", de, got, want)
		}
	}
}

func TestGolden0100(t *testing.T) {
	m := sampleAuth(t)
	got, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "auth_0100.hex")
	if *update {
		var b strings.Builder
		h := hex.EncodeToString(got)
		for len(h) > 64 {
			b.WriteString(h[:64] + "\n")
			h = h[64:]
		}
		b.WriteString(h + "\n")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	want, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("packed 0100:\ngot  %x\nwant %x", got, want)
	}
	back, err := Unpack(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := back.Describe(), m.Describe(); got != want {
		t.Errorf("Unpack(golden):\ngot  %s\nwant %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	auth := sampleAuth(t)
	resp, err := NewResponse(auth, Approved)
	must(t, err)
	must(t, resp.SetString(DEAuthID, "A1B2C3"))
	must(t, resp.SetBytes(DEICC, mustHex("910A0102030405060708"+"3030")))

	rev := New(ReversalRequest)
	rev.Copy(auth, DEPAN, DEProcessingCode, DEAmount, DETransmission, DETerminal, DEMerchant, DECurrency)
	must(t, rev.SetSTAN(4712))
	must(t, rev.SetString(DEOriginal, "0100"+"004711"+"0314092653"+"00048021000"+"00000000000"))
	must(t, rev.SetString(DEReplacement, strings.Repeat("0", 42)))
	must(t, rev.SetString(DEAccount, "ACC 001"))

	echo := New(NetworkRequest)
	echo.SetTransmissionTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	must(t, echo.SetSTAN(1))
	must(t, echo.SetString(DENetworkCode, string(EchoTest)))

	only127 := New("0620")
	must(t, only127.SetString(DEPrivate127, "free text"))

	tests := []struct {
		name          string
		m             *Message
		wantSecondary bool
	}{
		{"0100 authorization", auth, true},
		{"0110 answer", resp, false},
		{"0400 reversal", rev, true},
		{"0800 echo", echo, true},
		{"only DE127", only127, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if got := b[4]&0x80 != 0; got != tt.wantSecondary {
				t.Errorf("secondary bitmap flag: got %v, want %v", got, tt.wantSecondary)
			}
			back, err := Unpack(b)
			if err != nil {
				t.Fatal(err)
			}
			if back.MTI != tt.m.MTI {
				t.Errorf("MTI: got %s, want %s", back.MTI, tt.m.MTI)
			}
			if got, want := back.Elements(), tt.m.Elements(); !equalInts(got, want) {
				t.Errorf("elements: got %v, want %v", got, want)
			}
			for _, de := range tt.m.Elements() {
				g, _ := back.Bytes(de)
				w, _ := tt.m.Bytes(de)
				if !bytes.Equal(g, w) {
					t.Errorf("DE%d: got %x, want %x", de, g, w)
				}
			}
			again, err := back.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("repack: got %x, want %x", again, b)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// raw builds a message by hand: MTI, a bitmap naming des, then body.
func raw(mti string, des []int, body string) []byte {
	var bm [2]uint64
	for _, de := range des {
		bm[(de-1)/64] |= 1 << (63 - uint((de-1)%64))
		if de > 64 {
			bm[0] |= 1 << 63
		}
	}
	b := []byte(mti)
	b = binary.BigEndian.AppendUint64(b, bm[0])
	if bm[0]&(1<<63) != 0 {
		b = binary.BigEndian.AppendUint64(b, bm[1])
	}
	return append(b, body...)
}

func TestUnpackErrors(t *testing.T) {
	good, err := sampleAuth(t).Pack()
	must(t, err)
	bitmapOnly := func(mti string, bm ...byte) []byte { return append([]byte(mti), bm...) }
	tests := []struct {
		name   string
		in     []byte
		want   error
		wantDE string // the element the message must name, if any
	}{
		{"empty", nil, ErrTruncated, ""},
		{"short MTI", []byte("01"), ErrTruncated, ""},
		{"MTI not digits", bitmapOnly("01A0", 0x20, 0, 0, 0, 0, 0, 0, 0), ErrBadMTI, ""},
		{"MTI version 1993", bitmapOnly("1100", 0x20, 0, 0, 0, 0, 0, 0, 0), ErrBadMTI, ""},
		{"MTI class 9", bitmapOnly("0900", 0x20, 0, 0, 0, 0, 0, 0, 0), ErrBadMTI, ""},
		{"no bitmap", []byte("0100"), ErrTruncated, ""},
		{"short primary bitmap", bitmapOnly("0100", 0x20, 0, 0), ErrTruncated, ""},
		{"missing secondary bitmap", bitmapOnly("0100", 0xA0, 0, 0, 0, 0, 0, 0, 0), ErrTruncated, ""},
		{"secondary bitmap of zeros, no element", bitmapOnly("0100", 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), ErrBadBitmap, ""},
		{"secondary bitmap of zeros, element missing", bitmapOnly("0100", 0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), ErrTruncated, "DE3 "},
		{"ASCII-hex bitmap", append([]byte("0100"), "0020000000800000"+"000042"+"T0000001"...), ErrHexBitmap, ""},
		{"ASCII-hex bitmap, secondary not hex", append([]byte("0100"), "A000000000000000"+"zz"...), ErrHexBitmap, ""},
		{"empty bitmap", bitmapOnly("0100", 0, 0, 0, 0, 0, 0, 0, 0), ErrBadBitmap, ""},
		{"element without spec", raw("0100", []int{5}, "000000000001"), ErrUnknownElement, "DE5 "},
		{"tertiary bitmap flag", raw("0100", []int{65}, "0000000000000000"), ErrUnknownElement, "DE65 "},
		{"LLVAR prefix not digits", raw("0100", []int{2}, "1A6222020000000004"), ErrBadLength, "DE2 "},
		{"LLVAR zero length", raw("0100", []int{2}, "00"), ErrBadLength, "DE2 "},
		{"LLVAR above max", raw("0100", []int{2}, "20"+"62220200000000040000"), ErrBadLength, "DE2 "},
		{"LLLVAR above max", raw("0100", []int{55}, "256"+strings.Repeat("x", 256)), ErrBadLength, "DE55 "},
		{"ends inside length prefix", raw("0100", []int{2}, "1"), ErrTruncated, "DE2 "},
		{"ends inside LLVAR element", raw("0100", []int{2}, "16622202000"), ErrTruncated, "DE2 "},
		{"ends inside fixed element", raw("0100", []int{3, 4}, "000000"+"0000001"), ErrTruncated, "DE4 "},
		{"non-digits in n", raw("0100", []int{3}, "00A000"), ErrBadCharacters, "DE3 "},
		{"non-digits in LLVAR n", raw("0100", []int{2}, "16"+"62220200000x0004"), ErrBadCharacters, "DE2 "},
		{"bad z character", raw("0100", []int{35}, "21"+"6222020000000004X2912"), ErrBadCharacters, "DE35 "},
		{"control character in ans", raw("0100", []int{41}, "T000\n001"), ErrBadCharacters, "DE41 "},
		{"punctuation in an", raw("0100", []int{39}, "0-"), ErrBadCharacters, "DE39 "},
		{"trailing bytes", append(bytes.Clone(good), 'X'), ErrTrailingBytes, ""},
		{"truncated real message", good[:len(good)-1], ErrTruncated, "DE123 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unpack(tt.in)
			if m != nil {
				t.Errorf("Unpack: got a message %v, want nil", m)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unpack: got error %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) || !fault.Has(err, fault.Invalid, FormatErrorCode) {
				t.Errorf("Unpack: got kind %s code %s, want invalid %s", fault.KindOf(err), fault.CodeOf(err), FormatErrorCode)
			}
			if tt.wantDE != "" && !strings.Contains(err.Error()+" ", tt.wantDE) {
				t.Errorf("error %q: got no mention of %q", err, tt.wantDE)
			}
			for _, secret := range []string{testPAN, "6222020000", "62220200000x0004"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q: leaks an element value", err)
				}
			}
		})
	}
}

func TestUnpackPartial(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantMTI  MTI
		wantSTAN STAN
		wantTID  string
	}{
		{"bad element after DE11 and DE41", raw("0100", []int{11, 41, 43}, "000042"+"T0000001"+"short"), "0100", 42, "T0000001"},
		{"unknown element before DE41", raw("0200", []int{11, 40, 41}, "000043"+"xyz"+"T0000001"), "0200", 43, ""},
		{"bitmap unreadable", []byte("0400\x00"), "0400", 0, ""},
		{"bad characters before DE11 and DE41", raw("0100", []int{4, 11, 41}, "0000000005x0"+"000044"+"T0000001"), "0100", 44, "T0000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UnpackPartial(tt.in)
			if err == nil {
				t.Fatal("UnpackPartial: got no error, want one")
			}
			if m == nil {
				t.Fatalf("UnpackPartial: got no message, want MTI %s", tt.wantMTI)
			}
			if m.MTI != tt.wantMTI {
				t.Errorf("MTI: got %s, want %s", m.MTI, tt.wantMTI)
			}
			stan, _ := m.STAN()
			if stan != tt.wantSTAN {
				t.Errorf("STAN: got %v, want %v", stan, tt.wantSTAN)
			}
			tid, _ := m.String(DETerminal)
			if tid != tt.wantTID {
				t.Errorf("DE41: got %q, want %q", tid, tt.wantTID)
			}
			if m.Has(DEAmount) {
				t.Error("DE4 with bad characters: got it in the partial message, want it left out")
			}
			if _, uerr := Unpack(tt.in); uerr == nil || uerr.Error() != err.Error() {
				t.Errorf("Unpack: got %v, want the same error as UnpackPartial (%v)", uerr, err)
			}
		})
	}
	if m, err := UnpackPartial([]byte("XXXX")); m != nil || err == nil {
		t.Errorf("UnpackPartial(bad MTI) = %v, %v; want nil and an error", m, err)
	}
}

// outsideAnswer is an 0110 as codecs that always send the secondary bitmap
// (npm iso_8583, Postilion-style hosts) write it, built byte by byte here and
// not by Pack: bit 1 set, a secondary bitmap of zeros, then DE4, DE11, DE38,
// DE39 and DE41.
var outsideAnswer = append([]byte("0110"+
	"\x90\x20\x00\x00\x06\x80\x00\x00"+ // primary: 1, 4, 11, 38, 39, 41
	"\x00\x00\x00\x00\x00\x00\x00\x00"), // secondary: none
	"000000001234"+"000042"+"A1B2C3"+"00"+"T0000001"...)

func TestUnpackZeroSecondaryBitmap(t *testing.T) {
	m, err := Unpack(outsideAnswer)
	if err != nil {
		t.Fatalf("Unpack: got %v, want the message (a secondary bitmap of zeros is well-formed)", err)
	}
	if got, want := m.Elements(), []int{DEAmount, DESTAN, DEAuthID, DEResponseCode, DETerminal}; !equalInts(got, want) {
		t.Errorf("elements: got %v, want %v", got, want)
	}
	if rc, _ := m.ResponseCode(); rc != Approved {
		t.Errorf("DE39: got %q, want 00", rc)
	}
	if tid, _ := m.String(DETerminal); tid != "T0000001" {
		t.Errorf("DE41: got %q, want T0000001", tid)
	}
	again, err := m.Pack()
	must(t, err)
	if again[4]&0x80 != 0 || len(again) != len(outsideAnswer)-8 {
		t.Errorf("Pack: got %x, want no secondary bitmap", again)
	}
}

func TestHexBitmap(t *testing.T) {
	// An 0100 as a codec with ASCII-hex bitmaps writes it: DE11, DE41.
	in := append([]byte("0100"), "0020000000800000"+"000042"+"T0000001"...)
	_, err := Unpack(in)
	if !errors.Is(err, ErrHexBitmap) || !errors.Is(err, ErrFormat) {
		t.Fatalf("Unpack: got %v, want ErrHexBitmap, a format error", err)
	}
	p, perr := UnpackPartial(in)
	if p == nil || perr == nil || perr.Error() != err.Error() {
		t.Fatalf("UnpackPartial: got %v, %v; want the message read and the same error", p, perr)
	}
	if stan, _ := p.STAN(); stan != 42 {
		t.Errorf("DE11: got %v, want 000042", stan)
	}
	if tid, _ := p.String(DETerminal); tid != "T0000001" {
		t.Errorf("DE41: got %q, want T0000001", tid)
	}
	resp, err := NewResponse(p, FormatError)
	must(t, err)
	b, err := resp.AppendPackHexBitmap(nil)
	must(t, err)
	// 0110, DE11 DE39 DE41: bits 11, 39, 41.
	want := "0110" + "0020000002800000" + "000042" + "30" + "T0000001"
	if string(b) != want {
		t.Errorf("AppendPackHexBitmap: got %q, want %q", b, want)
	}
	withSecondary := New(NetworkRequest)
	must(t, withSecondary.SetSTAN(7))
	must(t, withSecondary.SetString(DENetworkCode, "301"))
	b, err = withSecondary.AppendPackHexBitmap([]byte("xx"))
	must(t, err)
	if want := "xx0800" + "8020000000000000" + "0400000000000000" + "000007" + "301"; string(b) != want {
		t.Errorf("AppendPackHexBitmap with DE70: got %q, want %q", b, want)
	}
}

func TestUnpackDoesNotAlias(t *testing.T) {
	b, err := sampleAuth(t).Pack()
	must(t, err)
	m, err := Unpack(b)
	must(t, err)
	for i := range b {
		b[i] = 'X'
	}
	if got, _ := m.String(DEPAN); got != testPAN {
		t.Errorf("DE2 after overwriting the input: got %s, want the original value", maskPAN([]byte(got)))
	}
}

func TestSetterErrors(t *testing.T) {
	tests := []struct {
		name string
		de   int
		set  func(m *Message) error
		want error
	}{
		{"unknown element", 5, func(m *Message) error { return m.SetString(5, "x") }, ErrUnknownElement},
		{"element above 128", 200, func(m *Message) error { return m.SetString(200, "x") }, ErrUnknownElement},
		{"negative element", -1, func(m *Message) error { return m.SetBytes(-1, []byte("x")) }, ErrUnknownElement},
		{"fixed too short", DESTAN, func(m *Message) error { return m.SetString(DESTAN, "12345") }, ErrBadLength},
		{"variable empty", DEPAN, func(m *Message) error { return m.SetString(DEPAN, "") }, ErrBadLength},
		{"variable too long", DEPAN, func(m *Message) error { return m.SetString(DEPAN, "62220200000000040000") }, ErrBadLength},
		{"letter in n", DEPAN, func(m *Message) error { return m.SetString(DEPAN, "62220200000x0004") }, ErrBadCharacters},
		{"punctuation in an", DERRN, func(m *Message) error { return m.SetString(DERRN, "abc-def-ghij") }, ErrBadCharacters},
		{"non-ASCII in ans", DEMerchantName, func(m *Message) error { return m.SetString(DEMerchantName, "上海"+strings.Repeat(" ", 34)) }, ErrBadCharacters},
		{"binary too long", DEICC, func(m *Message) error { return m.SetBytes(DEICC, make([]byte, 256)) }, ErrBadLength},
		{"number into ans", DETerminal, func(m *Message) error { return m.SetNumber(DETerminal, 1) }, ErrWrongType},
		{"negative number", DEAmount, func(m *Message) error { return m.SetNumber(DEAmount, -1) }, ErrBadLength},
		{"number too large", DESTAN, func(m *Message) error { return m.SetNumber(DESTAN, 1234567) }, ErrBadLength},
		{"STAN zero", DESTAN, func(m *Message) error { return m.SetSTAN(0) }, ErrBadLength},
		{"STAN too large", DESTAN, func(m *Message) error { return m.SetSTAN(MaxSTAN + 1) }, ErrBadLength},
		{"negative amount", DEAmount, func(m *Message) error { return m.SetAmount(money.Fen(-1)) }, ErrBadLength},
		{"currency zero", DEAmount, func(m *Message) error { return m.SetAmount(money.New(1, 0)) }, ErrBadLength},
		{"empty token data", DETokenData, func(m *Message) error { return m.SetTokenData(TokenData{}) }, ErrBadLength},
		{"token with letters", DETokenData, func(m *Message) error { return m.SetTokenData(TokenData{Token: "62220200000x0004"}) }, ErrBadCharacters},
		{"response code too long", DEResponseCode, func(m *Message) error { return m.SetResponseCode("000") }, ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(AuthorizationRequest)
			err := tt.set(m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("got kind %s code %s, want a format error", fault.KindOf(err), fault.CodeOf(err))
			}
			if strings.Contains(err.Error(), "62220200000") {
				t.Errorf("error %q leaks the value", err)
			}
			if got := m.Elements(); len(got) != 0 {
				t.Errorf("elements after a failed set: got %v, want none", got)
			}
		})
	}
}

func TestPackErrors(t *testing.T) {
	withBadElement := New(AuthorizationRequest)
	withBadElement.put(DEPAN, []byte("62220200000x0004")) // bypasses the setter
	unknown := New(AuthorizationRequest)
	unknown.put(5, []byte("1"))
	// A value that was never checked stays unchecked in a copy: Pack
	// checks it there too (the others were checked when set).
	_ = withBadElement.SetSTAN(42)
	answerToBad, err := NewResponse(withBadElement, Approved)
	if err != nil {
		t.Fatal(err)
	}
	copiedBad := New(ReversalRequest)
	copiedBad.Copy(withBadElement, DEPAN, DESTAN)
	tests := []struct {
		name string
		m    *Message
		want error
	}{
		{"no MTI", &Message{}, ErrBadMTI},
		{"MTI function 9", New("0190"), ErrBadMTI},
		{"no elements", New(AuthorizationRequest), ErrBadBitmap},
		{"element breaks its type", withBadElement, ErrBadCharacters},
		{"element without spec", unknown, ErrUnknownElement},
		{"a clone's element breaks its type", withBadElement.Clone(), ErrBadCharacters},
		{"an answer's echoed element breaks its type", answerToBad, ErrBadCharacters},
		{"a copied element breaks its type", copiedBad, ErrBadCharacters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("keep")
			b, err := tt.m.AppendPack(prefix)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got error %v, want %v", err, tt.want)
			}
			if string(b) != "keep" {
				t.Errorf("AppendPack on failure: got %q, want dst unchanged", b)
			}
			if strings.Contains(err.Error(), "62220200000") {
				t.Errorf("error %q leaks the value", err)
			}
		})
	}
}

func TestMTI(t *testing.T) {
	tests := []struct {
		mti      MTI
		valid    bool
		request  bool
		response MTI
	}{
		{"0100", true, true, "0110"},
		{"0101", true, true, "0110"},
		{"0110", true, false, ""},
		{"0120", true, true, "0130"},
		{"0200", true, true, "0210"},
		{"0400", true, true, "0410"},
		{"0401", true, true, "0410"},
		{"0420", true, true, "0430"},
		{"0800", true, true, "0810"},
		{"0803", true, true, "0812"},
		{"0140", true, false, ""},
		{"0900", false, false, ""},
		{"0000", false, false, ""},
		{"0150", false, false, ""},
		{"0106", false, false, ""},
		{"100", false, false, ""},
		{"01a0", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.mti), func(t *testing.T) {
			if got := tt.mti.Check() == nil; got != tt.valid {
				t.Errorf("Check: got valid=%v, want %v", got, tt.valid)
			}
			if got := tt.mti.IsRequest(); got != tt.request {
				t.Errorf("IsRequest: got %v, want %v", got, tt.request)
			}
			got, err := tt.mti.Response()
			if got != tt.response || (err == nil) != (tt.response != "") {
				t.Errorf("Response: got %q, %v; want %q", got, err, tt.response)
			}
			if tt.response != "" && !tt.response.IsResponse() {
				t.Errorf("IsResponse(%s): got false, want true", tt.response)
			}
		})
	}
}

func TestSTAN(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want STAN
		err  error
	}{
		{"ordinary", "004711", 4711, nil},
		{"max", "999999", MaxSTAN, nil},
		{"short", "4711", 0, ErrBadLength},
		{"letters", "00471a", 0, ErrBadCharacters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSTAN(tt.in)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("ParseSTAN(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
			}
			if tt.err == nil && got.String() != tt.in {
				t.Errorf("String: got %s, want %s", got, tt.in)
			}
		})
	}
	c := NewSTANCounter(MaxSTAN - 1)
	for _, want := range []STAN{MaxSTAN, 1, 2} {
		if got := c.Next(); got != want {
			t.Errorf("Next: got %v, want %v", got, want)
		}
	}
	var zero STANCounter
	if got := zero.Next(); got != 1 {
		t.Errorf("zero counter Next: got %v, want 000001", got)
	}
}

func TestResponseCodes(t *testing.T) {
	seen := map[ResponseCode]bool{}
	for _, c := range ResponseCodes() {
		t.Run(string(c), func(t *testing.T) {
			if len(c) != 2 || seen[c] {
				t.Errorf("got code %q (seen before: %v), want two characters, once", c, seen[c])
			}
			seen[c] = true
			if !c.Known() || c.Text() == "unknown response code" {
				t.Errorf("Text: got %q, want a meaning", c.Text())
			}
			m := New(AuthorizationResponse)
			if err := m.SetResponseCode(c); err != nil {
				t.Errorf("SetResponseCode: got %v, want nil", err)
			}
			if got, _ := m.ResponseCode(); got != c {
				t.Errorf("ResponseCode: got %s, want %s", got, c)
			}
		})
	}
	if got := len(seen); got != 21 {
		t.Errorf("number of response codes: got %d, want 21", got)
	}
	m := New(AuthorizationResponse)
	if got, ok := m.ResponseCode(); got != "" || ok {
		t.Errorf("ResponseCode without DE39: got %q, %v; want \"\", false", got, ok)
	}
	_ = m.SetResponseCode("Q1")
	if got, ok := m.ResponseCode(); got != "Q1" || !ok {
		t.Errorf("ResponseCode of an unknown code: got %q, %v; want Q1, true", got, ok)
	}
	if !Approved.Approved() || DoNotHonour.Approved() {
		t.Errorf("Approved(): got %v/%v for 00/05, want true/false", Approved.Approved(), DoNotHonour.Approved())
	}
	if got := ResponseCode("Q1").String(); got != "Q1 unknown response code" {
		t.Errorf("String of an unknown code: got %q", got)
	}
	if CDCVMMissing != "55" {
		t.Errorf("CDCVMMissing: got %s, want 55", CDCVMMissing)
	}
}

func TestNewResponse(t *testing.T) {
	req := sampleAuth(t)
	resp, err := NewResponse(req, InsufficientFunds)
	must(t, err)
	if resp.MTI != AuthorizationResponse {
		t.Errorf("MTI: got %s, want 0110", resp.MTI)
	}
	for _, de := range []int{DEPAN, DEAmount, DESTAN, DERRN, DETerminal, DEMerchant, DECurrency} {
		g, _ := resp.String(de)
		w, _ := req.String(de)
		if g != w {
			t.Errorf("DE%d: got %q, want it echoed", de, shown(de, []byte(g)))
		}
	}
	for _, de := range []int{DETrack2, DEICC, DETokenData, DEExpiry} {
		if resp.Has(de) {
			t.Errorf("DE%d: got it in the answer, want it left out", de)
		}
	}
	if rc, _ := resp.ResponseCode(); rc != InsufficientFunds {
		t.Errorf("DE39: got %s, want 51", rc)
	}
	if _, err := NewResponse(resp, Approved); !errors.Is(err, ErrBadMTI) {
		t.Errorf("NewResponse(answer): got %v, want ErrBadMTI", err)
	}
}

func TestAmountAndTimes(t *testing.T) {
	m := sampleAuth(t)
	a, err := m.Amount()
	must(t, err)
	if a != money.Fen(12345) {
		t.Errorf("Amount: got %v, want 123.45 CNY", a)
	}
	if got, _ := m.String(DEAmount); got != "000000012345" {
		t.Errorf("DE4: got %s, want 000000012345", got)
	}
	if got, _ := m.String(DELocalTime); got != "172653" {
		t.Errorf("DE12 in UTC+8: got %s, want 172653", got)
	}
	if got, _ := m.String(DELocalDate); got != "0314" {
		t.Errorf("DE13: got %s, want 0314", got)
	}
	tests := []struct {
		name string
		de7  string
		now  time.Time
		want time.Time
	}{
		{"same year", "0314092653", time.Date(2026, 3, 14, 9, 27, 0, 0, time.UTC), time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)},
		{"across new year", "1231235959", time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"leap day", "0229120000", time.Date(2028, 2, 29, 12, 0, 1, 0, time.UTC), time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(NetworkRequest)
			must(t, m.SetString(DETransmission, tt.de7))
			got, err := m.TransmissionTime(tt.now)
			must(t, err)
			if !got.Equal(tt.want) {
				t.Errorf("TransmissionTime: got %v, want %v", got, tt.want)
			}
		})
	}
	bad := New(NetworkRequest)
	must(t, bad.SetString(DETransmission, "1399999999"))
	if _, err := bad.TransmissionTime(time.Now()); !errors.Is(err, ErrBadCharacters) {
		t.Errorf("TransmissionTime(month 13): got %v, want ErrBadCharacters", err)
	}
	if _, err := New(NetworkRequest).Amount(); !errors.Is(err, ErrWrongType) {
		t.Errorf("Amount without DE4: got %v, want ErrWrongType", err)
	}
}

func TestNumberGetter(t *testing.T) {
	m := sampleAuth(t)
	must(t, m.SetString(DEOriginal, strings.Repeat("9", 42)))
	tests := []struct {
		name string
		de   int
		want int64
		ok   bool
	}{
		{"amount", DEAmount, 12345, true},
		{"STAN", DESTAN, 4711, true},
		{"absent", DEAuthID, 0, false},
		{"not numeric", DETerminal, 0, false},
		{"too large", DEOriginal, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.Number(tt.de)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Number(%d) = %d, %v; want %d, %v", tt.de, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestCloneIndependent: a clone shares its values' bytes with the original
// but not its elements — setting, replacing or removing an element of one
// leaves the other as it was, and both pack as they read.
func TestCloneIndependent(t *testing.T) {
	orig := sampleAuth(t)
	want, err := orig.Pack()
	must(t, err)
	c := orig.Clone()
	must(t, c.SetString(DEPAN, "6212340000005678"))
	c.Unset(DEICC)
	must(t, c.SetString(DEAuthID, "A1B2C3"))
	c.MTI = AuthorizationRequestRepeat
	if got, err := orig.Pack(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the original after its clone changed: %x, %v; want %x", got, err, want)
	}
	if v, _ := orig.String(DEPAN); v == "6212340000005678" {
		t.Fatal("the clone's DE2 shows in the original")
	}
	if !orig.Has(DEICC) || orig.Has(DEAuthID) {
		t.Fatal("the clone's removed or added element shows in the original")
	}
	got, err := c.Pack()
	must(t, err)
	back, err := Unpack(got)
	must(t, err)
	if v, _ := back.String(DEPAN); v != "6212340000005678" || back.Has(DEICC) || back.MTI != AuthorizationRequestRepeat {
		t.Fatalf("the clone packs as %s with DE2 %q, DE55 %v", back.MTI, v, back.Has(DEICC))
	}
	resp, err := NewResponse(orig, Approved)
	must(t, err)
	must(t, resp.SetString(DETerminal, "T9999999"))
	if v, _ := orig.String(DETerminal); v == "T9999999" {
		t.Fatal("the answer's DE41 shows in its request")
	}
}

// TestPackOnce: what PackOnce kept is what Pack and AppendPack give while
// the message is unchanged, and a change of an element or of the MTI is
// encoded anew.
func TestPackOnce(t *testing.T) {
	m := New(AuthorizationResponse)
	_ = m.SetString(DESTAN, "000123")
	_ = m.SetString(DETerminal, "T0000001")
	_ = m.SetResponseCode(Approved)
	once, err := m.PackOnce()
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(m *Message) []byte {
		b, err := m.Clone().Pack() // a clone keeps no encoding
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got, _ := m.AppendPack([]byte{0, 0}); string(got[2:]) != string(fresh(m)) || string(once) != string(fresh(m)) {
		t.Fatalf("AppendPack after PackOnce: got %x, want %x", got[2:], fresh(m))
	}
	_ = m.SetResponseCode(DoNotHonour)
	if got, _ := m.Pack(); string(got) == string(once) || string(got) != string(fresh(m)) {
		t.Fatalf("after a change: got %x, want %x", got, fresh(m))
	}
	if _, err := m.PackOnce(); err != nil {
		t.Fatal(err)
	}
	m.MTI = ReversalResponse
	if got, _ := m.Pack(); string(got[:4]) != "0410" || string(got) != string(fresh(m)) {
		t.Fatalf("after an MTI change: got %x, want %x", got, fresh(m))
	}
}

// TestValueIsShared: Value gives the element's own bytes (what Bytes
// copies), false for an absent element.
func TestValueIsShared(t *testing.T) {
	m := New(AuthorizationRequest)
	if err := m.SetBytes(DEICC, []byte{0x9f, 0x26, 0x01, 0x07}); err != nil {
		t.Fatal(err)
	}
	v, ok := m.Value(DEICC)
	c, _ := m.Bytes(DEICC)
	if !ok || !bytes.Equal(v, c) {
		t.Fatalf("Value: got %X, %v; want %X", v, ok, c)
	}
	if again, _ := m.Value(DEICC); &again[0] != &v[0] {
		t.Fatal("Value made a copy")
	}
	if v, ok := m.Value(DEPAN); ok || v != nil {
		t.Fatalf("Value of an absent element: %X, %v", v, ok)
	}
}

// TestSetNumberPads: a fixed numeric element is padded with zeros on the
// left to its length, a variable one is not.
func TestSetNumberPads(t *testing.T) {
	for _, c := range []struct {
		de   int
		v    int64
		want string
	}{{DECurrency, 5, "005"}, {DEAmount, 0, "000000000000"}, {DEAmount, 999999999999, "999999999999"}, {DEAcquirer, 42, "42"}} {
		m := New(AuthorizationRequest)
		if err := m.SetNumber(c.de, c.v); err != nil {
			t.Fatalf("DE%d %d: %v", c.de, c.v, err)
		}
		if got, _ := m.String(c.de); got != c.want {
			t.Errorf("DE%d %d: got %q, want %q", c.de, c.v, got, c.want)
		}
	}
}
