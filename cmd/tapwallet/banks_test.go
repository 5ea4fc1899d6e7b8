package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
)

// runBanksCmd runs the real program with args and no environment.
func runBanksCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

var testCardLine = regexp.MustCompile(`^(\d{16}|\d{19}) (0[1-9]|1[0-2])\d\d \d{3} [a-z][a-z0-9_-]+ (debit|credit) (green|otp|red)$`)

func TestBanksTestCards(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"banks", "test-cards"}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("got error %v (stderr %q), want nil", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) < 40 {
		t.Errorf("lines: got %d, want at least 40", len(lines))
	}
	counts := map[string]int{}
	seen := map[string]bool{}
	for i, line := range lines {
		m := testCardLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d: got %q, want PAN EXPIRY CVN2 BANK PRODUCT IDV", i+1, line)
			continue
		}
		pan := m[1]
		if !card.LuhnValid(pan) {
			t.Errorf("line %d: got a PAN that fails the Luhn check, want a valid one", i+1)
		}
		if seen[pan] {
			t.Errorf("line %d: got a PAN listed twice, want each once", i+1)
		}
		seen[pan] = true
		counts[m[4]]++
	}
	mins := map[string]int{"green": 12, "otp": 5, "red": 3}
	for outcome, want := range mins {
		if counts[outcome] < want {
			t.Errorf("%s lines: got %d, want at least %d", outcome, counts[outcome], want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: got %q, want nothing", stderr.String())
	}
}

func TestBanksList(t *testing.T) {
	stdout, _, err := runBanksCmd(t, "banks", "list")
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if got := len(lines); got != 21 {
		t.Errorf("lines: got %d, want a header and 20 banks", got)
	}
	for _, want := range []string{"ID", "TOKEN RANGE", "icbc", "Industrial and Commercial Bank of China", "622202", "628801", "czb", "628820"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("got %q, want it to contain %q", stdout, want)
		}
	}
}

func TestBanksConfigFile(t *testing.T) {
	dir := t.TempDir()
	body := "621111000000001"
	pan := body + string(card.LuhnDigit(body))
	good := `{"banks": [{"id": "alpha", "name": "Alpha Bank", "short": "AB",
  "products": [{"kind": "debit", "name": "Alpha Debit", "bin": "621111", "art": "#112233"}],
  "idv": {"checks": ["expiry", "cvn2"], "step_up": null},
  "settlement_account": "settlement:alpha", "token_range": 7}],
 "cards": [{"pan": "` + pan + `", "expiry": "0730", "cvn2": "321", "bank": "alpha", "product": "debit",
  "holder": "LI NA", "phone": "+8613800000001", "balance_fen": 100}]}`
	goodPath := filepath.Join(dir, "good.json")
	badPath := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(goodPath, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badPath, []byte(strings.Replace(good, `"bin": "621111"`, `"bin": "628811"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		want     string // stdout
		wantCode int    // exit code, 0 for none
		wantErr  string
	}{
		{"test-cards", []string{"banks", "test-cards", "--config", goodPath}, pan + " 0730 321 alpha debit green\n", 0, ""},
		{"list", []string{"banks", "list", "-config=" + goodPath}, "", 0, ""},
		{"broken file", []string{"banks", "test-cards", "--config", badPath}, "", 1, "token range"},
		{"missing file", []string{"banks", "list", "--config", filepath.Join(dir, "nosuch.json")}, "", 1, "does not exist"},
		{"no subcommand", []string{"banks"}, "", 2, "list or test-cards"},
		{"unknown subcommand", []string{"banks", "delete"}, "", 2, "unknown subcommand"},
		{"unknown flag", []string{"banks", "list", "--colour"}, "", 2, "colour"},
		{"extra argument", []string{"banks", "test-cards", "icbc"}, "", 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runBanksCmd(t, tt.args...)
			if tt.want != "" && stdout != tt.want {
				t.Errorf("stdout: got %q, want %q", stdout, tt.want)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			code := 1
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d", code, tt.wantCode)
			}
			if strings.Contains(err.Error(), pan) {
				t.Errorf("error contains a card number: %v", err)
			}
		})
	}
}

// TestBanksTestCardsBlockedAreRed: a blocked or lost card is one ID&V
// refuses, so the list says red for it whatever its configured outcome.
func TestBanksTestCardsBlockedAreRed(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"banks", "test-cards"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatal(err)
	}
	cfg, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, h := range cfg.Cards {
		if h.Status == bank.Active {
			continue
		}
		n++
		if !strings.Contains(out.String(), h.PAN.Digits()+" ") || !regexp.MustCompile(h.PAN.Digits()+` .* red\n`).MatchString(out.String()) {
			t.Errorf("card ending %s (%s) is not listed as red", h.PAN.Last4(), h.Status)
		}
	}
	if n == 0 {
		t.Fatal("no blocked or lost test card: the test proves nothing")
	}
}
