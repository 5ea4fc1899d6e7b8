// Package soft is the default key store: the platform's key file
// (keystore.File, DATA/keys.json, mode 0600) behind keystore.Store, the
// cryptography done in this process with package emv. It is the only
// store for SM4 cards (no PKCS#11 token tapwallet meets has SM4; see
// docs/keys.md).
package soft

import (
	"context"
	"crypto/cipher"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

// Store is the key file as operations.
type Store struct {
	f     *keystore.File
	cache keyCache
	now   func() time.Time
}

var _ keystore.Store = (*Store)(nil)

// Open opens (or creates, with fresh keys) the key file at path, failing
// like keystore.OpenFile.
func Open(path string) (*Store, error) {
	f, err := keystore.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return New(f), nil
}

// New returns the operations over an opened key file.
func New(f *keystore.File) *Store { return &Store{f: f, now: time.Now} }

// File is the key file under the store (for rotation's re-wrap tools).
func (s *Store) File() *keystore.File { return s.f }

func (s *Store) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.f.Seal(plaintext, aad)
}

// Open opens a sealed value (keystore.File.Open) with its data key's
// AES-GCM kept from an opening in the last cacheFor, or with the data key
// unwrapped now, whose AES-GCM is then kept — only when it can be wiped
// (emv.WipeSchedule), as it is when it goes.
func (s *Store) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := keystore.ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	var buf [128]byte
	ref := p.AppendDataKeyRef(buf[:0])
	now := s.now()
	var pt []byte
	if s.cache.withDataKey(ref, now, func(a cipher.AEAD) { pt, err = p.OpenBy(a, aad) }) {
		return pt, err
	}
	p, dek, err := s.f.DataKey(sealed)
	if err != nil {
		return nil, err
	}
	a := keystore.DataAEAD(dek.Reveal())
	dek.Wipe() // the AEAD is all that is kept
	if pt, err = p.OpenBy(a, aad); err != nil || !wipeable(a) {
		emv.WipeSchedule(a)
		return pt, err
	}
	s.cache.keepDataKey(ref, a, now)
	return pt, nil
}

// dataAEAD is the type of a data key's AEAD if the cache can wipe it
// (emv.WipeSchedule: the standard library's AES-GCM is numbers in place),
// tried once on the AEAD of a key made for the purpose; nil if not.
var dataAEAD = func() reflect.Type {
	probe := keystore.DataAEAD(make([]byte, 32))
	if !emv.WipeSchedule(probe) {
		return nil
	}
	return reflect.TypeOf(probe)
}()

// wipeable reports whether the cache can wipe a, a data key's AEAD.
func wipeable(a cipher.AEAD) bool { return dataAEAD != nil && reflect.TypeOf(a) == dataAEAD }

func (s *Store) Rewrap(ctx context.Context, sealed []byte) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	return s.f.Rewrap(sealed)
}

func (s *Store) Index(ctx context.Context, purpose string, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.f.Index(purpose, data), nil
}

func (s *Store) Indexes(ctx context.Context, purpose string, data []byte) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.f.Indexes(purpose, data), nil
}

func (s *Store) ActiveRoot(context.Context) (string, error) { return s.f.ActiveRoot(), nil }

func (s *Store) List(context.Context) ([]keystore.Key, error) { return s.f.List(), nil }

func (s *Store) KCV(_ context.Context, id string) (string, error) { return s.f.KeyCheck(id) }

func (s *Store) Rotate(_ context.Context, k keystore.Kind) (string, error) { return s.f.RotateKind(k) }

func (s *Store) Import(_ context.Context, k keystore.Kind, name string, key keystore.Secret) (keystore.Key, error) {
	if k != keystore.IMK {
		return keystore.Key{}, fault.E(fault.Invalid, keystore.CodeRequest, "the key file imports issuer master keys (kind imk) only")
	}
	defer s.cache.clear() // a range's key may be derived no more
	return s.f.ImportIMK(name, key)
}

// Close wipes the keys the store keeps derived.
func (s *Store) Close() error { s.cache.clear(); return nil }

// withCardKey calls fn with the card master key (EMV option A) of a card
// and its schedule, derived or kept from the last cacheFor, under the
// cache's lock: fn must be short and must not keep either.
func (s *Store) withCardKey(root, rng string, alg emv.Alg, pan, psn string, fn func(mk *emv.Keyed, key keystore.Secret)) error {
	now := s.now()
	id := cardID{imkID{root, rng}, alg, pan, psn}
	if s.cache.withKeyed(id, now, fn) {
		return nil
	}
	imk, err := s.issuerKey(id.imkID, now)
	if err != nil {
		return err
	}
	b, err := emv.MasterKey(alg, emv.OptionA, imk.Reveal(), pan, psn)
	imk.Wipe()
	if err != nil {
		return fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "derive the card master key")
	}
	mk := keystore.NewSecret(b)
	clear(b)
	put(&s.cache, &s.cache.cards, id, mk, now)
	if s.cache.withKeyed(id, now, fn) {
		mk.Wipe()
		return nil
	}
	// Emptied meanwhile (an import, Close) or no schedule: use it once.
	k, err := emv.NewKeyed(alg, mk.Reveal())
	if err != nil {
		mk.Wipe()
		return fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "derive the card master key")
	}
	fn(k, mk)
	k.Wipe()
	mk.Wipe()
	return nil
}

// issuerKey returns a copy of a token range's issuer master key, kept
// like the card keys; the caller wipes it.
func (s *Store) issuerKey(id imkID, now time.Time) (keystore.Secret, error) {
	if imk, ok := get(&s.cache, &s.cache.imks, id, now); ok {
		return imk, nil
	}
	imk, err := s.f.IssuerKey(id.root, id.rng)
	if err != nil {
		return keystore.Secret{}, err
	}
	put(&s.cache, &s.cache.imks, id, imk, now)
	return imk, nil
}

// sessionKey derives a session key from a card master key.
func sessionKey(mk *emv.Keyed, r keystore.ARQC) ([]byte, error) {
	var sk []byte
	var err error
	switch {
	case r.Method == keystore.ByCounter:
		sk, err = mk.SessionKeyPBOC(keystore.Counter2(r.Counter))
	case mk.Alg() == emv.TDES:
		sk, err = mk.CommonSessionKey(r.R)
	default:
		return nil, fault.E(fault.Invalid, keystore.CodeRequest, "the EMV common session key is TDES only")
	}
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "derive the session key")
	}
	return sk, nil
}

// VerifyARQC checks the cryptogram with keys derived from the range's
// issuer master key; see keystore.Store.
func (s *Store) VerifyARQC(ctx context.Context, r keystore.ARQC) (keystore.Session, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.derive(r, true)
}

// ARPCSession derives the ARPC key without a check; see keystore.Store.
func (s *Store) ARPCSession(ctx context.Context, r keystore.ARQC) (keystore.Session, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.derive(r, false)
}

func (s *Store) derive(r keystore.ARQC, check bool) (keystore.Session, error) {
	var sk []byte
	var mk keystore.Secret // a copy of the card key, when it makes the ARPC
	var serr error
	err := s.withCardKey(r.Root, r.Range, r.Alg, r.PAN, r.PSN, func(k *emv.Keyed, key keystore.Secret) {
		sk, serr = sessionKey(k, r)
		if serr == nil && r.ARPCKey == keystore.ARPCWithCardKey {
			mk = keystore.NewSecret(key.Reveal())
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	defer mk.Wipe() // the schedules are all the session keeps
	// The ARQC's check and the ARPC: one schedule, kept in the session
	// (one allocation for both).
	ss := &session{alg: r.Alg}
	ss.keyed, err = emv.MakeKeyed(r.Alg, sk)
	clear(sk)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "derive the session key")
	}
	if check {
		good, err := ss.keyed.VerifyCryptogram(r.Data, r.Pad, r.ARQC)
		if err != nil || !good {
			ss.keyed.Wipe()
			if err != nil {
				return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "cannot compute the cryptogram")
			}
			return nil, fault.E(fault.Declined, keystore.CodeARQC, "the cryptogram does not verify")
		}
	}
	if r.ARPCKey == keystore.ARPCWithCardKey {
		ss.keyed.Wipe()
		if ss.keyed, err = emv.MakeKeyed(r.Alg, mk.Reveal()); err != nil {
			return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "derive the card master key")
		}
	}
	copy(ss.arqc[:], r.ARQC) // 8 bytes (r.Check)
	return ss, nil
}

// session makes the ARPC in the cryptogram's algorithm with its key's
// schedule, built once; it keeps no copy of the key itself.
type session struct {
	alg    emv.Alg
	keyed  emv.Keyed
	closed bool
	arqc   [8]byte
}

func (s *session) ARPC1(ctx context.Context, arc []byte) ([]byte, error) {
	if err := keystore.CheckARPC1(arc); err != nil {
		return nil, err
	}
	if s.closed {
		return nil, fault.E(fault.Invalid, keystore.CodeSession, "the session was closed")
	}
	out, err := s.keyed.ARPCMethod1(s.arqc[:], arc)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "cannot make the ARPC")
	}
	return out, nil
}

func (s *session) ARPC2(ctx context.Context, csu, prop []byte) ([]byte, error) {
	if err := keystore.CheckARPC2(csu, prop); err != nil {
		return nil, err
	}
	if s.closed {
		return nil, fault.E(fault.Invalid, keystore.CodeSession, "the session was closed")
	}
	out, err := s.keyed.ARPCMethod2(s.arqc[:], csu, prop)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "cannot make the ARPC")
	}
	return out, nil
}

func (s *session) Close() {
	s.closed = true
	s.keyed.Wipe()
}

func (s *session) String() string {
	return "soft.session(" + s.alg.String() + ", key " + keystore.Redacted + ")"
}
func (s *session) GoString() string           { return s.String() }
func (s *session) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }
func (s *session) LogValue() slog.Value       { return slog.StringValue(s.String()) }

// KeyBatch derives the limited-use keys (PBOC session keys by key index)
// and seals them to the phone.
func (s *Store) KeyBatch(ctx context.Context, b keystore.Batch) ([]byte, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}
	keys := make([]keystore.Secret, 0, b.Count)
	defer func() {
		for _, k := range keys {
			k.Wipe()
		}
	}()
	var serr error
	err := s.withCardKey(b.Root, b.Range, b.Alg, b.PAN, b.PSN, func(mk *emv.Keyed, _ keystore.Secret) {
		for i := b.First; i < b.First+b.Count && serr == nil; i++ {
			var sk []byte
			if sk, serr = sessionKey(mk, keystore.ARQC{Method: keystore.ByCounter, Counter: i}); serr == nil {
				keys = append(keys, keystore.NewSecret(sk))
				clear(sk)
			}
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return keystore.SealBatch(b, keys)
}

func (s *Store) String() string             { return "soft.Store(" + s.f.String() + ")" }
func (s *Store) GoString() string           { return s.String() }
func (s *Store) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }
func (s *Store) LogValue() slog.Value       { return slog.StringValue(s.String()) }
