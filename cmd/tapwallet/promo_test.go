package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/platform"
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

// TestPromoOverServer: promo add|list|pause|report --server work on a
// running platform over the operator's API. Without a token it is a usage
// error, a wrong one is refused; a bad file is refused naming its campaign
// and field and saves nothing; a campaign added (token from the data
// folder's file) is listed with its budget and gives its discount at the
// very next tap, shows in the report, and once paused (token from
// TAPWALLET_OPERATOR_TOKEN) gives none at the next.
func TestPromoOverServer(t *testing.T) {
	data := t.TempDir()
	p, err := platform.Start(context.Background(), platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv, _ := phoneWithCard(t, p, "promo-server@example.com", func(c *bank.Cardholder) bool { return c.Funds().Minor > 100_00 })
	b, err := os.ReadFile(filepath.Join(data, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	dir := t.TempDir() // holds no operator-token
	file := filepath.Join(dir, "c.json")
	campaign := func(id, amount string) string {
		return `{"id": "` + id + `", "name": {"zh": "满20减9.99", "en": "Save 9.99 over 20"}, "owner": "network",
		  "funders": [{"kind": "network", "share_bp": 10000}],
		  "window": {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
		  "mechanic": {"kind": "fixed", "threshold": "20.00", "amount": "` + amount + `"}, "budget": "100.00", "enrolment": "auto", "fulfilment": "instant"}`
	}
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var ee *exitError
	write(`{"campaigns": [` + campaign("server-999", "9.99") + `]}`)
	if _, _, err := runCLI(t, nil, "promo", "add", "--server", p.URL, "--data", dir, file); !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "no operator token") {
		t.Fatalf("no token: got %v, want a usage error", err)
	}
	if _, _, err := runCLI(t, nil, "promo", "list", "--server", p.URL, "--token", "wrong"); err == nil || !strings.Contains(err.Error(), "operator token") {
		t.Fatalf("wrong token: got %v, want refused", err)
	}
	write(`{"campaigns": [` + campaign("server-ok", "1.00") + `, ` + campaign("server-bad", "-1.00") + `]}`)
	if _, _, err := runCLI(t, nil, "promo", "add", "--server", p.URL, "--token", tok, file); err == nil ||
		!strings.Contains(err.Error(), `campaigns[1]: campaign "server-bad": mechanic.amount: -1.00 is negative`) {
		t.Fatalf("bad file: got %v, want the campaign and field named", err)
	}
	write(`{"campaigns": [` + campaign("server-999", "9.99") + `]}`)
	mustRun(t, nil, "saved 1 campaigns: server-999", "promo", "add", "--server", p.URL, "--data", data, file)

	out := mustRun(t, nil, "server-999", "promo", "list", "--server", p.URL, "--data", data, "--owner", "network", "--json")
	var list struct {
		Campaigns []struct {
			ID    string `json:"id"`
			State string `json:"state"`
			Usage struct {
				Budget, Remaining int64
			} `json:"usage"`
		} `json:"campaigns"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Campaigns {
		if c.ID == "server-ok" || c.ID == "server-bad" {
			t.Errorf("a campaign of the refused file was saved: %s", c.ID)
		}
		if c.ID == "server-999" && (c.State != "running" || c.Usage.Budget != 100_00 || c.Usage.Remaining != 100_00) {
			t.Errorf("server-999 listed as %+v", c)
		}
	}
	// The switch matches it at once (not at the next 3 s refresh).
	sale := posTap(t, envv, p.ISOAddr, "pos", "sale", "--amount", "30.00")
	if sale.Campaign != "server-999" || sale.DiscountMinor != 999 || sale.ChargedMinor != 30_00-999 {
		t.Fatalf("the tap after promo add --server: got %+v, want 9.99 off by server-999", sale)
	}
	out = mustRun(t, nil, "{", "promo", "report", "--server", p.URL, "--token", tok, "--json")
	if !strings.Contains(out, `{"campaign":"server-999","budget":10000,"reserved":999,"spent":0,"reserved_count":1,"spent_count":0,"remaining":9001}`) {
		t.Errorf("report --json after the tap: %s", out)
	}
	mustRun(t, map[string]string{"TAPWALLET_OPERATOR_TOKEN": tok}, "server-999 paused", "promo", "pause", "--server", p.URL, "server-999")
	if out := mustRun(t, nil, "server-999", "promo", "list", "--server", p.URL, "--data", data); !strings.Contains(out, "paused") || !strings.Contains(out, "90.01 of 100.00") {
		t.Errorf("list after pause:\n%s", out)
	}
	if sale := posTap(t, envv, p.ISOAddr, "pos", "sale", "--amount", "30.00"); sale.Campaign == "server-999" {
		t.Errorf("the tap after promo pause --server: got %+v, want no discount of server-999", sale)
	}
	if _, _, err := runCLI(t, nil, "promo", "pause", "--server", p.URL, "--data", data, "nope"); err == nil || !strings.Contains(err.Error(), `no campaign "nope"`) {
		t.Errorf("pause of an unknown campaign: got %v", err)
	}
	if _, _, err := runCLI(t, nil, "promo", "list", "--server", p.URL, "--db", "postgres://x"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("--server with --db: got %v, want a usage error", err)
	}
}

// TestPromoOverServerPromotionsOff: a platform running without promotions
// (Config.PromoOff) says so to promo --server, with the operator token.
func TestPromoOverServerPromotionsOff(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1, PromoOff: true, OperatorToken: "op"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := runCLI(t, nil, "promo", "report", "--server", p.URL, "--token", "op"); err == nil || !strings.Contains(err.Error(), "runs without promotions") {
		t.Errorf("promotions off: got %v, want it said", err)
	}
	if _, _, err := runCLI(t, nil, "promo", "report", "--server", p.URL, "--token", "po"); err == nil || !strings.Contains(err.Error(), "operator token") {
		t.Errorf("promotions off, wrong token: got %v, want refused first", err)
	}
}

// TestPromoBankOperator: `promo token --bank icbc` makes ICBC's operator
// token in the platform's data folder (the same one asked again); with it
// `promo add --server` publishes ICBC's own campaign, is refused one the
// network would fund (promo_not_yours), and `promo list` shows ICBC's
// campaigns only; an unknown bank is a usage error.
func TestPromoBankOperator(t *testing.T) {
	data := t.TempDir()
	p, err := platform.Start(context.Background(), platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out, _, err := runCLI(t, nil, "promo", "token", "--data", data, "--bank", "icbc")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	again, _, _ := runCLI(t, nil, "promo", "token", "--data", data, "--bank", "icbc")
	if len(tok) < 32 || strings.TrimSpace(again) != tok {
		t.Fatalf("ICBC's token %q, then %q: want one token, kept", tok, again)
	}
	var ee *exitError
	if _, _, err := runCLI(t, nil, "promo", "token", "--data", data, "--bank", "nobank"); !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("an unknown bank: %v, want a usage error", err)
	}
	file := filepath.Join(t.TempDir(), "c.json")
	add := func(owner, funders string) error {
		body := `{"campaigns": [{"id": "icbc-bank-op", "name": {"zh": "工行满20减1", "en": "ICBC: 1.00 off 20.00"}, "owner": "` + owner + `",
		  "funders": ` + funders + `, "window": {"start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
		  "mechanic": {"kind": "fixed", "threshold": "20.00", "amount": "1.00"}, "budget": "100.00", "enrolment": "auto", "fulfilment": "instant"}]}`
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCLI(t, nil, "promo", "add", "--server", p.URL, "--token", tok, file)
		return err
	}
	if err := add("icbc", `[{"kind": "network", "share_bp": 10000}]`); err == nil || !strings.Contains(err.Error(), "funds alone") {
		t.Fatalf("ICBC publishing a campaign the network funds: %v, want refused", err)
	}
	if err := add("icbc", `[{"kind": "issuer", "party": "icbc", "share_bp": 10000}]`); err != nil {
		t.Fatalf("ICBC publishing its own: %v", err)
	}
	out, _, err = runCLI(t, nil, "promo", "list", "--server", p.URL, "--token", tok, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var l struct{ Campaigns []struct{ ID, Owner string } }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &l); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, c := range l.Campaigns {
		if c.Owner != "icbc" {
			t.Fatalf("ICBC's listing holds %s's campaign %s", c.Owner, c.ID)
		}
	}
	if len(l.Campaigns) < 2 { // the shipped icbc-random-tap and its new one
		t.Fatalf("ICBC's listing: %+v, want its campaigns", l.Campaigns)
	}
}
