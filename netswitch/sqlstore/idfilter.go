package sqlstore

import (
	"context"
	"hash/maphash"

	"github.com/tapwallet/tapwallet/sqldb"
)

// idFilter is a Bloom filter of the identities stored in switch_auths (and
// journaled), so that SaveAuth on the journal asks SQL whether an identity
// is stored only when the filter says it may be (a repeat, or about one in
// a hundred new identities): "no" is certain, "maybe" goes to SQL. It grows
// as a chain of filters, each twice the size of the one before, so it never
// needs the identities again. Not safe for concurrent use (the journal's
// mutex guards it).
type idFilter struct {
	seed  maphash.Seed
	parts []*bloom
}

// bloom is one filter of the chain: m bits, k = 7 probes, about 1 % false
// positives at its capacity (10 bits an identity).
type bloom struct {
	bits   []uint64
	n, cap int
}

const bloomProbes = 7

func newIDFilter(capacity int) *idFilter {
	f := &idFilter{seed: maphash.MakeSeed()}
	f.grow(max(capacity, 1<<16))
	return f
}

func (f *idFilter) grow(capacity int) {
	words := (capacity*10 + 63) / 64
	f.parts = append(f.parts, &bloom{bits: make([]uint64, words), cap: capacity})
}

// probes returns the two hashes an identity's probes are made of.
func (f *idFilter) probes(id string) (uint64, uint64) {
	h := maphash.String(f.seed, id)
	return h, h>>33 | h<<31 | 1
}

// add records id.
func (f *idFilter) add(id string) {
	b := f.parts[len(f.parts)-1]
	if b.n >= b.cap {
		f.grow(2 * b.cap)
		b = f.parts[len(f.parts)-1]
	}
	h1, h2 := f.probes(id)
	m := uint64(len(b.bits) * 64)
	for i := range uint64(bloomProbes) {
		x := (h1 + i*h2) % m
		b.bits[x/64] |= 1 << (x % 64)
	}
	b.n++
}

// mayHave reports whether id may have been added (false: certainly not).
func (f *idFilter) mayHave(id string) bool {
	h1, h2 := f.probes(id)
	for _, b := range f.parts {
		m := uint64(len(b.bits) * 64)
		all := true
		for i := range uint64(bloomProbes) {
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

// loadIDs fills a filter with every identity in switch_auths (records and
// reversals' markers), sized for twice as many.
func (s *Store) loadIDs(ctx context.Context) (*idFilter, error) {
	const what = "reading the stored identities"
	var n int
	if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM switch_auths`).Scan(&n); err != nil {
		return nil, sqldb.Err(err, what)
	}
	f := newIDFilter(2 * n)
	rows, err := s.DB.Query(ctx, `SELECT id FROM switch_auths`)
	if err != nil {
		return nil, sqldb.Err(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, sqldb.Err(err, what)
		}
		f.add(id)
	}
	return f, sqldb.Err(rows.Err(), what)
}
