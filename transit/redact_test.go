package transit

import (
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/keystoretest"
)

// TestServicePrintsNoKey: the operators' host keeps the cities' master
// keys it has used in a cache of keystore.Secrets; no printed form of the
// service shows any of them.
func TestServicePrintsNoKey(t *testing.T) {
	keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, keys, nil, nil, nil)
	var hexes []string
	for _, city := range []string{"beijing", "wuhan"} {
		mk, err := s.masterKeys(city)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range epurse.KeyNames(city) {
			k, _ := keys.IssuerMasterKey(n)
			hexes = append(hexes, hex.EncodeToString(k))
		}
		if hex.EncodeToString(mk.Purchase.Reveal()) != hexes[len(hexes)-4] {
			t.Fatal("the cached purchase key is not the key store's")
		}
	}
	holder := struct{ s *Service }{s} // %s of it prints the service's fields (fmt's bad-verb form)
	keystoretest.AssertNoKey(t, hexes, s, holder, &holder)
}
