package emv

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// PIN blocks of ISO 9564-1: formats 0, 1 and 3 (8 bytes, for TDES) and
// format 4 (16 bytes, for AES). The plain 8-byte blocks are
//
//	format 0:  0 N P P P P P/F … F   xor   0000 + 12 rightmost PAN digits without the check digit
//	format 1:  1 N P P P P P/R … R   (R: random fill 0-F or a transaction field; no PAN)
//	format 3:  3 N P P P P P/X … X   xor   the PAN field of format 0 (X: random fill A-F)
//
// with N the PIN length (4 to 12) in one hex digit. Format 4 has a 16-byte
// PIN field 4 N P … P/A … A (16 digits, fill A) followed by 8 random bytes,
// and a 16-byte PAN field M || PAN || 0 … 0, where M is the PAN length less
// 12 (0 for PANs of up to 12 digits, which are left-padded with zeros to
// 12 digits). It is enciphered with AES as
//
//	A = AES(K)[PIN field];  B = A xor PAN field;  block = AES(K)[B]
//
// and deciphered in the reverse order. No error of this file holds the
// PIN, the PAN, the block or the key.

// PINFormat is an ISO 9564-1 PIN block format.
type PINFormat int

// The PIN block formats this package encodes and decodes.
const (
	PINFormat0 PINFormat = 0
	PINFormat1 PINFormat = 1
	PINFormat3 PINFormat = 3
	PINFormat4 PINFormat = 4
)

// ErrPINBlock is wrapped by every error about a PIN, a PIN block or its PAN.
var ErrPINBlock = errors.New("emv: PIN block")

func pinErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPINBlock}, args...)...)
}

func (f PINFormat) valid() bool {
	return f == PINFormat0 || f == PINFormat1 || f == PINFormat3 || f == PINFormat4
}

// usesPAN reports whether the format binds the block to the PAN.
func (f PINFormat) usesPAN() bool { return f != PINFormat1 }

func checkPIN(pin string) error {
	if len(pin) < 4 || len(pin) > 12 || !digits(pin) {
		return pinErr("PIN must be 4 to 12 digits")
	}
	return nil
}

// panField returns the 8-byte account number field of formats 0 and 3.
func panField(pan string) ([]byte, error) {
	if len(pan) < 13 || len(pan) > 19 || !digits(pan) {
		return nil, pinErr("PAN must be 13 to 19 digits for formats 0 and 3")
	}
	d := "0000" + pan[len(pan)-13:len(pan)-1]
	return packNibbles(d), nil
}

// packNibbles packs a string of upper-case hex digits two to a byte.
func packNibbles(s string) []byte {
	b, _ := hex.DecodeString(s) // s is built from hex digits only
	return b
}

// randomNibbles returns n hex digits from rnd, each 0-15, or 10-15 when
// letters is set.
func randomNibbles(rnd io.Reader, n int, letters bool) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", pinErr("reading random fill: %v", err)
	}
	out := make([]byte, n)
	for i, c := range b {
		v := c & 0x0F
		if letters {
			v = 10 + c%6
		}
		out[i] = "0123456789ABCDEF"[v]
	}
	return string(out), nil
}

// PINBlock returns the plain 8-byte PIN block of format 0, 1 or 3 for pin
// (4 to 12 digits) and pan (13 to 19 digits, with its check digit; not
// used by format 1). rnd gives the random fill of formats 1 and 3
// (crypto/rand.Reader in real use). It returns an error wrapping
// [ErrPINBlock] for a bad format, PIN or PAN.
func PINBlock(f PINFormat, pin, pan string, rnd io.Reader) ([]byte, error) {
	if f != PINFormat0 && f != PINFormat1 && f != PINFormat3 {
		return nil, pinErr("format %d is not an 8-byte format (want 0, 1 or 3)", int(f))
	}
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	head := fmt.Sprintf("%d%X%s", int(f), len(pin), pin)
	var fill string
	switch f {
	case PINFormat0:
		for len(head)+len(fill) < 16 {
			fill += "F"
		}
	default:
		var err error
		if fill, err = randomNibbles(rnd, 16-len(head), f == PINFormat3); err != nil {
			return nil, err
		}
	}
	block := packNibbles(head + fill)
	if f.usesPAN() {
		pf, err := panField(pan)
		if err != nil {
			return nil, err
		}
		subtle.XORBytes(block, block, pf)
	}
	return block, nil
}

// DecodePINBlock returns the PIN of a plain 8-byte PIN block of format 0,
// 1 or 3 (pan as for [PINBlock]). It checks the control digit, the PIN
// length and digits and the fill (F for format 0, A-F for format 3). It
// returns an error wrapping [ErrPINBlock] for any other input and never
// panics.
func DecodePINBlock(f PINFormat, block []byte, pan string) (string, error) {
	if f != PINFormat0 && f != PINFormat1 && f != PINFormat3 {
		return "", pinErr("format %d is not an 8-byte format (want 0, 1 or 3)", int(f))
	}
	if len(block) != 8 {
		return "", pinErr("a format %d block must be 8 bytes, got %d", int(f), len(block))
	}
	plain := append([]byte(nil), block...)
	if f.usesPAN() {
		pf, err := panField(pan)
		if err != nil {
			return "", err
		}
		subtle.XORBytes(plain, plain, pf)
	}
	return pinOfField(f, plain)
}

// pinOfField reads the PIN out of a plain PIN field (8 bytes; the first 8
// of the 16 for format 4).
func pinOfField(f PINFormat, field []byte) (string, error) {
	h := fmt.Sprintf("%X", field[:8])
	if control := int(field[0] >> 4); control != int(f) {
		return "", pinErr("control digit is %d, not format %d (wrong format, key or PAN?)", control, int(f))
	}
	n := int(field[0] & 0x0F)
	if n < 4 || n > 12 {
		return "", pinErr("PIN length digit is %d, want 4 to 12 (wrong key or PAN?)", n)
	}
	pin := h[2 : 2+n]
	if !digits(pin) {
		return "", pinErr("PIN digits are not all 0-9 (wrong key or PAN?)")
	}
	for _, c := range h[2+n:] {
		ok := true
		switch f {
		case PINFormat0:
			ok = c == 'F'
		case PINFormat3:
			ok = c >= 'A' && c <= 'F'
		case PINFormat4:
			ok = c == 'A'
		}
		if !ok {
			return "", pinErr("fill digits are not those of format %d (wrong key or PAN?)", int(f))
		}
	}
	return pin, nil
}

// PIN4Steps are the values of an ISO 9564-1 format 4 encipherment, in
// order: the plain PIN field, the PAN field, A = AES(K)[PIN field],
// B = A xor PAN field, and the enciphered block AES(K)[B].
type PIN4Steps struct {
	PINField, PANField, A, B, Block []byte
}

// PINField4 returns the 16-byte format 4 PIN field of pin (4 to 12
// digits) with 8 random bytes from rnd. It returns an error wrapping
// [ErrPINBlock].
func PINField4(pin string, rnd io.Reader) ([]byte, error) {
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	h := fmt.Sprintf("4%X%s", len(pin), pin)
	for len(h) < 16 {
		h += "A"
	}
	out := packNibbles(h)
	r := make([]byte, 8)
	if _, err := io.ReadFull(rnd, r); err != nil {
		return nil, pinErr("reading random fill: %v", err)
	}
	return append(out, r...), nil
}

// PANField4 returns the 16-byte format 4 PAN field of pan (1 to 19
// digits). It returns an error wrapping [ErrPINBlock].
func PANField4(pan string) ([]byte, error) {
	if len(pan) < 1 || len(pan) > 19 || !digits(pan) {
		return nil, pinErr("PAN must be 1 to 19 digits for format 4")
	}
	m := 0
	if len(pan) > 12 {
		m = len(pan) - 12
	}
	for len(pan) < 12 {
		pan = "0" + pan
	}
	h := fmt.Sprintf("%d%s", m, pan)
	for len(h) < 32 {
		h += "0"
	}
	return packNibbles(h), nil
}

// EncipherPIN4 enciphers pin for pan under an AES key (16, 24 or 32
// bytes) as ISO 9564-1 format 4 and returns every step. It returns an
// error wrapping [ErrPINBlock] or [ErrKeyLength].
func EncipherPIN4(key []byte, pin, pan string, rnd io.Reader) (PIN4Steps, error) {
	b, err := CipherAES.NewBlock(key)
	if err != nil {
		return PIN4Steps{}, err
	}
	var s PIN4Steps
	if s.PINField, err = PINField4(pin, rnd); err != nil {
		return PIN4Steps{}, err
	}
	if s.PANField, err = PANField4(pan); err != nil {
		return PIN4Steps{}, err
	}
	s.A = make([]byte, 16)
	b.Encrypt(s.A, s.PINField)
	s.B = make([]byte, 16)
	subtle.XORBytes(s.B, s.A, s.PANField)
	s.Block = make([]byte, 16)
	b.Encrypt(s.Block, s.B)
	return s, nil
}

// DecipherPIN4 returns the PIN of a 16-byte format 4 block under an AES
// key, with the steps (in enciphering order). It returns an error
// wrapping [ErrPINBlock] or [ErrKeyLength] for bad input (a wrong key or
// PAN shows as a bad control digit, length or fill) and never panics.
func DecipherPIN4(key, block []byte, pan string) (string, PIN4Steps, error) {
	b, err := CipherAES.NewBlock(key)
	if err != nil {
		return "", PIN4Steps{}, err
	}
	if len(block) != 16 {
		return "", PIN4Steps{}, pinErr("a format 4 block must be 16 bytes, got %d", len(block))
	}
	s := PIN4Steps{Block: append([]byte(nil), block...)}
	if s.PANField, err = PANField4(pan); err != nil {
		return "", PIN4Steps{}, err
	}
	s.B = make([]byte, 16)
	b.Decrypt(s.B, block)
	s.A = make([]byte, 16)
	subtle.XORBytes(s.A, s.B, s.PANField)
	s.PINField = make([]byte, 16)
	b.Decrypt(s.PINField, s.A)
	pin, err := pinOfField(PINFormat4, s.PINField)
	if err != nil {
		return "", PIN4Steps{}, err
	}
	return pin, s, nil
}

// EncipherPINBlock returns the enciphered PIN block: for formats 0, 1 and
// 3 the plain block of [PINBlock] encrypted with a TDES key (8, 16 or 24
// bytes); for format 4, [EncipherPIN4] with an AES key. It returns an
// error wrapping [ErrPINBlock], [ErrKeyLength] or [ErrAlg].
func EncipherPINBlock(c BlockCipher, key []byte, f PINFormat, pin, pan string, rnd io.Reader) ([]byte, error) {
	if err := checkPINCipher(c, f); err != nil {
		return nil, err
	}
	if f == PINFormat4 {
		s, err := EncipherPIN4(key, pin, pan, rnd)
		return s.Block, err
	}
	b, err := c.NewBlock(key)
	if err != nil {
		return nil, err
	}
	plain, err := PINBlock(f, pin, pan, rnd)
	if err != nil {
		return nil, err
	}
	b.Encrypt(plain, plain)
	return plain, nil
}

// DecipherPINBlock returns the PIN of an enciphered PIN block, the
// reverse of [EncipherPINBlock]. It never panics; bad input gives an error
// wrapping [ErrPINBlock], [ErrKeyLength] or [ErrAlg].
func DecipherPINBlock(c BlockCipher, key []byte, f PINFormat, block []byte, pan string) (string, error) {
	if err := checkPINCipher(c, f); err != nil {
		return "", err
	}
	if f == PINFormat4 {
		pin, _, err := DecipherPIN4(key, block, pan)
		return pin, err
	}
	b, err := c.NewBlock(key)
	if err != nil {
		return "", err
	}
	if len(block) != 8 {
		return "", pinErr("a format %d block must be 8 bytes, got %d", int(f), len(block))
	}
	plain := make([]byte, 8)
	b.Decrypt(plain, block)
	return DecodePINBlock(f, plain, pan)
}

func checkPINCipher(c BlockCipher, f PINFormat) error {
	switch {
	case !f.valid():
		return pinErr("format %d is not supported (want 0, 1, 3 or 4)", int(f))
	case f == PINFormat4 && c != CipherAES:
		return pinErr("format 4 is enciphered with AES, not %v", c)
	case f != PINFormat4 && c != CipherTDES:
		return pinErr("format %d is enciphered with TDES, not %v (use format 4 for AES)", int(f), c)
	}
	return nil
}
