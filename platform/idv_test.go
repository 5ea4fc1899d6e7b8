package platform_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/platform"
)

// TestIDVApart runs icbc's issuer host in an issuers-only platform and the
// wallet and token service in a front whose bank file has no card holder
// of icbc: a card of icbc added through the wallet API is verified by the
// issuers process over HTTP (its log shows the verify), a wrong CVN2 gets
// the bank's own code back across the wire, and a card of another bank is
// still verified in the front (as all-in-one does).
func TestIDVApart(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	issLogs := &syncBuffer{}
	iss, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", Roles: platform.Roles{platform.RoleIssuers: true},
		IssuerBanks: []string{"icbc"}, Log: slog.New(slog.NewJSONHandler(issLogs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iss.Close() })

	// The front's bank file: the shipped banks without icbc's card holders.
	shipped, err := os.ReadFile("../bank/banks.json")
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(shipped, &f); err != nil {
		t.Fatal(err)
	}
	var cards []any
	for _, c := range f["cards"].([]any) {
		if c.(map[string]any)["bank"] != "icbc" {
			cards = append(cards, c)
		}
	}
	f["cards"] = cards
	b, _ := json.Marshal(f)
	bankFile := filepath.Join(t.TempDir(), "banks.json")
	if err := os.WriteFile(bankFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	front, err := platform.Start(ctx, platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1, BankFile: bankFile,
		Roles: platform.Roles{platform.RoleWallet: true, platform.RoleTSP: true}, IDVAt: map[string]string{"icbc": iss.URL},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	if len(front.Banks.Holders("icbc").Cards()) != 0 {
		t.Fatal("the front holds icbc's card holders")
	}
	e := &env{p: front, data: data}
	ph := e.newPhone(t, "idv-apart@example.com")
	if _, err := ph.AddCard(ctx, "6222020000000007", "1230", "999"); code(err) != bank.CodeWrongCVN2 {
		t.Fatalf("icbc card with a wrong CVN2: %v (code %q), want %s from the bank over HTTP", err, code(err), bank.CodeWrongCVN2)
	}
	if _, err := ph.AddCard(ctx, "6222020000000007", "1230", "123"); err != nil {
		t.Fatalf("icbc card verified over HTTP: %v", err)
	}
	if _, err := ph.AddCard(ctx, "6216610000000000008", "0631", "291"); err != nil {
		t.Fatalf("boc card verified in the front: %v", err)
	}
	logs := issLogs.String()
	if strings.Count(logs, `"msg":"issuer: ID&V","bank":"icbc"`) != 2 || !strings.Contains(logs, `"decision":"green"`) {
		t.Errorf("the issuers process's log does not show the two verifies of icbc: %s", logs)
	}
	if strings.Contains(logs, "boc") || strings.Contains(logs, "6222020000000007") {
		t.Errorf("the issuers process's log shows boc's verify or a card number: %s", logs)
	}
}
