package soft

import (
	"context"
	"testing"
)

// BenchmarkAuthorizationCrypto is the token service's cryptography of one
// authorization through the store, the card's keys kept from its last
// cryptogram: the session key derived, the ARQC checked, the ARPC made,
// the session closed.
func BenchmarkAuthorizationCrypto(b *testing.B) {
	s := openTemp(b)
	r := request(b, rangeKey(b, s, "r"), "r", cachePAN, 9)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sess, err := s.VerifyARQC(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sess.ARPC1(ctx, []byte("00")); err != nil {
			b.Fatal(err)
		}
		sess.Close()
	}
}
