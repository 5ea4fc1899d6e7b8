package emv

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeBits checks the decoders on values whose meaning the EMV books
// state bit by bit (Book 3 Annex C; the example TVR 8000048000 = ODA not
// performed, online PIN entered, floor limit exceeded).
func TestDecodeBits(t *testing.T) {
	tests := []struct {
		object, hex string
		want        []string
	}{
		{"tvr", "8000048000", []string{"Offline data authentication was not performed", "Online PIN entered", "Transaction exceeds floor limit"}},
		{"95", "0000000042", []string{"Issuer authentication failed", "Relay resistance performed (Book C-2; 00: protocol not supported): RRP performed"}},
		{"tsi", "E800", []string{"Offline data authentication was performed", "Cardholder verification was performed", "Card risk management was performed", "Terminal risk management was performed"}},
		{"cvm", "420302", []string{"Apply succeeding CV rule if this CVM is unsuccessful", "CVM performed: Enciphered PIN verified online", "CVM condition: If terminal supports the CVM", "CVM result: successful"}},
		{"9F34", "1F0002", []string{"CVM performed: No CVM required", "CVM condition: Always", "CVM result: successful"}},
		{"9f34", "3F0001", []string{"CVM performed: No CVM performed (this value is not available for use in a CV rule)", "CVM condition: Always", "CVM result: failed"}},
		{"aip", "3900", []string{"DDA supported", "Cardholder verification is supported", "Terminal risk management is to be performed", "CDA supported"}},
		{"aip", "0080", []string{"EMV mode supported (contactless; Visa: MSD supported)"}},
		{"ttq", "26C04000", []string{"EMV mode supported (qVSDC / qPBOC)", "Online PIN supported", "Signature supported", "Online cryptogram required", "CVM required", "Consumer device CVM supported"}},
		{"ctq", "0880", []string{"Go online if application expired", "Consumer device CVM performed"}},
		{"cvr", "03A00000", []string{"AC type returned in the second GENERATE AC: second GENERATE AC not requested", "AC type returned in the first GENERATE AC: ARQC"}},
		{"9F10", "07010103A01000", []string{"AC type returned in the second GENERATE AC: second GENERATE AC not requested", "AC type returned in the first GENERATE AC: ARQC", "New card"}},
		{"cvr", "0300080C", []string{"AC type returned in the second GENERATE AC: AAC", "AC type returned in the first GENERATE AC: AAC", "Issuer authentication failure on last online transaction", "Issuer script processing failed", "Offline dynamic data authentication failed on last transaction and transaction declined offline"}},
		{"cvr", "0300005A", []string{"AC type returned in the second GENERATE AC: AAC", "AC type returned in the first GENERATE AC: AAC", "Number of issuer script commands containing secure messaging processed", "Issuer script processing failed", "Offline dynamic data authentication performed"}},
		{"tvr", "0100000000", []string{"RFU"}},
	}
	for _, tt := range tests {
		t.Run(tt.object+" "+tt.hex, func(t *testing.T) {
			d, err := DecodeBits(tt.object, unhex(t, tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(d.SetNames(), " | ")
			if want := strings.Join(tt.want, " | "); got != want {
				t.Errorf("got\n  %s\nwant\n  %s", got, want)
			}
		})
	}
}

func TestDecodeBitsFieldDetail(t *testing.T) {
	d, err := DecodeBits("cvr", unhex(t, "0300005A"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Fields {
		if strings.HasPrefix(f.Name, "Number of issuer script") {
			if f.Value != 5 || f.Byte != 4 || f.Bits != "b8-b5" {
				t.Errorf("script count: got value %d byte %d bits %s, want 5, 4, b8-b5", f.Value, f.Byte, f.Bits)
			}
		}
	}
	tvr, _ := DecodeBits("tvr", make([]byte, 5))
	if len(tvr.Fields) != 30 || tvr.Fields[0].Bits != "b8" || tvr.Fields[0].Set {
		t.Errorf("zero TVR: got %d fields (first %+v), want 30 defined fields, all clear", len(tvr.Fields), tvr.Fields[0])
	}
	if tvr.Tag != "95" || tvr.Name != "Terminal Verification Results" {
		t.Errorf("got tag %s name %s", tvr.Tag, tvr.Name)
	}
}

func TestDecodeBitsTapwalletCVR(t *testing.T) {
	// qpboc.NewCVR(true) is 03 20 08 00: ARQC, fingerprint verified.
	d, err := DecodeBits("cvr-tapwallet", []byte{0x03, 0x20, 0x08, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(d.SetNames(), " | ")
	if !strings.Contains(got, "first GENERATE AC: ARQC") || !strings.Contains(got, "Consumer device CVM (fingerprint) performed") {
		t.Errorf("got %s", got)
	}
	pboc, _ := DecodeBits("cvr", []byte{0x03, 0x20, 0x08, 0x00})
	if strings.Contains(strings.Join(pboc.SetNames(), "|"), "fingerprint") {
		t.Error("the PBOC layout must not use tapwallet's names")
	}
}

func TestDecodeBitsErrors(t *testing.T) {
	tests := []struct {
		object string
		b      []byte
		msg    string
	}{
		{"tvr", []byte{1, 2, 3, 4}, "tvr must be 5 bytes, got 4"},
		{"9b", nil, "tsi must be 2 bytes, got 0"},
		{"cvr", []byte{0x04, 0, 0, 0}, "want a 4-byte CVR starting 03"},
		{"iad", []byte{0x07, 1, 1, 0x02, 0, 0, 0}, "03 at its 4th byte"},
		{"tlv", []byte{1}, "unknown object"},
	}
	for _, tt := range tests {
		_, err := DecodeBits(tt.object, tt.b)
		if !errors.Is(err, ErrBits) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s %X: got %v, want ErrBits containing %q", tt.object, tt.b, err, tt.msg)
		}
	}
}
