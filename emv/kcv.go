package emv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm4"
)

// BlockCipher is a block cipher with every key length it allows, for the
// key check values and PIN blocks of the calculator. (Alg is narrower: the
// 16-byte card keys of EMV and PBOC.)
type BlockCipher int

const (
	// CipherTDES is DES and triple DES: 8-, 16- or 24-byte keys, 8-byte blocks.
	CipherTDES BlockCipher = iota + 1
	// CipherAES is AES-128, -192 or -256: 16-byte blocks.
	CipherAES
	// CipherSM4 is SM4 (GB/T 32907-2016): 16-byte keys and blocks.
	CipherSM4
)

// String returns "tdes", "aes" or "sm4".
func (c BlockCipher) String() string {
	switch c {
	case CipherTDES:
		return "tdes"
	case CipherAES:
		return "aes"
	case CipherSM4:
		return "sm4"
	}
	return fmt.Sprintf("BlockCipher(%d)", int(c))
}

// ParseBlockCipher returns the cipher named s ("tdes", "3des", "des",
// "aes" or "sm4", any case). It returns an error wrapping [ErrAlg] for
// any other name.
func ParseBlockCipher(s string) (BlockCipher, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tdes", "3des", "des3", "des", "triple-des":
		return CipherTDES, nil
	case "aes":
		return CipherAES, nil
	case "sm4":
		return CipherSM4, nil
	}
	return 0, fmt.Errorf("%w %q (want tdes, aes or sm4)", ErrAlg, s)
}

// NewBlock returns the block cipher for key. TDES takes an 8-byte (single
// DES), 16-byte (K1 K2 K1) or 24-byte key; AES 16, 24 or 32 bytes; SM4 16.
// It returns an error wrapping [ErrKeyLength] or [ErrAlg]; the error never
// holds key bytes.
func (c BlockCipher) NewBlock(key []byte) (cipher.Block, error) {
	bad := func(want string) error {
		return fmt.Errorf("%w: a %v key must be %s bytes, got %d", ErrKeyLength, c, want, len(key))
	}
	switch c {
	case CipherTDES:
		switch len(key) {
		case 8:
			return des.NewCipher(key)
		case 16:
			k := make([]byte, 24)
			copy(k, key)
			copy(k[16:], key[:8])
			return des.NewTripleDESCipher(k)
		case 24:
			return des.NewTripleDESCipher(key)
		}
		return nil, bad("8, 16 or 24")
	case CipherAES:
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return nil, bad("16, 24 or 32")
		}
		return aes.NewCipher(key)
	case CipherSM4:
		if len(key) != 16 {
			return nil, bad("16")
		}
		return sm4.NewCipher(key)
	}
	return nil, fmt.Errorf("%w %v", ErrAlg, c)
}

// KCVMethod is how a key check value is computed.
type KCVMethod int

const (
	// KCVEncryptZeros encrypts one block of zero bytes with the key (the
	// legacy method; for TDES the method of ANSI X9.24-1 and every HSM).
	KCVEncryptZeros KCVMethod = 1
	// KCVCMAC is the CMAC (NIST SP 800-38B) of one block of zero bytes
	// under the key: the method ANSI X9.24-1:2017 gives for AES keys, and
	// the one AWS Payment Cryptography and TR-31 key blocks use.
	KCVCMAC KCVMethod = 2
)

// String returns "zeros" or "cmac".
func (m KCVMethod) String() string {
	switch m {
	case KCVEncryptZeros:
		return "zeros"
	case KCVCMAC:
		return "cmac"
	}
	return fmt.Sprintf("KCVMethod(%d)", int(m))
}

// DefaultKCVMethod is the method each cipher's keys are checked with by
// default: encrypt-zeros for TDES and SM4, CMAC for AES.
func DefaultKCVMethod(c BlockCipher) KCVMethod {
	if c == CipherAES {
		return KCVCMAC
	}
	return KCVEncryptZeros
}

// KeyCheckValue returns the leftmost n bytes (1 to the block size; 3 is
// usual) of the check value of key by method m. It returns an error for a
// bad cipher, key length, method or n; the error never holds key bytes.
func KeyCheckValue(c BlockCipher, key []byte, m KCVMethod, n int) ([]byte, error) {
	b, err := c.NewBlock(key)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	if n < 1 || n > bs {
		return nil, fmt.Errorf("%w: check value length must be 1 to %d bytes, got %d", ErrArgument, bs, n)
	}
	zeros := make([]byte, bs)
	var out []byte
	switch m {
	case KCVEncryptZeros:
		out = make([]byte, bs)
		b.Encrypt(out, zeros)
	case KCVCMAC:
		out = CMAC(b, zeros)
	default:
		return nil, fmt.Errorf("%w: unknown check value method %v", ErrArgument, m)
	}
	return out[:n], nil
}

// CMAC returns the full-block CMAC (NIST SP 800-38B, RFC 4493 for AES) of
// msg under b. It works for 8- and 16-byte block ciphers and never fails.
func CMAC(b cipher.Block, msg []byte) []byte {
	bs := b.BlockSize()
	rb := byte(0x87)
	if bs == 8 {
		rb = 0x1B
	}
	l := make([]byte, bs)
	b.Encrypt(l, l)
	k1 := cmacDouble(l, rb)
	k2 := cmacDouble(k1, rb)
	n := (len(msg) + bs - 1) / bs
	last := make([]byte, bs)
	if n > 0 && len(msg)%bs == 0 {
		subtle.XORBytes(last, msg[(n-1)*bs:], k1)
	} else {
		if n == 0 {
			n = 1
		}
		rest := msg[(n-1)*bs:]
		copy(last, rest)
		last[len(rest)] = 0x80
		subtle.XORBytes(last, last, k2)
	}
	h := make([]byte, bs)
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(h, h, msg[i*bs:(i+1)*bs])
		b.Encrypt(h, h)
	}
	subtle.XORBytes(h, h, last)
	b.Encrypt(h, h)
	return h
}

// cmacDouble multiplies by x in GF(2^n): shift left one bit, and xor rb
// into the last byte if the top bit was set.
func cmacDouble(in []byte, rb byte) []byte {
	out := make([]byte, len(in))
	var carry byte
	for i := len(in) - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	if carry != 0 {
		out[len(out)-1] ^= rb
	}
	return out
}
