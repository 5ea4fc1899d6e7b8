package tsphttp_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// TestSM4CardARPC: an SM4 card (cryptogram version 12) is checked with
// SM4 keys and answered with an SM4 ARPC — in process and over HTTP (where
// the token service makes the ARPC when the network asks). The ARPC was
// once always TDES, which an SM4 card rejects.
func TestSM4CardARPC(t *testing.T) {
	sides(t, func(t *testing.T, svc *tsp.Service, s side) {
		ctx := context.Background()
		svc.Alg = emv.SM4 // the tokens' card keys are SM4
		el, err := se.Open(filepath.Join(t.TempDir(), "se.json"))
		if err != nil {
			t.Fatal(err)
		}
		d := tsp.Device{ID: id.New("ph"), AccountID: id.New("acc"), PublicKey: el.PublicKey()}
		res, err := addCard(ctx, s.req, d, tsptest.PAN("622999", 7))
		if err != nil {
			t.Fatal(err)
		}
		tok := res.Card.Token
		if _, err := el.InstallKeys(tok.Number.Digits(), res.Card.KeyBatch); err != nil {
			t.Fatal(err)
		}
		pc, err := taptest.PaymentCard(phone.Card{Token: tok.Number.Digits(), AID: tok.AID, Expiry: tok.Expiry.MMYY(), PSN: tok.PSN, BankName: "Test Bank"})
		if err != nil {
			t.Fatal(err)
		}
		pc.Alg = emv.SM4
		chip, err := taptest.TapCard(el, pc, 990, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if iad, err := qpboc.ParseIAD(chip[qpboc.TagIAD]); err != nil || iad.CVN != qpboc.CVNSM4 {
			t.Fatalf("the tap is not an SM4 cryptogram: %v", err)
		}
		ar, err := s.check.Authorize(ctx, taptest.Request(tok.Number.Digits(), chip))
		if err != nil {
			t.Fatalf("authorize an SM4 cryptogram: %v", err)
		}
		arqc := chip[qpboc.TagCryptogram]
		got, err := ar.ARPC(arqc, []byte("00"))
		if err != nil || len(got) != 10 {
			t.Fatalf("ARPC: %x, %v", got, err)
		}
		// What the card computes: SM4 ARPC method 1 with its limited-use key.
		imk, err := svc.Keys.(*soft.Store).File().IssuerMasterKey(tsp.IMKName(tok.Number.Digits()))
		if err != nil {
			t.Fatal(err)
		}
		mk, _ := emv.MasterKey(emv.SM4, emv.OptionA, imk, tok.Number.Digits(), tok.PSN)
		sk, _ := emv.SessionKeyPBOC(emv.SM4, mk, []byte{0, byte(ar.KeyIndex)})
		want, _ := emv.ARPCMethod1(emv.SM4, sk, arqc, []byte("00"))
		tdes, _ := emv.ARPCMethod1(emv.TDES, sk, arqc, []byte("00"))
		if !bytes.Equal(got[:8], want) || bytes.Equal(got[:8], tdes) {
			t.Fatalf("ARPC %X, want the SM4 one %X (the TDES one would be %X)", got[:8], want, tdes)
		}
	})
}
