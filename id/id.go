// Package id makes the identifiers every party of tapwallet gives its
// records: a readable prefix, a time part (so that identifiers made later
// sort after earlier ones) and a random part. It depends on nothing else
// of tapwallet, so that any party may use it without importing another.
package id

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// New returns a unique identifier with a readable prefix, e.g.
// "tev_0063f1c2a9b3e1xk…"; identifiers made later sort after earlier ones.
// It never fails.
func New(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%013x%s", prefix, time.Now().UnixNano()/1000, base32(b[:]))
}

// base32 spells random bytes in lower-case letters and digits without the
// ones people misread (l, o, 0, 1).
func base32(b []byte) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(alphabet[c&31])
		s.WriteByte(alphabet[(c>>5)|((c&1)<<3)])
	}
	return s.String()
}
