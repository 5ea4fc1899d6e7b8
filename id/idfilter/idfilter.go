// Package idfilter is a Bloom filter of identifiers, for a store that
// keeps its records in SQL and must tell whether an identity is new
// without reading SQL for every one: "no" is certain, "maybe" (a repeat,
// or about one in a hundred new identities) goes to SQL. It depends on
// nothing else of tapwallet.
package idfilter

import "hash/maphash"

// Filter is a Bloom filter of identifiers. It grows as a chain of
// filters, each twice the size of the one before, so it never needs the
// identifiers again. Not safe for concurrent use (its owner's mutex
// guards it).
type Filter struct {
	seed  maphash.Seed
	parts []*bloom
}

// bloom is one filter of the chain: m bits, k = 7 probes, about 1 % false
// positives at its capacity (10 bits an identifier).
type bloom struct {
	bits   []uint64
	n, cap int
}

const probes = 7

// New returns an empty filter sized for capacity identifiers (at least
// 65,536) before it first grows. It never fails.
func New(capacity int) *Filter {
	f := &Filter{seed: maphash.MakeSeed()}
	f.grow(max(capacity, 1<<16))
	return f
}

func (f *Filter) grow(capacity int) {
	words := (capacity*10 + 63) / 64
	f.parts = append(f.parts, &bloom{bits: make([]uint64, words), cap: capacity})
}

// hashes returns the two hashes an identifier's probes are made of.
func (f *Filter) hashes(id string) (uint64, uint64) {
	h := maphash.String(f.seed, id)
	return h, h>>33 | h<<31 | 1
}

// Add records id.
func (f *Filter) Add(id string) {
	b := f.parts[len(f.parts)-1]
	if b.n >= b.cap {
		f.grow(2 * b.cap)
		b = f.parts[len(f.parts)-1]
	}
	h1, h2 := f.hashes(id)
	m := uint64(len(b.bits) * 64)
	for i := range uint64(probes) {
		x := (h1 + i*h2) % m
		b.bits[x/64] |= 1 << (x % 64)
	}
	b.n++
}

// MayHave reports whether id may have been added (false: certainly not).
func (f *Filter) MayHave(id string) bool {
	h1, h2 := f.hashes(id)
	for _, b := range f.parts {
		m := uint64(len(b.bits) * 64)
		all := true
		for i := range uint64(probes) {
			x := (h1 + i*h2) % m
			if b.bits[x/64]&(1<<(x%64)) == 0 {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
