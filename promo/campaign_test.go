package promo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/promo"
)

// valid is one valid campaign as a file; each bad case changes one thing.
const valid = `{"campaigns": [{
  "id": "c1",
  "name": {"zh": "满100减50", "en": "Spend 100 save 50"},
  "owner": "network",
  "funders": [{"kind": "network", "share_bp": 6000}, {"kind": "issuer", "share_bp": 4000}],
  "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"},
  "channels": ["nfc"],
  "eligibility": {"banks": ["icbc"]},
  "mechanic": {"kind": "fixed", "threshold": "100.00", "amount": "50.00"},
  "limits": {"card_count": 10},
  "budget": "1000.00",
  "enrolment": "auto",
  "fulfilment": "instant"
}]}`

// TestParseFileRefuses: each broken campaign file is refused as a whole
// with an error that names the field (and the campaign), and nothing is
// returned.
func TestParseFileRefuses(t *testing.T) {
	tiers := `"mechanic": {"kind": "tiers", "tiers": [{"spend": "100.00", "save": "10.00"}, {"spend": "100.00", "save": "20.00"}]}`
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown field", `"owner": "network",`, `"owner": "network", "colour": "red",`, `unknown field "colour"`},
		{"unknown nested field", `"threshold": "100.00"`, `"threshhold": "100.00"`, `unknown field "threshhold"`},
		{"negative amount", `"amount": "50.00"`, `"amount": "-50.00"`, `mechanic.amount: -50.00 is negative`},
		{"negative budget", `"budget": "1000.00"`, `"budget": "-1.00"`, `budget: -1.00: must be more than 0`},
		{"negative limit", `"card_count": 10`, `"card_count": -1`, `limits.card_count: -1 is negative`},
		{"number amount", `"budget": "1000.00"`, `"budget": 1000`, `want a string of yuan`},
		{"overlapping tiers", `"mechanic": {"kind": "fixed", "threshold": "100.00", "amount": "50.00"}`, tiers, `mechanic.tiers[1]: spend 100.00 overlaps tier 0`},
		{"tier saving less", `"mechanic": {"kind": "fixed", "threshold": "100.00", "amount": "50.00"}`,
			`"mechanic": {"kind": "tiers", "tiers": [{"spend": "100.00", "save": "20.00"}, {"spend": "200.00", "save": "10.00"}]}`, `mechanic.tiers[1]: save 10.00 overlaps tier 0`},
		{"window backwards", `"end": "2026-12-31T00:00:00Z"`, `"end": "2025-12-31T00:00:00Z"`, `window.end: 2025-12-31T00:00:00Z ends before`},
		{"shares not 100%", `"share_bp": 4000`, `"share_bp": 3000`, `funders: shares add up to 9000`},
		{"discount above threshold", `"amount": "50.00"`, `"amount": "150.00"`, `mechanic.amount: 150.00 must be less than the threshold`},
		{"field of another mechanic", `"amount": "50.00"}`, `"amount": "50.00", "cap": "3.00"}`, `mechanic.cap: not used by a fixed mechanic`},
		{"bad channel", `["nfc"]`, `["atm"]`, `channels[0]: "atm"`},
		{"trailing data", `}]}`, `}]} {}`, `data after the JSON value`},
		{"bad bin range", `"banks": ["icbc"]`, `"bin_ranges": [{"from": "622299", "to": "622202"}]`, `eligibility.bin_ranges[0]: to 622202 is below from 622299`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(valid, c.from, c.to, 1)
			if text == valid {
				t.Fatalf("the case changes nothing")
			}
			cs, err := promo.ParseFile(strings.NewReader(text))
			if err == nil || cs != nil {
				t.Fatalf("got %d campaigns, %v; want a refusal", len(cs), err)
			}
			if !errors.Is(err, promo.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %q, want an invalid-campaign error containing %q", err, c.want)
			}
		})
	}
	// A file whose second campaign is bad gives none of them.
	two := strings.Replace(valid, `}]}`, `}, {"id": "c2"}]}`, 1)
	if cs, err := promo.ParseFile(strings.NewReader(two)); err == nil || cs != nil || !strings.Contains(err.Error(), "campaigns[1]") {
		t.Errorf("second campaign bad: got %d, %v; want a refusal naming campaigns[1]", len(cs), err)
	}
}

// TestParseFileValid: the valid file and the shipped defaults parse, and
// the refund rule gets its default.
func TestParseFileValid(t *testing.T) {
	cs, err := promo.ParseFile(strings.NewReader(valid))
	if err != nil || len(cs) != 1 {
		t.Fatalf("got %d, %v; want 1 campaign", len(cs), err)
	}
	if cs[0].RefundRule != promo.RefundRestore || cs[0].Mechanic.Amount != 5000 || cs[0].Budget != 100000 {
		t.Errorf("got %+v", cs[0])
	}
	ds, err := promo.Defaults()
	if err != nil || len(ds) < 5 {
		t.Fatalf("defaults: got %d, %v", len(ds), err)
	}
}
