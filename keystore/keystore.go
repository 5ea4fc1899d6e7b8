// Package keystore is where tapwallet's platform keys live: the master keys
// that wrap the envelope keys of the PAN vault (AES-256-GCM), the key of the
// keyed hash that finds a PAN again without decrypting, and the network's
// issuer master keys (IMK) for the token ranges. Callers use the Keys
// interface; File keeps the keys in a key file in the data folder (created on
// first start), and an HSM through PKCS#11 can implement the same interface.
package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/crypto/hkdf"

	"github.com/tapwallet/tapwallet/fault"
)

// Keys is the key-store interface: keys go in at creation, and only results
// (ciphertexts, plaintexts for the vault, hashes) come out — except the EMV
// issuer master keys, which the token service's software cryptography needs
// (an HSM would derive card keys inside instead).
type Keys interface {
	// Seal encrypts plaintext under a fresh data key wrapped by the active
	// master key; aad is bound to the ciphertext. It fails only on a broken
	// random source.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open decrypts what Seal returned, with any master key still in the
	// store. It fails with fault.Internal if the data or aad were altered or
	// the master key is unknown.
	Open(sealed, aad []byte) ([]byte, error)
	// Index returns a keyed hash (HMAC-SHA-256) of data for one purpose, to
	// find a record by a secret without storing the secret.
	Index(purpose string, data []byte) []byte
	// IssuerMasterKey returns the 16-byte EMV issuer master key for a named
	// range (e.g. a token BIN range).
	IssuerMasterKey(name string) ([]byte, error)
	// ActiveKeyID names the master key that Seal uses now.
	ActiveKeyID() string
}

// File is a Keys kept in a JSON key file (mode 0600).
type File struct {
	mu      sync.RWMutex
	path    string
	active  string
	masters map[string][]byte
	index   []byte
	emvRoot []byte
	aeads   sync.Map // master key id → its cipher.AEAD, made once (safe for concurrent use)
}

var _ Keys = (*File)(nil)

type fileJSON struct {
	Version int               `json:"version"`
	Active  string            `json:"active"`
	Masters map[string]string `json:"masters"`
	Index   string            `json:"index_key"`
	EMVRoot string            `json:"emv_root"`
}

// OpenFile loads the key file at path, creating it with fresh random keys if
// it does not exist. It fails if the file exists but is unreadable or
// malformed (it is never overwritten then).
func OpenFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f := &File{path: path, masters: map[string][]byte{}}
		f.index = random(32)
		f.emvRoot = random(32)
		f.active = "k1"
		f.masters["k1"] = random(32)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "keyfile", "create key folder")
		}
		if err := f.save(true); err != nil {
			return nil, err
		}
		return f, nil
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "keyfile", "read key file")
	}
	var j fileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fault.E(fault.Invalid, "keyfile", "key file %s is not valid JSON", path)
	}
	f := &File{path: path, active: j.Active, masters: map[string][]byte{}}
	for id, h := range j.Masters {
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != 32 {
			return nil, fault.E(fault.Invalid, "keyfile", "key file: master key %q must be 32 bytes of hex", id)
		}
		f.masters[id] = k
	}
	if f.index, err = hex.DecodeString(j.Index); err != nil || len(f.index) != 32 {
		return nil, fault.E(fault.Invalid, "keyfile", "key file: index_key must be 32 bytes of hex")
	}
	if f.emvRoot, err = hex.DecodeString(j.EMVRoot); err != nil || len(f.emvRoot) != 32 {
		return nil, fault.E(fault.Invalid, "keyfile", "key file: emv_root must be 32 bytes of hex")
	}
	if _, ok := f.masters[f.active]; !ok {
		return nil, fault.E(fault.Invalid, "keyfile", "key file: active master key %q is missing", f.active)
	}
	return f, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic("keystore: no random source: " + err.Error())
	}
	return b
}

func (f *File) save(create bool) error {
	j := fileJSON{Version: 1, Active: f.active, Masters: map[string]string{}, Index: hex.EncodeToString(f.index), EMVRoot: hex.EncodeToString(f.emvRoot)}
	for id, k := range f.masters {
		j.Masters[id] = hex.EncodeToString(k)
	}
	b, _ := json.MarshalIndent(j, "", "  ")
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if create {
		flags |= os.O_EXCL
	}
	tmp := f.path + ".tmp"
	if !create {
		w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fault.Wrap(err, fault.Unavailable, "keyfile", "write key file")
		}
		if _, err := w.Write(b); err != nil {
			w.Close()
			return fault.Wrap(err, fault.Unavailable, "keyfile", "write key file")
		}
		if err := w.Sync(); err != nil {
			w.Close()
			return fault.Wrap(err, fault.Unavailable, "keyfile", "sync key file")
		}
		w.Close()
		return os.Rename(tmp, f.path)
	}
	w, err := os.OpenFile(f.path, flags, 0o600)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "keyfile", "create key file")
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return fault.Wrap(err, fault.Unavailable, "keyfile", "write key file")
	}
	return w.Sync()
}

// Rotate adds a new master key and makes it active; data sealed under older
// keys still opens. It returns the new key id.
func (f *File) Rotate() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.masters))
	for id := range f.masters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	id := fmt.Sprintf("k%d", len(ids)+1)
	for f.masters[id] != nil {
		id += "x"
	}
	f.masters[id] = random(32)
	old := f.active
	f.active = id
	if err := f.save(false); err != nil {
		delete(f.masters, id)
		f.active = old
		return "", err
	}
	return id, nil
}

// ActiveKeyID names the master key Seal uses.
func (f *File) ActiveKeyID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.active
}

const sealVersion = 1

// Seal: version(1) | len(keyID)(1) | keyID | wrapNonce(12) | wrappedDEK(48) | nonce(12) | ciphertext+tag.
func (f *File) Seal(plaintext, aad []byte) ([]byte, error) {
	f.mu.RLock()
	id, mk := f.active, f.masters[f.active]
	f.mu.RUnlock()
	dek := random(32)
	defer clear(dek)
	wrapNonce := random(12)
	wrapped := f.masterGCM(id, mk).Seal(nil, wrapNonce, dek, []byte(id))
	nonce := random(12)
	out := []byte{sealVersion, byte(len(id))}
	out = append(out, id...)
	out = append(out, wrapNonce...)
	out = append(out, wrapped...)
	out = append(out, nonce...)
	out = gcm(dek).Seal(out, nonce, plaintext, aad)
	return out, nil
}

// Open reverses Seal.
func (f *File) Open(sealed, aad []byte) ([]byte, error) {
	bad := fault.E(fault.Internal, "vault_integrity", "sealed data is damaged or was sealed for another record")
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return nil, bad
	}
	n := int(sealed[1])
	rest := sealed[2:]
	if len(rest) < n+12+48+12+16 {
		return nil, bad
	}
	id := string(rest[:n])
	rest = rest[n:]
	f.mu.RLock()
	mk := f.masters[id]
	f.mu.RUnlock()
	if mk == nil {
		return nil, fault.E(fault.Internal, "vault_key_unknown", "sealed under master key %q, which this key store does not hold", id)
	}
	dek, err := f.masterGCM(id, mk).Open(nil, rest[:12], rest[12:60], []byte(id))
	if err != nil {
		return nil, bad
	}
	defer clear(dek)
	pt, err := gcm(dek).Open(nil, rest[60:72], rest[72:], aad)
	if err != nil {
		return nil, bad
	}
	return pt, nil
}

// masterGCM returns the AEAD of master key id (whose bytes are mk), made
// once: a master key never changes under its id.
func (f *File) masterGCM(id string, mk []byte) cipher.AEAD {
	if a, ok := f.aeads.Load(id); ok {
		return a.(cipher.AEAD)
	}
	a := gcm(mk)
	f.aeads.Store(id, a)
	return a
}

func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("keystore: bad key length") // keys are made here, always 32 bytes
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("keystore: gcm: " + err.Error())
	}
	return a
}

// Index returns HMAC-SHA-256(index key, purpose || 0 || data).
func (f *File) Index(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, f.index)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// IssuerMasterKey derives a 16-byte double-length TDES key for name from the
// EMV root with HKDF-SHA-256, DES parity adjusted.
func (f *File) IssuerMasterKey(name string) ([]byte, error) {
	if name == "" {
		return nil, fault.E(fault.Invalid, "imk_name", "issuer master key needs a range name")
	}
	k := make([]byte, 16)
	if _, err := io.ReadFull(hkdf.New(sha256.New, f.emvRoot, nil, []byte("tapwallet imk "+name)), k); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "imk", "derive issuer master key")
	}
	for i, b := range k {
		p := b & 0xFE
		ones := 0
		for x := p; x != 0; x >>= 1 {
			ones += int(x & 1)
		}
		if ones%2 == 0 {
			p |= 1
		}
		k[i] = p
	}
	return k, nil
}
