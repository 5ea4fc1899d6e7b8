package risk_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/risk/risktest"
)

func decodeRules(t *testing.T, s string) *risk.RuleSet {
	t.Helper()
	set, err := risk.DecodeRules(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestShadowChangesNoOutcome: the same decline rule enforced declines
// with 59; as a shadow rule it is recorded with its inputs and the
// authorization is approved.
func TestShadowChangesNoOutcome(t *testing.T) {
	const rule = `{"version": %d, "rules": [{"id": "big", "point": "authorization", "reason": "big", "when": {"attr": "auth.amount", "op": ">", "value": 100000}, "outcome": "decline", "score": 10, "shadow": %s}]}`
	for _, shadow := range []bool{false, true} {
		set := decodeRules(t, strings.NewReplacer("%d", "1", "%s", map[bool]string{true: "true", false: "false"}[shadow]).Replace(rule))
		e, err := risk.New(set, risk.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.Authorize(context.Background(), auth(amount(100001)))
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Hits) != 1 || d.Hits[0].Rule != "big" || d.Hits[0].Shadow != shadow || d.Hits[0].Inputs[0].Value != float64(100001) {
			t.Fatalf("shadow=%v: hits %+v, want big recorded with auth.amount 100001", shadow, d.Hits)
		}
		wantOutcome, wantRC, wantScore := risk.Decline, iso8583.SuspectedFraud, 10
		if shadow {
			wantOutcome, wantRC, wantScore = risk.Approve, "", 0
		}
		if d.Outcome != wantOutcome || d.ResponseCode() != wantRC || d.Score != wantScore {
			t.Errorf("shadow=%v: got %s rc %q score %d, want %s %q %d", shadow, d.Outcome, d.ResponseCode(), d.Score, wantOutcome, wantRC, wantScore)
		}
	}
}

// TestDecisionExplained: the decision names the version, digest, rules,
// inputs and score, and its JSON holds no card number.
func TestDecisionExplained(t *testing.T) {
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	ctx := context.Background()
	if err := e.RecordAuth(ctx, auth(func(a *risk.Auth) { a.At = t0.Add(-10 * time.Minute) }), true); err != nil {
		t.Fatal(err)
	}
	d, err := e.Authorize(ctx, auth(func(a *risk.Auth) { a.City = "SHANGHAI"; a.MCC = "7995" }))
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != risk.Decline || d.Score != 99 || d.Version != risk.Default().Version || d.Digest != risk.Default().Digest() || d.ResponseCode() != "59" {
		t.Fatalf("got %s score %d v%d %s, want decline 99 with the default version and digest", d.Outcome, d.Score, d.Version, d.Digest)
	}
	if strings.Join(d.Reasons, ",") != "auth.mcc_high_risk,auth.impossible_travel" {
		t.Errorf("reasons: got %v", d.Reasons)
	}
	var travel risk.Hit
	for _, h := range d.Hits {
		if h.Rule == "auth.impossible_travel" {
			travel = h
		}
	}
	got := map[string]any{}
	for _, in := range travel.Inputs {
		got[in.Attr] = in.Value
	}
	if dist, _ := got["travel.distance_km"].(float64); dist < 1000 || dist > 1100 {
		t.Errorf("distance Beijing–Shanghai: got %v km, want about 1068", got["travel.distance_km"])
	}
	if v, _ := got["travel.speed_kmh"].(float64); v < 6000 {
		t.Errorf("speed: got %v, want above 6000 km/h", got["travel.speed_kmh"])
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "6222") || !strings.Contains(string(b), `"outcome":"decline"`) {
		t.Errorf("decision JSON: %s", b)
	}
}

// TestPhoneOffBlocks: a switched-off phone is declined beyond any rule,
// at authorization and at binding.
func TestPhoneOffBlocks(t *testing.T) {
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	d, err := e.Authorize(context.Background(), auth(func(a *risk.Auth) { a.PhoneOff = true }))
	if err != nil || d.Outcome != risk.Decline || d.Block != risk.BlockPhoneOff || d.ResponseCode() != "59" {
		t.Errorf("authorization: got %v %v, want decline blocked phone_off", d, err)
	}
	d, err = e.Bind(context.Background(), binding(func(b *risk.Binding) { b.PhoneOff = true }))
	if err != nil || d.Verdict() != "decline" || d.Block != risk.BlockPhoneOff {
		t.Errorf("binding: got %v %v, want decline blocked phone_off", d, err)
	}
}

// TestRefusesCardNumbers: facts that carry a card number are refused.
func TestRefusesCardNumbers(t *testing.T) {
	e, _ := risk.New(risk.Default(), risk.NewMemory())
	_, err := e.Authorize(context.Background(), auth(func(a *risk.Auth) { a.Token = "6288010000000004" }))
	if !errors.Is(err, fault.E(fault.Invalid, risk.CodeCardNumber, "")) || strings.Contains(err.Error(), "6288") {
		t.Errorf("token number: got %v, want risk_card_number without the number", err)
	}
	_, err = e.Bind(context.Background(), binding(func(b *risk.Binding) { b.Card = "pan6222020000000007" }))
	if !errors.Is(err, fault.E(fault.Invalid, risk.CodeCardNumber, "")) {
		t.Errorf("card number: got %v", err)
	}
	_, err = e.Bind(context.Background(), binding(func(b *risk.Binding) { b.Phone = "ph_6222020000000007aaaaaaaaaaaaa" }))
	if !errors.Is(err, fault.E(fault.Invalid, risk.CodeCardNumber, "")) {
		t.Errorf("a card number in an identifier's place: got %v", err)
	}
	// An identifier id.New made before it kept clear of digit runs: 12 in a
	// row from its time part, not a card number.
	old := "ph_662002043911emn2cadybsd3nxjuc"
	if _, err := e.Bind(context.Background(), binding(func(b *risk.Binding) { b.Phone, b.Account = old, "acc_662002043911emn2cadybsd3nxjuc" })); err != nil {
		t.Errorf("binding of phone %s: %v", old, err)
	}
	if _, err := e.Authorize(context.Background(), auth(func(a *risk.Auth) { a.Phone = old })); err != nil {
		t.Errorf("authorization on phone %s: %v", old, err)
	}
}

// TestDecodeStrict: what a rule set may not be.
func TestDecodeStrict(t *testing.T) {
	ok := `{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 10}`
	for name, doc := range map[string]string{
		"unknown field":        `{"version": 1, "rules": [], "colour": "red"}`,
		"unknown rule field":   `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 10, "weight": 2}]}`,
		"version 0":            `{"version": 0, "rules": [` + ok + `]}`,
		"two documents":        `{"version": 1, "rules": []} {}`,
		"unknown attribute":    `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.colour", "op": ">", "value": 1}, "score": 10}]}`,
		"binding attr at auth": `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "phone.cards_24h", "op": ">", "value": 1}, "score": 10}]}`,
		"string op on number":  `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": "==", "value": "big"}, "score": 10}]}`,
		"order op on string":   `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.mcc", "op": ">", "value": "5000"}, "score": 10}]}`,
		"two forms":            `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1, "all": [{"attr": "auth.amount", "op": ">", "value": 1}]}, "score": 10}]}`,
		"duplicate id":         `{"version": 1, "rules": [` + ok + `,` + ok + `]}`,
		"bad outcome":          `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "outcome": "block"}]}`,
		"no effect":            `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}}]}`,
		"no reason":            `{"version": 1, "rules": [{"id": "r", "point": "authorization", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 1}]}`,
		"bands not rising":     `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "bands": {"attr": "auth.amount", "steps": [{"min": 5, "score": 1}, {"min": 5, "score": 2}]}}]}`,
		"thresholds reversed":  `{"version": 1, "thresholds": {"review": 90, "decline": 50}, "rules": []}`,
		"empty in":             `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.mcc", "op": "in", "value": []}, "score": 10}]}`,
		"score above 99":       `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 100}]}`,
		"unknown snooze":       `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 10, "snooze": ["auth.colour"]}]}`,
		"ref to string":        `{"version": 1, "rules": [{"id": "r", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "ref": "auth.mcc"}, "score": 10}]}`,
		"unknown point":        `{"version": 1, "rules": [{"id": "r", "point": "clearing", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 10}]}`,
		"bad id":               `{"version": 1, "rules": [{"id": "Big Rule", "point": "authorization", "reason": "x", "when": {"attr": "auth.amount", "op": ">", "value": 1}, "score": 10}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := risk.DecodeRules(strings.NewReader(doc))
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("got %v, want fault.Invalid", err)
			}
		})
	}
}

// TestMemoryConformance: the in-process state and versions pass the
// storage suite (a second handle is the same memory).
func TestMemoryConformance(t *testing.T) {
	risktest.Run(t, func(*testing.T) risktest.Open {
		s := risktest.Stores{State: risk.NewMemory(), Versions: risk.NewMemoryVersions(), Cases: risk.NewMemoryCases()}
		return func(*testing.T) risktest.Stores { return s }
	})
}

// TestSnooze: a hit's pattern snoozed ("yes, that was me") no longer
// counts for that token and merchant until the snooze ends; another
// merchant still counts.
func TestSnooze(t *testing.T) {
	ctx := context.Background()
	e, _ := risk.New(risktest.VelocityEnforced(), risk.NewMemory())
	past(5, true, minutes(2), nil)(t, e)
	d, _ := e.Authorize(ctx, auth())
	if d.Outcome != risk.Review || d.Hits[0].Pattern != "auth.token=tok_A&auth.merchant=898310054110001" {
		t.Fatalf("before: got %s %+v", d, d.Hits)
	}
	if err := e.Snooze(ctx, d.Hits[0], t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, _ = e.Authorize(ctx, auth())
	if d.Outcome != risk.Approve || !d.Hits[0].Snoozed || len(d.Reasons) != 0 {
		t.Errorf("snoozed: got %s %+v, want approve with the hit snoozed", d, d.Hits)
	}
	d, _ = e.Authorize(ctx, auth(func(a *risk.Auth) { a.Merchant = "898310054110002" }))
	if d.Outcome != risk.Review {
		t.Errorf("another merchant: got %s, want review", d)
	}
	d, _ = e.Authorize(ctx, auth(func(a *risk.Auth) { a.At = t0.Add(61 * time.Minute) }))
	_ = d // the 5 payments are out of the window by then; the snooze's end is checked on the state
	if s, _ := e.State().Snoozed(ctx, "auth.token_velocity_15m", "auth.token=tok_A&auth.merchant=898310054110001", t0.Add(61*time.Minute)); s {
		t.Errorf("snooze after its end: still snoozed")
	}
}

// TestAnswers: "no" closes a case as confirmed fraud and snoozes nothing;
// "yes" closes it as not fraud and snoozes the hit's pattern for the time
// given, not longer.
func TestAnswers(t *testing.T) {
	ctx := context.Background()
	for _, yes := range []bool{false, true} {
		e, _ := risk.New(risktest.VelocityEnforced(), risk.NewMemory())
		cases := risk.NewMemoryCases()
		past(5, true, minutes(2), nil)(t, e)
		a := auth()
		d, _ := e.Authorize(ctx, a)
		c, ok := risk.CaseFor(d, a)
		if !ok {
			t.Fatalf("no case for %s", d)
		}
		cases.OpenCase(ctx, c)
		got, err := risk.Answer(ctx, cases, e.State(), "acc_A", c.ID, yes, t0, time.Hour)
		want := map[bool]risk.CaseState{false: risk.CaseConfirmedFraud, true: risk.CaseNotFraud}[yes]
		if err != nil || got.State != want {
			t.Fatalf("yes=%v: got %s %v, want %s", yes, got.State, err, want)
		}
		pattern := d.Hits[0].Pattern
		for at, wantSnoozed := range map[time.Time]bool{t0.Add(59 * time.Minute): yes, t0.Add(61 * time.Minute): false} {
			if s, _ := e.State().Snoozed(ctx, "auth.token_velocity_15m", pattern, at); s != wantSnoozed {
				t.Errorf("yes=%v at %v: snoozed %v, want %v", yes, at, s, wantSnoozed)
			}
		}
	}
}
