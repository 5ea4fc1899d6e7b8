package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPromoCommand: promo refuses a missing data folder; a campaign file
// with a bad campaign saves nothing and names the field; the defaults
// save, list (table and JSON), pause and report as their help says.
func TestPromoCommand(t *testing.T) {
	dir := t.TempDir()
	_, _, err := runCLI(t, nil, "promo", "list", "--data", filepath.Join(dir, "nope"))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "no such folder") {
		t.Fatalf("missing folder: got %v, want exit status 2", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the missing folder was made")
	}
	file := filepath.Join(dir, "c.json")
	bad := `{"campaigns": [{"id": "ok", "name": {"zh": "好", "en": "ok"}, "owner": "network",
	  "funders": [{"kind": "network", "share_bp": 10000}],
	  "window": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}, "channels": ["nfc"],
	  "mechanic": {"kind": "fixed", "amount": "1.00"}, "budget": "10.00", "enrolment": "auto", "fulfilment": "instant"},
	  {"id": "bad", "name": {"zh": "坏", "en": "bad"}, "owner": "network",
	  "funders": [{"kind": "network", "share_bp": 10000}],
	  "window": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}, "channels": ["nfc"],
	  "mechanic": {"kind": "fixed", "amount": "-1.00"}, "budget": "10.00", "enrolment": "auto", "fulfilment": "instant"}]}`
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "promo", "add", "--data", dir, file); err == nil || !strings.Contains(err.Error(), `campaign "bad": mechanic.amount: -1.00 is negative`) {
		t.Fatalf("bad file: got %v, want the field named", err)
	}
	out, _, err := runCLI(t, nil, "promo", "list", "--data", dir, "--json")
	if err != nil || strings.TrimSpace(out) != `{"campaigns":[]}` {
		t.Fatalf("after a refused file: got %q %v, want no campaign saved", out, err)
	}
	if out, _, err := runCLI(t, nil, "promo", "add", "--data", dir, "--defaults"); err != nil || !strings.Contains(out, "network-new-user-100-50") {
		t.Fatalf("defaults: %q %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "promo", "pause", "--data", dir, "icbc-random-tap"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, map[string]string{"TAPWALLET_DATA": dir}, "promo", "list", "--json")
	var list struct {
		Campaigns []struct {
			ID     string `json:"id"`
			Owner  string `json:"owner"`
			Paused bool   `json:"paused"`
		} `json:"campaigns"`
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Campaigns) != 5 {
		t.Fatalf("list --json: %q %v", out, err)
	}
	for _, c := range list.Campaigns {
		if c.Paused != (c.ID == "icbc-random-tap") {
			t.Errorf("%s: paused %v", c.ID, c.Paused)
		}
	}
	out, _, _ = runCLI(t, nil, "promo", "list", "--data", dir)
	if !strings.Contains(out, "spend 100.00 save 50.00") || !strings.Contains(out, "paused") {
		t.Errorf("list: %s", out)
	}
	out, _, err = runCLI(t, nil, "promo", "report", "--data", dir, "--json")
	var rep struct {
		Campaigns []struct {
			Campaign  string `json:"campaign"`
			Budget    int64  `json:"budget"`
			Remaining int64  `json:"remaining"`
		} `json:"campaigns"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Campaigns) != 5 || rep.Campaigns[4].Campaign != "network-new-user-100-50" || rep.Campaigns[4].Remaining != 5000000 {
		t.Fatalf("report --json: %q %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "promo", "pause", "--data", dir); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("pause without an id: got %v, want exit status 2", err)
	}
}
