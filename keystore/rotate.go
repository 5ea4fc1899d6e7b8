package keystore

import (
	"crypto/aes"
	"crypto/des"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Kind names a kind of key the File rotates.
type Kind string

// The kinds of platform keys (docs/keys.md).
const (
	Master  Kind = "master"   // vault master keys: wrap each card number's data key
	IndexK  Kind = "index"    // index keys: the keyed hash that finds a card number
	EMVRoot Kind = "emv-root" // EMV roots: derive the issuer master keys and transit keys
)

// Key describes one key by id and key check value, never its bytes.
type Key struct {
	Kind   Kind
	ID     string
	KCV    string // the first 3 bytes of the key encrypting a zero block, hex
	Active bool
}

// refreshEvery is how often a File looks whether its key file changed.
const refreshEvery = time.Second

// fileStamp identifies a version of the key file.
type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st.Size(), st.ModTime()}, nil
}

// refresh reads the key file again when it changed, at most once a
// second: a rotation by another process reaches a running one.
func (f *File) refresh() {
	now := time.Now().UnixNano()
	last := f.checked.Load()
	if now-last < int64(refreshEvery) || !f.checked.CompareAndSwap(last, now) {
		return
	}
	st, err := stampOf(f.path)
	f.mu.RLock()
	same := err != nil || st == f.stamp
	f.mu.RUnlock()
	if !same {
		f.reload()
	}
}

// reload reads the key file again; on failure it keeps the keys it has
// (a key file being replaced is renamed into place, never half-written).
func (f *File) reload() {
	if f.path == "" {
		return
	}
	_ = f.load()
}

// master returns the master key of id, or nil.
func (f *File) master(id string) Secret {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.masters[id]
}

// readPrivate reads a key file, refusing one that its group or others may
// read or write (fault.Forbidden "keyfile_open", naming the fix).
func readPrivate(path string) (fileStamp, []byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, nil, fault.Wrap(err, fault.Unavailable, "keyfile", "read key file %s", path)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fileStamp{}, nil, fault.E(fault.Forbidden, "keyfile_open", "key file %s has mode %04o: others on this machine can read it; run: chmod 600 %s", path, m, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fileStamp{}, nil, fault.Wrap(err, fault.Unavailable, "keyfile", "read key file %s", path)
	}
	return fileStamp{st.Size(), st.ModTime()}, b, nil
}

// Rotate adds a new master key and makes it active; data sealed under
// older keys still opens. It returns the new key id.
func (f *File) Rotate() (string, error) { return f.RotateKind(Master) }

// RotateKind adds a new key of kind k and makes it active, keeping the
// older ones, and writes the key file (under a lock file beside it, so two
// rotations never lose each other's key). After a master rotation Seal
// uses the new key and Open still opens every older seal; after an index
// rotation Index hashes with the new key and Indexes gives the hash under
// each; after an EMV root rotation nothing derived changes: names without
// a root id keep deriving from r1, a name "rN/…" uses root rN. It returns
// the new id; it fails with fault.Invalid for an unknown kind,
// fault.Conflict when another rotation holds the lock, fault.Unavailable
// when the file cannot be written (nothing changes then).
func (f *File) RotateKind(k Kind) (string, error) {
	unlock, err := lockFile(f.path)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := f.load(); err != nil { // the newest file: another process may have rotated
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var m map[string]Secret
	var act *string
	var prefix string
	switch k {
	case Master:
		m, act, prefix = f.masters, &f.active, "k"
	case IndexK:
		m, act, prefix = f.indexes, &f.idxAct, "i"
	case EMVRoot:
		m, act, prefix = f.roots, &f.emvAct, "r"
	default:
		return "", fault.E(fault.Invalid, "key_kind", "unknown kind of key %.20q (master, index, emv-root)", string(k))
	}
	id := nextID(m, prefix)
	old := *act
	m[id] = NewSecret(random(32))
	*act = id
	if err := f.save(false); err != nil {
		delete(m, id)
		*act = old
		return "", err
	}
	f.stamp, _ = stampOf(f.path)
	return id, nil
}

// nextID returns prefix followed by one more than the highest number used.
func nextID(m map[string]Secret, prefix string) string {
	n := 0
	for id := range m {
		if v, err := strconv.Atoi(strings.TrimPrefix(id, prefix)); err == nil && strings.HasPrefix(id, prefix) && v > n {
			n = v
		}
	}
	return prefix + strconv.Itoa(n+1)
}

// lockFile takes PATH.lock (created exclusively); a lock older than a
// minute is a crashed rotation's and is taken over.
func lockFile(path string) (func(), error) {
	lock := path + ".lock"
	for try := 0; ; try++ {
		w, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			w.Close()
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fault.Wrap(err, fault.Unavailable, "keyfile", "lock key file")
		}
		if st, err := os.Stat(lock); err == nil && time.Since(st.ModTime()) > time.Minute {
			os.Remove(lock)
			continue
		}
		if try >= 50 {
			return nil, fault.E(fault.Conflict, "keyfile_locked", "another rotation holds %s", lock)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Rewrap returns sealed with its data key wrapped again under the active
// master key (the card number's ciphertext is not touched, and aad is not
// needed), and whether anything changed (false: already under the active
// key). It fails like Open for damaged data or an unknown key.
func (f *File) Rewrap(sealed []byte) ([]byte, bool, error) {
	f.refresh()
	f.mu.RLock()
	act, amk := f.active, f.masters[f.active]
	f.mu.RUnlock()
	if SealedKeyID(sealed) == act {
		return sealed, false, nil
	}
	p, dek, err := f.unwrap(sealed)
	if err != nil {
		return nil, false, err
	}
	defer clear(dek)
	wrapNonce := random(12)
	m := f.masterGCM(act, amk)
	return p.Rewrapped(act, wrapNonce, m.Seal(nil, wrapNonce, dek, m.id)), true, nil
}

// SealedKeyID returns the id of the master key that sealed data names, or
// "" if it is not sealed data.
func SealedKeyID(sealed []byte) string {
	id, _, err := splitSealed(sealed)
	if err != nil {
		return ""
	}
	return id
}

func splitSealed(sealed []byte) (string, []byte, error) {
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return "", nil, errDamaged
	}
	n := int(sealed[1])
	rest := sealed[2:]
	if len(rest) < n+12+48+12+16 {
		return "", nil, errDamaged
	}
	return string(rest[:n]), rest[n:], nil
}

// List returns every key of the store by kind and id with its key check
// value, never a key.
func (f *File) List() []Key {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Key
	for _, c := range []struct {
		k   Kind
		m   map[string]Secret
		act string
	}{{Master, f.masters, f.active}, {IndexK, f.indexes, f.idxAct}, {EMVRoot, f.roots, f.emvAct}, {IMK, f.imks, ""}} {
		for _, id := range sortedIDs(c.m) {
			out = append(out, Key{Kind: c.k, ID: id, KCV: KCV(c.m[id].Reveal()), Active: id == c.act || c.k == IMK})
		}
	}
	return out
}

// sortedIDs returns the ids of m in order (k2 before k10).
func sortedIDs(m map[string]Secret) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	SortIDs(ids)
	return ids
}

// SortIDs sorts key ids by number (k2 before k10).
func SortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		if len(ids[i]) != len(ids[j]) {
			return len(ids[i]) < len(ids[j])
		}
		return ids[i] < ids[j]
	})
}

// KCV returns a key's check value as payment HSMs show it: the first three
// bytes of a zero block encrypted with the key, in hex — TDES for 16- and
// 24-byte keys, AES for 32-byte ones. It returns "" for another length.
func KCV(key []byte) string {
	var block [16]byte
	switch len(key) {
	case 16, 24:
		k := key
		if len(k) == 16 {
			k = append(append([]byte(nil), key...), key[:8]...)
		}
		c, err := des.NewTripleDESCipher(k)
		if err != nil {
			return ""
		}
		c.Encrypt(block[:8], block[:8])
	case 32:
		c, err := aes.NewCipher(key)
		if err != nil {
			return ""
		}
		c.Encrypt(block[:], block[:])
	default:
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(block[:3]))
}

// String describes a key for a listing: kind, id, KCV, and whether active.
func (k Key) String() string {
	a := ""
	if k.Active {
		a = " active"
	}
	return fmt.Sprintf("%s %s kcv %s%s", k.Kind, k.ID, k.KCV, a)
}
