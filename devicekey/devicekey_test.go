package devicekey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestSealOpenAndSign(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pub, err := ParsePublic(der)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(pub, []byte("luk batch"), []byte("token-1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(priv, sealed, []byte("token-1"))
	if err != nil || !bytes.Equal(got, []byte("luk batch")) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := Open(other, sealed, []byte("token-1")); !fault.Has(err, fault.Invalid, "bad_sealed_data") {
		t.Errorf("another key opened it: %v", err)
	}
	if _, err := Open(priv, sealed, []byte("token-2")); err == nil {
		t.Error("opened with the wrong aad")
	}
	msg := SigningString("POST", "/v1/phones/p1/cards", "1700000000", "n1", []byte(`{}`))
	sig, _ := Sign(priv, msg)
	if err := Verify(pub, msg, sig); err != nil {
		t.Errorf("good signature refused: %v", err)
	}
	msg2 := SigningString("POST", "/v1/phones/p1/cards", "1700000000", "n1", []byte(`{"x":1}`))
	if err := Verify(pub, msg2, sig); !fault.Has(err, fault.Unauthorized, "bad_signature") {
		t.Errorf("signature over another body accepted: %v", err)
	}
	if _, err := ParsePublic([]byte("junk")); !fault.Has(err, fault.Invalid, "bad_device_key") {
		t.Errorf("junk key: got %v", err)
	}
}
