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
// It never holds 12 digits in a row (DigitRun), so that nothing takes it
// for a card number: the risk engine refuses such a reference in its
// facts. It never fails.
func New(prefix string) string {
	return newAt(prefix, time.Now().UnixNano()/1000, func(b []byte) { rand.Read(b) })
}

// DigitRun is the run of digits at which a text may be a card number (or
// part of one); New's identifiers have none.
const DigitRun = 12

// newAt is New at us microseconds since 1970, its random bytes from read.
// The time part is 13 hex digits: while its high digits are all decimal
// (0x6620010… in December 2026) about one identifier in sixteen had 12 or
// more digits in a row, and the risk engine refused the phone or account
// it named. Such an identifier is made again a microsecond later (the
// time part then ends in a letter within six) with new random bytes: it
// still sorts after every identifier made before it.
func newAt(prefix string, us int64, read func([]byte)) string {
	for {
		var b [8]byte
		read(b[:])
		s := fmt.Sprintf("%s_%013x%s", prefix, us, base32(b[:]))
		if !hasDigitRun(s[len(prefix)+1:]) {
			return s
		}
		us++
	}
}

// Made reports whether s has the form New gives: a prefix of lower-case
// letters, "_", 13 hex digits of time and 16 of base32's letters and
// digits, its second of each pair one of the first sixteen letters. Made
// before New kept clear of digit runs, such an identifier may hold up to
// 14 digits in a row (the time part and the next): a reader that refuses
// card-number-like runs can tell it apart.
func Made(s string) bool {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	p := strings.IndexByte(s, '_')
	if p < 1 || len(s)-p-1 != 13+16 {
		return false
	}
	for i := 0; i < p; i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	for _, c := range []byte(s[p+1 : p+14]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	r := s[p+14:]
	for i := 0; i < len(r); i++ {
		k := strings.IndexByte(alphabet, r[i])
		if k < 0 || i%2 == 1 && k >= 16 {
			return false
		}
	}
	return true
}

// hasDigitRun reports whether s holds DigitRun digits in a row.
func hasDigitRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= DigitRun {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
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
