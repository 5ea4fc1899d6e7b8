package keystore

import (
	"path/filepath"
	"testing"
)

// BenchmarkOpen: a sealed card number opened, as the token service opens
// its token's card number for every authorization.
func BenchmarkOpen(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "keys.json"))
	if err != nil {
		b.Fatal(err)
	}
	aad := []byte("token 1")
	sealed, err := f.Seal([]byte("6288990000001234"), aad)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal: a card number sealed, as the switch seals the card
// number of every authorization's record.
func BenchmarkSeal(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "keys.json"))
	if err != nil {
		b.Fatal(err)
	}
	aad := []byte("switch:0001")
	pan := []byte("6288990000001234")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Seal(pan, aad); err != nil {
			b.Fatal(err)
		}
	}
}
