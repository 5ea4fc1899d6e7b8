package iso8583

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocExample keeps docs/iso8583.md true to the golden 0100: the example
// prints as the golden describes itself, the golden's DE43 follows the
// table's name(25) city(13) country(2), and its DE123 names the requestor id
// the document names.
func TestDocExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "iso8583.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	_, after, ok := strings.Cut(doc, "The golden 0100 (")
	if !ok {
		t.Fatal("docs/iso8583.md: no example of the golden 0100")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	m := sampleAuth(t)
	if got, want := strings.Join(strings.Split(strings.TrimSpace(block), "\n"), " "), m.Describe(); got != want {
		t.Errorf("the document's example:\ngot  %s\nwant %s", got, want)
	}
	if !strings.Contains(doc, "| 43 | card acceptor name/location | ans40 |") || !strings.Contains(doc, "positions 1-25 name, 26-38 city, 39-40 country") {
		t.Error("the DE43 row does not name the layout name(25) city(13) country(2)")
	}
	de43, _ := m.String(DEMerchantName)
	if name, city, country := strings.TrimRight(de43[:25], " "), strings.TrimRight(de43[25:38], " "), de43[38:]; name != "TAPWALLET MART" || city != "SHANGHAI" || country != "CN" {
		t.Errorf("golden DE43: got name %q city %q country %q, want TAPWALLET MART, SHANGHAI, CN at 1-25, 26-38, 39-40", name, city, country)
	}
	td, err := m.TokenData()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "`"+td.RequestorID+"` is tapwallet") {
		t.Errorf("golden DE123 requestor id %s is not the one docs/iso8583.md names", td.RequestorID)
	}
}
