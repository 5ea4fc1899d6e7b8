// Package qpboc holds the UnionPay qPBOC (quick PBOC, contactless) conventions
// that the card, the terminal and the issuer side must agree on: the PDOL the
// payment applet asks for, the data the online cryptogram (ARQC) covers, and
// the layouts of the issuer application data (9F10) with its card
// verification results (CVR), the card transaction qualifiers (9F6C) and the
// terminal transaction qualifiers (9F66). The phone's applet builds with it,
// the terminal kernel checks with it, and the token service verifies with it.
package qpboc

import (
	"encoding/binary"
	"fmt"

	"github.com/tapwallet/tapwallet/emv"
)

// EMV tags used by qPBOC that the emv package names generically.
const (
	TagAmount       emv.Tag = 0x9F02
	TagAmountOther  emv.Tag = 0x9F03
	TagCountry      emv.Tag = 0x9F1A
	TagTVR          emv.Tag = 0x95
	TagCurrency     emv.Tag = 0x5F2A
	TagDate         emv.Tag = 0x9A
	TagType         emv.Tag = 0x9C
	TagUN           emv.Tag = 0x9F37
	TagAIP          emv.Tag = 0x82
	TagATC          emv.Tag = 0x9F36
	TagIAD          emv.Tag = 0x9F10
	TagCryptogram   emv.Tag = 0x9F26
	TagCID          emv.Tag = 0x9F27
	TagCTQ          emv.Tag = 0x9F6C
	TagTTQ          emv.Tag = 0x9F66
	TagTrack2       emv.Tag = 0x57
	TagPSN          emv.Tag = 0x5F34
	TagExpiry       emv.Tag = 0x5F24
	TagAFL          emv.Tag = 0x94
	TagDFName       emv.Tag = 0x84
	TagIssuerAuth   emv.Tag = 0x91
	TagTerminalCaps emv.Tag = 0x9F33
	TagCVMResults   emv.Tag = 0x9F34
	TagFormFactor   emv.Tag = 0x9F6E
)

// PDOL is the processing options data object list the payment applet sends
// in its FCI: TTQ, amount, other amount, terminal country, TVR, currency,
// date, transaction type and the unpredictable number.
var PDOL = emv.DOL{
	{Tag: TagTTQ, Len: 4}, {Tag: TagAmount, Len: 6}, {Tag: TagAmountOther, Len: 6},
	{Tag: TagCountry, Len: 2}, {Tag: TagTVR, Len: 5}, {Tag: TagCurrency, Len: 2},
	{Tag: TagDate, Len: 3}, {Tag: TagType, Len: 1}, {Tag: TagUN, Len: 4},
}

// ARQCTags is the order of the data the ARQC covers: the PDOL's terminal
// data (without the TTQ), then the card's AIP and ATC; the 4-byte CVR from
// the IAD follows them (see ARQCData).
var ARQCTags = []emv.DOLEntry{
	{Tag: TagAmount, Len: 6}, {Tag: TagAmountOther, Len: 6}, {Tag: TagCountry, Len: 2},
	{Tag: TagTVR, Len: 5}, {Tag: TagCurrency, Len: 2}, {Tag: TagDate, Len: 3},
	{Tag: TagType, Len: 1}, {Tag: TagUN, Len: 4}, {Tag: TagAIP, Len: 2}, {Tag: TagATC, Len: 2},
}

// ARQCData returns the bytes the application cryptogram is computed over:
// 9F02 ‖ 9F03 ‖ 9F1A ‖ 95 ‖ 5F2A ‖ 9A ‖ 9C ‖ 9F37 ‖ 82 ‖ 9F36 ‖ CVR (the 4
// CVR bytes of the IAD). It fails if a tag is missing or has the wrong
// length, or the IAD cannot be read.
func ARQCData(tags map[emv.Tag][]byte) ([]byte, error) {
	out := make([]byte, 0, 40)
	for _, e := range ARQCTags {
		v, ok := tags[e.Tag]
		if !ok {
			return nil, fmt.Errorf("qpboc: cryptogram data lacks tag %s", e.Tag)
		}
		if len(v) != e.Len {
			return nil, fmt.Errorf("qpboc: tag %s must be %d bytes, got %d", e.Tag, e.Len, len(v))
		}
		out = append(out, v...)
	}
	iad, err := ParseIAD(tags[TagIAD])
	if err != nil {
		return nil, err
	}
	return append(out, iad.CVR[:]...), nil
}

// CVN is the cryptogram version number tapwallet's cards use: 0x11 (ARQC by
// ISO 9797-1 MAC algorithm 3, padding method 1, PBOC session key from a
// limited-use key) — SM4 cards use 0x12 (SM4 MAC, 16-byte blocks).
const (
	CVNTDES byte = 0x11
	CVNSM4  byte = 0x12
)

// IAD is the issuer application data (tag 9F10) of a tapwallet card:
//
//	byte 0     length of what follows (0x09)
//	byte 1     DKI, derivation key index (0x01)
//	byte 2     CVN, cryptogram version number
//	bytes 3-6  CVR: 0x03 (its length), then 3 bytes of flags (see CVR*)
//	bytes 7-8  the index of the limited-use key that made the cryptogram
//	byte 9     reserved (0x00)
type IAD struct {
	DKI      byte
	CVN      byte
	CVR      [4]byte
	KeyIndex uint16
}

// CVR flags (byte index into IAD.CVR).
const (
	CVRARQC          = 0x20 // CVR[1]: ARQC returned in the first GENERATE AC / GPO
	CVRCDCVM         = 0x08 // CVR[2]: consumer-device CVM (fingerprint) performed
	CVRCDCVMRequired = 0x04 // CVR[2]: the card needed a CDCVM and had none ("see phone")
)

// Bytes encodes the IAD.
func (i IAD) Bytes() []byte {
	b := make([]byte, 10)
	b[0], b[1], b[2] = 0x09, i.DKI, i.CVN
	copy(b[3:7], i.CVR[:])
	binary.BigEndian.PutUint16(b[7:9], i.KeyIndex)
	return b
}

// CDCVM reports whether the CVR says the fingerprint was verified.
func (i IAD) CDCVM() bool { return i.CVR[2]&CVRCDCVM != 0 }

// ParseIAD reads an IAD; it fails for a wrong length or layout.
func ParseIAD(b []byte) (IAD, error) {
	if len(b) != 10 || b[0] != 0x09 || b[3] != 0x03 {
		return IAD{}, fmt.Errorf("qpboc: issuer application data must be the 10-byte tapwallet layout")
	}
	var i IAD
	i.DKI, i.CVN = b[1], b[2]
	copy(i.CVR[:], b[3:7])
	i.KeyIndex = binary.BigEndian.Uint16(b[7:9])
	return i, nil
}

// NewCVR returns a CVR for an online ARQC, with or without a CDCVM.
func NewCVR(cdcvm bool) [4]byte {
	c := [4]byte{0x03, CVRARQC, 0, 0}
	if cdcvm {
		c[2] |= CVRCDCVM
	}
	return c
}

// CTQ (card transaction qualifiers, 9F6C, 2 bytes) flags.
const (
	CTQOnlinePIN   = 0x80 // byte 0: online PIN required
	CTQSignature   = 0x40 // byte 0: signature required
	CTQGoOnline    = 0x08 // byte 0: go online if offline data authentication fails
	CTQCDCVM       = 0x80 // byte 1: consumer device CVM performed
	CTQCardUpdates = 0x40 // byte 1: card supports issuer update processing
)

// CTQ returns the card transaction qualifiers of a phone's answer.
func CTQ(cdcvm bool) []byte {
	b := []byte{CTQGoOnline, 0}
	if cdcvm {
		b[1] |= CTQCDCVM
	}
	return b
}

// TTQ (terminal transaction qualifiers, 9F66, 4 bytes) flags.
const (
	TTQMagStripe      = 0x80 // byte 0: magnetic-stripe mode supported
	TTQQPBOC          = 0x20 // byte 0: qPBOC (quick EMV) supported
	TTQOnlineCapable  = 0x08 // byte 0: reader is online capable... (bit 4 inverted: offline-only)
	TTQOnlinePIN      = 0x04 // byte 0: online PIN supported
	TTQSignature      = 0x02 // byte 0: signature supported
	TTQOnlineRequired = 0x80 // byte 1: online cryptogram required
	TTQCVMRequired    = 0x40 // byte 1: CVM required
	TTQCDCVMSupported = 0x40 // byte 2: consumer device CVM supported
)

// StoreTTQ is the TTQ of a tapwallet store terminal: qPBOC, online, online
// cryptogram required, CVM required, CDCVM supported.
func StoreTTQ() []byte {
	return []byte{TTQQPBOC | TTQOnlinePIN | TTQSignature, TTQOnlineRequired | TTQCVMRequired, TTQCDCVMSupported, 0x00}
}

// AIP is the application interchange profile of a tapwallet payment card:
// no offline data authentication, CDCVM-capable, issuer authentication
// supported (0x00 0x80 with byte 0 bit 1 = issuer authentication supported).
var AIP = []byte{0x00, 0x80}

// CID values (9F27).
const (
	CIDAAC  byte = 0x00
	CIDTC   byte = 0x40
	CIDARQC byte = 0x80
)
