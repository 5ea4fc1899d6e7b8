package se

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

func sealBatch(t *testing.T, e *Element, token string, keys []luk) []byte {
	t.Helper()
	pub, err := devicekey.ParsePublic(e.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(batch{Token: token, Keys: keys})
	sealed, err := devicekey.Seal(pub, b, []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func TestKeysUsedOnceAndKeptSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "se.json")
	e, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k1 := bytes.Repeat([]byte{0x11}, 16)
	k2 := bytes.Repeat([]byte{0x22}, 16)
	old := bytes.Repeat([]byte{0x33}, 16)
	sealed := sealBatch(t, e, "6288010000000001", []luk{
		{Index: 1, Key: k1, ExpiresAt: now.Add(time.Hour).Unix()},
		{Index: 2, Key: k2, ExpiresAt: now.Add(time.Hour).Unix()},
		{Index: 3, Key: old, ExpiresAt: now.Add(-time.Hour).Unix()},
	})
	if _, err := e.InstallKeys("6288010000000002", sealed); !fault.Has(err, fault.Invalid, "bad_sealed_data") {
		t.Fatalf("batch for another token: got %v", err)
	}
	n, err := e.InstallKeys("6288010000000001", sealed)
	if err != nil || n != 2 {
		t.Fatalf("got %d keys, %v; want 2 unexpired", n, err)
	}
	data := []byte("0123456789ABCDEF")
	for i, want := range [][]byte{k1, k2} {
		u, err := e.Cryptogram("6288010000000001", emv.TDES, emv.PadMethod1, func(atc, idx int) ([]byte, error) {
			if atc != i+1 || idx != i+1 {
				t.Errorf("got atc %d key %d, want %d %d", atc, idx, i+1, i+1)
			}
			return data, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := emv.Cryptogram(emv.TDES, want, data, emv.PadMethod1)
		if !bytes.Equal(u.Cryptogram, exp) {
			t.Errorf("tap %d: cryptogram %X, want %X with key %d", i+1, u.Cryptogram, exp, i+1)
		}
	}
	if _, err := e.Cryptogram("6288010000000001", emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return data, nil }); !fault.Has(err, fault.Limit, "no_keys") {
		t.Fatalf("third tap: got %v, want no_keys (the third key has expired)", err)
	}
	// The state survives a restart, and used keys are gone from the file.
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k1))) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k2))) {
		t.Error("a used key is still in the secure element's file")
	}
	e2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Counter("6288010000000001") != 3 || !bytes.Equal(e2.PublicKey(), e.PublicKey()) {
		t.Errorf("after reopen: counter %d, same device key %v", e2.Counter("6288010000000001"), bytes.Equal(e2.PublicKey(), e.PublicKey()))
	}
	sealed2 := sealBatch(t, e2, "6288010000000001", []luk{{Index: 4, Key: k1, ExpiresAt: now.Add(time.Hour).Unix()}})
	if n, _ := e2.InstallKeys("6288010000000001", sealed2); n != 1 {
		t.Fatalf("got %d keys after a new batch, want 1", n)
	}
	if err := e2.Wipe("6288010000000001"); err != nil || e2.KeysLeft("6288010000000001") != 0 {
		t.Errorf("wipe left %d keys (%v)", e2.KeysLeft("6288010000000001"), err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("got mode %v, want 0600", st.Mode().Perm())
	}
}

// TestFirstFormatIsRead: a file in the first format (the whole state as one
// JSON document, keys inline) opens with its device key, counters, keys
// and applets, is written again in the current format, and its next tap
// uses the next key and leaves no used key's bytes behind.
func TestFirstFormatIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "se.json")
	e, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const token = "6288010000000001"
	k1, k2 := bytes.Repeat([]byte{0x41}, 16), bytes.Repeat([]byte{0x42}, 16)
	exp := time.Now().Add(time.Hour).Unix()
	old, _ := json.Marshal(state{DeviceKey: e.state.DeviceKey, Tokens: map[string]*tokenKeys{
		token: {ATC: 7, Keys: []luk{{Index: 8, Key: k1, ExpiresAt: exp}, {Index: 9, Key: k2, ExpiresAt: exp}}},
	}, Applets: map[string][]byte{"transit-x": []byte("purse")}})
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e2.PublicKey(), e.PublicKey()) || e2.Counter(token) != 8 || e2.KeysLeft(token) != 2 || string(e2.AppletData("transit-x")) != "purse" {
		t.Fatalf("got counter %d, %d keys, applet %q", e2.Counter(token), e2.KeysLeft(token), e2.AppletData("transit-x"))
	}
	raw, _ := os.ReadFile(path)
	if !bytes.HasPrefix(raw, []byte(`{"format":"`+formatV2+`"`)) {
		t.Errorf("the file was not written again in the current format: %.40q", raw)
	}
	u, err := e2.Cryptogram(token, emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return make([]byte, 16), nil })
	if err != nil || u.KeyIndex != 8 || u.ATC != 8 {
		t.Fatalf("tap: key %d counter %d (%v), want 8 and 8", u.KeyIndex, u.ATC, err)
	}
	raw, _ = os.ReadFile(path)
	if bytes.Contains(raw, k1) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k1))) {
		t.Error("the used key is still in the file")
	}
	if !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k2))) {
		t.Error("the unused key is not in the file")
	}
}

// TestClosedElement: an element used after Close fails with a clear error
// and answers reads from memory; the file opens again.
func TestClosedElement(t *testing.T) {
	e, path := newElementWithKeys(t, "6288010000000001", 2)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cryptogram("6288010000000001", emv.TDES, emv.PadMethod1, func(int, int) ([]byte, error) { return make([]byte, 16), nil }); !fault.Has(err, fault.Unavailable, "se_closed") {
		t.Errorf("tap after Close: got %v, want se_closed", err)
	}
	if n := e.KeysLeft("6288010000000001"); n != 2 {
		t.Errorf("KeysLeft after Close: %d, want 2 (from memory)", n)
	}
	e2, err := Open(path)
	if err != nil || e2.KeysLeft("6288010000000001") != 2 {
		t.Fatalf("reopen: %v", err)
	}
	e2.Close()
}
