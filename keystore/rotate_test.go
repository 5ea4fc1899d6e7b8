package keystore

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

func TestKCV(t *testing.T) {
	tdes, _ := hex.DecodeString("0123456789ABCDEFFEDCBA9876543210") // the usual example: KCV 08D7B4
	for _, tc := range []struct {
		key  []byte
		want string
	}{{tdes, "08D7B4"}, {make([]byte, 32), "DC95C0"} /* FIPS-197 AES-256, zero key and block */, {make([]byte, 5), ""}} {
		if got := KCV(tc.key); got != tc.want {
			t.Errorf("KCV of %d-byte key: got %q, want %q", len(tc.key), got, tc.want)
		}
	}
}

// TestRotateEachKind rotates the master key, the index key and the EMV root
// in one process while another holds the same key file: the other sees
// each rotation (at once for a key id it meets, within a second for the
// active key), old seals open, old index hashes are found by Indexes, and
// keys derived without a root id do not change.
func TestRotateEachKind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenFile(path) // another process: serve while an operator rotates
	if err != nil {
		t.Fatal(err)
	}
	pan := []byte("6222020000000007")
	old, _ := b.Seal(pan, []byte("vault:p1"))
	oldIdx := b.Index("pan", pan)
	imk, _ := b.IssuerMasterKey("token-range-628801")
	before := a.List()

	for _, k := range []Kind{Master, IndexK, EMVRoot} {
		if _, err := a.RotateKind(k); err != nil {
			t.Fatal(err)
		}
	}
	id2, _ := a.RotateKind(Master)
	if id2 != "k3" {
		t.Errorf("second master rotation: got id %s, want k3", id2)
	}
	newSeal, _ := a.Seal(pan, []byte("vault:p2"))
	if SealedKeyID(newSeal) != "k3" {
		t.Errorf("seal after rotation names %q, want k3", SealedKeyID(newSeal))
	}
	// b opens a seal under a key it has never seen: it reads the file again.
	if got, err := b.Open(newSeal, []byte("vault:p2")); err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("other process: open after rotation: %q %v", got, err)
	}
	if got, err := a.Open(old, []byte("vault:p1")); err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("open of a seal made before two rotations: %q %v", got, err)
	}
	b.checked.Store(time.Now().Add(-2 * refreshEvery).UnixNano())
	if b.ActiveKeyID() != "k3" {
		t.Errorf("other process: active %s, want k3 after its refresh", b.ActiveKeyID())
	}
	if bytes.Equal(a.Index("pan", pan), oldIdx) {
		t.Error("index unchanged after rotating the index key")
	}
	idx := a.Indexes("pan", pan)
	if len(idx) != 2 || !bytes.Equal(idx[0], a.Index("pan", pan)) || !bytes.Equal(idx[1], oldIdx) {
		t.Errorf("Indexes: got %d hashes, want the new one then the old one", len(idx))
	}
	if got, _ := a.IssuerMasterKey("token-range-628801"); !bytes.Equal(got, imk) {
		t.Error("an issuer master key named without a root changed when the root rotated")
	}
	r2, err := a.IssuerMasterKey("r2/token-range-628801")
	if err != nil || bytes.Equal(r2, imk) {
		t.Errorf("root r2: got %v (same as r1: %v)", err, bytes.Equal(r2, imk))
	}
	if _, err := a.IssuerMasterKey("r9/token-range-628801"); !fault.Has(err, fault.NotFound, "imk_root") {
		t.Errorf("unknown root: got %v", err)
	}
	after := a.List()
	if len(after) != len(before)+4 {
		t.Errorf("listing: got %d keys, want %d", len(after), len(before)+4)
	}
	// The listing shows ids and check values, never a key.
	for _, k := range after {
		if len(k.KCV) != 6 {
			t.Errorf("%v: bad check value", k)
		}
		if strings.Contains(k.String(), hex.EncodeToString(a.masters["k1"].Reveal())) {
			t.Error("listing holds a key")
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file after rotation: mode %04o, want 0600", st.Mode().Perm())
	}
	// Rewrap: the data key goes under the active master key, the card
	// number's ciphertext stays, and it opens with its record's aad.
	rw, changed, err := a.Rewrap(old)
	if err != nil || !changed || SealedKeyID(rw) != "k3" {
		t.Fatalf("rewrap: changed %v key %q err %v", changed, SealedKeyID(rw), err)
	}
	if got, err := b.Open(rw, []byte("vault:p1")); err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("open of a rewrapped seal: %q %v", got, err)
	}
	if _, changed, _ := a.Rewrap(rw); changed {
		t.Error("rewrap of a seal under the active key changed it")
	}
}

// TestVersion1KeyFile: a key file of version 1 (one index key, one EMV
// root) reads as i1 and r1 with the same keys.
func TestVersion1KeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	k := strings.Repeat("ab", 32)
	os.WriteFile(path, []byte(`{"version":1,"active":"k1","masters":{"k1":"`+k+`"},"index_key":"`+k+`","emv_root":"`+k+`"}`), 0o600)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(k)
	if !bytes.Equal(f.Index("pan", []byte("x")), hmacIndex(NewSecret(key), "pan", []byte("x"))) {
		t.Error("version 1 index key not read as i1")
	}
	if _, err := f.RotateKind(IndexK); err != nil {
		t.Fatal(err)
	}
	g, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if h := g.Indexes("pan", []byte("x")); len(h) != 2 || !bytes.Equal(h[1], hmacIndex(NewSecret(key), "pan", []byte("x"))) {
		t.Error("after rotation the version 1 index key is lost")
	}
}

// TestPartyKeyFile: an export for a gate holds only the keys named, opens
// only as a party's file, and refuses to give any other key; the platform's
// file does not open as a party's, a party's not as the platform's, and a
// key file others can read opens as neither.
func TestPartyKeyFile(t *testing.T) {
	dir := t.TempDir()
	f, _ := OpenFile(filepath.Join(dir, "keys.json"))
	gatePath := filepath.Join(dir, "gate.json")
	names := []string{"transit-shanghai-purchase", "transit-shanghai-maintenance"}
	listed, err := f.Export(gatePath, "gate", "shanghai", names)
	if err != nil || len(listed) != 2 {
		t.Fatalf("export: %v %v", listed, err)
	}
	if _, err := f.Export(gatePath, "gate", "shanghai", names); !fault.Has(err, fault.Conflict, "export_exists") {
		t.Errorf("second export over the file: got %v, want export_exists", err)
	}
	raw, _ := os.ReadFile(gatePath)
	for _, k := range [][]byte{f.masters["k1"].Reveal(), f.indexes["i1"].Reveal(), f.roots["r1"].Reveal()} {
		if bytes.Contains(raw, []byte(hex.EncodeToString(k))) {
			t.Fatal("the gate's key file holds a platform key")
		}
	}
	p, err := OpenParty(gatePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		want, _ := f.IssuerMasterKey(n)
		if got, err := p.IssuerMasterKey(n); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %x %v, want the platform's key", n, got, err)
		}
	}
	for _, n := range []string{"transit-shanghai-load", "transit-shanghai-tac", "transit-beijing-purchase", "token-range-628801"} {
		if _, err := p.IssuerMasterKey(n); !fault.Has(err, fault.NotFound, "key_not_held") {
			t.Errorf("%s from a gate's file: got %v, want key_not_held", n, err)
		}
	}
	if _, err := OpenParty(filepath.Join(dir, "keys.json")); !fault.Has(err, fault.Invalid, "keyfile_platform") {
		t.Errorf("platform file as a party's: got %v", err)
	}
	if _, err := OpenFile(gatePath); !fault.Has(err, fault.Invalid, "keyfile") {
		t.Errorf("party file as the platform's: got %v", err)
	}
	os.Chmod(gatePath, 0o644)
	if _, err := OpenParty(gatePath); !fault.Has(err, fault.Forbidden, "keyfile_open") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable party file: got %v", err)
	}
	os.Chmod(filepath.Join(dir, "keys.json"), 0o640)
	if _, err := OpenFile(filepath.Join(dir, "keys.json")); !fault.Has(err, fault.Forbidden, "keyfile_open") {
		t.Errorf("group-readable platform file: got %v", err)
	}
}
