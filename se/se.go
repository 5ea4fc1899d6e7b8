// Package se is the phone's secure element, emulated: it makes and keeps the
// device key pair, opens the limited-use key batches sealed to it, and makes
// cryptograms with them. Keys go in, signatures and cryptograms come out;
// no method returns a key. Its state lives in one file of the phone's
// profile folder (mode 0600), written atomically before any result that
// depends on it leaves, so a used limited-use key is never used twice.
// Every change is a read-modify-write of that file under its lock (flock),
// so two processes using one profile at once lose no key and never use
// one key twice.
package se

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// Element is an emulated secure element.
type Element struct {
	mu    sync.Mutex
	path  string
	priv  *ecdsa.PrivateKey
	state state
	raw   []byte // the file as last read or written; nil forces a read
	now   func() time.Time
}

type luk struct {
	Index     int    `json:"index"`
	Key       []byte `json:"key"`
	ExpiresAt int64  `json:"expires_at"`
}

type tokenKeys struct {
	Keys []luk `json:"keys"`
	ATC  int   `json:"atc"`
}

type state struct {
	DeviceKey []byte                `json:"device_key"` // PKCS#8
	Tokens    map[string]*tokenKeys `json:"tokens"`
	Applets   map[string][]byte     `json:"applets,omitempty"` // applet data (e.g. transit purses)
}

// Open loads the secure element kept at path, or makes a new one with a
// fresh device key (under the file's lock, so two processes starting at
// once make one). It fails if the file exists but cannot be read.
func Open(path string) (*Element, error) {
	e := &Element{path: path, now: time.Now}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "se_store", "create the profile folder")
	}
	unlock, err := Lock(path, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fault.Wrap(err, fault.Internal, "se_keygen", "make the device key")
		}
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		e.priv, e.state = priv, state{DeviceKey: der, Tokens: map[string]*tokenKeys{}}
		return e, e.save()
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "se_store", "read the secure element")
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(st.DeviceKey)
	priv, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, fault.E(fault.Invalid, "se_store", "the secure element's device key is damaged")
	}
	e.priv, e.state, e.raw = priv, st, b
	return e, nil
}

func decodeState(b []byte) (state, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fault.E(fault.Invalid, "se_store", "the secure element file is damaged")
	}
	if st.Tokens == nil {
		st.Tokens = map[string]*tokenKeys{}
	}
	return st, nil
}

// begin takes the element for one operation: its mutex, the file's lock
// (exclusive for a change) and the state as the file now holds it, which
// another process may have changed. The caller defers the returned
// release.
func (e *Element) begin(exclusive bool) (release func(), err error) {
	e.mu.Lock()
	unlock, err := Lock(e.path, exclusive)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	release = func() { unlock(); e.mu.Unlock() }
	if err := e.refresh(); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// look is begin for a read that cannot fail: on error it answers from the
// state in memory.
func (e *Element) look() (release func()) {
	if release, err := e.begin(false); err == nil {
		return release
	}
	e.mu.Lock()
	return e.mu.Unlock
}

// refresh reloads the state if the file changed since it was last read or
// written.
func (e *Element) refresh() error {
	b, err := os.ReadFile(e.path)
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "se_store", "read the secure element")
	}
	if e.raw != nil && bytes.Equal(b, e.raw) {
		return nil
	}
	st, err := decodeState(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(st.DeviceKey, e.state.DeviceKey) {
		return fault.E(fault.Invalid, "se_store", "the secure element file now holds another device key")
	}
	e.state, e.raw = st, b
	return nil
}

// SetClock replaces the clock (tests).
func (e *Element) SetClock(now func() time.Time) { e.now = now }

// save writes the state; the caller holds the exclusive lock. If it
// fails, the file keeps the state before the change, and the next
// operation reads it back, dropping the change in memory.
func (e *Element) save() error {
	b, err := json.Marshal(e.state)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "se_store", "encode the secure element")
	}
	if err := WriteFile(e.path, b, "se_store", "the secure element"); err != nil {
		e.raw = nil
		return err
	}
	e.raw = b
	return nil
}

// PublicKey returns the device public key (PKIX DER).
func (e *Element) PublicKey() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&e.priv.PublicKey)
	return der
}

// Sign signs msg with the device key (ASN.1 ECDSA over SHA-256).
func (e *Element) Sign(msg []byte) ([]byte, error) { return devicekey.Sign(e.priv, msg) }

// batch mirrors tsp.KeyBatch (kept separate: the SE does not import the server).
type batch struct {
	Token string `json:"token"`
	Keys  []luk  `json:"keys"`
}

// InstallKeys opens a key batch sealed to this element for token and adds
// its keys. It returns how many keys the token now has unused; it fails with
// fault.Invalid "bad_sealed_data" if the batch is not for this element or
// this token.
func (e *Element) InstallKeys(token string, sealed []byte) (int, error) {
	plain, err := devicekey.Open(e.priv, sealed, []byte(token))
	if err != nil {
		return 0, err
	}
	defer clear(plain)
	var b batch
	if err := json.Unmarshal(plain, &b); err != nil || b.Token != token {
		return 0, fault.E(fault.Invalid, "bad_sealed_data", "the key batch is not for this card")
	}
	release, err := e.begin(true)
	if err != nil {
		return 0, err
	}
	defer release()
	tk := e.state.Tokens[token]
	if tk == nil {
		tk = &tokenKeys{}
		e.state.Tokens[token] = tk
	}
	have := map[int]bool{}
	for _, k := range tk.Keys {
		have[k.Index] = true
	}
	for _, k := range b.Keys {
		if !have[k.Index] && len(k.Key) == emv.KeySize {
			tk.Keys = append(tk.Keys, k)
		}
	}
	sort.Slice(tk.Keys, func(i, j int) bool { return tk.Keys[i].Index < tk.Keys[j].Index })
	if err := e.save(); err != nil {
		return 0, err
	}
	return e.keysLeft(tk), nil
}

func (e *Element) keysLeft(tk *tokenKeys) int {
	n := 0
	now := e.now().Unix()
	for _, k := range tk.Keys {
		if k.ExpiresAt > now {
			n++
		}
	}
	return n
}

// KeysLeft returns how many unexpired, unused keys a token has.
func (e *Element) KeysLeft(token string) int {
	defer e.look()()
	tk := e.state.Tokens[token]
	if tk == nil {
		return 0
	}
	return e.keysLeft(tk)
}

// ErrNoKeys is returned when a token has no usable limited-use key left.
var ErrNoKeys = fault.E(fault.Limit, "no_keys", "no limited-use key left for this card: sync the phone")

// Counter returns the next application transaction counter for a token
// without using it.
func (e *Element) Counter(token string) int {
	defer e.look()()
	if tk := e.state.Tokens[token]; tk != nil {
		return tk.ATC + 1
	}
	return 1
}

// Use is one cryptogram made with one limited-use key.
type Use struct {
	ATC        int    // the transaction counter used
	KeyIndex   int    // the limited-use key's index
	Cryptogram []byte // 8 bytes
}

// Cryptogram takes the token's next counter and its oldest unused,
// unexpired limited-use key, computes the application cryptogram over data
// with alg (ISO 9797-1 MAC algorithm 3 / SM4 MAC, padding method 1 for
// qPBOC), destroys that key and saves the element before answering. The
// callback build receives the counter and the key index so the caller can
// place them in the data (ATC and IAD) before the MAC is taken. It fails
// with ErrNoKeys when no key is left.
func (e *Element) Cryptogram(token string, alg emv.Alg, pad emv.Padding, build func(atc, keyIndex int) ([]byte, error)) (Use, error) {
	release, err := e.begin(true)
	if err != nil {
		return Use{}, err
	}
	defer release()
	tk := e.state.Tokens[token]
	if tk == nil {
		return Use{}, ErrNoKeys
	}
	now := e.now().Unix()
	// Expired keys are destroyed as they are found.
	live := tk.Keys[:0]
	for _, k := range tk.Keys {
		if k.ExpiresAt > now {
			live = append(live, k)
		} else {
			clear(k.Key)
		}
	}
	tk.Keys = live
	if len(tk.Keys) == 0 {
		return Use{}, ErrNoKeys
	}
	k := tk.Keys[0]
	atc := tk.ATC + 1
	if atc > 0xFFFF {
		return Use{}, fault.E(fault.Limit, "atc_exhausted", "the card's transaction counter is exhausted")
	}
	data, err := build(atc, k.Index)
	if err != nil {
		return Use{}, err
	}
	ac, err := emv.Cryptogram(alg, k.Key, data, pad)
	if err != nil {
		return Use{}, fault.Wrap(err, fault.Internal, "se_crypto", "compute the cryptogram")
	}
	clear(k.Key)
	tk.Keys = tk.Keys[1:]
	tk.ATC = atc
	if err := e.save(); err != nil {
		return Use{}, err
	}
	return Use{ATC: atc, KeyIndex: k.Index, Cryptogram: ac}, nil
}

// Wipe destroys every key of a token (card removed, wallet switched off).
func (e *Element) Wipe(token string) error {
	release, err := e.begin(true)
	if err != nil {
		return err
	}
	defer release()
	if tk := e.state.Tokens[token]; tk != nil {
		for _, k := range tk.Keys {
			clear(k.Key)
		}
		tk.Keys = nil
	}
	return e.save()
}

// AppletData returns an applet's saved data (nil if none).
func (e *Element) AppletData(name string) []byte {
	defer e.look()()
	return append([]byte(nil), e.state.Applets[name]...)
}

// SetAppletData saves an applet's data atomically.
func (e *Element) SetAppletData(name string, data []byte) error {
	release, err := e.begin(true)
	if err != nil {
		return err
	}
	defer release()
	if e.state.Applets == nil {
		e.state.Applets = map[string][]byte{}
	}
	e.state.Applets[name] = append([]byte(nil), data...)
	return e.save()
}
