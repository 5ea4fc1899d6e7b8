package issuer_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
)

// BenchmarkHostAuthorize is one 0100 answered by an issuer host on a
// ledger in memory, as the switch hands it in process: decoding, the
// checks, the hold and the 0110 with its auth code (¥0.01 on a credit card).
func BenchmarkHostAuthorize(b *testing.B) {
	hs, _ := hosts(b)
	h := hs["icbc"]
	msgs := make([]*iso8583.Message, b.N)
	for i := range msgs {
		msgs[i] = msg("6253300000000005", 1)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if got := rc(h.Handle(ctx, msgs[i])); got != "00" {
			b.Fatalf("authorization %d: %s", i, got)
		}
	}
}
