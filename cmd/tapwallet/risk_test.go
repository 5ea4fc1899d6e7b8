package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/risk"
)

// TestRiskCommands: rules lists the default set and prints it as JSON;
// backtest of the sample facts flips the impossible travel, the small
// burst and the gambling payment; activate stores a version once and
// refuses it again; versions lists it; rules then shows the active one.
func TestRiskCommands(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCLI(t, nil, "risk", "rules")
	if err != nil || !strings.Contains(out, "auth.impossible_travel") || !strings.Contains(out, "the default rules") {
		t.Fatalf("risk rules: %v\n%s", err, out)
	}
	js, _, err := runCLI(t, nil, "risk", "rules", "--json")
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(js), 0o600)

	out, _, err = runCLI(t, nil, "risk", "backtest", "--rules", rules, "--facts", "../../risk/testdata/facts.jsonl", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Replayed, Compared int
		Flips              []struct{ ID, Before, After string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var flips []string
	for _, f := range rep.Flips {
		flips = append(flips, f.ID[len(f.ID)-17:]+" "+f.Before+">"+f.After)
	}
	want := "000003|0314121000 approve>decline,000009|0314130500 approve>decline,000010|0314140000 approve>review"
	if rep.Replayed != 11 || strings.Join(flips, ",") != want {
		t.Errorf("backtest: replayed %d, flips %s; want 11, %s", rep.Replayed, strings.Join(flips, ","), want)
	}
	out, _, err = runCLI(t, nil, "risk", "backtest", "--rules", rules, "--facts", "../../risk/testdata/facts.jsonl", "--from", "2026-03-14T13:00:00Z", "--to", "2026-03-14T14:00:00Z")
	if err != nil || !strings.Contains(out, "11 authorizations replayed, 6 compared, 1 flip(s)") {
		t.Errorf("backtest --from --to: %v\n%s", err, out)
	}

	db := "sqlite:" + filepath.Join(dir, "p.db")
	if out, _, err = runCLI(t, nil, "risk", "activate", "--rules", rules, "--db", db); err != nil || !strings.Contains(out, fmt.Sprintf("version %d stored", risk.Default().Version)) {
		t.Fatalf("activate: %v %s", err, out)
	}
	if _, _, err = runCLI(t, nil, "risk", "activate", "--rules", rules, "--db", db); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d is stored", risk.Default().Version)) {
		t.Errorf("activate again: got %v, want the version refused", err)
	}
	if out, _, err = runCLI(t, nil, "risk", "versions", "--db", db, "--json"); err != nil || !strings.Contains(out, fmt.Sprintf(`"version":%d`, risk.Default().Version)) {
		t.Errorf("versions: %v %s", err, out)
	}
	if out, _, err = runCLI(t, nil, "risk", "rules", "--db", db); err != nil || !strings.Contains(out, "the active version") {
		t.Errorf("rules of the data folder: %v %s", err, out)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(js, `"reason"`, `"why"`, 1)), 0o600)
	if _, _, err = runCLI(t, nil, "risk", "backtest", "--rules", bad, "--facts", "../../risk/testdata/facts.jsonl"); err == nil || !strings.Contains(err.Error(), `unknown field "why"`) {
		t.Errorf("a rule set with an unknown field: got %v", err)
	}
}
