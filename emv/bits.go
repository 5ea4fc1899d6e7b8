package emv

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Bit-by-bit decoding of the EMV status and capability objects a payment
// engineer reads in a trace: TVR (95), TSI (9B), CVM results (9F34), AIP
// (82), the contactless TTQ (9F66) and CTQ (9F6C), and the card
// verification results (CVR) in the issuer application data (9F10) of a
// UnionPay / PBOC card. The names are those of EMV 4.3 Book 3 Annex C
// (TVR, TSI, AIP, CVM results) and Book 4 (CVM codes and conditions),
// the contactless books (EMV Book C-2 relay resistance bits; the TTQ and
// CTQ of Visa's VCPS as qPBOC (JR/T 0025.12) takes them over), the PBOC
// 3.0 CVR (JR/T 0025.5, the Visa VIS layout), and for tapwallet's own
// cards the CVR bits of package qpboc.

// BitField is one named bit, or one named group of bits, of a decoded
// object. Byte is 1-based and Bits names the bits as the EMV books do
// ("b8", "b6-b5"); Value is the field's value shifted down, Set reports a
// non-zero value, and Meaning names the value of a multi-bit field.
type BitField struct {
	Byte    int    `json:"byte"`
	Bits    string `json:"bits"`
	Name    string `json:"name"`
	Value   int    `json:"value"`
	Set     bool   `json:"set"`
	Meaning string `json:"meaning,omitempty"`
}

// Decoded is an object decoded bit by bit.
type Decoded struct {
	Object string     `json:"object"`
	Tag    string     `json:"tag"`
	Name   string     `json:"name"`
	Hex    string     `json:"hex"`
	Fields []BitField `json:"fields"`
}

// SetNames returns the names of the single bits that are set and of the
// multi-bit fields with their meaning, in order.
func (d Decoded) SetNames() []string {
	var out []string
	for _, f := range d.Fields {
		switch {
		case f.Meaning != "":
			out = append(out, f.Name+": "+f.Meaning)
		case f.Set:
			out = append(out, f.Name)
		}
	}
	return out
}

// ErrBits is wrapped by the errors of [DecodeBits].
var ErrBits = errors.New("emv: cannot decode")

// bitDef is one field of a layout: byte (0-based), mask, name, and for
// a multi-bit field the names of its values.
type bitDef struct {
	byte   int
	mask   byte
	name   string
	values map[int]string
}

type layout struct {
	tag, name string
	size      int
	defs      []bitDef
}

var acTypes1 = map[int]string{0: "AAC", 1: "TC", 2: "ARQC", 3: "RFU"}
var acTypes2 = map[int]string{0: "AAC", 1: "TC", 2: "second GENERATE AC not requested", 3: "RFU"}

var pbocCVR = []bitDef{
	{1, 0xC0, "AC type returned in the second GENERATE AC", acTypes2},
	{1, 0x30, "AC type returned in the first GENERATE AC", acTypes1},
	{1, 0x08, "Issuer authentication performed and failed", nil},
	{1, 0x04, "Offline PIN verification performed", nil},
	{1, 0x02, "Offline PIN verification failed", nil},
	{1, 0x01, "Unable to go online", nil},
	{2, 0x80, "Last online transaction not completed", nil},
	{2, 0x40, "PIN try limit exceeded", nil},
	{2, 0x20, "Exceeded velocity checking counters", nil},
	{2, 0x10, "New card", nil},
	{2, 0x08, "Issuer authentication failure on last online transaction", nil},
	{2, 0x04, "Issuer authentication not performed after online authorization", nil},
	{2, 0x02, "Application blocked by card because PIN try limit exceeded", nil},
	{2, 0x01, "Offline static data authentication failed on last transaction and transaction declined offline", nil},
	{3, 0xF0, "Number of issuer script commands containing secure messaging processed", nil},
	{3, 0x08, "Issuer script processing failed", nil},
	{3, 0x04, "Offline dynamic data authentication failed on last transaction and transaction declined offline", nil},
	{3, 0x02, "Offline dynamic data authentication performed", nil},
}

// tapwalletCVR is the PBOC CVR with the two bits package qpboc gives its
// own meaning (qpboc.CVRCDCVM, qpboc.CVRCDCVMRequired).
func tapwalletCVR() []bitDef {
	out := make([]bitDef, 0, len(pbocCVR))
	for _, d := range pbocCVR {
		switch {
		case d.byte == 2 && d.mask == 0x08:
			d.name = "Consumer device CVM (fingerprint) performed (tapwallet)"
		case d.byte == 2 && d.mask == 0x04:
			d.name = "Consumer device CVM required and not performed, \"see phone\" (tapwallet)"
		}
		out = append(out, d)
	}
	return out
}

var layouts = map[string]layout{
	"tvr": {tag: "95", name: "Terminal Verification Results", size: 5, defs: []bitDef{
		{0, 0x80, "Offline data authentication was not performed", nil},
		{0, 0x40, "SDA failed", nil},
		{0, 0x20, "ICC data missing", nil},
		{0, 0x10, "Card appears on terminal exception file", nil},
		{0, 0x08, "DDA failed", nil},
		{0, 0x04, "CDA failed", nil},
		{0, 0x02, "SDA selected", nil},
		{1, 0x80, "ICC and terminal have different application versions", nil},
		{1, 0x40, "Expired application", nil},
		{1, 0x20, "Application not yet effective", nil},
		{1, 0x10, "Requested service not allowed for card product", nil},
		{1, 0x08, "New card", nil},
		{2, 0x80, "Cardholder verification was not successful", nil},
		{2, 0x40, "Unrecognised CVM", nil},
		{2, 0x20, "PIN Try Limit exceeded", nil},
		{2, 0x10, "PIN entry required and PIN pad not present or not working", nil},
		{2, 0x08, "PIN entry required, PIN pad present, but PIN was not entered", nil},
		{2, 0x04, "Online PIN entered", nil},
		{3, 0x80, "Transaction exceeds floor limit", nil},
		{3, 0x40, "Lower consecutive offline limit exceeded", nil},
		{3, 0x20, "Upper consecutive offline limit exceeded", nil},
		{3, 0x10, "Transaction selected randomly for online processing", nil},
		{3, 0x08, "Merchant forced transaction online", nil},
		{4, 0x80, "Default TDOL used", nil},
		{4, 0x40, "Issuer authentication failed", nil},
		{4, 0x20, "Script processing failed before final GENERATE AC", nil},
		{4, 0x10, "Script processing failed after final GENERATE AC", nil},
		{4, 0x08, "Relay resistance threshold exceeded (Book C-2)", nil},
		{4, 0x04, "Relay resistance time limits exceeded (Book C-2)", nil},
		{4, 0x03, "Relay resistance performed (Book C-2; 00: protocol not supported)", map[int]string{1: "RRP not performed", 2: "RRP performed", 3: "RFU"}},
	}},
	"tsi": {tag: "9B", name: "Transaction Status Information", size: 2, defs: []bitDef{
		{0, 0x80, "Offline data authentication was performed", nil},
		{0, 0x40, "Cardholder verification was performed", nil},
		{0, 0x20, "Card risk management was performed", nil},
		{0, 0x10, "Issuer authentication was performed", nil},
		{0, 0x08, "Terminal risk management was performed", nil},
		{0, 0x04, "Script processing was performed", nil},
	}},
	"aip": {tag: "82", name: "Application Interchange Profile", size: 2, defs: []bitDef{
		{0, 0x40, "SDA supported", nil},
		{0, 0x20, "DDA supported", nil},
		{0, 0x10, "Cardholder verification is supported", nil},
		{0, 0x08, "Terminal risk management is to be performed", nil},
		{0, 0x04, "Issuer authentication is supported", nil},
		{0, 0x02, "Reserved for use by the EMV Contactless Specifications", nil},
		{0, 0x01, "CDA supported", nil},
		{1, 0x80, "EMV mode supported (contactless; Visa: MSD supported)", nil},
		{1, 0x01, "Relay resistance protocol supported (Book C-2)", nil},
	}},
	"ttq": {tag: "9F66", name: "Terminal Transaction Qualifiers", size: 4, defs: []bitDef{
		{0, 0x80, "Mag-stripe mode supported", nil},
		{0, 0x20, "EMV mode supported (qVSDC / qPBOC)", nil},
		{0, 0x10, "EMV contact chip supported", nil},
		{0, 0x08, "Offline-only reader", nil},
		{0, 0x04, "Online PIN supported", nil},
		{0, 0x02, "Signature supported", nil},
		{0, 0x01, "Offline data authentication for online authorizations supported", nil},
		{1, 0x80, "Online cryptogram required", nil},
		{1, 0x40, "CVM required", nil},
		{1, 0x20, "(Contact chip) offline PIN supported", nil},
		{2, 0x80, "Issuer update processing supported", nil},
		{2, 0x40, "Consumer device CVM supported", nil},
	}},
	"ctq": {tag: "9F6C", name: "Card Transaction Qualifiers", size: 2, defs: []bitDef{
		{0, 0x80, "Online PIN required", nil},
		{0, 0x40, "Signature required", nil},
		{0, 0x20, "Go online if offline data authentication fails and reader is online capable", nil},
		{0, 0x10, "Switch interface if offline data authentication fails and reader supports contact chip", nil},
		{0, 0x08, "Go online if application expired", nil},
		{0, 0x04, "Switch interface for cash transactions", nil},
		{0, 0x02, "Switch interface for cashback transactions", nil},
		{1, 0x80, "Consumer device CVM performed", nil},
		{1, 0x40, "Card supports issuer update processing at the POS", nil},
	}},
	"cvm": {tag: "9F34", name: "Cardholder Verification Method (CVM) Results", size: 3, defs: []bitDef{
		{0, 0x40, "Apply succeeding CV rule if this CVM is unsuccessful", nil},
		{0, 0x3F, "CVM performed", cvmCodes},
		{1, 0xFF, "CVM condition", cvmConditions},
		{2, 0xFF, "CVM result", map[int]string{0: "unknown", 1: "failed", 2: "successful"}},
	}},
	"cvr":           {tag: "9F10", name: "Card Verification Results (PBOC 3.0 / UICS, in the IAD)", size: 4, defs: pbocCVR},
	"cvr-tapwallet": {tag: "9F10", name: "Card Verification Results (tapwallet cards, package qpboc)", size: 4, defs: tapwalletCVR()},
}

// cvmCodes are the CVM codes of EMV 4.3 Book 3 Annex C3 (b6-b1 of the
// first byte of a CV rule and of the CVM results).
var cvmCodes = map[int]string{
	0x00: "Fail CVM processing",
	0x01: "Plaintext PIN verification performed by ICC",
	0x02: "Enciphered PIN verified online",
	0x03: "Plaintext PIN verification performed by ICC and signature (paper)",
	0x04: "Enciphered PIN verification performed by ICC",
	0x05: "Enciphered PIN verification performed by ICC and signature (paper)",
	0x1E: "Signature (paper)",
	0x1F: "No CVM required",
	0x3F: "No CVM performed (this value is not available for use in a CV rule)",
}

// cvmConditions are the CVM condition codes of EMV 4.3 Book 3 Annex C3.
var cvmConditions = map[int]string{
	0x00: "Always",
	0x01: "If unattended cash",
	0x02: "If not unattended cash and not manual cash and not purchase with cashback",
	0x03: "If terminal supports the CVM",
	0x04: "If manual cash",
	0x05: "If purchase with cashback",
	0x06: "If transaction is in the application currency and is under X value",
	0x07: "If transaction is in the application currency and is over X value",
	0x08: "If transaction is in the application currency and is under Y value",
	0x09: "If transaction is in the application currency and is over Y value",
}

// aliases maps tags and other names to layout names.
var aliases = map[string]string{
	"95": "tvr", "9b": "tsi", "9f34": "cvm", "cvm-results": "cvm", "82": "aip",
	"9f66": "ttq", "9f6c": "ctq", "9f10": "cvr", "iad": "cvr",
}

// BitsObjects returns the names DecodeBits knows, sorted.
func BitsObjects() []string {
	out := make([]string, 0, len(layouts))
	for k := range layouts {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DecodeBits decodes b as the object named (tvr, tsi, cvm, aip, ttq,
// ctq, cvr or cvr-tapwallet; or the tag: 95, 9B, 9F34, 82, 9F66, 9F6C,
// 9F10). For cvr, b is the 4-byte CVR (03 and 3 bytes) or the whole
// issuer application data with the CVR at bytes 4-7. Defined bits are
// listed whether set or not; a set bit the books leave RFU is listed as
// "RFU". It returns an error wrapping [ErrBits] for an unknown name or a
// wrong length, and never panics.
func DecodeBits(object string, b []byte) (Decoded, error) {
	name := strings.ToLower(strings.TrimSpace(object))
	if a, ok := aliases[name]; ok {
		name = a
	}
	l, ok := layouts[name]
	if !ok {
		return Decoded{}, fmt.Errorf("%w: unknown object %q (want one of %s)", ErrBits, object, strings.Join(BitsObjects(), ", "))
	}
	if strings.HasPrefix(name, "cvr") {
		var err error
		if b, err = cvrOf(b); err != nil {
			return Decoded{}, err
		}
	}
	if len(b) != l.size {
		return Decoded{}, fmt.Errorf("%w: %s must be %d bytes, got %d", ErrBits, name, l.size, len(b))
	}
	d := Decoded{Object: name, Tag: l.tag, Name: l.name, Hex: fmt.Sprintf("%X", b)}
	covered := make([]byte, len(b))
	if name == "cvr" || name == "cvr-tapwallet" {
		covered[0] = 0xFF // the length byte
	}
	for _, def := range l.defs {
		covered[def.byte] |= def.mask
		shift := bits.TrailingZeros8(def.mask)
		v := int(b[def.byte]&def.mask) >> shift
		f := BitField{Byte: def.byte + 1, Bits: bitNames(def.mask), Name: def.name, Value: v, Set: v != 0}
		if def.values != nil {
			if m, ok := def.values[v]; ok {
				f.Meaning = m
			} else if v != 0 {
				f.Meaning = "RFU / not defined"
			}
		}
		d.Fields = append(d.Fields, f)
	}
	for i, c := range b {
		for bit := 7; bit >= 0; bit-- {
			m := byte(1) << bit
			if c&m != 0 && covered[i]&m == 0 {
				d.Fields = append(d.Fields, BitField{Byte: i + 1, Bits: bitNames(m), Name: "RFU", Value: 1, Set: true})
			}
		}
	}
	return d, nil
}

// cvrOf returns the 4-byte CVR of a CVR or of an issuer application data.
func cvrOf(b []byte) ([]byte, error) {
	switch {
	case len(b) == 4 && b[0] == 0x03:
		return b, nil
	case len(b) >= 7 && b[3] == 0x03:
		return b[3:7], nil
	}
	return nil, fmt.Errorf("%w: want a 4-byte CVR starting 03 or issuer application data with 03 at its 4th byte (%d bytes given)", ErrBits, len(b))
}

// bitNames names the bits of a mask: "b8" or "b6-b5".
func bitNames(mask byte) string {
	hi := 8 - bits.LeadingZeros8(mask)
	lo := bits.TrailingZeros8(mask) + 1
	if hi == lo {
		return fmt.Sprintf("b%d", hi)
	}
	return fmt.Sprintf("b%d-b%d", hi, lo)
}
