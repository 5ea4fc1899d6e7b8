package idfilter

import (
	"fmt"
	"testing"
)

// TestFilter: every identifier added is reported (across the chain's
// growth), and few that were not are (the SQL reads the filter saves).
func TestFilter(t *testing.T) {
	f := New(1000)
	for i := range 300000 {
		f.Add(fmt.Sprintf("T%07d|%06d|0314090000", i, i%999999))
	}
	if len(f.parts) < 3 {
		t.Fatalf("%d filters after 300,000 identifiers from a capacity of 65,536: the chain did not grow", len(f.parts))
	}
	for i := range 300000 {
		if !f.MayHave(fmt.Sprintf("T%07d|%06d|0314090000", i, i%999999)) {
			t.Fatalf("identifier %d added and not reported", i)
		}
	}
	fp := 0
	for i := range 100000 {
		if f.MayHave(fmt.Sprintf("U%07d|%06d|0314090000", i, i)) {
			fp++
		}
	}
	if fp > 5000 {
		t.Fatalf("%d of 100,000 identifiers never added reported: the filter saves little", fp)
	}
	t.Logf("%d filters, %d false positives in 100,000", len(f.parts), fp)
}
