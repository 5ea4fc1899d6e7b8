// Package se is the phone's secure element, emulated: it makes and keeps the
// device key pair, opens the limited-use key batches sealed to it, and makes
// cryptograms with them. Keys go in, signatures and cryptograms come out;
// no method returns a key. Its state lives in one file of the phone's
// profile folder (mode 0600; the format is in file.go), made durable before
// any result that depends on it leaves, so a used limited-use key is never
// used twice: a tap or an applet's save changes only what it changed, in
// place (the used key's slot zeroed, a record appended, one fdatasync), and
// key installs, wipes and compactions write the whole file atomically. A
// used key's bytes are gone from the file when the tap answers. Every
// change is a read-modify-write of that file under its lock (flock), so two
// processes using one profile at once lose no key and never use one key
// twice.
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
	"syscall"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// Element is an emulated secure element.
type Element struct {
	mu    sync.Mutex
	path  string
	lock  *os.File // path+".lock", open for the element's life: flock(2) on it
	priv  *ecdsa.PrivateKey
	state state
	now   func() time.Time

	// The file as last read or written (format 2, file.go).
	f      dataFile // open on the file the state was read from
	ino    fileID   // its identity: another process's full write replaces it
	l      layout
	end    int64 // where the next record goes
	repair bool  // write the file whole at the next change
	loaded bool  // false forces a read
}

type luk struct {
	Index     int    `json:"index"`
	Key       []byte `json:"key"`
	ExpiresAt int64  `json:"expires_at"`
	slot      int    // its slot in the file; -1 if none
}

type tokenKeys struct {
	Keys []luk `json:"keys"`
	ATC  int   `json:"atc"`
}

// state is what the element keeps (in the first file format, as one JSON
// document; see file.go for the format written now).
type state struct {
	DeviceKey []byte                `json:"device_key"` // PKCS#8
	Tokens    map[string]*tokenKeys `json:"tokens"`
	Applets   map[string][]byte     `json:"applets,omitempty"` // applet data (e.g. transit purses)
}

// Open loads the secure element kept at path, or makes a new one with a
// fresh device key (under the file's lock, so two processes starting at
// once make one). It fails if the file exists but cannot be read. A file
// a power cut left with a torn change, or in the first format, is
// written whole again before Open returns.
func Open(path string) (*Element, error) {
	e := &Element{path: path, now: time.Now}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "se_store", "create the profile folder")
	}
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "lock", "lock %s", filepath.Base(path))
	}
	e.lock = lf
	if err := e.flock(syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, err
	}
	defer e.flock(syscall.LOCK_UN)
	err = e.load()
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
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(e.state.DeviceKey)
	priv, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, fault.E(fault.Invalid, "se_store", "the secure element's device key is damaged")
	}
	e.priv = priv
	if e.repair {
		if err := e.save(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Close releases the element's open files (its state file and its lock
// file). Operations after it fail with fault.Unavailable "se_closed"
// (reads answer from memory). It returns the first error of closing them.
func (e *Element) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.f != nil {
		err = e.f.Close()
		e.f, e.loaded = nil, false
	}
	if e.lock != nil {
		if cerr := e.lock.Close(); err == nil {
			err = cerr
		}
		e.lock = nil
	}
	return err
}

// flock takes or releases the element's file lock, waiting for it.
func (e *Element) flock(how int) error {
	if e.lock == nil {
		return fault.E(fault.Unavailable, "se_closed", "the secure element is closed")
	}
	for {
		err := syscall.Flock(int(e.lock.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return fault.Wrap(err, fault.Unavailable, "lock", "lock %s", filepath.Base(e.path))
			}
			return nil
		}
	}
}

// load reads the whole file into the element. It returns an error
// satisfying errors.Is(err, os.ErrNotExist) if there is none.
func (e *Element) load() error {
	e.loaded = false
	f, err := openData(e.path)
	if errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "se_store", "read the secure element")
	}
	fi, err := f.Stat()
	var b []byte
	if err == nil {
		b = make([]byte, fi.Size())
		_, err = f.ReadAt(b, 0)
	}
	if err != nil {
		f.Close()
		return fault.Wrap(err, fault.Unavailable, "se_store", "read the secure element")
	}
	d, err := decode(b)
	clear(b)
	if err != nil {
		f.Close()
		return err
	}
	if e.state.DeviceKey != nil && !bytes.Equal(d.st.DeviceKey, e.state.DeviceKey) {
		f.Close()
		return fault.E(fault.Invalid, "se_store", "the secure element file now holds another device key")
	}
	if e.f != nil {
		e.f.Close()
	}
	e.f, e.ino = f, idOf(fi)
	e.state, e.l, e.end, e.repair, e.loaded = d.st, d.l, d.end, d.repair, true
	return nil
}

// begin takes the element for one operation: its mutex, the file's lock
// (exclusive for a change) and the state as the file now holds it, which
// another process may have changed. The caller defers the returned
// release.
func (e *Element) begin(exclusive bool) (release func(), err error) {
	e.mu.Lock()
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := e.flock(how); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	release = func() { e.flock(syscall.LOCK_UN); e.mu.Unlock() }
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
// written: another process wrote it whole (it is another file now) or
// appended a record (the byte where the next record goes is no longer
// zero). Every change another process makes does one or the other.
func (e *Element) refresh() error {
	if e.loaded {
		fi, err := os.Stat(e.path)
		if err == nil && idOf(fi) == e.ino {
			if e.end >= e.l.logEnd {
				return nil
			}
			var c [1]byte
			if _, err := e.f.ReadAt(c[:], e.end); err == nil && c[0] == 0 {
				return nil
			}
		}
	}
	return e.load()
}

// SetClock replaces the clock (tests).
func (e *Element) SetClock(now func() time.Time) { e.now = now }

// save writes the whole state atomically (WriteFile) and opens the new
// file for the changes that follow; the caller holds the exclusive lock.
// If it fails, the file keeps the state before the change, and the next
// operation reads it back, dropping the change in memory.
func (e *Element) save() error {
	b, l, err := encode(&e.state)
	if err != nil {
		e.loaded = false
		return err
	}
	err = WriteFile(e.path, b, "se_store", "the secure element")
	clear(b)
	if err != nil {
		e.loaded = false
		return err
	}
	f, err := openData(e.path)
	var fi os.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			f.Close()
		}
	}
	if err != nil {
		// Saved, but not open for the next change: the next operation
		// reads the file again.
		e.loaded = false
		return nil
	}
	if e.f != nil {
		e.f.Close()
	}
	e.f, e.ino, e.l, e.end, e.repair, e.loaded = f, idOf(fi), l, l.logAt, false, true
	return nil
}

// commit makes r's change durable and then makes it in memory: in place
// (zeros over the slots of the keys r destroys, r appended to the log, one
// fdatasync) when the file has room and needs no repair, else by writing
// the whole file. The caller holds the exclusive lock. On failure the
// state in memory is unchanged but read again by the next operation, and
// the in-place writes are undone as far as the disk lets them.
func (e *Element) commit(r record) error {
	line := encodeRecord(r)
	if e.repair || e.end+int64(len(line)) > e.l.logEnd || hasNoSlot(&e.state, r) {
		e.state.apply(r)
		return e.save()
	}
	var zeroed []luk // the keys whose slots are zeroed, to undo
	undo := func(err error) error {
		for _, k := range zeroed {
			if s, err := encodeSlot(r.Token, k); err == nil {
				e.f.WriteAt(s, e.l.slotAt+int64(k.slot)*slotSize)
			}
		}
		e.f.WriteAt(make([]byte, len(line)), e.end)
		e.loaded = false
		return fault.Wrap(err, fault.Unavailable, "se_store", "write the secure element")
	}
	if r.Token != "" {
		zeros := make([]byte, slotSize)
		for _, k := range e.state.Tokens[r.Token].Keys {
			if !contains(r.Used, k.Index) {
				continue
			}
			zeroed = append(zeroed, k)
			if err := writeAll(e.f, zeros, e.l.slotAt+int64(k.slot)*slotSize); err != nil {
				return undo(err)
			}
		}
	}
	if err := writeAll(e.f, line, e.end); err != nil {
		return undo(err)
	}
	if err := e.f.Datasync(); err != nil {
		return undo(err)
	}
	e.end += int64(len(line))
	e.state.apply(r)
	return nil
}

// hasNoSlot reports a record that destroys a key with no slot in the file
// (read from the first format): only a whole write removes it.
func hasNoSlot(st *state, r record) bool {
	if tk := st.Tokens[r.Token]; tk != nil {
		for _, k := range tk.Keys {
			if k.slot < 0 && contains(r.Used, k.Index) {
				return true
			}
		}
	}
	return false
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
	// Expired keys are destroyed as they are found, with the key used.
	var expired []int
	first := -1
	for i, k := range tk.Keys {
		switch {
		case k.ExpiresAt <= now:
			expired = append(expired, k.Index)
		case first < 0:
			first = i
		}
	}
	if first < 0 {
		if len(expired) > 0 {
			e.commit(record{Token: token, ATC: tk.ATC, Used: expired}) // best effort: the keys are useless anyway
		}
		return Use{}, ErrNoKeys
	}
	k := tk.Keys[first]
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
	if err := e.commit(record{Token: token, ATC: atc, Used: append(expired, k.Index)}); err != nil {
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

// SetAppletData saves an applet's data atomically (nil deletes it): one
// record in the element's log, made durable before it returns.
func (e *Element) SetAppletData(name string, data []byte) error {
	if name == "" {
		return fault.E(fault.Invalid, "se_applet", "an applet needs a name")
	}
	release, err := e.begin(true)
	if err != nil {
		return err
	}
	defer release()
	return e.commit(record{Applet: name, Data: append([]byte(nil), data...), Delete: data == nil})
}
