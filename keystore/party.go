package keystore

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"

	"github.com/tapwallet/tapwallet/fault"
)

// IssuerKeys is the one operation a party outside the platform needs from
// a key store: its named master keys (a transit gate's SAM keys, an
// operator's card keys). File and Party both offer it.
type IssuerKeys interface {
	// IssuerMasterKey returns the 16-byte master key of that name. It
	// fails with fault.NotFound for a key the store does not hold.
	IssuerMasterKey(name string) ([]byte, error)
}

var (
	_ IssuerKeys = (*File)(nil)
	_ IssuerKeys = (*Party)(nil)
)

// Party is the key file of one party outside the platform (a transit gate,
// a transit operator): only the keys that party uses, derived for it by the
// platform's key store (File.Export), none of the vault's, the index's or
// the card network's.
type Party struct {
	role, scope string
	keys        map[string]Secret
}

type partyJSON struct {
	Version int               `json:"version"`
	Role    string            `json:"role"`
	Scope   string            `json:"scope"` // e.g. the gate's city
	Keys    map[string]string `json:"keys"`
	KCVs    map[string]string `json:"kcv"` // key check values, to compare with the platform's listing
}

// Export writes to path (mode 0600, never over an existing file) a party's
// key file holding the named master keys, derived from this store, and
// returns them as a listing (names and key check values). It fails with
// fault.Invalid for no names or no role, fault.Conflict if path exists,
// fault.Unavailable if it cannot be written, and like IssuerMasterKey.
func (f *File) Export(path, role, scope string, names []string) ([]Key, error) {
	if role == "" || len(names) == 0 {
		return nil, fault.E(fault.Invalid, "export", "an export needs a role and at least one key")
	}
	j := partyJSON{Version: 1, Role: role, Scope: scope, Keys: map[string]string{}, KCVs: map[string]string{}}
	var out []Key
	for _, n := range names {
		k, err := f.IssuerMasterKey(n)
		if err != nil {
			return nil, err
		}
		j.Keys[n], j.KCVs[n] = hex.EncodeToString(k), KCV(k)
		out = append(out, Key{Kind: Kind(role), ID: n, KCV: KCV(k)})
		clear(k)
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fault.E(fault.Conflict, "export_exists", "%s exists: an export never overwrites a key file", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "keyfile", "create key folder")
	}
	b, _ := json.MarshalIndent(j, "", "  ")
	if err := writePrivate(path, b, true); err != nil {
		return nil, err
	}
	return out, nil
}

// OpenParty reads a party's key file written by Export. It fails with
// fault.Forbidden if the file is readable by others than its owner,
// fault.Invalid if it is malformed or is the platform's whole key file
// (a party never holds that), fault.Unavailable if it cannot be read.
func OpenParty(path string) (*Party, error) {
	_, b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	var j partyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fault.E(fault.Invalid, "keyfile", "key file %s is not valid JSON", path)
	}
	if j.Role == "" {
		return nil, fault.E(fault.Invalid, "keyfile_platform",
			"%s is not a party's key file (it is the platform's whole key file, or no key file): export this party's keys with tapwallet keys export", path)
	}
	keys, err := hexKeys(j.Keys, 16, "key")
	if err != nil {
		return nil, err
	}
	for n, k := range keys {
		if want, ok := j.KCVs[n]; ok && want != KCV(k.Reveal()) {
			return nil, fault.E(fault.Invalid, "keyfile", "key file %s: key %.40q does not match its check value", path, n)
		}
	}
	return &Party{role: j.Role, scope: j.Scope, keys: keys}, nil
}

// Role returns the party the file was exported for, e.g. "gate".
func (p *Party) Role() string { return p.role }

// Scope returns what the party's keys cover, e.g. the gate's city.
func (p *Party) Scope() string { return p.scope }

// IssuerMasterKey returns a copy of the named key. It fails with
// fault.NotFound "key_not_held" for a key this party was not given.
func (p *Party) IssuerMasterKey(name string) ([]byte, error) {
	k, ok := p.keys[name]
	if !ok {
		return nil, fault.E(fault.NotFound, "key_not_held", "the %s key file holds no key %.40q", p.role, name)
	}
	return append([]byte(nil), k.Reveal()...), nil
}

// List returns the party's keys by name and key check value.
func (p *Party) List() []Key {
	names := make([]string, 0, len(p.keys))
	for n := range p.keys {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Key, len(names))
	for i, n := range names {
		out[i] = Key{Kind: Kind(p.role), ID: n, KCV: KCV(p.keys[n].Reveal())}
	}
	return out
}
