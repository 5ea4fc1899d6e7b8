package emv

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/emmansun/gmsm/sm4"
)

// Alg is the block cipher family a card's keys belong to.
type Alg int

const (
	// TDES is double-length triple DES (EMV; 8-byte blocks, 16-byte keys).
	TDES Alg = iota + 1
	// SM4 is the Chinese national block cipher GB/T 32907-2016 used by
	// PBOC 3.0 / UnionPay cards (16-byte blocks, 16-byte keys).
	SM4
)

// KeySize is the length in bytes of every key this package uses: a
// double-length TDES key or an SM4 key.
const KeySize = 16

// Errors the cryptographic functions wrap, to test with errors.Is.
var (
	ErrAlg       = errors.New("emv: unknown algorithm")
	ErrKeyLength = errors.New("emv: key must be 16 bytes")
	ErrPadding   = errors.New("emv: unknown padding method")
	ErrArgument  = errors.New("emv: bad argument")
)

// String returns "tdes" or "sm4" (or "Alg(n)" for an unknown value).
func (a Alg) String() string {
	switch a {
	case TDES:
		return "tdes"
	case SM4:
		return "sm4"
	}
	return fmt.Sprintf("Alg(%d)", int(a))
}

// ParseAlg returns the Alg named s ("tdes", "3des" or "sm4", any case). It
// returns an error wrapping [ErrAlg] for any other name.
func ParseAlg(s string) (Alg, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tdes", "3des", "des3", "triple-des":
		return TDES, nil
	case "sm4":
		return SM4, nil
	}
	return 0, fmt.Errorf("%w %q (want tdes or sm4)", ErrAlg, s)
}

// BlockSize returns the cipher block size in bytes (8 for TDES, 16 for
// SM4), or 0 for an unknown Alg.
func (a Alg) BlockSize() int {
	switch a {
	case TDES:
		return des.BlockSize
	case SM4:
		return sm4.BlockSize
	}
	return 0
}

// block returns the block cipher for a 16-byte key: TDES with keying
// option 2 (K1 K2 K1) or SM4. It returns an error for a bad Alg or key size.
func (a Alg) block(key []byte) (cipher.Block, error) {
	if a != TDES && a != SM4 {
		return nil, fmt.Errorf("%w %v", ErrAlg, a)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w (got %d)", ErrKeyLength, len(key))
	}
	if a == SM4 {
		return sm4.NewCipher(key)
	}
	k := make([]byte, 24)
	copy(k, key)
	copy(k[16:], key[:8])
	return des.NewTripleDESCipher(k)
}

// encryptECB encrypts src (a multiple of the block size) block by block.
func encryptECB(b cipher.Block, src []byte) []byte {
	bs := b.BlockSize()
	out := make([]byte, len(src))
	for i := 0; i+bs <= len(src); i += bs {
		b.Encrypt(out[i:i+bs], src[i:i+bs])
	}
	return out
}

// Padding is an ISO/IEC 9797-1 padding method for MACs.
type Padding int

const (
	// PadMethod1 appends '00' bytes up to a whole block; data that is
	// already whole blocks is not padded, empty data becomes one block.
	PadMethod1 Padding = 1
	// PadMethod2 appends '80' then '00' bytes up to a whole block (always
	// at least one byte). EMV and PBOC use it for cryptograms.
	PadMethod2 Padding = 2
	// PadMethod3 prefixes a block holding the data length in bits and then
	// pads like method 1.
	PadMethod3 Padding = 3
)

// Pad returns data padded by method p to a multiple of blockSize. It
// returns an error wrapping [ErrPadding] for an unknown method or
// [ErrArgument] for a block size that is not positive.
func Pad(data []byte, blockSize int, p Padding) ([]byte, error) {
	return appendPad(nil, data, blockSize, p)
}

// appendPad appends data padded by method p to dst (Pad).
func appendPad(dst, data []byte, blockSize int, p Padding) ([]byte, error) {
	if blockSize <= 0 {
		return nil, fmt.Errorf("%w: block size %d", ErrArgument, blockSize)
	}
	zeros := func(n int) { // up to a whole block
		for ; n%blockSize != 0; n++ {
			dst = append(dst, 0)
		}
	}
	switch p {
	case PadMethod1:
		dst = append(dst, data...)
		if len(data) == 0 {
			return append(dst, make([]byte, blockSize)...), nil
		}
		zeros(len(data))
		return dst, nil
	case PadMethod2:
		dst = append(append(dst, data...), 0x80)
		zeros(len(data) + 1)
		return dst, nil
	case PadMethod3:
		bits := uint64(len(data)) * 8
		for i := blockSize - 1; i >= 0; i-- {
			if i < 8 {
				dst = append(dst, byte(bits>>(8*i)))
			} else {
				dst = append(dst, 0)
			}
		}
		return appendPad(dst, data, blockSize, PadMethod1)
	}
	return nil, fmt.Errorf("%w %d (want 1, 2 or 3)", ErrPadding, int(p))
}

// MAC returns the message authentication code of data under key:
//
//   - TDES: ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC"): single-DES
//     CBC with the left key half over all blocks, then the last block
//     decrypted with the right half and encrypted with the left; 8 bytes.
//   - SM4: CBC-MAC with a zero IV over 16-byte blocks (PBOC 3.0); all 16
//     bytes of the last block. Callers take the leftmost bytes they need.
//
// It returns an error for an unknown Alg or padding or a key that is not 16
// bytes.
func MAC(a Alg, key, data []byte, p Padding) ([]byte, error) {
	k, err := NewKeyed(a, key)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.MAC(data, p)
}

// cbcMAC returns the last block of the CBC encryption of padded (whole
// blocks) under b with the given IV.
func cbcMAC(b cipher.Block, iv, padded []byte) []byte {
	bs := b.BlockSize()
	h := make([]byte, bs)
	copy(h, iv)
	for i := 0; i+bs <= len(padded); i += bs {
		subtle.XORBytes(h, h, padded[i:i+bs])
		b.Encrypt(h, h)
	}
	return h
}

// KCV returns the 3-byte key check value: the leftmost bytes of a block of
// zeros encrypted with the key. It returns an error for an unknown Alg or a
// key that is not 16 bytes.
func KCV(a Alg, key []byte) ([]byte, error) {
	b, err := a.block(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, a.BlockSize())
	b.Encrypt(out, out)
	return out[:3], nil
}

// AdjustParity returns a copy of a DES key with each byte's lowest bit set
// so that the byte has odd parity. It never fails.
func AdjustParity(key []byte) []byte {
	out := make([]byte, len(key))
	for i, c := range key {
		c &^= 1
		ones := 0
		for v := c; v != 0; v >>= 1 {
			ones += int(v & 1)
		}
		if ones%2 == 0 {
			c |= 1
		}
		out[i] = c
	}
	return out
}

// Key is a card key held in memory: its bytes are unexported, it prints
// as "tdes key [redacted]", logs the same way with log/slog, and compares
// in constant time.
type Key struct {
	alg Alg
	b   []byte
}

// NewKey returns a Key holding a copy of b. It returns an error for an
// unknown Alg or a key that is not 16 bytes.
func NewKey(a Alg, b []byte) (Key, error) {
	if _, err := a.block(b); err != nil {
		return Key{}, err
	}
	return Key{alg: a, b: append([]byte(nil), b...)}, nil
}

// Alg returns the key's algorithm (0 for the zero Key).
func (k Key) Alg() Alg { return k.alg }

// Bytes returns a copy of the key bytes (nil for the zero Key).
func (k Key) Bytes() []byte {
	if k.b == nil {
		return nil
	}
	return append([]byte(nil), k.b...)
}

// Equal reports in constant time whether two keys have the same algorithm
// and bytes.
func (k Key) Equal(o Key) bool {
	return k.alg == o.alg && subtle.ConstantTimeCompare(k.b, o.b) == 1
}

// String returns the algorithm and "[redacted]", never the key bytes.
func (k Key) String() string {
	return k.alg.String() + " key [redacted]"
}

// GoString is like String, so that %#v does not print the bytes either.
func (k Key) GoString() string { return k.String() }

// LogValue makes log/slog print the key redacted.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }
