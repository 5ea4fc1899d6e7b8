package risk_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/risk"
)

// FuzzDecodeRules: any bytes either are refused with an error or make a
// rule set that survives its own JSON (same digest) and decides an
// ordinary authorization and binding without error or panic.
func FuzzDecodeRules(f *testing.F) {
	def, err := os.ReadFile("rules/default.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(def)
	f.Add([]byte(`{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"not": {"attr": "auth.mcc", "op": "in", "value": ["5411"]}}, "score": 1}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := risk.DecodeRules(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := risk.DecodeRules(bytes.NewReader(set.JSON()))
		if err != nil || again.Digest() != set.Digest() {
			t.Fatalf("a decoded set does not survive its JSON: %v", err)
		}
		e, err := risk.New(set, risk.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Authorize(context.Background(), auth()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Bind(context.Background(), binding()); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzReadFacts: a facts file is read or refused with an error naming
// its line, never a panic, and never echoes a card number.
func FuzzReadFacts(f *testing.F) {
	facts, err := os.ReadFile("testdata/facts.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(facts)
	f.Add([]byte(`{"auth": {"id": "a", "at": "2026-03-14T10:00:00Z", "token": "6288010000000004"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := risk.ReadFacts(bytes.NewReader(b))
		if err != nil {
			if !strings.Contains(err.Error(), "line") {
				t.Fatalf("error without its line: %v", err)
			}
			return
		}
		if _, err := risk.Backtest(context.Background(), risk.Default(), ss, t0, t0); err != nil {
			t.Fatal(err)
		}
	})
}
