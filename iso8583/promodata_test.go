package iso8583

import (
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func samplePromo() PromotionData {
	return PromotionData{Campaign: "cmb-dining-tiers", Gross: 12345, Discount: 1200, Fulfilment: PromoInstant,
		Funders: []PromotionFunder{{Kind: PromoFunderIssuer, Party: "cmb", Share: 840}, {Kind: PromoFunderNetwork, Party: "network", Share: 360}},
		Name:    "招商银行信用卡餐饮满减"}
}

func TestPromotionDataRoundTrip(t *testing.T) {
	p := samplePromo()
	b, err := p.Marshal()
	must(t, err)
	// DF60 10 "cmb-dining-tiers", DF61 0C "000000012345", DF62 0C "000000001200", DF63 01 01, FF64 ...
	want := "DF6010" + hex.EncodeToString([]byte("cmb-dining-tiers")) + "DF610C" + hex.EncodeToString([]byte("000000012345")) +
		"DF620C" + hex.EncodeToString([]byte("000000001200")) + "DF630101" + "FF6419" + "DF650102" + "DF6603" + hex.EncodeToString([]byte("cmb")) +
		"DF670C" + hex.EncodeToString([]byte("000000000840"))
	if got := strings.ToUpper(hex.EncodeToString(b)); !strings.HasPrefix(got, strings.ToUpper(want)) {
		t.Errorf("Marshal:\ngot  %s\nwant %s...", got, strings.ToUpper(want))
	}
	got, err := ParsePromotionData(b)
	must(t, err)
	if !reflect.DeepEqual(got, p) {
		t.Errorf("ParsePromotionData(Marshal): got %+v, want %+v", got, p)
	}

	m := New(AuthorizationResponse)
	must(t, m.SetPromotionData(p))
	packed, err := m.Pack()
	must(t, err)
	back, err := Unpack(packed)
	must(t, err)
	got, err = back.PromotionData()
	must(t, err)
	if !reflect.DeepEqual(got, p) {
		t.Errorf("over the wire: got %+v, want %+v", got, p)
	}
	if d := back.Describe(); !strings.Contains(d, fmt.Sprintf("DE124=[%d bytes]", len(b))) || strings.Contains(d, "cmb") {
		t.Errorf("Describe shows DE124 as %q, want its length only", d)
	}

	// The acquirer's form: no fulfilment or funders, the name.
	short := PromotionData{Campaign: "network-new-user-100-50", Gross: 10000, Discount: 5000, Name: "新用户满100减50"}
	b, err = short.Marshal()
	must(t, err)
	if got, err := ParsePromotionData(b); err != nil || !reflect.DeepEqual(got, short) {
		t.Errorf("short form: got %+v, %v; want %+v", got, err, short)
	}

	// Unknown tags are skipped, at the top and inside a funder; long-form lengths read.
	withUnknown := append(mustHex("DF7F0178"), b...)
	if got, err := ParsePromotionData(withUnknown); err != nil || !reflect.DeepEqual(got, short) {
		t.Errorf("with an unknown tag: got %+v, %v", got, err)
	}
	inner := "DF7E0100" + "DF650101" + "DF6607" + hex.EncodeToString([]byte("network")) + "DF67810C" + hex.EncodeToString([]byte("000000000100"))
	withFunder := "DF6001" + hex.EncodeToString([]byte("c")) + "DF610C" + hex.EncodeToString([]byte("000000000500")) + "DF620C" + hex.EncodeToString([]byte("000000000100")) +
		fmt.Sprintf("FF64%02X", len(inner)/2) + inner
	got, err = ParsePromotionData(mustHex(withFunder))
	must(t, err)
	if len(got.Funders) != 1 || got.Funders[0] != (PromotionFunder{Kind: PromoFunderNetwork, Party: "network", Share: 100}) {
		t.Errorf("funder with an unknown tag: got %+v", got.Funders)
	}
	if got.Shares() != 100 {
		t.Errorf("Shares: got %d, want 100", got.Shares())
	}
	if _, err := New(AuthorizationResponse).PromotionData(); !errors.Is(err, ErrWrongType) {
		t.Errorf("PromotionData without DE124: got %v, want ErrWrongType", err)
	}
	if s := fmt.Sprint(p); !strings.Contains(s, "cmb-dining-tiers") || !strings.Contains(s, "Discount:1200") {
		t.Errorf("String: got %s", s)
	}
}

func TestPromotionDataRefused(t *testing.T) {
	h := func(s string) string { return hex.EncodeToString([]byte(s)) }
	camp := "DF6002" + h("c1")
	gross := "DF610C" + h("000000010000")
	disc := "DF620C" + h("000000001000")
	funder := func(kind, party, share string) string {
		in := "DF6501" + kind + fmt.Sprintf("DF66%02X", len(party)) + h(party) + "DF670C" + h(share)
		return fmt.Sprintf("FF64%02X", len(in)/2) + in
	}
	tests := []struct {
		name string
		in   string // hex
		want error
		says string
	}{
		{"empty", "", ErrBadLength, "campaign id"},
		{"no campaign", gross + disc, ErrBadLength, "no campaign id"},
		{"no gross", camp + disc, ErrBadLength, "no gross amount"},
		{"no discount", camp + gross, ErrBadLength, "no discount"},
		{"tag cut", camp + "DF", ErrTruncated, "TLV tag"},
		{"length cut", camp + "DF61", ErrTruncated, "TLV length"},
		{"value runs past the end", camp + "DF610C3030", ErrTruncated, "runs past"},
		{"repeated campaign", camp + camp + gross + disc, ErrBadLength, "repeated"},
		{"gross with a letter", camp + "DF610C" + h("00000001000X") + disc, ErrBadCharacters, "gross amount must contain digits"},
		{"gross short", camp + "DF6103" + h("100") + disc, ErrBadLength, "gross amount must be 12 digits"},
		{"discount above gross", camp + "DF610C" + h("000000000100") + disc, ErrBadLength, "discount 1000 must be 0 to the gross"},
		{"campaign with a control byte", "DF600161" + "00" + gross + disc, ErrBadLength, ""},
		{"campaign not printable", "DF6002" + "610A" + gross + disc, ErrBadCharacters, "campaign id must contain printable"},
		{"campaign too long", fmt.Sprintf("DF6041%s", h(strings.Repeat("a", 65))) + gross + disc, ErrBadLength, "campaign id must be 1 to 64"},
		{"fulfilment 00", camp + gross + disc + "DF630100", ErrBadCharacters, "fulfilment"},
		{"fulfilment 04", camp + gross + disc + "DF630104", ErrBadCharacters, "fulfilment"},
		{"fulfilment two bytes", camp + gross + disc + "DF63020101", ErrBadLength, "fulfilment must be 1 byte"},
		{"funder kind 09", camp + gross + disc + funder("09", "network", "000000001000"), ErrBadCharacters, "funder 0: kind"},
		{"funder without party", camp + gross + disc + "FF6413DF650101DF670C" + h("000000001000"), ErrBadLength, "funder 0 has no party"},
		{"funder party too long", camp + gross + disc + funder("02", strings.Repeat("b", 17), "000000001000"), ErrBadLength, "funder 0: party"},
		{"shares do not add up", camp + gross + disc + funder("01", "network", "000000000600") + funder("02", "icbc", "000000000300"), ErrBadLength, "add up to 900"},
		{"funder cut", camp + gross + disc + "FF6405DF6501", ErrTruncated, "runs past"},
		{"name not UTF-8", camp + gross + disc + "DF6802C328", ErrBadCharacters, "UTF-8"},
		{"name with a newline", camp + gross + disc + "DF6802610A", ErrBadCharacters, "control"},
		{"name too long", camp + gross + disc + fmt.Sprintf("DF6851%s", h(strings.Repeat("n", 81))), ErrBadLength, "at most 80"},
		{"name empty", camp + gross + disc + "DF6800", ErrBadLength, "display name is empty"},
		{"longer than DE124 can be", "DF7F8203E8" + strings.Repeat("00", 1000), ErrBadLength, "at most 999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePromotionData(mustHex(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("got %s, want a format error", err)
			}
			if !strings.Contains(err.Error(), "DE124 (private: promotion data)") || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("got %q, want it to name DE124 and say %q", err, tt.says)
			}
		})
	}

	// 17 funders are refused by Marshal and by the reader.
	many := PromotionData{Campaign: "c", Gross: 100, Discount: 17}
	for i := 0; i < 17; i++ {
		many.Funders = append(many.Funders, PromotionFunder{Kind: PromoFunderMerchant, Party: fmt.Sprintf("m%d", i), Share: 1})
	}
	if _, err := many.Marshal(); !errors.Is(err, ErrBadLength) {
		t.Errorf("Marshal of 17 funders: got %v, want ErrBadLength", err)
	}
	var in string
	for _, f := range many.Funders {
		in += funder("03", f.Party, "000000000001")
	}
	if _, err := ParsePromotionData(mustHex("DF6001" + h("c") + "DF610C" + h("000000000100") + "DF620C" + h("000000000017") + in)); !errors.Is(err, ErrBadLength) {
		t.Errorf("reading 17 funders: got %v, want ErrBadLength", err)
	}
	for _, bad := range []PromotionData{
		{Gross: 1},
		{Campaign: "c", Gross: -1},
		{Campaign: "c", Gross: 1_000_000_000_000},
		{Campaign: "c", Gross: 10, Discount: 11},
		{Campaign: "c", Gross: 10, Discount: 1, Funders: []PromotionFunder{{Kind: PromoFunderNetwork, Party: "network", Share: -1}}},
	} {
		if err := new(Message).SetPromotionData(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("SetPromotionData(%+v): got %v, want a format error", bad, err)
		}
	}
}

func FuzzPromotionData(f *testing.F) {
	b, _ := samplePromo().Marshal()
	f.Add(b)
	f.Add([]byte{0xDF, 0x60, 0x81})
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePromotionData(in)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a format error", err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal of what was read: %v", err)
		}
		back, err := ParsePromotionData(out)
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip: got %+v, %v; want %+v", back, err, p)
		}
	})
}
