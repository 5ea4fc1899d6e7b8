package emv

import (
	"bytes"
	"crypto/des"
	"errors"
	"fmt"
	"testing"

	"github.com/emmansun/gmsm/sm4"
)

// TestKeyedMatchesFunctions: a Keyed computes what the package's functions
// compute, for TDES and SM4, and TDES through its single-DES halves equals
// crypto/des's triple DES with K1 K2 K1.
func TestKeyedMatchesFunctions(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	data := []byte("amount 000000001234 un 11223344 tvr 0000000000")
	for _, a := range []Alg{TDES, SM4} {
		k, err := NewKeyed(a, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []Padding{PadMethod1, PadMethod2, PadMethod3} {
			want, _ := MAC(a, key, data, p)
			got, err := k.MAC(data, p)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v MAC pad %d: %X, %v; want %X", a, p, got, err, want)
			}
		}
		want, _ := SessionKeyPBOC(a, key, []byte{0x12, 0x34})
		if got, _ := k.SessionKeyPBOC([]byte{0x12, 0x34}); !bytes.Equal(got, want) {
			t.Fatalf("%v SessionKeyPBOC: %X, want %X", a, got, want)
		}
		arqc := unhex(t, "1122334455667788")
		want, _ = ARPCMethod1(a, key, arqc, []byte("00"))
		if got, _ := k.ARPCMethod1(arqc, []byte("00")); !bytes.Equal(got, want) {
			t.Fatalf("%v ARPC1: %X, want %X", a, got, want)
		}
		want, _ = ARPCMethod2(a, key, arqc, []byte{1, 2, 3, 4}, []byte{9})
		if got, _ := k.ARPCMethod2(arqc, []byte{1, 2, 3, 4}, []byte{9}); !bytes.Equal(got, want) {
			t.Fatalf("%v ARPC2: %X, want %X", a, got, want)
		}
		ac, _ := k.Cryptogram(data, PadMethod2)
		if ok, err := k.VerifyCryptogram(data, PadMethod2, ac); !ok || err != nil {
			t.Fatalf("%v VerifyCryptogram of its own cryptogram: %v, %v", a, ok, err)
		}
		if ok, _ := k.VerifyCryptogram(data[1:], PadMethod2, ac); ok {
			t.Fatalf("%v VerifyCryptogram of other data: true", a)
		}
	}
	k, _ := NewKeyed(TDES, key)
	b, err := des.NewTripleDESCipher(append(append([]byte(nil), key...), key[:8]...))
	if err != nil {
		t.Fatal(err)
	}
	in := unhex(t, "0000000000001234")
	want := make([]byte, 8)
	b.Encrypt(want, in)
	got := make([]byte, 8)
	k.encrypt(got, in)
	if !bytes.Equal(got, want) {
		t.Fatalf("TDES EDE from halves: %X, want %X", got, want)
	}
	if _, err := k.CommonSessionKey([]byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if s, _ := NewKeyed(SM4, key); s != nil {
		if _, err := s.CommonSessionKey([]byte{1, 2, 3, 4, 5, 6, 7, 8}); err == nil {
			t.Fatal("SM4 CommonSessionKey: no error")
		}
	}
	if _, err := NewKeyed(Alg(9), key); err == nil {
		t.Fatal("NewKeyed(Alg(9)): no error")
	}
	if _, err := NewKeyed(TDES, key[:8]); err == nil {
		t.Fatal("NewKeyed with 8 bytes: no error")
	}
}

// TestKeyedWipe: Wipe leaves no key schedule in the Keyed — the DES
// subkeys and the SM4 round keys are zeros (the MAC is then the one of a
// cipher with all-zero subkeys, not the key's), and it prints redacted.
func TestKeyedWipe(t *testing.T) {
	key := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	data := []byte("some transaction data")
	for _, a := range []Alg{TDES, SM4} {
		k, _ := NewKeyed(a, key)
		before, _ := k.MAC(data, PadMethod2)
		k.Wipe()
		after, _ := k.MAC(data, PadMethod2)
		if bytes.Equal(before, after) {
			t.Fatalf("%v: the MAC after Wipe is the key's", a)
		}
		other, _ := NewKeyed(a, unhex(t, "00112233445566778899AABBCCDDEEFF"))
		other.Wipe()
		if zero, _ := other.MAC(data, PadMethod2); !bytes.Equal(after, zero) {
			t.Fatalf("%v: two wiped keys MAC differently: something of the key is left", a)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
			if s := fmt.Sprintf(verb, k); s != a.String()+" key schedule [redacted]" {
				t.Fatalf("%s of a Keyed: %q", verb, s)
			}
		}
	}
}

// TestWipeScheduleFollowsPointers: the schedules of crypto/des and sm4
// (behind a pointer) are wipeable; a block cipher holding anything but
// numbers and pointers to them is left untouched.
func TestWipeScheduleFollowsPointers(t *testing.T) {
	b, _ := sm4.NewCipher(make([]byte, 16))
	if !WipeSchedule(b) {
		t.Fatal("sm4's schedule is not wipeable")
	}
	d, _ := des.NewCipher(make([]byte, 8))
	if !WipeSchedule(d) {
		t.Fatal("crypto/des's schedule is not wipeable")
	}
	s := "not a key"
	if WipeSchedule(&stringBlock{s: s}) || WipeSchedule(nil) || s != "not a key" {
		t.Fatal("wiped a value that holds a string, or nil")
	}
}

type stringBlock struct{ s string }

func (*stringBlock) BlockSize() int          { return 8 }
func (*stringBlock) Encrypt(dst, src []byte) {}
func (*stringBlock) Decrypt(dst, src []byte) {}

// BenchmarkKeyed: a session key's ARQC check and ARPC with its schedules
// built once ("keyed") against the package functions building them for
// each ("functions").
func BenchmarkKeyed(b *testing.B) {
	key := []byte("0123456789ABCDEF")
	data := make([]byte, 37)
	arqc := make([]byte, 8)
	b.Run("keyed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k, _ := NewKeyed(TDES, key)
			_, _ = k.VerifyCryptogram(data, PadMethod1, arqc)
			_, _ = k.ARPCMethod1(arqc, []byte("00"))
			k.Wipe()
		}
	})
	b.Run("functions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = VerifyCryptogram(TDES, key, data, PadMethod1, arqc)
			b2, _ := TDES.block(key)
			_ = encryptECB(b2, arqc)
		}
	})
}

// BenchmarkEncodeARPC: the issuer authentication data the switch puts in
// its answer's DE55.
func BenchmarkEncodeARPC(b *testing.B) {
	arpc := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(New(0x91, arpc)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestARPCMethod1HasRoomForARC: the ARPC comes with room for the ARC that
// tag 91 appends to it (ARPC ‖ ARC), in both algorithms.
func TestARPCMethod1HasRoomForARC(t *testing.T) {
	for _, alg := range []Alg{TDES, SM4} {
		k, err := NewKeyed(alg, []byte("0123456789ABCDEF"))
		if err != nil {
			t.Fatal(err)
		}
		arpc, err := k.ARPCMethod1(make([]byte, 8), []byte("00"))
		if err != nil || len(arpc) != 8 || cap(arpc) < 10 {
			t.Errorf("%v: ARPC of %d bytes with room for %d, %v; want 8 with room for 10", alg, len(arpc), cap(arpc), err)
		}
		k.Wipe()
	}
}

// BenchmarkAppendEncodeARPC is BenchmarkEncodeARPC into a buffer on the
// stack (AppendEncode), as the switch copies it on into its answer.
func BenchmarkAppendEncodeARPC(b *testing.B) {
	arpc := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x30, 0x30}
	b.ReportAllocs()
	for b.Loop() {
		var buf [16]byte
		if _, err := AppendEncode(buf[:0], New(0x91, arpc)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMakeKeyed: MakeKeyed's value computes what NewKeyed's computes, in
// both algorithms, and refuses what NewKeyed refuses.
func TestMakeKeyed(t *testing.T) {
	key, data := []byte("0123456789ABCDEF"), []byte("an authorization's cryptogram data")
	for _, alg := range []Alg{TDES, SM4} {
		k, err := MakeKeyed(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewKeyed(alg, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err1 := k.MAC(data, PadMethod1)
		want, err2 := p.MAC(data, PadMethod1)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%v: MAC %X (%v), NewKeyed's %X (%v)", alg, got, err1, want, err2)
		}
	}
	if _, err := MakeKeyed(TDES, key[:8]); !errors.Is(err, ErrKeyLength) {
		t.Errorf("an 8-byte key: %v, want ErrKeyLength", err)
	}
	if _, err := MakeKeyed(Alg(99), key); !errors.Is(err, ErrAlg) {
		t.Errorf("an unknown algorithm: %v, want ErrAlg", err)
	}
}
