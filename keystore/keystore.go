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
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/hkdf"

	"github.com/tapwallet/tapwallet/fault"
)

// Keys is the old, context-free view of a key store — seal, open and
// keyed hashes — for the parties that have not moved to Store (the switch's
// record sealing, the portal, the network–issuer secret). *File has it;
// Plain gives it for any Store. No key leaves through it.
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
	// Indexes returns the keyed hash of data under every index key held,
	// Index's first: what was indexed before a rotation of the index key
	// is found by one of them.
	Indexes(purpose string, data []byte) [][]byte
}

// File is a Keys kept in a JSON key file (mode 0600). Every key has an
// id: the vault's master keys (k1, k2, …), the index keys (i1, …) and the
// EMV roots (r1, …); a rotation adds a key and makes it active, and the old
// ones stay for what was made with them (docs/keys.md). A File notices a
// rotation made by another process (tapwallet keys rotate) within a second
// and at once when it meets a key id it does not hold.
type File struct {
	mu      sync.RWMutex
	path    string
	active  string            // the master key Seal uses
	masters map[string]Secret // vault master keys by id
	idxAct  string            // the index key Index uses
	indexes map[string]Secret // index keys by id
	emvAct  string            // the EMV root new token ranges would use
	roots   map[string]Secret // EMV roots by id; r1 derives every key named without an id
	imks    map[string]Secret // issuer master keys imported at a key ceremony, by name
	aeads   sync.Map          // master key id → its cipher.AEAD, made once (safe for concurrent use)

	stamp   fileStamp    // the key file as last read
	checked atomic.Int64 // unix nanoseconds of the last look at the file
}

var _ Keys = (*File)(nil)

// fileJSON is the key file. Version 1 files had one index key (index_key)
// and one EMV root (emv_root): they read as i1 and r1.
type fileJSON struct {
	Version     int               `json:"version"`
	Active      string            `json:"active"`
	Masters     map[string]string `json:"masters"`
	Index       string            `json:"index_key,omitempty"`
	EMVRoot     string            `json:"emv_root,omitempty"`
	IndexActive string            `json:"index_active,omitempty"`
	IndexKeys   map[string]string `json:"index_keys,omitempty"`
	EMVActive   string            `json:"emv_active,omitempty"`
	EMVRoots    map[string]string `json:"emv_roots,omitempty"`
	Imported    map[string]string `json:"imported_imks,omitempty"` // keys import --kind imk
	Role        string            `json:"role,omitempty"`          // set in a party's key file (see Export)
}

// OpenFile loads the key file at path, creating it with fresh random keys if
// it does not exist. It fails if the file exists but is unreadable,
// malformed, readable by others than its owner, or a party's key file
// (those open with OpenParty); it is never overwritten then.
func OpenFile(path string) (*File, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		f := &File{path: path, active: "k1", masters: map[string]Secret{"k1": NewSecret(random(32))},
			idxAct: "i1", indexes: map[string]Secret{"i1": NewSecret(random(32))}, emvAct: "r1", roots: map[string]Secret{"r1": NewSecret(random(32))}}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "keyfile", "create key folder")
		}
		if err := f.save(true); err != nil {
			return nil, err
		}
		f.stamp, _ = stampOf(path)
		return f, nil
	}
	f := &File{path: path}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// load (re)reads the key file into f. Keys already held stay: a key id
// never changes its key.
func (f *File) load() error {
	st, b, err := readPrivate(f.path)
	if err != nil {
		return err
	}
	var j fileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fault.E(fault.Invalid, "keyfile", "key file %s is not valid JSON", f.path)
	}
	if j.Role != "" {
		return fault.E(fault.Invalid, "keyfile", "key file %s holds only the keys of a %s, not the platform's", f.path, j.Role)
	}
	if j.IndexKeys == nil && j.Index != "" {
		j.IndexActive, j.IndexKeys = "i1", map[string]string{"i1": j.Index}
	}
	if j.EMVRoots == nil && j.EMVRoot != "" {
		j.EMVActive, j.EMVRoots = "r1", map[string]string{"r1": j.EMVRoot}
	}
	masters, err := hexKeys(j.Masters, 32, "master key")
	if err != nil {
		return err
	}
	indexes, err := hexKeys(j.IndexKeys, 32, "index key")
	if err != nil {
		return err
	}
	roots, err := hexKeys(j.EMVRoots, 32, "EMV root")
	if err != nil {
		return err
	}
	imks, err := hexKeys(j.Imported, 16, "imported issuer master key")
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what, id string
		in       map[string]Secret
	}{{"master key", j.Active, masters}, {"index key", j.IndexActive, indexes}, {"EMV root", j.EMVActive, roots}} {
		if _, ok := c.in[c.id]; !ok {
			return fault.E(fault.Invalid, "keyfile", "key file: active %s %q is missing", c.what, c.id)
		}
	}
	if _, ok := roots["r1"]; !ok {
		return fault.E(fault.Invalid, "keyfile", "key file: EMV root r1 is missing")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active, f.masters, f.idxAct, f.indexes, f.emvAct, f.roots, f.imks = j.Active, masters, j.IndexActive, indexes, j.EMVActive, roots, imks
	f.stamp = st
	return nil
}

// hexKeys decodes a map of hex keys of n bytes each.
func hexKeys(in map[string]string, n int, what string) (map[string]Secret, error) {
	out := make(map[string]Secret, len(in))
	for id, h := range in {
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != n || id == "" || len(id) > 32 {
			return nil, fault.E(fault.Invalid, "keyfile", "key file: %s %.32q must be %d bytes of hex", what, id, n)
		}
		out[id] = NewSecret(k)
		clear(k)
	}
	return out, nil
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic("keystore: no random source: " + err.Error())
	}
	return b
}

func (f *File) save(create bool) error {
	j := fileJSON{Version: 2, Active: f.active, Masters: hexMap(f.masters), IndexActive: f.idxAct, IndexKeys: hexMap(f.indexes),
		EMVActive: f.emvAct, EMVRoots: hexMap(f.roots)}
	if len(f.imks) > 0 {
		j.Imported = hexMap(f.imks)
	}
	b, _ := json.MarshalIndent(j, "", "  ")
	return writePrivate(f.path, b, create)
}

func hexMap(m map[string]Secret) map[string]string {
	out := make(map[string]string, len(m))
	for id, k := range m {
		out[id] = hex.EncodeToString(k.Reveal())
	}
	return out
}

// writePrivate writes a key file with mode 0600: created exclusively, or
// replaced whole (a temporary file synced, then renamed over it).
func writePrivate(path string, b []byte, create bool) error {
	target := path
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if create {
		flags |= os.O_EXCL
	} else {
		target = path + ".tmp"
	}
	w, err := os.OpenFile(target, flags, 0o600)
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
	if err := w.Close(); err != nil {
		return fault.Wrap(err, fault.Unavailable, "keyfile", "write key file")
	}
	if create {
		return nil
	}
	if err := os.Rename(target, path); err != nil {
		return fault.Wrap(err, fault.Unavailable, "keyfile", "replace key file")
	}
	return nil
}

// ActiveKeyID names the master key Seal uses.
func (f *File) ActiveKeyID() string {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.active
}

const sealVersion = 1

// Seal: version(1) | len(keyID)(1) | keyID | wrapNonce(12) | wrappedDEK(48) | nonce(12) | ciphertext+tag.
func (f *File) Seal(plaintext, aad []byte) ([]byte, error) {
	f.refresh()
	f.mu.RLock()
	id, mk := f.active, f.masters[f.active]
	f.mu.RUnlock()
	// One read of the random source gives the data key and both nonces;
	// the value is built in one buffer of its final size.
	rnd := random(32 + 12 + 12)
	defer clear(rnd)
	dek, wrapNonce, nonce := rnd[:32], rnd[32:44], rnd[44:]
	out := sealHead(id, len(plaintext))
	out = append(out, wrapNonce...)
	m := f.masterGCM(id, mk)
	out = m.Seal(out, wrapNonce, dek, m.id)
	out = append(out, nonce...)
	return gcm(dek).Seal(out, nonce, plaintext, aad), nil
}

// sealHead is a sealed value's first bytes (version, key id), in a buffer
// with room for the rest of a value sealing n bytes.
func sealHead(id string, n int) []byte {
	out := make([]byte, 0, 2+len(id)+12+48+12+n+16)
	out = append(out, sealVersion, byte(len(id)))
	return append(out, id...)
}

// Open reverses Seal.
func (f *File) Open(sealed, aad []byte) ([]byte, error) {
	p, dek, err := f.unwrap(sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	return p.OpenWith(dek, aad)
}

// unwrap opens a sealed value's data key with its master key.
func (f *File) unwrap(sealed []byte) (Sealed, []byte, error) {
	p, err := ParseSealed(sealed)
	if err != nil {
		return p, nil, err
	}
	mk := f.master(p.KeyID)
	if mk.IsZero() {
		// Rotated by another process since we read the file? Read it again.
		f.reload()
		mk = f.master(p.KeyID)
	}
	if mk.IsZero() {
		return p, nil, fault.E(fault.Internal, "vault_key_unknown", "sealed under master key %q, which this key store does not hold", p.KeyID)
	}
	m := f.masterGCM(p.KeyID, mk)
	dek, err := m.Open(nil, p.WrapNonce, p.Wrapped, m.id)
	if err != nil {
		return p, nil, errDamaged
	}
	return p, dek, nil
}

var errDamaged = fault.E(fault.Internal, "vault_integrity", "sealed data is damaged or was sealed for another record")

// Sealed is a sealed value taken apart: which master key wrapped its data
// key, the wrapping, and the card number's own ciphertext.
type Sealed struct {
	KeyID     string
	WrapNonce []byte // 12 bytes
	Wrapped   []byte // the data key under AES-256-GCM, aad = KeyID (48 bytes)
	body      []byte // nonce(12) | ciphertext+tag
}

// ParseSealed takes a sealed value apart (fault.Internal
// "vault_integrity" for one that is not).
func ParseSealed(sealed []byte) (Sealed, error) {
	id, rest, err := splitSealed(sealed)
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{KeyID: id, WrapNonce: rest[:12], Wrapped: rest[12:60], body: rest[60:]}, nil
}

// SealWith builds a sealed value: the data key dek wrapped (by a key
// store) under master key id, and plaintext encrypted under dek.
func SealWith(id string, wrapNonce, wrapped, dek, plaintext, aad []byte) ([]byte, error) {
	if len(id) == 0 || len(id) > 255 || len(wrapNonce) != 12 || len(wrapped) != 48 {
		return nil, fault.E(fault.Internal, "seal", "bad data key wrapping")
	}
	nonce := random(12)
	out := sealHead(id, len(plaintext))
	out = append(out, wrapNonce...)
	out = append(out, wrapped...)
	out = append(out, nonce...)
	return gcm(dek).Seal(out, nonce, plaintext, aad), nil
}

// OpenWith opens the sealed card number with its unwrapped data key.
func (p Sealed) OpenWith(dek, aad []byte) ([]byte, error) {
	return p.OpenBy(gcm(dek), aad)
}

// OpenBy opens the sealed card number with its data key's AEAD
// (DataAEAD).
func (p Sealed) OpenBy(a cipher.AEAD, aad []byte) ([]byte, error) {
	pt, err := a.Open(nil, p.body[:12], p.body[12:], aad)
	if err != nil {
		return nil, errDamaged
	}
	return pt, nil
}

// DataAEAD is the AEAD (AES-256-GCM) of a sealed value's data key.
func DataAEAD(dek []byte) cipher.AEAD { return gcm(dek) }

// AppendDataKeyRef appends what names the sealed value's data key as it
// was wrapped — the master key's id, the wrapping's nonce and the wrapped
// key; unique to the value (its data key is fresh) and no secret — to
// dst: for a key store that keeps the data keys of values it opens often.
func (p Sealed) AppendDataKeyRef(dst []byte) []byte {
	dst = append(dst, p.KeyID...)
	dst = append(dst, p.WrapNonce...)
	return append(dst, p.Wrapped...)
}

// DataKey opens a sealed value's data key with its master key (reading
// the key file again for a master key it does not hold): the value taken
// apart, and the key, which the caller wipes. It fails like Open.
func (f *File) DataKey(sealed []byte) (Sealed, Secret, error) {
	p, dek, err := f.unwrap(sealed)
	if err != nil {
		return p, Secret{}, err
	}
	k := NewSecret(dek)
	clear(dek)
	return p, k, nil
}

// Rewrapped is the sealed value with its data key wrapped anew (under
// master key id); the card number's ciphertext is untouched.
func (p Sealed) Rewrapped(id string, wrapNonce, wrapped []byte) []byte {
	out := []byte{sealVersion, byte(len(id))}
	out = append(out, id...)
	out = append(out, wrapNonce...)
	out = append(out, wrapped...)
	return append(out, p.body...)
}

// masterAEAD is a master key's AEAD, with the key's id as bytes: the aad
// of the data keys it wraps.
type masterAEAD struct {
	cipher.AEAD
	id []byte
}

// masterGCM returns the AEAD of master key id (whose bytes are mk), made
// once: a master key never changes under its id.
func (f *File) masterGCM(id string, mk Secret) masterAEAD {
	if a, ok := f.aeads.Load(id); ok {
		return a.(masterAEAD)
	}
	a := masterAEAD{gcm(mk.Reveal()), []byte(id)}
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

// Index returns HMAC-SHA-256(active index key, purpose || 0 || data).
func (f *File) Index(purpose string, data []byte) []byte {
	f.refresh()
	f.mu.RLock()
	k := f.indexes[f.idxAct]
	f.mu.RUnlock()
	return hmacIndex(k, purpose, data)
}

// Indexes returns the keyed hash of data under every index key the store
// holds, the active key's first: a record indexed before a rotation of the
// index key is found by one of them.
func (f *File) Indexes(purpose string, data []byte) [][]byte {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := [][]byte{hmacIndex(f.indexes[f.idxAct], purpose, data)}
	for _, id := range sortedIDs(f.indexes) {
		if id != f.idxAct {
			out = append(out, hmacIndex(f.indexes[id], purpose, data))
		}
	}
	return out
}

func hmacIndex(key Secret, purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, key.Reveal())
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// IssuerMasterKey returns the issuer master key imported under name (keys
// import --kind imk), or derives a 16-byte double-length TDES key for name from
// EMV root r1 with HKDF-SHA-256, DES parity adjusted. A name of the form
// "rN/name" derives from root rN instead (what a token range made after a
// rotation of the root would ask for; docs/keys.md). It fails with
// fault.Invalid for an empty name and fault.NotFound for a root the store
// does not hold.
func (f *File) IssuerMasterKey(name string) ([]byte, error) {
	rootID, rest := "r1", name
	if i := strings.IndexByte(name, '/'); i > 0 {
		rootID, rest = name[:i], name[i+1:]
	}
	if rest == "" {
		return nil, fault.E(fault.Invalid, "imk_name", "issuer master key needs a range name")
	}
	f.mu.RLock()
	imp := f.imks[name]
	f.mu.RUnlock()
	if !imp.IsZero() {
		return append([]byte(nil), imp.Reveal()...), nil
	}
	f.mu.RLock()
	root := f.roots[rootID]
	f.mu.RUnlock()
	if root.IsZero() {
		f.reload()
		f.mu.RLock()
		root = f.roots[rootID]
		f.mu.RUnlock()
	}
	if root.IsZero() {
		return nil, fault.E(fault.NotFound, "imk_root", "EMV root %.32q is not in this key store", rootID)
	}
	return deriveIMK(root.Reveal(), rest)
}

func deriveIMK(root []byte, name string) ([]byte, error) {
	k := make([]byte, 16)
	if _, err := io.ReadFull(hkdf.New(sha256.New, root, nil, []byte("tapwallet imk "+name)), k); err != nil {
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
