package epurse_test

import (
	"encoding/hex"
	"testing"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/keystore/keystoretest"
)

// TestKeysPrintNoKey: a city's master keys and a card's diversified keys
// are keystore.Secrets: no printed form (%v, %+v, %#v, %s, %x, %X, %q,
// JSON) of MasterKeys or CardKeys, alone, by pointer or inside another
// struct (exported or not), shows any of the keys; and the card keys are
// still the ones the card is personalised with.
func TestKeysPrintNoKey(t *testing.T) {
	mk := epursetest.MasterKeys("beijing")
	n := epurse.NewCardNumber(1000, 42)
	ck, err := mk.Card(emv.TDES, n)
	if err != nil {
		t.Fatal(err)
	}
	var hexes []string
	for _, k := range []interface{ Reveal() []byte }{mk.Purchase, mk.Load, mk.TAC, mk.Maintenance, ck.DPK, ck.DLK, ck.DTK, ck.DAMK} {
		if len(k.Reveal()) != 16 {
			t.Fatalf("a key of %d bytes, want 16", len(k.Reveal()))
		}
		hexes = append(hexes, hex.EncodeToString(k.Reveal()))
	}
	want, err := epurse.Diversify(emv.TDES, mk.TAC.Reveal(), n)
	if err != nil || hex.EncodeToString(want) != hex.EncodeToString(ck.DTK.Reveal()) {
		t.Fatalf("the card's TAC key is not the master key diversified: %v", err)
	}
	holder := struct {
		mk epurse.MasterKeys
		ck *epurse.CardKeys
		MK epurse.MasterKeys
		CK epurse.CardKeys
	}{mk, &ck, mk, ck}
	keystoretest.AssertNoKey(t, hexes, mk, &mk, ck, &ck, holder, &holder)
}
