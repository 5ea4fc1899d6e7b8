package risk

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// refEncoding is base32 in lower case (the standard alphabet lowered),
// unpadded.
var refEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// TokenRef is the reference the engine's facts, counters and cases name a
// token by: "tk_" and 16 base32 letters of the sha-256 of its digits — the
// same for the network (which sees the token in DE2) and the wallet (which
// finds a case's token among the phone's cards), never the number itself
// (base32, so no run of 12 digits: refsClean accepts it).
func TokenRef(digits string) string { return ref("tk_", "tapwallet risk token\x00", digits) }

// CardRef is the reference of a card the binding flow names by its
// keyed index (the token service's vault index): "ci_" and 16 base32
// letters of the sha-256 of the index.
func CardRef(index []byte) string { return ref("ci_", "tapwallet risk card\x00", string(index)) }

// HolderRef is the reference of a card holder's name, made from a keyed
// index of the name (the token service's key store, see NormalName):
// "nm_" and 16 base32 letters of the sha-256 of the index. The engine
// counts distinct names on a phone by it; the name itself is never kept.
func HolderRef(index []byte) string { return ref("nm_", "tapwallet risk holder\x00", string(index)) }

// NormalName is a holder's name as its index is made of: upper case, one
// space between words ("zhang  wei" and "ZHANG WEI" are one name).
func NormalName(name string) string { return strings.ToUpper(strings.Join(strings.Fields(name), " ")) }

// ref is prefix and 16 letters of the sha-256 of domain and s, made in
// one allocation (a token's reference is made for every authorization).
func ref(prefix, domain, s string) string {
	var in [96]byte
	h := sha256.Sum256(append(append(in[:0], domain...), s...))
	var out [8 + 16]byte
	b := append(out[:0], prefix...)
	b = refEncoding.AppendEncode(b, h[:10])
	return string(b)
}
