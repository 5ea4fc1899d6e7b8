package pkcs11_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/keystoretest"
	"github.com/tapwallet/tapwallet/keystore/pkcs11"
	"github.com/tapwallet/tapwallet/keystore/pkcs11/pkcs11test"
	"github.com/tapwallet/tapwallet/keystore/soft"
)

// open makes a fresh SoftHSM2 token, opens it and generates its keys.
func open(t *testing.T, label string) *pkcs11.Store {
	t.Helper()
	uri := pkcs11test.Token(t, label)
	sm4, err := soft.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := pkcs11.OpenURI(context.Background(), uri, pkcs11.Options{SM4: sm4, Init: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	made, err := s.Init(context.Background())
	if err != nil || len(made) != 3 {
		t.Fatalf("init: %v, %v", made, err)
	}
	return s
}

// TestConformance runs the key-store conformance suite on a SoftHSM2
// token: the same published vectors, cryptograms, ARPCs and check values
// as the key file (TDES in the token, SM4 through the soft store).
func TestConformance(t *testing.T) {
	keystoretest.Run(t, open(t, "conformance"))
}

// TestStartErrors: a wrong PIN, a missing token, a token without keys, a
// missing module, no PIN, a PIN in the URI — each a clear error at start,
// never a panic or a store that falls back to the key file; no error text
// holds the PIN.
func TestStartErrors(t *testing.T) {
	uri := pkcs11test.Token(t, "errors")
	ctx := context.Background()
	mod := strings.TrimPrefix(strings.Split(uri, ";")[0], "pkcs11:module=")
	cases := []struct {
		name, uri, pin string
		kind           fault.Kind
		code, says     string
	}{
		{"wrong PIN", uri, "0000", fault.Unauthorized, "pkcs11_pin", "wrong PIN"},
		{"no PIN", uri, "", fault.Invalid, "pkcs11_pin", "holds no PIN"},
		{"missing token", strings.Replace(uri, "token=errors", "token=nosuch", 1), pkcs11test.PIN, fault.NotFound, "pkcs11_token", `no PKCS#11 token labelled "nosuch"`},
		{"no keys in the token", uri, pkcs11test.PIN, fault.NotFound, keystore.CodeKeyMissing, "tapwallet keys init"},
		{"missing module", "pkcs11:module=/nonexistent/libp11.so;token=errors;pin-env=" + pkcs11test.PINEnv, pkcs11test.PIN, fault.Unavailable, "pkcs11_module", "/nonexistent/libp11.so"},
		{"PIN in the URI", uri + ";pin-value=" + pkcs11test.PIN, pkcs11test.PIN, fault.Invalid, "keys_uri", "must not carry the PIN"},
		{"no module", "pkcs11:token=errors;pin-env=X", pkcs11test.PIN, fault.Invalid, "keys_uri", "needs module="},
		{"not pkcs11", "file:keys.json", pkcs11test.PIN, fault.Invalid, "keys_uri", "pkcs11:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(pkcs11test.PINEnv, c.pin)
			s, err := pkcs11.OpenURI(ctx, c.uri, pkcs11.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !fault.Has(err, c.kind, c.code) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("got %v, want %s %s saying %q", err, c.kind, c.code, c.says)
			}
			if strings.Contains(err.Error(), pkcs11test.PIN) {
				t.Errorf("the error shows the PIN: %v", err)
			}
		})
	}
	// The right PIN after all that still opens (a wrong PIN did not lock it).
	t.Setenv(pkcs11test.PINEnv, pkcs11test.PIN)
	s, err := pkcs11.OpenURI(ctx, uri, pkcs11.Options{Init: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_ = mod
}

// TestSecondStoreSeesRotation: a store opened on the same token sees a
// key another made (as serve does after tapwallet keys rotate).
func TestSecondStoreSeesRotation(t *testing.T) {
	a := open(t, "shared")
	ctx := context.Background()
	uri := "pkcs11:module=" + pkcs11test.Module(t) + ";token=shared;pin-env=" + pkcs11test.PINEnv
	b, err := pkcs11.OpenURI(ctx, uri, pkcs11.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sealed, err := b.Seal(ctx, []byte("6222020000000004"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Rotate(ctx, keystore.Master)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := a.Seal(ctx, []byte("6222020000000004"), nil)
	if err != nil || keystore.SealedKeyID(fresh) != id {
		t.Fatalf("seal after rotation: %v under %s, want %s", err, keystore.SealedKeyID(fresh), id)
	}
	for _, x := range [][]byte{sealed, fresh} {
		if got, err := b.Open(ctx, x, nil); err != nil || string(got) != "6222020000000004" {
			t.Errorf("the other store opens %s's seal: %q, %v", keystore.SealedKeyID(x), got, err)
		}
	}
}
