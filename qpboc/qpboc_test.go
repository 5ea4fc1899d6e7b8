package qpboc

import (
	"bytes"
	"testing"

	"github.com/tapwallet/tapwallet/emv"
)

func TestIADRoundTrip(t *testing.T) {
	i := IAD{DKI: 1, CVN: CVNTDES, CVR: NewCVR(true), KeyIndex: 0x0102}
	b := i.Bytes()
	want := []byte{0x09, 0x01, 0x11, 0x03, 0x20, 0x08, 0x00, 0x01, 0x02, 0x00}
	if !bytes.Equal(b, want) {
		t.Fatalf("got %X, want %X", b, want)
	}
	got, err := ParseIAD(b)
	if err != nil || got != i || !got.CDCVM() {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := ParseIAD(b[:9]); err == nil {
		t.Error("short IAD accepted")
	}
	if NewCVR(false)[2]&CVRCDCVM != 0 {
		t.Error("CVR without CDCVM has the flag")
	}
}

func TestARQCData(t *testing.T) {
	tags := map[emv.Tag][]byte{
		TagAmount: {0, 0, 0, 0, 0x12, 0x34}, TagAmountOther: make([]byte, 6), TagCountry: {0x01, 0x56},
		TagTVR: make([]byte, 5), TagCurrency: {0x01, 0x56}, TagDate: {0x26, 0x11, 0x26}, TagType: {0},
		TagUN: {1, 2, 3, 4}, TagAIP: AIP, TagATC: {0, 7},
		TagIAD: IAD{DKI: 1, CVN: CVNTDES, CVR: NewCVR(true), KeyIndex: 3}.Bytes(),
	}
	d, err := ARQCData(tags)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 6+6+2+5+2+3+1+4+2+2+4 {
		t.Errorf("got %d bytes, want 37", len(d))
	}
	cvr := NewCVR(true)
	if !bytes.Equal(d[len(d)-4:], cvr[:]) || !bytes.Equal(d[:6], tags[TagAmount]) {
		t.Errorf("got %X", d)
	}
	delete(tags, TagUN)
	if _, err := ARQCData(tags); err == nil {
		t.Error("missing UN accepted")
	}
	tags[TagUN] = []byte{1}
	if _, err := ARQCData(tags); err == nil {
		t.Error("short UN accepted")
	}
}
