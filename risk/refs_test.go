package risk_test

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/risk"
)

// TestRefsUnchanged: the references are those already stored in the
// wings (counters, cases, wallets): "tk_"/"ci_"/"nm_" and the lower-cased
// standard base32 of the first 10 bytes of the sha-256 of their domain and
// input, whatever the input's length.
func TestRefsUnchanged(t *testing.T) {
	old := func(prefix, domain, s string) string {
		h := sha256.Sum256([]byte(domain + s))
		return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:10]))
	}
	if got, want := risk.TokenRef("4000001234567899"), old("tk_", "tapwallet risk token\x00", "4000001234567899"); got != want || len(got) != 19 {
		t.Fatalf("TokenRef = %q, want %q", got, want)
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringN(0, 200, -1).Draw(t, "input")
		if got, want := risk.TokenRef(s), old("tk_", "tapwallet risk token\x00", s); got != want {
			t.Fatalf("TokenRef(%q) = %q, want %q", s, got, want)
		}
		if got, want := risk.CardRef([]byte(s)), old("ci_", "tapwallet risk card\x00", s); got != want {
			t.Fatalf("CardRef(%q) = %q, want %q", s, got, want)
		}
		if got, want := risk.HolderRef([]byte(s)), old("nm_", "tapwallet risk holder\x00", s); got != want {
			t.Fatalf("HolderRef(%q) = %q, want %q", s, got, want)
		}
	})
}

func BenchmarkTokenRef(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = risk.TokenRef("4000001234567899")
	}
}
