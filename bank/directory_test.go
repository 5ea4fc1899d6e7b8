package bank

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// TestDirectoryHoldsNoCardHolder: the network's directory answers every
// lookup the configuration answers, and no card holder's data (card
// number, CVN2, phone, holder name) is anywhere in it.
func TestDirectoryHoldsNoCardHolder(t *testing.T) {
	c := mustDefault(t)
	d := c.Directory()
	if len(d.Banks()) != len(c.Banks) || len(d.IDs()) != len(c.Banks) {
		t.Fatalf("got %d banks, want %d", len(d.Banks()), len(c.Banks))
	}
	dump := fmt.Sprintf("%+v", d.Banks())
	for i := range c.Cards {
		h := &c.Cards[i]
		b, ok := d.BankForBIN(h.PAN)
		if !ok || b.ID != h.Bank {
			t.Errorf("cards[%d]: BankForBIN got %v, want %s", i, b, h.Bank)
		}
		for _, secret := range []string{h.PAN.Digits(), h.Phone.Number(), h.Name} {
			if strings.Contains(dump, secret) {
				t.Fatalf("cards[%d]: the directory holds a card holder's data", i)
			}
		}
	}
	for _, b := range c.Banks {
		got, ok := d.BankByID(b.ID)
		if !ok || got.SettlementAccount != b.SettlementAccount {
			t.Errorf("BankByID(%s): got %v", b.ID, got)
		}
		got, ok = d.BankForTokenRange(b.TokenPrefix() + "0000000001")
		if !ok || got.ID != b.ID {
			t.Errorf("BankForTokenRange(%s): got %v", b.TokenPrefix(), got)
		}
	}
	// The directory is a copy: changing the configuration does not change it.
	c.Banks[0].Products[0].BIN = "629999"
	c.Banks[0].Name = "changed"
	if d.Banks()[0].Name == "changed" || d.Banks()[0].Products[0].BIN == "629999" {
		t.Error("the directory shares the configuration's banks")
	}
}

// TestNewDirectory: a directory built from banks alone validates them.
func TestNewDirectory(t *testing.T) {
	c := mustDefault(t)
	d, err := NewDirectory(c.Banks)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.BankByID(c.Banks[3].ID); !ok {
		t.Errorf("BankByID(%s): not found", c.Banks[3].ID)
	}
	bad := copyBanks(c.Banks)
	bad[1].TokenRange = bad[0].TokenRange
	if _, err := NewDirectory(bad); !fault.Has(err, fault.Invalid, "bad_bank_config") {
		t.Errorf("duplicate token range: got %v, want bad_bank_config", err)
	}
}

// TestHoldersAreOneBanks: a bank's card-holder file has its cards and
// nobody else's, and its Verify refuses another bank's card.
func TestHoldersAreOneBanks(t *testing.T) {
	c := mustDefault(t)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	total := 0
	for _, id := range c.Directory().IDs() {
		h := c.Holders(id)
		if h.Bank() != id {
			t.Errorf("Bank: got %s, want %s", h.Bank(), id)
		}
		for _, ch := range h.Cards() {
			if ch.Bank != id {
				t.Errorf("%s's holders hold a card of %s", id, ch.Bank)
			}
			if got, ok := h.Lookup(ch.PAN); !ok || got.PAN.Digits() != ch.PAN.Digits() {
				t.Errorf("%s: Lookup of its own card failed", id)
			}
		}
		total += len(h.Cards())
	}
	if total != len(c.Cards) {
		t.Errorf("the banks' holders have %d cards, want %d", total, len(c.Cards))
	}
	other := &c.Cards[0]
	var b *Bank
	for i := range c.Banks {
		if c.Banks[i].ID != other.Bank {
			b = &c.Banks[i]
			break
		}
	}
	if _, ok := c.Holders(b.ID).Lookup(other.PAN); ok {
		t.Fatalf("%s's holders find a card of %s", b.ID, other.Bank)
	}
	dec, err := c.Holders(b.ID).Verify(b, IDVRequest{PAN: other.PAN, Expiry: other.Expiry, CVN2: other.CVN2.Digits()}, now)
	if dec != Red || !fault.Has(err, fault.NotFound, CodeCardNotFound) {
		t.Errorf("another bank's card: got %s %v, want red card_not_found", dec, err)
	}
}
