package emv

import (
	"errors"
	"testing"
)

// FuzzDecodePINBlock feeds outside input (a PIN block and a PAN from a
// terminal or a file) to the PIN block decoders: they never panic, they
// fail only with ErrPINBlock, and what decodes is a 4- to 12-digit PIN
// that encodes back (format 0) to the same block.
func FuzzDecodePINBlock(f *testing.F) {
	f.Add(uint8(0), []byte{0x04, 0x12, 0x61, 0xAA, 0xAA, 0xED, 0xCB, 0xA9}, "5555555551234567")
	f.Add(uint8(3), []byte{0x34, 0x12, 0x61, 0xAA, 0xAA, 0xED, 0xCB, 0xA9}, "5555555551234567")
	f.Add(uint8(1), []byte{0x14, 0x12, 0x34, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC}, "")
	f.Add(uint8(4), []byte{0xCC, 0x17, 0xF6, 0x55, 0x86, 0xBF, 0xD0, 0x95, 0x30, 0x10, 0x22, 0x6C, 0x4F, 0xC5, 0xB3, 0xCA}, "432198765432109870")
	f.Add(uint8(0), []byte{}, "1")
	f.Add(uint8(9), []byte{0xFF}, "x")
	aesKey := []byte{0xC1, 0xD0, 0xF8, 0xFB, 0x49, 0x58, 0x67, 0x0D, 0xBA, 0x40, 0xAB, 0x1F, 0x37, 0x52, 0xEF, 0x0D}
	tdesKey := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	f.Fuzz(func(t *testing.T, format uint8, block []byte, pan string) {
		pf := PINFormat(format % 6)
		check := func(pin string, err error) {
			if err != nil {
				if !errors.Is(err, ErrPINBlock) && !errors.Is(err, ErrKeyLength) {
					t.Fatalf("error %v wraps neither ErrPINBlock nor ErrKeyLength", err)
				}
				return
			}
			if len(pin) < 4 || len(pin) > 12 || !digits(pin) {
				t.Fatalf("decoded PIN of %d characters, not 4-12 digits", len(pin))
			}
		}
		pin, err := DecodePINBlock(pf, block, pan)
		check(pin, err)
		if err == nil && pf == PINFormat0 {
			again, err := PINBlock(pf, pin, pan, fixed(0))
			if err != nil || string(again) != string(block) {
				t.Fatalf("format 0 block does not re-encode to itself")
			}
		}
		check(DecipherPINBlock(CipherTDES, tdesKey, pf, block, pan))
		check(DecipherPINBlock(CipherAES, aesKey, pf, block, pan))
	})
}

// FuzzDecodeBits: the bit decoders never panic on any object name and
// bytes, and fail only with ErrBits.
func FuzzDecodeBits(f *testing.F) {
	for _, o := range []string{"tvr", "tsi", "cvm", "aip", "ttq", "ctq", "cvr", "9F10", "x"} {
		f.Add(o, []byte{0x03, 0xA0, 0x00, 0x10, 0xFF})
	}
	f.Fuzz(func(t *testing.T, object string, b []byte) {
		d, err := DecodeBits(object, b)
		if err != nil {
			if !errors.Is(err, ErrBits) {
				t.Fatalf("error %v does not wrap ErrBits", err)
			}
			return
		}
		if len(d.Fields) == 0 {
			t.Fatal("decoded object without fields")
		}
	})
}
