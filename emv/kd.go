package emv

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// Option is the EMV card master key derivation method (EMV 4.3 Book 2
// Annex A1.4).
type Option int

const (
	// OptionA derives from the rightmost 16 digits of PAN || PSN.
	OptionA Option = 1
	// OptionB is option A for PANs of up to 16 digits; for longer PANs it
	// derives from 16 decimal digits of SHA-1(PAN || PSN).
	OptionB Option = 2
)

// String returns "a" or "b" (or "Option(n)").
func (o Option) String() string {
	switch o {
	case OptionA:
		return "a"
	case OptionB:
		return "b"
	}
	return fmt.Sprintf("Option(%d)", int(o))
}

// MasterKey derives a card's 16-byte master key (MK, the "UDK") from the
// issuer master key imk, the PAN and the PAN sequence number (two digits;
// "" means "00").
//
// The 8-byte block Y is, for option A, the rightmost 16 digits of PAN||PSN
// (left-padded with zeros) packed as BCD; for option B with a PAN of more
// than 16 digits, the first 16 decimal digits of the hex SHA-1 digest of
// PAN||PSN (packed BCD, '0'-prefixed if of odd length), completed if needed
// with the digest's letters a-f decimalised to 0-5 (EMV Book 2 A1.4.2).
//
//   - TDES: MK = TDES(IMK)[Y] || TDES(IMK)[Y xor FF..FF], each byte then
//     adjusted to odd parity.
//   - SM4 (PBOC 3.0): MK = SM4(IMK)[Y || (Y xor FF..FF)], one 16-byte
//     block; SM4 keys have no parity.
//
// It returns an error for an unknown Alg or Option, a key that is not 16
// bytes, a PAN that is not 1 to 19 digits or a PSN that is not 2 digits.
func MasterKey(a Alg, opt Option, imk []byte, pan, psn string) ([]byte, error) {
	k, err := NewKeyed(a, imk)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	y, err := OptionAData(pan, psn)
	if err != nil {
		return nil, err
	}
	if psn == "" {
		psn = "00"
	}
	switch opt {
	case OptionA:
	case OptionB:
		if len(pan) <= 16 {
			y = optionAData(pan, psn)
		} else {
			y = optionBData(pan, psn)
		}
	default:
		return nil, fmt.Errorf("%w: unknown derivation option %v", ErrArgument, opt)
	}
	inv := make([]byte, len(y))
	for i, c := range y {
		inv[i] = ^c
	}
	mk := k.encryptECB(append(y, inv...))
	if a == TDES {
		mk = AdjustParity(mk)
	}
	return mk, nil
}

// optionAData returns the rightmost 16 digits of pan||psn, zero-padded on
// the left, as 8 BCD bytes.
func optionAData(pan, psn string) []byte {
	s := pan + psn
	if len(s) > 16 {
		s = s[len(s)-16:]
	}
	for len(s) < 16 {
		s = "0" + s
	}
	y, _ := hex.DecodeString(s)
	return y
}

// optionBData returns the 8-byte block of option B for a long PAN.
func optionBData(pan, psn string) []byte {
	s := pan + psn
	if len(s)%2 != 0 {
		s = "0" + s
	}
	packed, _ := hex.DecodeString(s)
	sum := sha1.Sum(packed)
	digest := hex.EncodeToString(sum[:])
	out := make([]byte, 0, 16)
	for i := 0; i < len(digest) && len(out) < 16; i++ {
		if c := digest[i]; c >= '0' && c <= '9' {
			out = append(out, c)
		}
	}
	for i := 0; i < len(digest) && len(out) < 16; i++ {
		if c := digest[i]; c >= 'a' && c <= 'f' {
			out = append(out, '0'+c-'a')
		}
	}
	y, _ := hex.DecodeString(string(out))
	return y
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CommonSessionKey derives a TDES session key from the card master key mk
// and an 8-byte diversification value r by the EMV common session key
// derivation (EMV 4.3 Book 2 Annex A1.3.1):
//
//	SK = TDES(MK)[R0 R1 'F0' R3..R7] || TDES(MK)[R0 R1 '0F' R3..R7]
//
// with each byte adjusted to odd parity. It returns an error if mk is not
// 16 bytes or r is not 8 bytes.
func CommonSessionKey(mk, r []byte) ([]byte, error) {
	k, err := NewKeyed(TDES, mk)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.CommonSessionKey(r)
}

// SessionKeyEMV derives the TDES application cryptogram session key of the
// EMV common session key derivation with R = ATC || '0000' || UN, where un
// is the 4-byte unpredictable number (9F37), or R = ATC || '000000000000'
// when un is nil. It returns an error if mk is not 16 bytes, atc is not 2
// bytes or un is neither nil nor 4 bytes.
func SessionKeyEMV(mk, atc, un []byte) ([]byte, error) {
	if len(atc) != 2 {
		return nil, fmt.Errorf("%w: ATC must be 2 bytes", ErrArgument)
	}
	if un != nil && len(un) != 4 {
		return nil, fmt.Errorf("%w: unpredictable number must be 4 bytes", ErrArgument)
	}
	r := make([]byte, 8)
	copy(r, atc)
	copy(r[4:], un)
	return CommonSessionKey(mk, r)
}

// SessionKeyPBOC derives the PBOC 3.0 / UnionPay application cryptogram
// session key from the card master key and the 2-byte ATC:
//
//   - TDES: SK = TDES(MK)['000000000000' || ATC] ||
//     TDES(MK)['000000000000' || (ATC xor 'FFFF')], with no parity
//     adjustment (DES ignores the parity bits, so cryptograms are the same
//     either way).
//   - SM4: SK = SM4(MK)['000000000000' || ATC || '000000000000' ||
//     (ATC xor 'FFFF')], one 16-byte block.
//
// It returns an error for an unknown Alg, a key that is not 16 bytes or an
// ATC that is not 2 bytes.
func SessionKeyPBOC(a Alg, mk, atc []byte) ([]byte, error) {
	k, err := NewKeyed(a, mk)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.SessionKeyPBOC(atc)
}

// Cryptogram returns the 8-byte application cryptogram (ARQC, TC or AAC)
// over the transaction data (for example the CDOL1-related data, or the
// data a qPBOC card signs in its GPO answer) with the session key: the MAC
// of [MAC] (the SM4 MAC's leftmost 8 bytes). EMV and PBOC use padding
// method 2; some Visa cryptogram versions use method 1. It returns an
// error for an unknown Alg or padding or a key that is not 16 bytes.
func Cryptogram(a Alg, sk, data []byte, p Padding) ([]byte, error) {
	m, err := MAC(a, sk, data, p)
	if err != nil {
		return nil, err
	}
	return m[:8], nil
}

// VerifyCryptogram reports whether cryptogram is the one [Cryptogram]
// computes, comparing in constant time. It returns an error, and false,
// if the cryptogram cannot be computed.
func VerifyCryptogram(a Alg, sk, data []byte, p Padding, cryptogram []byte) (bool, error) {
	want, err := Cryptogram(a, sk, data, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, cryptogram) == 1, nil
}

// ARPCMethod1 returns the 8-byte authorisation response cryptogram of ARPC
// method 1 (EMV 4.3 Book 2 section 8.2.1) for the 8-byte ARQC and the
// 2-byte authorisation response code:
//
//   - TDES: ARPC = TDES(K)[ARQC xor (ARC || '000000000000')].
//   - SM4: ARPC = leftmost 8 bytes of SM4(K)[(ARQC xor (ARC ||
//     '000000000000')) || '0000000000000000'].
//
// The key is the session key or, for some schemes, the card master key.
// It returns an error for an unknown Alg, a key that is not 16 bytes, an
// ARQC that is not 8 bytes or an ARC that is not 2 bytes.
func ARPCMethod1(a Alg, key, arqc, arc []byte) ([]byte, error) {
	k, err := NewKeyed(a, key)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.ARPCMethod1(arqc, arc)
}

// ARPCMethod2 returns the 4-byte authorisation response cryptogram of ARPC
// method 2 (EMV 4.3 Book 2 section 8.2.2): the leftmost 4 bytes of the MAC
// (padding method 2) of ARQC || CSU || proprietary authentication data.
// It returns an error for an unknown Alg, a key that is not 16 bytes, an
// ARQC that is not 8 bytes, a card status update that is not 4 bytes or
// proprietary data longer than 8 bytes.
func ARPCMethod2(a Alg, key, arqc, csu, prop []byte) ([]byte, error) {
	if _, err := arpc2Data(arqc, csu, prop); err != nil {
		return nil, err
	}
	k, err := NewKeyed(a, key)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.ARPCMethod2(arqc, csu, prop)
}
