// Package pkcs11 is the key store in a PKCS#11 token (an HSM; SoftHSM2 in
// the tests): keystore.Store with every platform key a non-extractable
// token object, the cryptography done inside the token where its
// mechanisms allow. What runs inside and what cannot (SM4, the phone's
// limited-use keys on their way to it) is in docs/keys.md.
//
// Keys in the token carry the label "tapwallet/ID": the vault's master keys
// k1, k2… (AES-256: each card number's data key is wrapped by CKM_AES_GCM
// in the token), the index keys i1, i2… (generic secrets: CKM_SHA256_HMAC),
// the EMV roots r1, r2… (AES-256: a token range's issuer master key is
// derived from it by CKM_AES_ECB_ENCRYPT_DATA), and issuer master keys
// imported at a key ceremony, "tapwallet/imk/NAME" (DES2). The active key
// of a kind is the one with the highest number.
package pkcs11

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	p11 "github.com/miekg/pkcs11"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

const labelPrefix = "tapwallet/"

// Store is a key store in a PKCS#11 token.
type Store struct {
	cfg    Config
	mod    *module
	slot   uint
	pool   chan p11.SessionHandle
	login  p11.SessionHandle // holds the login for the pool's sessions
	sm4    keystore.Store    // SM4 cards: the soft store (docs/keys.md)
	mu     sync.Mutex
	keys   map[string]p11.ObjectHandle // token keys by id (k1, i1, r1, imk/NAME)
	imks   map[string]p11.ObjectHandle // derived issuer master keys by root/range (session objects)
	closed bool
}

var _ keystore.Store = (*Store)(nil)

// Options for Open.
type Options struct {
	// SM4 is the store SM4 cards' keys live in (the soft key file): the
	// token has no SM4. nil: SM4 requests fail with fault.Unavailable.
	SM4 keystore.Store
	// Init lets Open succeed on a token that holds no tapwallet keys yet
	// (for tapwallet keys init); otherwise that is an error at start.
	Init bool
	// Sessions is how many PKCS#11 sessions run operations at once
	// (default 4).
	Sessions int
	// Getenv reads the PIN's environment variable (default os.Getenv).
	Getenv func(string) string
}

// module is a loaded PKCS#11 library, shared by the stores of a process
// (C_Initialize is once per process and module).
type module struct {
	ctx  *p11.Ctx
	refs int
}

var (
	modMu   sync.Mutex
	modules = map[string]*module{}
)

func loadModule(path string) (*module, error) {
	modMu.Lock()
	defer modMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fault.E(fault.Unavailable, "pkcs11_module", "PKCS#11 module %s: %v", path, errors.Unwrap(err))
	}
	c := p11.New(path)
	if c == nil {
		return nil, fault.E(fault.Unavailable, "pkcs11_module", "cannot load the PKCS#11 module %s", path)
	}
	if err := c.Initialize(); err != nil && !isRV(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		c.Destroy()
		return nil, fault.Wrap(err, fault.Unavailable, "pkcs11_module", "PKCS#11 module %s does not initialise: %v", path, err)
	}
	m := &module{ctx: c, refs: 1}
	modules[path] = m
	return m, nil
}

func releaseModule(path string) {
	modMu.Lock()
	defer modMu.Unlock()
	m := modules[path]
	if m == nil {
		return
	}
	if m.refs--; m.refs == 0 {
		m.ctx.Finalize()
		m.ctx.Destroy()
		delete(modules, path)
	}
}

func isRV(err error, rv uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// OpenURI opens the store a pkcs11: URI names; see Open.
func OpenURI(ctx context.Context, uri string, o Options) (*Store, error) {
	c, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	return Open(ctx, c, o)
}

// Open loads the module, finds the token by label, logs in with the PIN
// from the environment variable and finds the keys. Every failure is a
// clear error, never a fallback to the key file: fault.Invalid
// "pkcs11_pin" (no PIN in the variable), fault.Unavailable
// "pkcs11_module" (no such library), fault.NotFound "pkcs11_token" (no
// token with that label), fault.Unauthorized "pkcs11_pin" (wrong or
// locked PIN), fault.NotFound keystore.CodeKeyMissing (no tapwallet keys
// in the token, unless o.Init).
func Open(ctx context.Context, c Config, o Options) (*Store, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	pin := getenv(c.PINEnv)
	if pin == "" {
		return nil, fault.E(fault.Invalid, "pkcs11_pin", "the environment variable %s (pin-env) holds no PIN for token %q", c.PINEnv, c.Token)
	}
	m, err := loadModule(c.Module)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: c, mod: m, sm4: o.SM4, keys: map[string]p11.ObjectHandle{}, imks: map[string]p11.ObjectHandle{}}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, err
	}
	if s.slot, err = findToken(m.ctx, c.Token); err != nil {
		releaseModule(c.Module)
		s.mod = nil
		return nil, err
	}
	n := o.Sessions
	if n <= 0 {
		n = 4
	}
	s.pool = make(chan p11.SessionHandle, n)
	if s.login, err = m.ctx.OpenSession(s.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION); err != nil {
		return fail(fault.Wrap(err, fault.Unavailable, "pkcs11_session", "open a session on token %q: %v", c.Token, err))
	}
	if err := m.ctx.Login(s.login, p11.CKU_USER, pin); err != nil && !isRV(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		what := "the PIN was refused"
		switch {
		case isRV(err, p11.CKR_PIN_INCORRECT):
			what = "wrong PIN"
		case isRV(err, p11.CKR_PIN_LOCKED):
			what = "the PIN is locked"
		}
		return fail(fault.E(fault.Unauthorized, "pkcs11_pin", "token %q: %s (from %s)", c.Token, what, c.PINEnv))
	}
	for i := 0; i < n; i++ {
		sh, err := m.ctx.OpenSession(s.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
		if err != nil {
			return fail(fault.Wrap(err, fault.Unavailable, "pkcs11_session", "open a session on token %q: %v", c.Token, err))
		}
		s.pool <- sh
	}
	if err := s.loadKeys(ctx); err != nil {
		return fail(err)
	}
	if !o.Init {
		for _, k := range []keystore.Kind{keystore.Master, keystore.IndexK, keystore.EMVRoot} {
			if _, _, err := s.active(k); err != nil {
				return fail(fault.E(fault.NotFound, keystore.CodeKeyMissing,
					"token %q holds no tapwallet %s key: run tapwallet keys init --keys '%s'", c.Token, k, c))
			}
		}
	}
	return s, nil
}

func findToken(c *p11.Ctx, label string) (uint, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, fault.Wrap(err, fault.Unavailable, "pkcs11_token", "list the PKCS#11 slots: %v", err)
	}
	var seen []string
	for _, sl := range slots {
		ti, err := c.GetTokenInfo(sl)
		if err != nil {
			continue
		}
		l := strings.TrimRight(ti.Label, " \x00")
		if l == label {
			return sl, nil
		}
		if l != "" {
			seen = append(seen, strconv.Quote(l))
		}
	}
	return 0, fault.E(fault.NotFound, "pkcs11_token", "no PKCS#11 token labelled %q (tokens present: %s)", label, strings.Join(append(seen, "none")[:max(1, len(seen))], ", "))
}

// Close logs out and releases the sessions and the module.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.mod == nil {
		return nil
	}
	c := s.mod.ctx
	if s.pool != nil {
		close(s.pool)
		for sh := range s.pool {
			c.CloseSession(sh)
		}
	}
	if s.login != 0 {
		c.Logout(s.login)
		c.CloseSession(s.login)
	}
	releaseModule(s.cfg.Module)
	return nil
}

// with runs f on a pooled session.
func (s *Store) with(ctx context.Context, f func(c *p11.Ctx, sh p11.SessionHandle) error) error {
	select {
	case sh, ok := <-s.pool:
		if !ok {
			return fault.E(fault.Unavailable, "pkcs11_closed", "the key store is closed")
		}
		defer func() { s.pool <- sh }()
		return f(s.mod.ctx, sh)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) hsmErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if fault.KindOf(err) != "" {
		return err
	}
	return fault.Wrap(err, fault.Unavailable, "pkcs11", "token %q: %s: %v", s.cfg.Token, what, err)
}

// loadKeys finds the token's tapwallet keys by label.
func (s *Store) loadKeys(ctx context.Context) error {
	return s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		if err := c.FindObjectsInit(sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY), p11.NewAttribute(p11.CKA_TOKEN, true)}); err != nil {
			return s.hsmErr(err, "find keys")
		}
		var all []p11.ObjectHandle
		for {
			hs, _, err := c.FindObjects(sh, 100)
			if err != nil {
				c.FindObjectsFinal(sh)
				return s.hsmErr(err, "find keys")
			}
			if len(hs) == 0 {
				break
			}
			all = append(all, hs...)
		}
		c.FindObjectsFinal(sh)
		keys := map[string]p11.ObjectHandle{}
		for _, h := range all {
			a, err := c.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, nil)})
			if err != nil || len(a) != 1 {
				continue
			}
			if id, ok := strings.CutPrefix(string(a[0].Value), labelPrefix); ok {
				keys[id] = h
			}
		}
		s.mu.Lock()
		s.keys = keys
		s.mu.Unlock()
		return nil
	})
}

var kindPrefix = map[keystore.Kind]string{keystore.Master: "k", keystore.IndexK: "i", keystore.EMVRoot: "r"}

// ids returns the ids of a kind, in order (k2 before k10).
func (s *Store) ids(k keystore.Kind) []string {
	p := kindPrefix[k]
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.keys {
		if n, err := strconv.Atoi(strings.TrimPrefix(id, p)); err == nil && strings.HasPrefix(id, p) && n > 0 {
			out = append(out, id)
		}
	}
	keystore.SortIDs(out)
	return out
}

// active returns the active key of a kind (the highest number).
func (s *Store) active(k keystore.Kind) (string, p11.ObjectHandle, error) {
	ids := s.ids(k)
	if len(ids) == 0 {
		return "", 0, fault.E(fault.NotFound, keystore.CodeKeyMissing, "token %q holds no %s key", s.cfg.Token, k)
	}
	id := ids[len(ids)-1]
	h, _ := s.key(id)
	return id, h, nil
}

// key returns a token key's handle by id, looking in the token again for
// one it does not know (added by another process).
func (s *Store) key(id string) (p11.ObjectHandle, bool) {
	s.mu.Lock()
	h, ok := s.keys[id]
	s.mu.Unlock()
	if !ok {
		if s.loadKeys(context.Background()) == nil {
			s.mu.Lock()
			h, ok = s.keys[id]
			s.mu.Unlock()
		}
	}
	return h, ok
}

// secretTemplate is the template of a secret key object.
func secretTemplate(keyType uint, token bool, label string, extractable bool, usage ...uint) []*p11.Attribute {
	t := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, keyType),
		p11.NewAttribute(p11.CKA_TOKEN, token),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, !extractable),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, extractable),
	}
	if label != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, label))
	}
	for _, u := range usage {
		t = append(t, p11.NewAttribute(u, true))
	}
	return t
}

// deriveParam is a CK_KEY_DERIVATION_STRING_DATA {pData, ulLen} for
// CKM_*_ECB_ENCRYPT_DATA, which miekg/pkcs11 has no type for: the
// structure's bytes (LP64: an 8-byte pointer and an 8-byte length) with
// data pinned until the call returns.
func deriveParam(data []byte, pin *runtime.Pinner) []byte {
	pin.Pin(&data[0])
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b, uint64(uintptr(unsafe.Pointer(&data[0]))))
	binary.NativeEndian.PutUint64(b[8:], uint64(len(data)))
	return b
}

func init() {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		panic("keystore/pkcs11: derivation parameters assume a 64-bit platform")
	}
}

// derive makes a session key object by encrypting data under base (mech
// CKM_DES3_ECB_ENCRYPT_DATA or CKM_AES_ECB_ENCRYPT_DATA).
func derive(c *p11.Ctx, sh p11.SessionHandle, mech uint, base p11.ObjectHandle, data []byte, tmpl []*p11.Attribute) (p11.ObjectHandle, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	d := append([]byte(nil), data...)
	return c.DeriveKey(sh, []*p11.Mechanism{p11.NewMechanism(mech, deriveParam(d, &pin))}, base, tmpl)
}

func ecb(c *p11.Ctx, sh p11.SessionHandle, mech uint, k p11.ObjectHandle, in []byte, decrypt bool) ([]byte, error) {
	return crypt(c, sh, []*p11.Mechanism{p11.NewMechanism(mech, nil)}, k, in, decrypt)
}

// crypt runs one single-part encryption or decryption.
func crypt(c *p11.Ctx, sh p11.SessionHandle, m []*p11.Mechanism, k p11.ObjectHandle, in []byte, decrypt bool) ([]byte, error) {
	if decrypt {
		if err := c.DecryptInit(sh, m, k); err != nil {
			return nil, err
		}
		return c.Decrypt(sh, in)
	}
	if err := c.EncryptInit(sh, m, k); err != nil {
		return nil, err
	}
	return c.Encrypt(sh, in)
}

func (s *Store) String() string {
	return "pkcs11.Store(token " + strconv.Quote(s.cfg.Token) + ", keys in the token)"
}
func (s *Store) GoString() string             { return s.String() }
func (s *Store) Format(f fmt.State, _ rune)   { fmt.Fprint(f, s.String()) }
func (s *Store) LogValue() slog.Value         { return slog.StringValue(s.String()) }
func (s *Store) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Seal: a fresh data key, wrapped in the token by CKM_AES_GCM under the
// active master key (the same format as the key file's: keystore.SealedKeyID
// reads it).
func (s *Store) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	id, mk, err := s.active(keystore.Master)
	if err != nil {
		return nil, err
	}
	dek := keystore.Random(32)
	defer clear(dek)
	wrapNonce, wrapped, err := s.wrapDEK(ctx, id, mk, dek)
	if err != nil {
		return nil, err
	}
	return keystore.SealWith(id, wrapNonce, wrapped, dek, plaintext, aad)
}

// wrapDEK wraps a data key in the token under master key id.
func (s *Store) wrapDEK(ctx context.Context, id string, mk p11.ObjectHandle, dek []byte) (nonce, wrapped []byte, err error) {
	nonce = keystore.Random(12)
	err = s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		wrapped, err = gcm(c, sh, mk, nonce, []byte(id), dek, false)
		return err
	})
	return nonce, wrapped, s.hsmErr(err, "wrap a data key")
}

// gcm encrypts or decrypts with CKM_AES_GCM (128-bit tag) in the token.
func gcm(c *p11.Ctx, sh p11.SessionHandle, k p11.ObjectHandle, iv, aad, in []byte, decrypt bool) ([]byte, error) {
	params := p11.NewGCMParams(iv, aad, 128)
	defer params.Free()
	return crypt(c, sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k, in, decrypt)
}

// unwrapDEK opens a sealed value's data key in the token.
func (s *Store) unwrapDEK(ctx context.Context, sealed []byte) (keystore.Sealed, []byte, error) {
	p, err := keystore.ParseSealed(sealed)
	if err != nil {
		return p, nil, err
	}
	mk, ok := s.key(p.KeyID)
	if !ok || !strings.HasPrefix(p.KeyID, "k") {
		return p, nil, fault.E(fault.Internal, "vault_key_unknown", "sealed under master key %q, which this key store does not hold", p.KeyID)
	}
	var dek []byte
	err = s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		dek, err = gcm(c, sh, mk, p.WrapNonce, []byte(p.KeyID), p.Wrapped, true)
		return err
	})
	if err != nil {
		// SoftHSM2 answers a GCM tag that does not match with
		// CKR_GENERAL_ERROR; others with CKR_ENCRYPTED_DATA_INVALID.
		if isRV(err, p11.CKR_ENCRYPTED_DATA_INVALID) || isRV(err, p11.CKR_ENCRYPTED_DATA_LEN_RANGE) || isRV(err, p11.CKR_FUNCTION_FAILED) || isRV(err, p11.CKR_GENERAL_ERROR) {
			return p, nil, fault.E(fault.Internal, "vault_integrity", "sealed data is damaged or was sealed for another record")
		}
		return p, nil, s.hsmErr(err, "unwrap a data key")
	}
	return p, dek, nil
}

// Open unwraps the data key in the token and opens the card number.
func (s *Store) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	p, dek, err := s.unwrapDEK(ctx, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	return p.OpenWith(dek, aad)
}

// Rewrap wraps a sealed value's data key again under the active master key.
func (s *Store) Rewrap(ctx context.Context, sealed []byte) ([]byte, bool, error) {
	id, mk, err := s.active(keystore.Master)
	if err != nil {
		return nil, false, err
	}
	if keystore.SealedKeyID(sealed) == id {
		return sealed, false, nil
	}
	p, dek, err := s.unwrapDEK(ctx, sealed)
	if err != nil {
		return nil, false, err
	}
	defer clear(dek)
	wrapNonce, wrapped, err := s.wrapDEK(ctx, id, mk, dek)
	if err != nil {
		return nil, false, err
	}
	return p.Rewrapped(id, wrapNonce, wrapped), true, nil
}

// Index is HMAC-SHA-256 in the token (CKM_SHA256_HMAC) under the active
// index key: the same hash as the key file's for the same key.
func (s *Store) Index(ctx context.Context, purpose string, data []byte) ([]byte, error) {
	_, k, err := s.active(keystore.IndexK)
	if err != nil {
		return nil, err
	}
	return s.hmac(ctx, k, purpose, data)
}

func (s *Store) hmac(ctx context.Context, k p11.ObjectHandle, purpose string, data []byte) ([]byte, error) {
	msg := make([]byte, 0, len(purpose)+1+len(data))
	msg = append(append(append(msg, purpose...), 0), data...)
	var out []byte
	err := s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		if err := c.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_SHA256_HMAC, nil)}, k); err != nil {
			return err
		}
		var err error
		out, err = c.Sign(sh, msg)
		return err
	})
	return out, s.hsmErr(err, "keyed hash")
}

// Indexes gives the hash under every index key, the active one first.
func (s *Store) Indexes(ctx context.Context, purpose string, data []byte) ([][]byte, error) {
	ids := s.ids(keystore.IndexK)
	if len(ids) == 0 {
		return nil, fault.E(fault.NotFound, keystore.CodeKeyMissing, "token %q holds no index key", s.cfg.Token)
	}
	var out [][]byte
	for i := len(ids) - 1; i >= 0; i-- {
		k, _ := s.key(ids[i])
		h, err := s.hmac(ctx, k, purpose, data)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ActiveRoot names the newest EMV root.
func (s *Store) ActiveRoot(context.Context) (string, error) {
	id, _, err := s.active(keystore.EMVRoot)
	return id, err
}

// imk returns the issuer master key of a range: an imported token object
// "imk/NAME", or a session object derived once from root rootID by
// CKM_AES_ECB_ENCRYPT_DATA over SHA-256("tapwallet imk NAME")[:16] and kept
// (a derived key object never leaves the token; keeping its handle is the
// one cache: docs/keys.md).
func (s *Store) imk(ctx context.Context, rootID, name string) (p11.ObjectHandle, error) {
	if rootID == "" {
		rootID = "r1"
	}
	if h, ok := s.key("imk/" + name); ok {
		return h, nil
	}
	ck := rootID + "/" + name
	s.mu.Lock()
	h, ok := s.imks[ck]
	s.mu.Unlock()
	if ok {
		return h, nil
	}
	root, ok := s.key(rootID)
	if !ok || !strings.HasPrefix(rootID, "r") {
		return 0, fault.E(fault.NotFound, keystore.CodeKeyMissing, "EMV root %.32q is not in token %q", rootID, s.cfg.Token)
	}
	sum := sha256.Sum256([]byte("tapwallet imk " + name))
	err := s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		h, err = derive(c, sh, p11.CKM_AES_ECB_ENCRYPT_DATA, root, sum[:16],
			secretTemplate(p11.CKK_DES2, false, "", false, p11.CKA_DERIVE, p11.CKA_ENCRYPT))
		return err
	})
	if err != nil {
		return 0, s.hsmErr(err, "derive an issuer master key")
	}
	s.mu.Lock()
	if old, ok := s.imks[ck]; ok {
		s.mu.Unlock()
		s.destroy(h)
		return old, nil
	}
	s.imks[ck] = h
	s.mu.Unlock()
	return h, nil
}

func (s *Store) destroy(hs ...p11.ObjectHandle) {
	s.with(context.Background(), func(c *p11.Ctx, sh p11.SessionHandle) error {
		for _, h := range hs {
			if h != 0 {
				c.DestroyObject(sh, h)
			}
		}
		return nil
	})
}

// pair is a double-length DES key K1||K2 held in the token twice: whole
// (TDES-ECB) and as K1||K1 — TDES with both halves K1 is single DES under
// K1, the chaining of the ISO 9797-1 algorithm 3 (retail) MAC. Single-DES
// mechanisms (CKM_DES_ECB, CKM_DES_CBC) are listed by Debian's SoftHSM2
// 2.6.1 but fail with CKR_MECHANISM_INVALID (OpenSSL 3 keeps single DES in
// its legacy provider), so the MAC is composed from TDES steps only.
type pair struct{ whole, k1k1 p11.ObjectHandle }

// derivePair derives, from parent (DES2) and 16 bytes of data a||b, the
// key TDES(parent)[a] || TDES(parent)[b] and TDES(parent)[a] twice (ECB of
// a||a), as two session objects.
func derivePair(c *p11.Ctx, sh p11.SessionHandle, parent p11.ObjectHandle, data []byte) (pair, error) {
	t := secretTemplate(p11.CKK_DES2, false, "", false, p11.CKA_ENCRYPT)
	whole, err := derive(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, parent, data[:16], t)
	if err != nil {
		return pair{}, err
	}
	aa := append(append([]byte(nil), data[:8]...), data[:8]...)
	k1k1, err := derive(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, parent, aa, t)
	if err != nil {
		c.DestroyObject(sh, whole)
		return pair{}, err
	}
	return pair{whole, k1k1}, nil
}

func (p pair) destroy(c *p11.Ctx, sh p11.SessionHandle) {
	c.DestroyObject(sh, p.whole)
	c.DestroyObject(sh, p.k1k1)
}

// tdes is TDES-ECB of one block under the whole key.
func (p pair) tdes(c *p11.Ctx, sh p11.SessionHandle, in []byte) ([]byte, error) {
	return ecb(c, sh, p11.CKM_DES3_ECB, p.whole, in, false)
}

// mac is the ISO 9797-1 algorithm 3 (retail) MAC in the token: the
// single-DES CBC chain under K1 over all blocks but the last (TDES-CBC
// under K1||K1), then TDES under K1||K2 of the chain xor the last block —
// which equals the standard's final D(K2), E(K1) steps.
func (p pair) mac(c *p11.Ctx, sh p11.SessionHandle, data []byte, pad emv.Padding) ([]byte, error) {
	padded, err := emv.Pad(data, 8, pad)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "pad the data")
	}
	last := append([]byte(nil), padded[len(padded)-8:]...)
	if len(padded) > 8 {
		if err := c.EncryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_DES3_CBC, make([]byte, 8))}, p.k1k1); err != nil {
			return nil, err
		}
		ct, err := c.Encrypt(sh, padded[:len(padded)-8])
		if err != nil {
			return nil, err
		}
		for i := range last {
			last[i] ^= ct[len(ct)-8+i]
		}
	}
	return p.tdes(c, sh, last)
}

// VerifyARQC derives the card master key (option A) and the session key
// in the token and checks the cryptogram there (TDES); SM4 goes to the
// soft store.
func (s *Store) VerifyARQC(ctx context.Context, r keystore.ARQC) (keystore.Session, error) {
	return s.session(ctx, r, true)
}

// ARPCSession derives the keys for an ARPC without a check.
func (s *Store) ARPCSession(ctx context.Context, r keystore.ARQC) (keystore.Session, error) {
	return s.session(ctx, r, false)
}

func (s *Store) session(ctx context.Context, r keystore.ARQC, check bool) (keystore.Session, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if r.Alg == emv.SM4 {
		if s.sm4 == nil {
			return nil, fault.E(fault.Unavailable, "sm4_store", "SM4 keys are in the soft key store, which this PKCS#11 store was not given")
		}
		if check {
			return s.sm4.VerifyARQC(ctx, r)
		}
		return s.sm4.ARPCSession(ctx, r)
	}
	y, err := emv.OptionAData(r.PAN, r.PSN)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "card number or PSN")
	}
	imk, err := s.imk(ctx, r.Root, r.Range)
	if err != nil {
		return nil, err
	}
	skData := keystore.PBOCData(r.Counter)
	if r.Method == keystore.ByR {
		skData = keystore.CSKData(r.R)
	}
	mkData := append(append([]byte(nil), y...), make([]byte, 8)...)
	for i := range y {
		mkData[8+i] = ^y[i]
	}
	var sess *session
	err = s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		mk, err := derive(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, imk, mkData,
			secretTemplate(p11.CKK_DES2, false, "", false, p11.CKA_DERIVE))
		if err != nil {
			return err
		}
		defer c.DestroyObject(sh, mk)
		sk, err := derivePair(c, sh, mk, skData)
		if err != nil {
			return err
		}
		if check {
			m, err := sk.mac(c, sh, r.Data, r.Pad)
			if err != nil {
				sk.destroy(c, sh)
				return err
			}
			if subtle.ConstantTimeCompare(m, r.ARQC) != 1 {
				sk.destroy(c, sh)
				return fault.E(fault.Declined, keystore.CodeARQC, "the cryptogram does not verify")
			}
		}
		key := sk
		if r.ARPCKey == keystore.ARPCWithCardKey {
			sk.destroy(c, sh)
			if key, err = derivePair(c, sh, imk, mkData); err != nil {
				return err
			}
		}
		sess = &session{s: s, key: key, arqc: append([]byte(nil), r.ARQC...)}
		return nil
	})
	if err != nil {
		return nil, s.hsmErr(err, "check the cryptogram")
	}
	return sess, nil
}

// session makes TDES ARPCs in the token with the session key's halves,
// which it destroys at Close.
type session struct {
	s    *Store
	key  pair
	arqc []byte
}

func (x *session) ARPC1(ctx context.Context, arc []byte) ([]byte, error) {
	if err := keystore.CheckARPC1(arc); err != nil {
		return nil, err
	}
	if x.key.whole == 0 {
		return nil, fault.E(fault.Invalid, keystore.CodeSession, "the session was closed")
	}
	in := append([]byte(nil), x.arqc...)
	in[0] ^= arc[0]
	in[1] ^= arc[1]
	var out []byte
	err := x.s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		out, err = x.key.tdes(c, sh, in)
		return err
	})
	return out, x.s.hsmErr(err, "make the ARPC")
}

func (x *session) ARPC2(ctx context.Context, csu, prop []byte) ([]byte, error) {
	if err := keystore.CheckARPC2(csu, prop); err != nil {
		return nil, err
	}
	if x.key.whole == 0 {
		return nil, fault.E(fault.Invalid, keystore.CodeSession, "the session was closed")
	}
	data := append(append(append([]byte(nil), x.arqc...), csu...), prop...)
	var out []byte
	err := x.s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		out, err = x.key.mac(c, sh, data, emv.PadMethod2)
		return err
	})
	if err != nil {
		return nil, x.s.hsmErr(err, "make the ARPC")
	}
	return out[:4], nil
}

func (x *session) Close() {
	if x.key.whole != 0 {
		x.s.destroy(x.key.whole, x.key.k1k1)
		x.key = pair{}
	}
}

func (x *session) String() string             { return "pkcs11.session(tdes, key in the token)" }
func (x *session) GoString() string           { return x.String() }
func (x *session) Format(f fmt.State, _ rune) { fmt.Fprint(f, x.String()) }

// KeyBatch derives the limited-use keys in the token (option A card key,
// then the PBOC session key of each index) as extractable session objects,
// reads each out only to seal it to the phone at once, and destroys it.
// The card master key and the issuer master key never leave.
func (s *Store) KeyBatch(ctx context.Context, b keystore.Batch) ([]byte, error) {
	if err := b.Check(); err != nil {
		return nil, err
	}
	if b.Alg == emv.SM4 {
		if s.sm4 == nil {
			return nil, fault.E(fault.Unavailable, "sm4_store", "SM4 keys are in the soft key store, which this PKCS#11 store was not given")
		}
		return s.sm4.KeyBatch(ctx, b)
	}
	y, err := emv.OptionAData(b.PAN, b.PSN)
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, keystore.CodeRequest, "card number or PSN")
	}
	imk, err := s.imk(ctx, b.Root, b.Range)
	if err != nil {
		return nil, err
	}
	mkData := append(append([]byte(nil), y...), make([]byte, 8)...)
	for i := range y {
		mkData[8+i] = ^y[i]
	}
	keys := make([]keystore.Secret, 0, b.Count)
	defer func() {
		for _, k := range keys {
			k.Wipe()
		}
	}()
	err = s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		mk, err := derive(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, imk, mkData, secretTemplate(p11.CKK_DES2, false, "", false, p11.CKA_DERIVE))
		if err != nil {
			return err
		}
		defer c.DestroyObject(sh, mk)
		for i := b.First; i < b.First+b.Count; i++ {
			luk, err := derive(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, mk, keystore.PBOCData(i), secretTemplate(p11.CKK_DES2, false, "", true))
			if err != nil {
				return err
			}
			a, err := c.GetAttributeValue(sh, luk, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
			c.DestroyObject(sh, luk)
			if err != nil || len(a) != 1 || len(a[0].Value) != 16 {
				return fault.E(fault.Unavailable, "pkcs11", "token %q does not give out a limited-use key (%v)", s.cfg.Token, err)
			}
			keys = append(keys, keystore.NewSecret(a[0].Value))
			clear(a[0].Value)
		}
		return nil
	})
	if err != nil {
		return nil, s.hsmErr(err, "derive limited-use keys")
	}
	return keystore.SealBatch(b, keys)
}
