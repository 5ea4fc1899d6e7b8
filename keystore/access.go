package keystore

import (
	"fmt"
	"log/slog"

	"github.com/tapwallet/tapwallet/fault"
)

// IMK is the kind of an issuer master key imported at a key ceremony (a
// token range's key given by the scheme, a test vector's key): stored by
// name, used by that name instead of a derived one.
const IMK Kind = "imk"

// IssuerKey returns the issuer master key of a range as a Secret, for the
// soft key store's own cryptography (keystore/soft): an imported key of
// that name, or the key derived from root rootID ("" is r1). It fails with
// fault.NotFound CodeKeyMissing for a root the file does not hold.
func (f *File) IssuerKey(rootID, name string) (Secret, error) {
	if rootID != "" && rootID != "r1" {
		name = rootID + "/" + name
	}
	k, err := f.IssuerMasterKey(name)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return Secret{}, fault.E(fault.NotFound, CodeKeyMissing, "%s", fault.MessageOf(err))
		}
		return Secret{}, err
	}
	s := NewSecret(k)
	clear(k)
	return s, nil
}

// ActiveRoot names the EMV root new token ranges derive from.
func (f *File) ActiveRoot() string {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.emvAct
}

// ImportIMK stores an issuer master key (16 bytes) under name and writes
// the key file. It fails with fault.Conflict CodeKeyExists if the name is
// taken, fault.Invalid for a key that is not 16 bytes or an empty name.
func (f *File) ImportIMK(name string, key Secret) (Key, error) {
	if name == "" || len(name) > 64 || key.Len() != 16 {
		return Key{}, fault.E(fault.Invalid, CodeRequest, "an imported issuer master key needs a name (up to 64 characters) and 16 bytes")
	}
	unlock, err := lockFile(f.path)
	if err != nil {
		return Key{}, err
	}
	defer unlock()
	if err := f.load(); err != nil {
		return Key{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.imks[name]; ok {
		return Key{}, fault.E(fault.Conflict, CodeKeyExists, "an issuer master key named %.64q is already in the key file", name)
	}
	if f.imks == nil {
		f.imks = map[string]Secret{}
	}
	f.imks[name] = NewSecret(key.Reveal())
	if err := f.save(false); err != nil {
		delete(f.imks, name)
		return Key{}, err
	}
	f.stamp, _ = stampOf(f.path)
	return Key{Kind: IMK, ID: name, KCV: KCV(key.Reveal()), Active: true}, nil
}

// KeyCheck returns the key check value of a key by id (k1, i2, r1) or an
// imported issuer master key's name. It fails with fault.NotFound
// CodeKeyMissing.
func (f *File) KeyCheck(id string) (string, error) {
	for _, k := range f.List() {
		if k.ID == id {
			return k.KCV, nil
		}
	}
	return "", fault.E(fault.NotFound, CodeKeyMissing, "no key %.64q in the key file", id)
}

// String, GoString, Format and LogValue never show a key.
func (f *File) String() string {
	if f == nil {
		return "keystore.File(nil)"
	}
	return "keystore.File(" + f.path + ", keys " + Redacted + ")"
}
func (f *File) GoString() string             { return f.String() }
func (f *File) Format(s fmt.State, _ rune)   { fmt.Fprint(s, f.String()) }
func (f *File) LogValue() slog.Value         { return slog.StringValue(f.String()) }
func (f *File) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (p *Party) String() string {
	return "keystore.Party(" + p.role + " " + p.scope + ", keys " + Redacted + ")"
}
func (p *Party) GoString() string             { return p.String() }
func (p *Party) Format(s fmt.State, _ rune)   { fmt.Fprint(s, p.String()) }
func (p *Party) LogValue() slog.Value         { return slog.StringValue(p.String()) }
func (p *Party) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// KeyOf returns a key of the file by kind and id (k2, i1, r1) or, for
// kind IMK, a token range's issuer master key by name (imported, or
// derived from r1 or "rN/NAME"): for keys import --from-file, moving the
// file's keys into a PKCS#11 token. It fails with fault.NotFound
// CodeKeyMissing.
func (f *File) KeyOf(k Kind, id string) (Secret, error) {
	if k == IMK {
		return f.IssuerKey("", id)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	m := map[Kind]map[string]Secret{Master: f.masters, IndexK: f.indexes, EMVRoot: f.roots}[k]
	s, ok := m[id]
	if !ok {
		return Secret{}, fault.E(fault.NotFound, CodeKeyMissing, "the key file holds no %s key %.32q", k, id)
	}
	return NewSecret(s.Reveal()), nil
}
