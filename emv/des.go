package emv

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

// DES (FIPS 46-3) for Keyed, whose keys are made per authorization: the
// session key of every cryptogram needs two single-DES key schedules, and
// crypto/des builds one bit by bit (17 permutations of 48–56 bits, about
// three quarters of a microsecond). Here every permutation is a lookup
// table of 4-bit groups, made once from the standard's tables, so a key
// schedule is a few hundred table reads; the rounds are the usual
// S-box-with-P tables. It computes what crypto/des computes (TestDES
// compares them on random keys and blocks, and the standard's example):
// the same algorithm, only faster to key, and its blocks as fast. Like
// crypto/des's, its table reads depend on the key and the data (neither
// is constant-time). A schedule is numbers only, in place: wiping it is
// clearing it.

// desSchedule is a single-DES key's 16 round keys. Round key i holds the
// eight 6-bit groups that meet S-boxes 1–8 where feistel XORs them: the
// odd S-boxes' (1, 3, 5, 7) in the top half, the even ones' in the bottom
// half, each at bits 31–26, 23–18, 15–10 and 7–2 of its half.
type desSchedule [16]uint64

// desTables are the lookup tables made from the standard's tables: a
// permutation of an n-bit value is the OR of one entry per 4-bit group.
type desTables struct {
	ip, fp, pc1 [16][16]uint64
	pc2         [14][16]uint64 // to round keys (desSchedule's layout)
	sp          [8][64]uint32  // S-box j then P, by the 6 bits S-box j reads
}

var (
	desOnce sync.Once
	desTab  *desTables
)

func desT() *desTables {
	desOnce.Do(func() { desTab = newDESTables() })
	return desTab
}

// The standard's tables: bit positions counted from 1 at the most
// significant bit.
var (
	desIP = [64]byte{
		58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
		62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
		57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
		61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
	}
	desPC1 = [56]byte{
		57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
		10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
		63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
		14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
	}
	desPC2 = [48]byte{
		14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
		23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
		41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
		44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
	}
	desP = [32]byte{
		16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
		2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
	}
	desShifts = [16]byte{1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1}
	desS      = [8][64]byte{{
		14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
		0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
		4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
		15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
	}, {
		15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
		3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
		0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
		13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
	}, {
		10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
		13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
		13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
		1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
	}, {
		7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
		13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
		10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
		3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
	}, {
		2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
		14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
		4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
		11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
	}, {
		12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
		10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
		9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
		4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
	}, {
		4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
		13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
		1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
		6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
	}, {
		13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
		1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
		7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
		2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
	}}
)

// permTable makes the 4-bit-group tables of a permutation p (p[i] is the
// input bit of output bit i, from 1 at the top) whose output bit i lands
// at bit out(i) (counted from the least significant bit).
func permTable(t [][16]uint64, p []byte, out func(i int) int) {
	for g := range t {
		for v := range 16 {
			var w uint64
			for i, src := range p {
				b := int(src) - 1 // input bit from the top, from 0
				if b/4 == g && v&(8>>(b%4)) != 0 {
					w |= 1 << out(i)
				}
			}
			t[g][v] = w
		}
	}
}

func newDESTables() *desTables {
	t := new(desTables)
	straight := func(n int) func(int) int { return func(i int) int { return n - 1 - i } }
	permTable(t.ip[:], desIP[:], straight(64))
	var fp [64]byte // the inverse of IP
	for i, src := range desIP {
		fp[src-1] = byte(i + 1)
	}
	permTable(t.fp[:], fp[:], straight(64))
	permTable(t.pc1[:], desPC1[:], straight(56))
	// Round key bit i is bit 5-i%6 of S-box j = i/6's group, which lies
	// at bits 31-8(j/2) to 26-8(j/2) of the top half (j even: S-boxes 1,
	// 3, 5, 7) or of the bottom half.
	permTable(t.pc2[:], desPC2[:], func(i int) int {
		j := i / 6
		at := 26 - 8*(j/2) + 5 - i%6
		if j%2 == 0 {
			at += 32
		}
		return at
	})
	for j := range 8 {
		for v := range 64 {
			row, col := v>>4&2|v&1, v>>1&0xF
			s := uint32(desS[j][row*16+col]) << (28 - 4*j) // S-box j's 4 bits, before P
			var w uint32
			for i, src := range desP {
				if s&(1<<(32-int(src))) != 0 {
					w |= 1 << (31 - i)
				}
			}
			t.sp[j][v] = w
		}
	}
	return t
}

// perm64 and perm56 apply a permutation table to a 64-bit or 56-bit
// value, a 4-bit group at a time, the top one first.
func perm64(t *[16][16]uint64, x uint64) uint64 {
	return t[0][x>>60] | t[1][x>>56&0xF] | t[2][x>>52&0xF] | t[3][x>>48&0xF] |
		t[4][x>>44&0xF] | t[5][x>>40&0xF] | t[6][x>>36&0xF] | t[7][x>>32&0xF] |
		t[8][x>>28&0xF] | t[9][x>>24&0xF] | t[10][x>>20&0xF] | t[11][x>>16&0xF] |
		t[12][x>>12&0xF] | t[13][x>>8&0xF] | t[14][x>>4&0xF] | t[15][x&0xF]
}

func perm56(t *[14][16]uint64, x uint64) uint64 {
	return t[0][x>>52&0xF] | t[1][x>>48&0xF] | t[2][x>>44&0xF] | t[3][x>>40&0xF] |
		t[4][x>>36&0xF] | t[5][x>>32&0xF] | t[6][x>>28&0xF] | t[7][x>>24&0xF] |
		t[8][x>>20&0xF] | t[9][x>>16&0xF] | t[10][x>>12&0xF] | t[11][x>>8&0xF] |
		t[12][x>>4&0xF] | t[13][x&0xF]
}

// newDESSchedule is a single-DES key's round keys (key: 8 bytes; the
// parity bits are ignored, as the standard has it).
func newDESSchedule(s *desSchedule, key []byte) {
	t := desT()
	cd := perm64(&t.pc1, binary.BigEndian.Uint64(key))
	c, d := uint32(cd>>28), uint32(cd&0xFFFFFFF)
	for i, n := range desShifts {
		c = (c<<n | c>>(28-n)) & 0xFFFFFFF
		d = (d<<n | d>>(28-n)) & 0xFFFFFFF
		s[i] = perm56(&t.pc2, uint64(c)<<28|uint64(d))
	}
}

// rounds runs the 16 rounds on a block already through IP, as the two
// halves l and r, forward or (decrypt) with the round keys reversed, and
// returns them swapped, as the final permutation takes them (so that the
// rounds of EDE's three passes chain without FP and IP between them).
func (s *desSchedule) rounds(t *desTables, l, r uint32, decrypt bool) (uint32, uint32) {
	if decrypt {
		for i := 15; i >= 0; i -= 2 {
			l ^= t.feistel(r, s[i])
			r ^= t.feistel(l, s[i-1])
		}
	} else {
		for i := 0; i < 16; i += 2 {
			l ^= t.feistel(r, s[i])
			r ^= t.feistel(l, s[i+1])
		}
	}
	return r, l
}

// feistel is the round function of half r and round key k: the expansion
// E (S-box j, from 1, reads bits 4j-4 to 4j+1 of r, from 1, around the
// end: rotated right by 1, the odd S-boxes' bits are at the top of each
// byte; rotated left by 3, the even ones'), the round key, the S-boxes
// and P.
func (t *desTables) feistel(r uint32, k uint64) uint32 {
	a := bits.RotateLeft32(r, -1) ^ uint32(k>>32)
	b := bits.RotateLeft32(r, 3) ^ uint32(k)
	return t.sp[0][a>>26] ^ t.sp[2][a>>18&0x3F] ^ t.sp[4][a>>10&0x3F] ^ t.sp[6][a>>2&0x3F] ^
		t.sp[1][b>>26] ^ t.sp[3][b>>18&0x3F] ^ t.sp[5][b>>10&0x3F] ^ t.sp[7][b>>2&0x3F]
}

// desCrypt is single DES of one block (8 bytes) under s, dst and src may
// be the same.
func desCrypt(s *desSchedule, dst, src []byte, decrypt bool) {
	t := desT()
	x := perm64(&t.ip, binary.BigEndian.Uint64(src))
	l, r := s.rounds(t, uint32(x>>32), uint32(x), decrypt)
	binary.BigEndian.PutUint64(dst, perm64(&t.fp, uint64(l)<<32|uint64(r)))
}

// tdesEncrypt is TDES with keying option 2 (K1 K2 K1, encrypt-decrypt-
// encrypt) of one block: one IP and one FP around the three passes.
func tdesEncrypt(k1, k2 *desSchedule, dst, src []byte) {
	t := desT()
	x := perm64(&t.ip, binary.BigEndian.Uint64(src))
	l, r := k1.rounds(t, uint32(x>>32), uint32(x), false)
	l, r = k2.rounds(t, l, r, true)
	l, r = k1.rounds(t, l, r, false)
	binary.BigEndian.PutUint64(dst, perm64(&t.fp, uint64(l)<<32|uint64(r)))
}

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 of padded (whole blocks)
// under K1 and K2: single-DES CBC under K1 from a zero IV, then the last
// block decrypted under K2 and encrypted under K1. The chaining runs after
// IP (a bit permutation, so it carries XOR: IP(a^b) = IP(a)^IP(b)), each
// block through IP on its way in and only the MAC through FP.
func retailMAC(k1, k2 *desSchedule, padded []byte) uint64 {
	t := desT()
	var l, r uint32 // IP of the zero IV
	for i := 0; i+8 <= len(padded); i += 8 {
		x := perm64(&t.ip, binary.BigEndian.Uint64(padded[i:]))
		l, r = k1.rounds(t, l^uint32(x>>32), r^uint32(x), false)
	}
	l, r = k2.rounds(t, l, r, true)
	l, r = k1.rounds(t, l, r, false)
	return perm64(&t.fp, uint64(l)<<32|uint64(r))
}
