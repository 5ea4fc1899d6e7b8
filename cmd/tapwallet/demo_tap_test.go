package main

import (
	"strings"
	"testing"
)

// TestDemoTells runs `tapwallet demo` end to end and checks the tap
// chapter: "see phone" without the fingerprint, a payment with it, and the
// trace summary.
func TestDemoTells(t *testing.T) {
	out, errs, err := runCLI(t, nil, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out, errs)
	}
	for _, want := range []string{
		`6986 "see phone"`,
		`the terminal shows "verify on your phone and tap again"`,
		"phone: paid 12.34 CNY at TAPWALLET MART with card ending",
		"4 APDUs",
		"the 500 ms a contactless payment may take",
		"0100 DE2=",
		"The story went as it should.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
