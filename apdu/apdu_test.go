package apdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestParseCommand(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	tests := []struct {
		name string
		in   []byte
		want Command
		cas  Case
	}{
		{"case 1", unhex(t, "00A40400"), Command{CLA: 0x00, INS: 0xA4, P1: 0x04}, Case1},
		{"case 2 short", unhex(t, "00C0000010"), Command{INS: 0xC0, Ne: 16}, Case2},
		{"case 2 short Le 00 means 256", unhex(t, "00B2010C00"), Command{INS: 0xB2, P1: 1, P2: 0x0C, Ne: 256}, Case2},
		{"case 3 short", unhex(t, "00A404000E325041592E5359532E4444463031"),
			Command{INS: 0xA4, P1: 4, Data: []byte("2PAY.SYS.DDF01")}, Case3},
		{"case 4 short", unhex(t, "00A4040008A00000033301010100"),
			Command{INS: 0xA4, P1: 4, Data: unhex(t, "A000000333010101"), Ne: 256}, Case4},
		{"case 2 extended", unhex(t, "00B00000000100"), Command{INS: 0xB0, Ne: 256, Extended: true}, Case2},
		{"case 2 extended Le 0000 means 65536", unhex(t, "00B00000000000"), Command{INS: 0xB0, Ne: 65536, Extended: true}, Case2},
		{"case 3 extended", append(unhex(t, "00D60000"+"00012C"), long...),
			Command{INS: 0xD6, Data: long, Extended: true}, Case3},
		{"case 4 extended", append(append(unhex(t, "802A8086"+"00012C"), long...), 0x01, 0x00),
			Command{CLA: 0x80, INS: 0x2A, P1: 0x80, P2: 0x86, Data: long, Ne: 256, Extended: true}, Case4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Data) == 0 {
				got.Data = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.Case() != tt.cas {
				t.Errorf("case: got %v, want %v", got.Case(), tt.cas)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, tt.in) {
				t.Errorf("Marshal: got %X, want %X", again, tt.in)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrTooShort},
		{"three bytes", "00A404", ErrTooShort},
		{"Lc larger than data", "00A4040005A000", ErrLength},
		{"Lc smaller than data", "00A4040001A0000000", ErrLength},
		{"six bytes starting 00", "00A404000000", ErrLength},
		{"extended Lc 0 with data", "00A40400000000AA", ErrLength},
		{"extended Lc larger than data", "00A4040000000AA0", ErrLength},
		{"extended Lc with one Le byte", "00A404000000" + "01" + "A0" + "00", ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCommand(unhex(t, tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if strings.Contains(strings.ToUpper(err.Error()), "A000") {
				t.Errorf("error %q shows input bytes", err)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		c    Command
		want string
	}{
		{"short case 4", Select(unhex(t, "A000000333010101")), "00A4040008A00000033301010100"},
		{"data over 255 goes extended", Command{INS: 0xD6, Data: make([]byte, 256)}, "00D60000000100" + strings.Repeat("00", 256)},
		{"Ne over 256 goes extended", Command{INS: 0xB0, Ne: 257}, "00B00000000101"},
		{"Ne 65536 is 0000", Command{INS: 0xB0, Ne: 65536}, "00B00000000000"},
		{"forced extended case 4", Command{INS: 0xB0, Data: []byte{1}, Ne: 1, Extended: true}, "00B00000000001010001"},
		{"GPO wraps data in 83", GetProcessingOptions(unhex(t, "3600400000000000100000000000000001560000000000015612345678")),
			"80A800001F831D3600400000000000100000000000000001560000000000015612345678" + "00"},
		{"GPO without PDOL", GetProcessingOptions(nil), "80A80000028300" + "00"},
		{"read record SFI 1 record 2", ReadRecord(1, 2), "00B2020C00"},
		{"generate AC ARQC", GenerateAC(RefARQC, unhex(t, "0102")), "80AE80000201020" + "0"},
		{"get data ATC", GetData(0x9F36), "80CA9F3600"},
		{"get response", GetResponse(0x1A), "00C000001A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.ToUpper(hex.EncodeToString(got)); g != tt.want {
				t.Errorf("got %s, want %s", g, tt.want)
			}
		})
	}
	for _, c := range []Command{{Data: make([]byte, 65536)}, {Ne: -1}, {Ne: 65537}} {
		if _, err := c.Marshal(); !errors.Is(err, ErrTooLong) {
			t.Errorf("Marshal %v: got %v, want ErrTooLong", c, err)
		}
	}
}

func TestCommandStringHidesData(t *testing.T) {
	c := Command{CLA: 0x00, INS: InsVerify, P1: 0x00, P2: 0x80, Data: unhex(t, "241234FFFFFFFFFF")}
	if got, want := c.String(), "00200080 case 3 Nc=8"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantData string
		wantSW   StatusWord
	}{
		{"status only", "6A82", "", SWFileNotFound},
		{"data and 9000", "770A9F2701809F360200019000", "770A9F2701809F36020001", SWSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseResponse(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ToUpper(hex.EncodeToString(r.Data)); got != tt.wantData || r.SW != tt.wantSW {
				t.Errorf("got %s %v, want %s %v", got, r.SW, tt.wantData, tt.wantSW)
			}
			if got := strings.ToUpper(hex.EncodeToString(r.Marshal())); got != tt.in {
				t.Errorf("Marshal: got %s, want %s", got, tt.in)
			}
		})
	}
	for _, in := range [][]byte{nil, {0x90}} {
		if _, err := ParseResponse(in); !errors.Is(err, ErrTooShort) {
			t.Errorf("ParseResponse(%X): got %v, want ErrTooShort", in, err)
		}
	}
	if _, err := ParseResponse(make([]byte, 65539)); !errors.Is(err, ErrTooLong) {
		t.Errorf("ParseResponse of 65539 bytes: got %v, want ErrTooLong", err)
	}
}

func TestStatusWordString(t *testing.T) {
	tests := []struct {
		sw   StatusWord
		want string
	}{
		{0x9000, "9000 success"},
		{0x6A82, "6A82 file or application not found"},
		{0x6985, "6985 conditions of use not satisfied"},
		{0x6986, "6986 command not allowed (no current EF)"},
		{0x6283, "6283 selected file or application deactivated"},
		{0x6700, "6700 wrong length"},
		{0x6A80, "6A80 incorrect parameters in the command data field"},
		{0x6A81, "6A81 function not supported"},
		{0x6A83, "6A83 record not found"},
		{0x6A86, "6A86 incorrect parameters P1-P2"},
		{0x6A88, "6A88 referenced data or reference data not found"},
		{0x6D00, "6D00 instruction code not supported or invalid"},
		{0x6E00, "6E00 class not supported"},
		{0x6F00, "6F00 no precise diagnosis"},
		{0x6982, "6982 security status not satisfied"},
		{0x6983, "6983 authentication method blocked"},
		{0x6984, "6984 reference data not usable"},
		{0x9302, "9302 MAC invalid"},
		{0x9401, "9401 insufficient funds"},
		{0x611A, "611A 26 response bytes still available"},
		{0x63C2, "63C2 verification failed, 2 retries left"},
		{0x6C10, "6C10 wrong Le field, exact length is 16"},
		{0x9F99, "9F99"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.sw.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if !SW(0x61, 0x10).OK() || !SWSuccess.OK() || SWFileNotFound.OK() {
		t.Errorf("OK: got %v %v %v, want true true false", SW(0x61, 0x10).OK(), SWSuccess.OK(), SWFileNotFound.OK())
	}
	var err error = SWConditionsNotSatisfied
	var sw StatusWord
	if !errors.As(err, &sw) || sw != 0x6985 {
		t.Errorf("errors.As: got %v, want 6985", sw)
	}
}
