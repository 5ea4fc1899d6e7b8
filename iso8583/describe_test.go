package iso8583

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestDescribeMasks(t *testing.T) {
	m := sampleAuth(t)
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // a clock reading could contain the digits we look for
		}
		return a
	}}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, noTime)).Info("auth", "msg", m)
	var loggedJSON strings.Builder
	slog.New(slog.NewJSONHandler(&loggedJSON, noTime)).Info("auth", "msg", *m)
	td, err := m.TokenData()
	must(t, err)
	outputs := map[string]string{
		"Describe":   m.Describe(),
		"%v":         fmt.Sprintf("%v", m),
		"%+v":        fmt.Sprintf("%+v", m),
		"%#v":        fmt.Sprintf("%#v", m),
		"%s value":   fmt.Sprintf("%s", *m),
		"%x":         fmt.Sprintf("%x", m),
		"slog text":  logged.String(),
		"slog JSON":  loggedJSON.String(),
		"token data": fmt.Sprintf("%v %+v %#v", td, td, td),
	}
	secrets := map[string]string{
		"PAN":        testPAN,
		"track 2":    "D2912",
		"expiry":     "2912",
		"ICC hex":    strings.ToLower(hex.EncodeToString(testICC[:6])),
		"ICC HEX":    strings.ToUpper(hex.EncodeToString(testICC[:6])),
		"PAR":        "5001000000000000",
		"middle PAN": "0200000000",
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			for what, secret := range secrets {
				if what == "PAR" && name == "token data" {
					continue // the PAR is not secret and TokenData shows it
				}
				if strings.Contains(out, secret) {
					t.Errorf("got the %s in %q", what, out)
				}
			}
			if name != "token data" && !strings.Contains(out, "622202******0004") {
				t.Errorf("got %q, want the masked PAN 622202******0004 in it", out)
			}
		})
	}
	want := "0100 DE2=622202******0004 DE3=000000 DE4=000000012345 DE7=0314092653 DE11=004711 DE12=172653 DE13=0314 DE14=[4 digits] DE18=5411"
	if got := m.Describe(); !strings.HasPrefix(got, want) {
		t.Errorf("Describe:\ngot  %s\nwant %s...", got, want)
	}
	for _, part := range []string{"DE35=622202******0004=****", "DE55=[34 bytes]", "DE41=T0000001"} {
		if !strings.Contains(m.Describe(), part) {
			t.Errorf("Describe: got %s, want it to contain %s", m.Describe(), part)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"6222020000000004", "622202******0004"},
		{"6222020000000000004", "622202*********0004"},
		{"622202000004", "************"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := maskPAN([]byte(tt.in)); got != tt.want {
				t.Errorf("maskPAN: got %s, want %s", got, tt.want)
			}
		})
	}
	if got := safeText("a\nb\x00c"); got != "a?b?c" {
		t.Errorf("safeText: got %q, want %q", got, "a?b?c")
	}
}

func TestTokenData(t *testing.T) {
	full := TokenData{Token: testPAN, PAR: "50010000000000000000000000001", RequestorID: "50110030273", Assurance: "02", DeviceID: "phone-7f3a"}
	b, err := full.Marshal()
	must(t, err)
	if want := "DF0110" + hex.EncodeToString([]byte(testPAN)); !strings.HasPrefix(strings.ToUpper(hex.EncodeToString(b)), strings.ToUpper(want)) {
		t.Errorf("Marshal: got %X, want it to start with %s", b, want)
	}
	got, err := ParseTokenData(b)
	must(t, err)
	if got != full {
		t.Errorf("ParseTokenData(Marshal): got %+v, want %+v", got, full)
	}
	withUnknown := append(mustHex("DF7F0178"), b...)
	if got, err := ParseTokenData(withUnknown); err != nil || got != full {
		t.Errorf("ParseTokenData with an unknown tag: got %+v, %v; want %+v", got, err, full)
	}
	longForm := append(mustHex("DF018110"), testPAN...)
	if got, err := ParseTokenData(longForm); err != nil || got.Token != testPAN {
		t.Errorf("ParseTokenData with a long-form length: got %+v, %v", got, err)
	}

	tests := []struct {
		name string
		in   string // hex
		want error
	}{
		{"empty", "", ErrBadLength},
		{"only unknown tags", "DF7F0100", ErrBadLength},
		{"tag cut", "DF", ErrTruncated},
		{"length cut", "DF01", ErrTruncated},
		{"long length cut", "DF0181", ErrTruncated},
		{"value runs past the end", "DF011031", ErrTruncated},
		{"tag of four bytes", "DF8181010100", ErrBadLength},
		{"length form 0x83", "DF0183000001", ErrBadLength},
		{"repeated tag", "DF040230" + "32" + "DF04023032", ErrBadLength},
		{"token with a letter", "DF010C" + hex.EncodeToString([]byte("62220200000X")), ErrBadCharacters},
		{"token too short", "DF0103313233", ErrBadLength},
		{"assurance too long", "DF0403303132", ErrBadLength},
		{"device id with control byte", "DF050100", ErrBadCharacters},
		{"longer than DE123 can be", "DF7F8203E8" + strings.Repeat("00", 1000), ErrBadLength},
		{"repeated device id", "DF050161" + "DF050162", ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokenData(mustHex(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("got code %s, want a format error", err)
			}
			if strings.Contains(err.Error(), "62220200000") {
				t.Errorf("error %q leaks the token", err)
			}
		})
	}
	if _, err := New(AuthorizationRequest).TokenData(); !errors.Is(err, ErrWrongType) {
		t.Errorf("TokenData without DE123: got %v, want ErrWrongType", err)
	}
}

// TestTokenDataFieldTags: each field of TokenData, alone, is written under
// its own tag (DF01 token … DF06 risk score) and read back into itself and
// no other field.
func TestTokenDataFieldTags(t *testing.T) {
	cases := []struct {
		tag  string
		data TokenData
	}{
		{"DF01", TokenData{Token: testPAN}},
		{"DF02", TokenData{PAR: "50010000000000000000000000001"}},
		{"DF03", TokenData{RequestorID: "50110030273"}},
		{"DF04", TokenData{Assurance: "02"}},
		{"DF05", TokenData{DeviceID: "phone-7f3a"}},
		{"DF06", TokenData{RiskScore: "07"}},
	}
	for _, c := range cases {
		b, err := c.data.Marshal()
		must(t, err)
		if got := strings.ToUpper(hex.EncodeToString(b[:2])); got != c.tag {
			t.Errorf("%+v: written under tag %s, want %s", c.data, got, c.tag)
		}
		if got, err := ParseTokenData(b); err != nil || got != c.data {
			t.Errorf("tag %s read back as %+v, %v; want %+v", c.tag, got, err, c.data)
		}
	}
}

// TestSetTokenDataInRoom: SetTokenData writes DE123 into the message's
// own room — what Marshal makes, kept as later elements are set beside it
// — and a refused one leaves the message as it was.
func TestSetTokenDataInRoom(t *testing.T) {
	m := New(AuthorizationRequest)
	must(t, m.SetString(DEPAN, testPAN))
	if err := m.SetTokenData(TokenData{Token: "12"}); !errors.Is(err, ErrBadLength) {
		t.Fatalf("a token of 2 digits: got %v, want ErrBadLength", err)
	}
	if m.Has(DETokenData) || m.Elements()[0] != DEPAN || len(m.Elements()) != 1 {
		t.Fatalf("after a refused DE123 the message holds %v", m.Elements())
	}
	td := TokenData{Token: testPAN, PAR: "50010000000000000000000000001", RiskScore: "07"}
	want, err := td.Marshal()
	must(t, err)
	must(t, m.SetTokenData(td))
	must(t, m.SetString(DETerminal, "T0000001"))
	must(t, m.SetString(DEMerchantName, strings.Repeat("X", 40)))
	if got, _ := m.Value(DETokenData); !bytes.Equal(got, want) {
		t.Errorf("DE123 %X, want %X", got, want)
	}
	if got, _ := m.String(DEPAN); got != testPAN {
		t.Errorf("DE2 %q, want %q", got, testPAN)
	}
	if got, err := m.TokenData(); err != nil || got != td {
		t.Errorf("TokenData: %+v, %v; want %+v", got, err, td)
	}
}
