package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/platform"
)

// TestListingsJSON: phone cards, history and phones, and banks list and
// test-cards, print with --json one object with the field names their help
// documents, for a phone that has a card and has paid once.
func TestListingsJSON(t *testing.T) {
	p, err := platform.Start(context.Background(), platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envv, green := phoneWithCard(t, p, "json@example.com", nil)

	var history struct {
		Payments []map[string]any `json:"payments"`
	}
	decodeJSON(t, mustRun(t, envv, `{"payments":[]}`, "phone", "history", "--json"), &history) // none yet: an empty list, not null

	addr := freeAddr(t)
	posDone := make(chan error, 1)
	go func() {
		_, _, err := runCLI(t, envv, "pos", "charge", "--amount", "12.34", "--listen", addr, "--network", p.ISOAddr,
			"--timeout", "20s", "--answer-timeout", "5s", "--merchant", "CORNER SHOP")
		posDone <- err
	}()
	if out, errs, err := tapUntilListening(t, envv, "phone", "tap", "--reader", addr, "--finger", "right-thumb"); err != nil {
		t.Fatalf("phone tap: %v\n%s%s", err, out, errs)
	}
	if err := <-posDone; err != nil {
		t.Fatalf("pos charge: %v", err)
	}

	var cards struct {
		Cards []map[string]any `json:"cards"`
	}
	out := mustRun(t, envv, "{", "phone", "cards", "--json")
	decodeJSON(t, out, &cards)
	if len(cards.Cards) != 1 {
		t.Fatalf("cards --json: got %d cards, want 1: %s", len(cards.Cards), out)
	}
	c := cards.Cards[0]
	checkFields(t, "cards", c, "default", "token_last4", "pan_last4", "bank", "bank_name", "product", "card_art", "expiry", "state", "keys_left")
	if c["pan_last4"] != green.PAN.Last4() || c["expiry"] != green.Expiry.MMYY() || c["default"] != true || c["keys_left"].(float64) < 1 {
		t.Errorf("cards --json: got %v, want card %s, %s, default, with keys", c, green.PAN.Last4(), green.Expiry.MMYY())
	}
	if strings.Contains(out, green.PAN.Digits()) || strings.Contains(out, `"token"`) {
		t.Errorf("cards --json shows a whole card or token number: %s", out)
	}

	out = mustRun(t, envv, "{", "phone", "history", "--json")
	decodeJSON(t, out, &history)
	if len(history.Payments) != 1 {
		t.Fatalf("history --json: got %s, want 1 payment", out)
	}
	pm := history.Payments[0]
	checkFields(t, "history", pm, "merchant", "amount", "currency", "display", "card_last4", "token_last4", "bank", "at", "status", "response_code", "reason", "auth_code")
	if pm["amount"] != float64(1234) || pm["card_last4"] != green.PAN.Last4() || pm["status"] != "approved" || pm["merchant"] != "CORNER SHOP" {
		t.Errorf("history --json: got %v, want 1234 minor units approved at CORNER SHOP with card %s", pm, green.PAN.Last4())
	}

	var phones struct {
		Phones []map[string]any `json:"phones"`
	}
	out = mustRun(t, envv, "{", "phone", "phones", "--json")
	decodeJSON(t, out, &phones)
	if len(phones.Phones) != 1 {
		t.Fatalf("phones --json: got %s, want 1 phone", out)
	}
	checkFields(t, "phones", phones.Phones[0], "id", "name", "model", "wallet_on", "cards", "last_seen", "lat", "lon", "located_at", "this_phone")
	if ph := phones.Phones[0]; ph["wallet_on"] != true || ph["cards"] != float64(1) || ph["this_phone"] != true {
		t.Errorf("phones --json: got %v, want this phone, wallet on, 1 card", ph)
	}
}

func TestBanksJSON(t *testing.T) {
	var banks struct {
		Banks []map[string]any `json:"banks"`
	}
	decodeJSON(t, mustRun(t, nil, "{", "banks", "list", "--json"), &banks)
	table := strings.Split(strings.TrimSpace(mustRun(t, nil, "icbc", "banks", "list")), "\n")
	if len(banks.Banks) != len(table)-1 || len(banks.Banks) < 20 {
		t.Fatalf("banks list --json: got %d banks, want the %d of the table", len(banks.Banks), len(table)-1)
	}
	checkFields(t, "banks", banks.Banks[0], "id", "name", "bins", "products", "token_range", "step_up")
	if banks.Banks[0]["id"] != "icbc" || banks.Banks[0]["step_up"] != "sms" {
		t.Errorf("banks list --json: got %v, want icbc first, stepping up by sms", banks.Banks[0])
	}

	var cards struct {
		Cards []map[string]any `json:"cards"`
	}
	decodeJSON(t, mustRun(t, nil, "{", "banks", "test-cards", "--json"), &cards)
	lines := strings.Split(strings.TrimSpace(mustRun(t, nil, "icbc", "banks", "test-cards")), "\n")
	if len(cards.Cards) != len(lines) {
		t.Fatalf("test-cards --json: got %d cards, want the %d lines", len(cards.Cards), len(lines))
	}
	for i, l := range lines {
		c := cards.Cards[i]
		if got := strings.Join([]string{c["pan"].(string), c["expiry"].(string), c["cvn2"].(string), c["bank"].(string), c["product"].(string), c["idv"].(string)}, " "); got != l {
			t.Fatalf("test-cards --json card %d: got %q, want the line %q", i, got, l)
		}
	}
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("--json: got %d lines, want one object on one line", strings.Count(out, "\n"))
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("--json: %v in %q", err, out)
	}
}

func checkFields(t *testing.T, what string, obj map[string]any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		if _, ok := obj[f]; !ok {
			t.Errorf("%s --json: no field %q in %v", what, f, obj)
		}
	}
	if len(obj) != len(fields) {
		t.Errorf("%s --json: got fields %v, want exactly %v", what, sortedKeys(obj), fields)
	}
}

// TestCompletionBash: the bash script passes bash -n, and sourced in bash
// it completes commands, subcommands (past flags and their values) and a
// subcommand's flags.
func TestCompletionBash(t *testing.T) {
	script := filepath.Join(t.TempDir(), "tapwallet.bash")
	if err := os.WriteFile(script, []byte(mustRun(t, nil, "complete -o default -F _tapwallet tapwallet", "completion", "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		line string // the words typed; the last one is being completed
		want string
	}{
		{"tapwallet ph", "phone"},
		{"tapwallet b", "banks bench"},
		{"tapwallet phone ca", "cards"},
		{"tapwallet phone --profile /tmp/p transit to", "topup"},
		{"tapwallet phone cards --j", "--json"},
		{"tapwallet banks test-cards --", "--config --json --help"},
		{"tapwallet emv pinblock e", "encode"},
		{"tapwallet completion ", "bash fish zsh"},
		{"tapwallet --v", "--version"},
	} {
		words := strings.Fields(tc.line)
		if strings.HasSuffix(tc.line, " ") {
			words = append(words, "")
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + w + "'"
		}
		prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + strconv.Itoa(len(words)-1) +
			`; _tapwallet; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("%q: got %q (%v), want %q", tc.line, strings.TrimSpace(string(out)), err, tc.want)
		}
	}
}

// TestCompletionZshFish checks the zsh and fish scripts by structure (the
// shells are not installed here; where they are, each is parsed too): every
// command path is a case of both tables, every flag of a path is offered,
// and the blocks are closed.
func TestCompletionZshFish(t *testing.T) {
	nodes, err := completionTree(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	zsh := mustRun(t, nil, "#compdef tapwallet", "completion", "zsh")
	fish := mustRun(t, nil, "complete -c tapwallet", "completion", "fish")
	if !strings.HasPrefix(zsh, "#compdef tapwallet\n") || !strings.Contains(zsh, "compdef _tapwallet tapwallet") {
		t.Errorf("zsh: no #compdef line or compdef call")
	}
	if got, want := strings.Count(zsh, " case "), strings.Count(zsh, "\n  esac"); got != want || got != 2 {
		t.Errorf("zsh: %d case, %d esac, want 2 each", got, want)
	}
	opens, closes := 0, 0
	for _, l := range strings.Split(fish, "\n") {
		l = strings.TrimSpace(l)
		for _, kw := range []string{"function ", "switch ", "for ", "if "} {
			if strings.HasPrefix(l, kw) {
				opens++
			}
		}
		if l == "end" {
			closes++
		}
	}
	if opens != closes || opens != 7 { // 3 functions, 2 switches, a for and an if
		t.Errorf("fish: %d blocks opened, %d closed, want 7 each", opens, closes)
	}
	for _, n := range nodes {
		if len(n.subs) > 0 {
			for _, s := range []string{zsh, fish} {
				if !strings.Contains(s, `"`+n.path+`") echo "`+strings.Join(n.subs, " ")+`"`) && !strings.Contains(s, "case \""+n.path+"\"\n        printf '%s\\n' "+strings.Join(n.subs, " ")+"\n") {
					t.Errorf("no subcommands of %q (%v) in the script:\n%s", n.path, n.subs, s)
					break
				}
			}
		}
		if !strings.Contains(zsh, `"`+n.path+`") echo "`+strings.Join(n.flags, " ")+`"`) ||
			!strings.Contains(fish, "case \""+n.path+"\"\n        printf '%s\\n' "+strings.Join(n.flags, " ")+"\n") {
			t.Errorf("the flags of %q (%v) are not offered", n.path, n.flags)
		}
	}
	for shell, script := range map[string]string{"zsh": zsh, "fish": fish} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue // not installed: the structural check above stands
		}
		f := filepath.Join(t.TempDir(), "script")
		os.WriteFile(f, []byte(script), 0o644)
		if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
	}
	var phoneCards completionNode
	for _, n := range nodes {
		if n.path == "phone cards" {
			phoneCards = n
		}
	}
	if strings.Join(phoneCards.flags, " ") != "--json --profile --server --help" {
		t.Errorf("phone cards flags: got %v, want --json --profile --server --help", phoneCards.flags)
	}
}

// TestBenchProgressNotInFiles: bench auth with its output redirected to
// files writes no carriage return or escape code (it used to write its
// progress line into them).
func TestBenchProgressNotInFiles(t *testing.T) {
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "err"))
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"bench", "auth", "--count", "200", "--tokens", "8", "--conns", "2"}, func(string) string { return "" }, strings.NewReader(""), stdout, stderr)
	stdout.Close()
	stderr.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"out", "err"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if bytes.ContainsAny(b, "\r\x1b") {
			t.Errorf("bench auth wrote a carriage return or escape code into its %s file: %q", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); !bytes.Contains(b, []byte("auths")) && !bytes.Contains(b, []byte("approved")) {
		t.Errorf("bench auth printed no figures: %q", b)
	}
}
