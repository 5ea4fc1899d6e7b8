package sam_test

import (
	"encoding/hex"
	"testing"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/epurse/epursetest"
	"github.com/tapwallet/tapwallet/keystore/keystoretest"
	"github.com/tapwallet/tapwallet/sam"
)

// TestSAMPrintsNoKey: a SAM holds its city's purchase and maintenance keys
// as keystore.Secrets: no printed form of it (%v, %+v, %#v, %s, %x, %q,
// JSON), alone or inside another struct, shows either key.
func TestSAMPrintsNoKey(t *testing.T) {
	mk := epursetest.MasterKeys("beijing")
	s, err := sam.New(emv.TDES, mk, epurse.TerminalNumber(1, 1, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	holder := struct {
		s   *sam.SAM
		SAM sam.SAM
	}{s, *s}
	keystoretest.AssertNoKey(t, []string{hex.EncodeToString(mk.Purchase.Reveal()), hex.EncodeToString(mk.Maintenance.Reveal())}, s, *s, holder, &holder)
}
