package keystore

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"unsafe"
)

// Redacted is what every printed form of a Secret shows.
const Redacted = "[key redacted]"

// Secret is key material. Every way Go prints or encodes a value — String,
// GoString, fmt's verbs (%v, %+v, %#v, %x, %s, %q), slog and JSON — shows
// Redacted; inside another struct, where fmt cannot call its methods (an
// unexported field), it prints as an address only: the bytes hang off an
// unsafe.Pointer, which fmt never follows — not even in the error form of
// a bad verb, which does follow ordinary pointers. Two Secrets compare in
// constant time. Only a key store reads the bytes (Reveal); no other package keeps
// a Secret.
type Secret struct{ p unsafe.Pointer } // *secretBytes

type secretBytes struct{ b []byte }

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret {
	return Secret{unsafe.Pointer(&secretBytes{append([]byte(nil), b...)})}
}

// Reveal returns the key bytes, for a key store's own cryptography only:
// the caller must not keep, log or return them.
func (s Secret) Reveal() []byte {
	if s.p == nil {
		return nil
	}
	return (*secretBytes)(s.p).b
}

// Len is the key's length in bytes.
func (s Secret) Len() int { return len(s.Reveal()) }

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return s.Len() == 0 }

// Equal compares two keys in constant time (for keys of equal length).
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare(s.Reveal(), o.Reveal()) == 1
}

// Wipe overwrites the key bytes with zeros.
func (s Secret) Wipe() {
	if s.p != nil {
		clear((*secretBytes)(s.p).b)
	}
}

func (Secret) String() string   { return Redacted }
func (Secret) GoString() string { return "keystore.Secret{" + Redacted + "}" }

// Format prints Redacted for every verb.
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, Redacted) }

// LogValue keeps the key out of slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON keeps the key out of JSON.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText keeps the key out of text encodings.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
