package phone_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/phone"
)

// TestProfileSavesMerge: two commands open one profile; each changes its
// own part and saves; the file keeps both changes (the second save used to
// overwrite the first's).
func TestProfileSavesMerge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "phone")
	p0, err := phone.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	p0.Profile.Cards = []phone.Card{{Token: "t1", State: "active"}, {Token: "t2", State: "active"}}
	if err := p0.Save(); err != nil {
		t.Fatal(err)
	}
	a, err := phone.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := phone.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Profile.Cards = append(a.Profile.Cards, phone.Card{Token: "t3"}) // a adds a card
	a.Profile.Session = "sess-a"
	b.Profile.Cards[0].State = "suspended" // b changes t1, removes t2
	b.Profile.Cards = b.Profile.Cards[:1]
	b.Profile.Pending = []phone.Pending{{PANLast4: "0007", Expiry: "1230", Binding: "b1"}}
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := phone.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	pr := got.Profile
	if len(pr.Cards) != 2 || pr.Cards[0].Token != "t1" || pr.Cards[0].State != "suspended" || pr.Cards[1].Token != "t3" {
		t.Errorf("got cards %+v, want t1 suspended and t3", pr.Cards)
	}
	if pr.Session != "sess-a" || len(pr.Pending) != 1 || pr.Pending[0].Binding != "b1" {
		t.Errorf("got session %q pending %+v, want a's session and b's pending binding", pr.Session, pr.Pending)
	}
}

// TestLoadRefusesMissingProfile: Load creates nothing.
func TestLoadRefusesMissingProfile(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "typo"), t.TempDir()} {
		if _, err := phone.Load(dir, ""); !fault.Has(err, fault.NotFound, phone.ErrNoProfile) {
			t.Errorf("Load(%s): got %v, want %s", dir, err, phone.ErrNoProfile)
		}
		if _, err := os.Stat(filepath.Join(dir, "secure-element.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load(%s) made a secure element", dir)
		}
	}
}
