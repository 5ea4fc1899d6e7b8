package emv

import (
	"bytes"
	"crypto/des"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestDES: the package's DES computes what crypto/des computes — single
// DES both ways and TDES with keying option 2 (K1 K2 K1) — for 2,000
// random keys and blocks, and the standard's worked example.
func TestDES(t *testing.T) {
	key, _ := hex.DecodeString("133457799BBCDFF1")
	in, _ := hex.DecodeString("0123456789ABCDEF")
	var s desSchedule
	newDESSchedule(&s, key)
	out := make([]byte, 8)
	desCrypt(&s, out, in, false)
	if got := hex.EncodeToString(out); got != "85e813540f0ab405" {
		t.Fatalf("the standard's example: %s, want 85e813540f0ab405", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		k := make([]byte, 16)
		blk := make([]byte, 8)
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		for j := range blk {
			blk[j] = byte(rng.Uint32())
		}
		var s1, s2 desSchedule
		newDESSchedule(&s1, k[:8])
		newDESSchedule(&s2, k[8:])
		ref, _ := des.NewCipher(k[:8])
		want, got := make([]byte, 8), make([]byte, 8)
		ref.Encrypt(want, blk)
		desCrypt(&s1, got, blk, false)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d: DES encrypt %x under %x: %x, want %x", i, blk, k[:8], got, want)
		}
		ref.Decrypt(want, blk)
		desCrypt(&s1, got, blk, true)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d: DES decrypt %x under %x: %x, want %x", i, blk, k[:8], got, want)
		}
		ref3, _ := des.NewTripleDESCipher(append(append([]byte(nil), k...), k[:8]...))
		ref3.Encrypt(want, blk)
		tdesEncrypt(&s1, &s2, got, blk)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d: TDES %x under %x: %x, want %x", i, blk, k, got, want)
		}
	}
}

// BenchmarkDESSchedule: a single-DES key schedule, the package's and
// crypto/des's.
func BenchmarkDESSchedule(b *testing.B) {
	key := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	b.Run("emv", func(b *testing.B) {
		var s desSchedule
		for b.Loop() {
			newDESSchedule(&s, key)
		}
	})
	b.Run("crypto/des", func(b *testing.B) {
		for b.Loop() {
			if _, err := des.NewCipher(key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDESBlock: one block of single DES, the package's and
// crypto/des's.
func BenchmarkDESBlock(b *testing.B) {
	key := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	blk := make([]byte, 8)
	b.Run("emv", func(b *testing.B) {
		var s desSchedule
		newDESSchedule(&s, key)
		for b.Loop() {
			desCrypt(&s, blk, blk, false)
		}
	})
	b.Run("crypto/des", func(b *testing.B) {
		c, _ := des.NewCipher(key)
		for b.Loop() {
			c.Encrypt(blk, blk)
		}
	})
}

// TestKeyedAgainstCryptoDES: a TDES Keyed's retail MAC (every padding,
// data of 0 to 40 bytes), its TDES block (ARPC method 1) and its session
// key are what crypto/des's DES and triple DES make of the same key, for
// 300 random keys.
func TestKeyedAgainstCryptoDES(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 300 {
		key := random(16)
		k, err := NewKeyed(TDES, key)
		if err != nil {
			t.Fatal(err)
		}
		left, _ := des.NewCipher(key[:8])
		right, _ := des.NewCipher(key[8:])
		tdes, _ := des.NewTripleDESCipher(append(append([]byte(nil), key...), key[:8]...))
		data := random(i % 41)
		for _, p := range []Padding{PadMethod1, PadMethod2, PadMethod3} {
			padded, _ := Pad(data, 8, p)
			want := make([]byte, 8)
			for j := 0; j < len(padded); j += 8 {
				for b := range 8 {
					want[b] ^= padded[j+b]
				}
				left.Encrypt(want, want)
			}
			right.Decrypt(want, want)
			left.Encrypt(want, want)
			if got, err := k.MAC(data, p); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("key %d: MAC of %x, pad %d: %x (%v), want %x", i, data, p, got, err, want)
			}
		}
		arqc := random(8)
		want := make([]byte, 8)
		in := append([]byte(nil), arqc...)
		in[0] ^= 'x'
		in[1] ^= 'y'
		tdes.Encrypt(want, in)
		if got, _ := k.ARPCMethod1(arqc, []byte("xy")); !bytes.Equal(got, want) {
			t.Fatalf("key %d: ARPC method 1 %x, want %x", i, got, want)
		}
		sk, _ := k.SessionKeyPBOC([]byte{byte(i >> 8), byte(i)})
		want = make([]byte, 16)
		tdes.Encrypt(want, []byte{0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
		tdes.Encrypt(want[8:], []byte{0, 0, 0, 0, 0, 0, ^byte(i >> 8), ^byte(i)})
		if !bytes.Equal(sk, want) {
			t.Fatalf("key %d: session key %x, want %x", i, sk, want)
		}
	}
}
