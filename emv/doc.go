// Package emv is the chip-card layer of the tapwallet payment system: the
// data formats and the symmetric cryptography that the phone's payment
// applet, the store terminal's kernel and the token service share.
//
// It holds four things, each usable on its own:
//
//   - BER-TLV (EMV Book 3 Annex B): [Decode], [Encode], [Find] and [Format]
//     for the data objects in SELECT, GET PROCESSING OPTIONS, READ RECORD and
//     GENERATE AC answers and in ISO 8583 field 55, with a table of tag names
//     ([Tag.Name]).
//   - Data object lists (EMV Book 3 section 5.4): [ParseDOL] for PDOL (9F38),
//     CDOL1/2 (8C/8D) and DDOL (9F49), [DOL.Build] to make the data a card
//     asks for, and [DOL.Split] to read it back on the card side.
//   - Cryptography (EMV 4.3 Book 2 Annex A and the PBOC 3.0 / UnionPay SM4
//     variants): card master key derivation ([MasterKey], options A and B),
//     session keys ([CommonSessionKey], [SessionKeyEMV], [SessionKeyPBOC]),
//     ISO/IEC 9797-1 MAC algorithm 3 and SM4 CBC-MAC ([MAC]), application
//     cryptograms ([Cryptogram]) and ARPC methods 1 and 2 ([ARPCMethod1],
//     [ARPCMethod2]). Every function takes an [Alg] (TDES or SM4).
//   - The calculator of a payment engineer: key check values by
//     encrypt-zeros or CMAC for TDES, AES and SM4 keys ([KeyCheckValue],
//     [CMAC]), Visa CVV / Mastercard CVC, iCVV and dCVV ([CVV], [DCVV]),
//     ISO 9564-1 PIN blocks of formats 0, 1, 3 and 4 ([PINBlock],
//     [DecodePINBlock], [EncipherPINBlock], [DecipherPINBlock],
//     [EncipherPIN4]) and bit-by-bit names for TVR, TSI, CVM results,
//     AIP, TTQ, CTQ and the PBOC CVR ([DecodeBits]).
//
// The package depends on nothing else in tapwallet; the only outside
// dependency is github.com/emmansun/gmsm for the SM4 block cipher.
//
// # Why its own TLV codec
//
// BER-TLV here parses outside input: whatever a phone or a terminal sends
// over NFC and whatever arrives in an ISO 8583 field. The only Go library on
// the module proxy for it, github.com/moov-io/bertlv (v0.1.0, its only
// version), has no limits on nesting depth, gives no control over
// indefinite lengths and does not report where and why an input is bad, so
// it cannot be fuzzed to a clean "never panic, always a safe error". This
// codec is strict instead: it refuses indefinite lengths (0x80), lengths of
// more than 4 bytes, values that run past the input, tags longer than 3
// bytes and nesting deeper than [MaxDepth], and it returns a [*DecodeError]
// (never a panic) that names the offset and tag but never the value bytes.
//
// # Secrets
//
// The calculator functions take and return raw key bytes, because that is
// what an HSM emulation and a test vector need. Code that keeps keys around
// should hold them in a [Key], which prints redacted and compares in
// constant time. No error text of this package contains key or data bytes.
package emv
