package emv

import (
	"crypto/des"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// Card verification values: the Visa CVV / Mastercard CVC algorithm with a
// pair of single-DES card verification keys CVK A || CVK B, and the values
// made with it.
//
//  1. Write PAN || expiry (YYMM) || service code as digits and pad it on
//     the right with zeros to 32 digits; pack it as two 8-byte blocks B1, B2.
//  2. R = DES(CVK A)[B1]; R = R xor B2; R = 3DES(CVK A, CVK B)[R]
//     (encrypt A, decrypt B, encrypt A).
//  3. Decimalise R: its hex digits 0-9 left to right, then its digits A-F
//     left to right less 10; the value is the first 3 digits.
//
// CVV1 (the magnetic stripe) uses the card's service code, CVV2 (printed)
// the service code 000, iCVV (the track-2 equivalent on the chip) 999.

// ICVVServiceCode is the service code iCVV is computed with (Visa).
const ICVVServiceCode = "999"

// CVVDigits is the number of digits of a CVV, CVC, iCVV or dCVV.
const CVVDigits = 3

// CVV returns the 3-digit card verification value of pan (1 to 19
// digits), expiry (4 digits, YYMM as on the track) and serviceCode (3
// digits) under cvk, a 16-byte key CVK A || CVK B. Use
// [ICVVServiceCode] for iCVV and "000" for CVV2. It returns an error
// wrapping [ErrKeyLength] or [ErrArgument]; no error holds the key or
// card data.
func CVV(cvk []byte, pan, expiry, serviceCode string) (string, error) {
	if err := checkCVVInput(cvk, pan, expiry, serviceCode); err != nil {
		return "", err
	}
	return cvvOf(cvk, pan+expiry+serviceCode)
}

// DCVV returns the dynamic CVV of a contactless magnetic-stripe (MSD)
// transaction, the Visa dCVV variant in which the 4 hex digits of the
// application transaction counter replace the first 4 digits of the PAN:
// the CVV algorithm over ATC || PAN[4:] || expiry || service code. key is
// the card's dCVV key (a 16-byte card master key derived from the
// issuer's dCVV master key, see [MasterKey]); atc is 2 bytes. Issuers put
// 000 (as in the track-2 data of the tap) or the track's service code;
// the value is 3 digits. It fails like [CVV], and for a PAN of fewer
// than 5 digits or an ATC that is not 2 bytes.
func DCVV(key []byte, pan string, atc []byte, expiry, serviceCode string) (string, error) {
	if err := checkCVVInput(key, pan, expiry, serviceCode); err != nil {
		return "", err
	}
	if len(pan) < 5 {
		return "", fmt.Errorf("%w: dCVV needs a PAN of 5 to 19 digits", ErrArgument)
	}
	if len(atc) != 2 {
		return "", fmt.Errorf("%w: ATC must be 2 bytes, got %d", ErrArgument, len(atc))
	}
	return cvvOf(key, hex.EncodeToString(atc)+pan[4:]+expiry+serviceCode)
}

func checkCVVInput(cvk []byte, pan, expiry, serviceCode string) error {
	if len(cvk) != KeySize {
		return fmt.Errorf("%w: a CVK pair is 16 bytes (CVK A || CVK B), got %d", ErrKeyLength, len(cvk))
	}
	if !digits(pan) || len(pan) == 0 || len(pan) > 19 {
		return fmt.Errorf("%w: PAN must be 1 to 19 digits", ErrArgument)
	}
	if !digits(expiry) || len(expiry) != 4 {
		return fmt.Errorf("%w: expiry must be 4 digits (YYMM)", ErrArgument)
	}
	if !digits(serviceCode) || len(serviceCode) != 3 {
		return fmt.Errorf("%w: service code must be 3 digits", ErrArgument)
	}
	return nil
}

// cvvOf runs the CVV algorithm over data (at most 32 hex digits).
func cvvOf(cvk []byte, data string) (string, error) {
	for len(data) < 32 {
		data += "0"
	}
	blocks, err := hex.DecodeString(data)
	if err != nil {
		return "", fmt.Errorf("%w: CVV data is not hex digits", ErrArgument)
	}
	ka, err := des.NewCipher(cvk[:8])
	if err != nil {
		return "", err
	}
	ede, err := CipherTDES.NewBlock(cvk)
	if err != nil {
		return "", err
	}
	r := make([]byte, 8)
	ka.Encrypt(r, blocks[:8])
	subtle.XORBytes(r, r, blocks[8:16])
	ede.Encrypt(r, r)
	return decimalise(r)[:CVVDigits], nil
}

// decimalise returns the hex digits 0-9 of b left to right followed by its
// digits A-F less 10: 16 decimal digits.
func decimalise(b []byte) string {
	h := hex.EncodeToString(b)
	out := make([]byte, 0, len(h))
	for _, c := range []byte(h) {
		if c <= '9' {
			out = append(out, c)
		}
	}
	for _, c := range []byte(h) {
		if c >= 'a' {
			out = append(out, '0'+c-'a')
		}
	}
	return string(out)
}
