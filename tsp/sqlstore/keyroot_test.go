package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// TestKeyRootPerToken: a token keeps the EMV root it was made under. After
// a rotation of the root a new token is made under r2 (stored, read back)
// and a token made before keeps r1; both pay — each cryptogram checked with
// the keys of its own root — and both get fresh keys at a sync from their
// own root.
func TestKeyRootPerToken(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		s := tsptest.NewService(t, st)
		el, err := se.Open(filepath.Join(t.TempDir(), "se.json"))
		if err != nil {
			t.Fatal(err)
		}
		d := tsp.Device{ID: id.New("ph"), AccountID: id.New("acc"), PublicKey: el.PublicKey()}
		add := func(i int) tsp.Token {
			res, err := s.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: tsptest.PAN("622999", i), Expiry: "1230", CVN2: "123"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := el.InstallKeys(res.Card.Token.Number.Digits(), res.Card.KeyBatch); err != nil {
				t.Fatal(err)
			}
			return res.Card.Token
		}
		pay := func(tok tsp.Token) error {
			chip, err := taptest.Tap(el, phone.Card{Token: tok.Number.Digits(), AID: tok.AID, Expiry: tok.Expiry.MMYY(), PSN: tok.PSN, BankName: "Test Bank"}, 100, time.Now())
			if err != nil {
				return err
			}
			ar, err := s.Authorize(ctx, taptest.Request(tok.Number.Digits(), chip))
			ar.Forget()
			return err
		}
		old := add(1)
		if _, err := s.Keys.Rotate(ctx, keystore.EMVRoot); err != nil {
			t.Fatal(err)
		}
		fresh := add(2)
		for _, c := range []struct {
			tok  tsp.Token
			root string
		}{{old, "r1"}, {fresh, "r2"}} {
			got, err := st.Token(ctx, c.tok.Number.Digits())
			if err != nil || got.KeyRoot != c.root {
				t.Errorf("token made under %s: stored root %q (%v)", c.root, got.KeyRoot, err)
			}
			if err := pay(c.tok); err != nil {
				t.Errorf("a tap of the token under %s: %v", c.root, err)
			}
			// A sync's new batch comes from the token's own root.
			got, _ = st.Token(ctx, c.tok.Number.Digits())
			res, err := s.Replenish(ctx, d, []tsp.TokenLog{{Token: got.Number.Digits(), ATC: got.LastATC, Unused: seq(2, got.NextKey)}})
			if err != nil || len(res) != 1 || res[0].Keys == 0 {
				t.Fatalf("sync: %v %+v", err, res)
			}
			if _, err := el.InstallKeys(got.Number.Digits(), res[0].KeyBatch); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ { // through the first batch into the second
				if err := pay(c.tok); err != nil {
					t.Fatalf("tap %d of the token under %s after the sync: %v", i+2, c.root, err)
				}
			}
		}
	})
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
