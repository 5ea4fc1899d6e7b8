package emv

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"reflect"
	"unsafe"
)

// newDES returns crypto/des's single-DES cipher of an 8-byte key, its key
// schedule computed here in ~0.35 µs instead of crypto/des's ~1 µs (a bit
// at a time through PC1 and sixteen PC2s): a session key's two halves are
// scheduled for every authorization. The cipher is crypto/des's own (its
// Encrypt and Decrypt; WipeSchedule wipes it); only its subkeys are
// written here, as desSchedule computes them. When the schedule cannot be
// made that way (desSchedule is nil: crypto/des is not laid out as
// checked, or refuses DES, as in FIPS 140-only mode) it is des.NewCipher,
// errors and all.
func newDES(key []byte) (cipher.Block, error) {
	s := desFast
	if s == nil || len(key) != des.BlockSize {
		return des.NewCipher(key)
	}
	return s.cipher(key), nil
}

// desSchedule is crypto/des's key schedule as a table: in it every bit of
// each of the sixteen subkeys is one bit of the key (PC1, the rotations,
// PC2 and crypto/des's spreading of each subkey's 6-bit groups over bytes
// only move bits), so the subkeys are the OR of what each key bit gives
// alone — which is read from crypto/des itself, a key of one bit at a
// time.
type desSchedule struct {
	typ reflect.Type // crypto/des's cipher (the pointer's element)
	// bit[q][i] is subkeys 4q to 4q+3 of the key whose only bit set is
	// bit i+i/7+1 (bit 0 the last byte's least significant): the bits
	// that are not a byte's parity bit (its least significant), which DES
	// ignores.
	bit [4][56][4]uint64
}

// desFast is the table, made and checked once; nil when crypto/des is
// not what it was made for.
var desFast = makeDESSchedule()

// cipher returns crypto/des's cipher with key's subkeys (key is 8 bytes).
func (s *desSchedule) cipher(key []byte) cipher.Block {
	c := reflect.New(s.typ)
	s.schedule((*[16]uint64)(c.UnsafePointer()), key)
	return c.Interface().(cipher.Block)
}

// schedule sets the subkeys of key (8 bytes) in sk. It takes the same
// time whatever the key: every bit is masked in, none indexes a table.
func (s *desSchedule) schedule(sk *[16]uint64, key []byte) {
	k := uint64(key[0]>>1)<<49 | uint64(key[1]>>1)<<42 | uint64(key[2]>>1)<<35 | uint64(key[3]>>1)<<28 |
		uint64(key[4]>>1)<<21 | uint64(key[5]>>1)<<14 | uint64(key[6]>>1)<<7 | uint64(key[7]>>1)
	for q := range s.bit { // four subkeys at a time, in registers
		var a0, a1, a2, a3 uint64
		for i := range s.bit[q] {
			m := -(k >> uint(i) & 1) // all ones when bit i is set
			row := &s.bit[q][i]
			a0 |= row[0] & m
			a1 |= row[1] & m
			a2 |= row[2] & m
			a3 |= row[3] & m
		}
		sk[4*q], sk[4*q+1], sk[4*q+2], sk[4*q+3] = a0, a1, a2, a3
	}
}

// makeDESSchedule reads the table off crypto/des and checks it against
// des.NewCipher on random keys: the same subkeys, the same encryption.
// It returns nil, and newDES is des.NewCipher, if crypto/des's cipher is
// not a pointer to sixteen uint64s or anything differs.
func makeDESSchedule() *desSchedule {
	probe, err := des.NewCipher(make([]byte, 8))
	if err != nil {
		return nil
	}
	t := reflect.TypeOf(probe)
	if t.Kind() != reflect.Pointer || t.Elem().Size() != unsafe.Sizeof([16]uint64{}) || !flat(t.Elem()) {
		return nil
	}
	subkeys := func(c cipher.Block) *[16]uint64 { return (*[16]uint64)(reflect.ValueOf(c).UnsafePointer()) }
	s := &desSchedule{typ: t.Elem()}
	for i := range 56 {
		var key [8]byte
		key[7-i/7] = 2 << uint(i%7)
		c, err := des.NewCipher(key[:])
		if err != nil {
			return nil
		}
		sk := subkeys(c)
		for q := range s.bit {
			s.bit[q][i] = [4]uint64(sk[4*q:])
		}
	}
	var key, block [8]byte
	for range 16 {
		if _, err := rand.Read(key[:]); err != nil {
			return nil
		}
		want, _ := des.NewCipher(key[:])
		got := s.cipher(key[:])
		if *subkeys(got) != *subkeys(want) {
			return nil
		}
		var a, b [8]byte
		want.Encrypt(a[:], block[:])
		got.Encrypt(b[:], block[:])
		if a != b {
			return nil
		}
		block = a
	}
	return s
}
