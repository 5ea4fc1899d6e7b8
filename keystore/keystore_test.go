package keystore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
)

func TestSealOpenRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("got key file mode %v, want 0600", st.Mode().Perm())
	}
	secret := []byte("6222020000000004")
	sealed, err := f.Seal(secret, []byte("rec-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed data contains the plaintext")
	}
	if _, err := f.Open(sealed, []byte("rec-2")); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Errorf("open with another aad: got %v, want vault_integrity", err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := f.Open(tampered, []byte("rec-1")); err == nil {
		t.Error("tampered data opened")
	}
	if _, err := f.Open(sealed[:10], []byte("rec-1")); err == nil {
		t.Error("truncated data opened")
	}
	id, err := f.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id == "k1" || f.ActiveKeyID() != id {
		t.Fatalf("got active %s after rotate to %s", f.ActiveKeyID(), id)
	}
	// Reopen from disk: old data still opens, new data uses the new key.
	g, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Open(sealed, []byte("rec-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open after rotate: got %q, %v", got, err)
	}
	s2, _ := g.Seal(secret, nil)
	if string(s2[2:2+len(id)]) != id {
		t.Errorf("new seal uses key %q, want %q", s2[2:2+len(id)], id)
	}
	if !bytes.Equal(f.Index("pan", secret), g.Index("pan", secret)) {
		t.Error("index changed across reopen")
	}
	if bytes.Equal(g.Index("pan", secret), g.Index("other", secret)) {
		t.Error("index does not separate purposes")
	}
	k1, _ := g.IssuerMasterKey("6288-01")
	k2, _ := g.IssuerMasterKey("6288-02")
	if len(k1) != 16 || bytes.Equal(k1, k2) {
		t.Errorf("IMKs: got %d bytes, equal=%v", len(k1), bytes.Equal(k1, k2))
	}
}

func TestBrokenKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := OpenFile(path); !fault.Has(err, fault.Invalid, "keyfile") {
		t.Errorf("got %v, want keyfile error", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{not json" {
		t.Error("a broken key file was overwritten")
	}
}
