package metrics

import (
	"testing"
	"time"
)

// recordAuth records what the switch records per authorization: four
// hops and the answer's code.
func recordAuth(p Party) {
	p.Hop(HopSwitch, time.Millisecond)
	p.Hop(HopTokenCheck, time.Millisecond)
	p.Hop(HopIssuer, time.Millisecond)
	p.Hop(HopLedgerCommit, time.Millisecond)
	p.Answered("00")
}

// BenchmarkAuthorizationMeter: what the switch records per authorization
// (recordAuth).
func BenchmarkAuthorizationMeter(b *testing.B) {
	p := New().Party("network")
	b.ReportAllocs()
	for b.Loop() {
		recordAuth(p)
	}
}

// BenchmarkAuthorizationMeterParallel is BenchmarkAuthorizationMeter from
// every core at once, as the switch's and the issuer hosts' goroutines
// record.
func BenchmarkAuthorizationMeterParallel(b *testing.B) {
	p := New().Party("network")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			recordAuth(p)
		}
	})
}

// BenchmarkRiskMeter: what the risk engine's meter records per decision
// in shadow (risk.Metered): the decision and three rules that fired.
func BenchmarkRiskMeter(b *testing.B) {
	k := New().Risk()
	b.ReportAllocs()
	for b.Loop() {
		k.Decided("authorization", "approve")
		k.Hit("authorization", "auth.small_burst", "shadow")
		k.Hit("authorization", "auth.new_phone", "shadow")
		k.Hit("authorization", "auth.far_from_last_tap", "enforced")
	}
}
