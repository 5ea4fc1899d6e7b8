package metrics

import (
	"testing"
	"time"
)

// BenchmarkAuthorizationMeter: what the switch records per authorization —
// four hops and the answer's code.
func BenchmarkAuthorizationMeter(b *testing.B) {
	p := New().Party("network")
	b.ReportAllocs()
	for b.Loop() {
		p.Hop(HopSwitch, time.Millisecond)
		p.Hop(HopTokenCheck, time.Millisecond)
		p.Hop(HopIssuer, time.Millisecond)
		p.Hop(HopLedgerCommit, time.Millisecond)
		p.Answered("00")
	}
}
