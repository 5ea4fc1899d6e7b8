package pkcs11

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	p11 "github.com/miekg/pkcs11"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

// kindOf is the kind of a token key by id.
func kindOf(id string) keystore.Kind {
	if strings.HasPrefix(id, "imk/") {
		return keystore.IMK
	}
	for k, p := range kindPrefix {
		if n, err := strconv.Atoi(strings.TrimPrefix(id, p)); err == nil && n > 0 && strings.HasPrefix(id, p) {
			return k
		}
	}
	return ""
}

// template of a token key of kind k: non-extractable, sensitive, only the
// usage its operations need (a root and an issuer master key only derive:
// with CKA_ENCRYPT anyone with the PIN could compute derived keys outside).
func template(k keystore.Kind, id string) (uint, []*p11.Attribute) {
	label := labelPrefix + id
	switch k {
	case keystore.Master:
		return p11.CKK_AES, append(secretTemplate(p11.CKK_AES, true, label, false, p11.CKA_ENCRYPT, p11.CKA_DECRYPT), p11.NewAttribute(p11.CKA_VALUE_LEN, 32))
	case keystore.IndexK:
		return p11.CKK_GENERIC_SECRET, append(secretTemplate(p11.CKK_GENERIC_SECRET, true, label, false, p11.CKA_SIGN, p11.CKA_VERIFY), p11.NewAttribute(p11.CKA_VALUE_LEN, 32))
	case keystore.EMVRoot:
		return p11.CKK_AES, append(secretTemplate(p11.CKK_AES, true, label, false, p11.CKA_DERIVE), p11.NewAttribute(p11.CKA_VALUE_LEN, 32))
	default: // an imported issuer master key
		return p11.CKK_DES2, secretTemplate(p11.CKK_DES2, true, label, false, p11.CKA_DERIVE)
	}
}

var genMech = map[uint]uint{p11.CKK_AES: p11.CKM_AES_KEY_GEN, p11.CKK_GENERIC_SECRET: p11.CKM_GENERIC_SECRET_KEY_GEN}

// generate makes a token key of kind k under id.
func (s *Store) generate(ctx context.Context, k keystore.Kind, id string) error {
	kt, t := template(k, id)
	err := s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		_, err := c.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(genMech[kt], nil)}, t)
		return err
	})
	if err != nil {
		return s.hsmErr(err, "generate key "+id)
	}
	return s.loadKeys(ctx)
}

// Init generates the first key of each kind the token lacks (k1, i1, r1)
// and returns what it made.
func (s *Store) Init(ctx context.Context) ([]keystore.Key, error) {
	var made []keystore.Key
	for _, k := range []keystore.Kind{keystore.Master, keystore.IndexK, keystore.EMVRoot} {
		if len(s.ids(k)) > 0 {
			continue
		}
		id := kindPrefix[k] + "1"
		if err := s.generate(ctx, k, id); err != nil {
			return made, err
		}
		kcv, err := s.KCV(ctx, id)
		if err != nil {
			return made, err
		}
		made = append(made, keystore.Key{Kind: k, ID: id, KCV: kcv, Active: true})
	}
	return made, nil
}

// Rotate generates the next key of kind k in the token; it becomes the
// active one (the highest number).
func (s *Store) Rotate(ctx context.Context, k keystore.Kind) (string, error) {
	p, ok := kindPrefix[k]
	if !ok {
		return "", fault.E(fault.Invalid, "key_kind", "unknown kind of key %.20q (master, index, emv-root)", string(k))
	}
	if err := s.loadKeys(ctx); err != nil {
		return "", err
	}
	n := 0
	for _, id := range s.ids(k) {
		if v, _ := strconv.Atoi(strings.TrimPrefix(id, p)); v > n {
			n = v
		}
	}
	id := p + strconv.Itoa(n+1)
	return id, s.generate(ctx, k, id)
}

// Import creates a token key from a clear key given at a key ceremony (its
// components combined by the caller): an issuer master key (kind imk, 16
// bytes) under a range name, or a key of another kind under its id (k3,
// i2, r2 — to move a key file's keys into the token). The object is
// sensitive and non-extractable from then on.
func (s *Store) Import(ctx context.Context, k keystore.Kind, name string, key keystore.Secret) (keystore.Key, error) {
	id := name
	want := 32
	switch {
	case k == keystore.IMK:
		id, want = "imk/"+name, 16
	case kindOf(name) != k:
		return keystore.Key{}, fault.E(fault.Invalid, keystore.CodeRequest, "a %s key is imported under an id like %s1", k, kindPrefix[k])
	}
	if name == "" || len(name) > 64 || key.Len() != want {
		return keystore.Key{}, fault.E(fault.Invalid, keystore.CodeRequest, "a %s key is %d bytes under a name of up to 64 characters", k, want)
	}
	if err := s.loadKeys(ctx); err != nil {
		return keystore.Key{}, err
	}
	if _, ok := s.key(id); ok {
		return keystore.Key{}, fault.E(fault.Conflict, keystore.CodeKeyExists, "token %q already holds a key %.64q", s.cfg.Token, id)
	}
	kt, t := template(k, id)
	_ = kt
	t = append(t, p11.NewAttribute(p11.CKA_VALUE, key.Reveal()))
	for i, a := range t {
		if a.Type == p11.CKA_VALUE_LEN {
			t = append(t[:i], t[i+1:]...)
			break
		}
	}
	err := s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		_, err := c.CreateObject(sh, t)
		return err
	})
	if err != nil {
		return keystore.Key{}, s.hsmErr(err, "import key "+id)
	}
	if err := s.loadKeys(ctx); err != nil {
		return keystore.Key{}, err
	}
	kcv, err := s.KCV(ctx, id)
	if err != nil {
		return keystore.Key{}, err
	}
	if k == keystore.IMK && s.sm4 != nil {
		// The hybrid: the token has no SM4, so an issuer master key that
		// SM4 cards use is held by the soft store as well (docs/keys.md).
		if _, err := s.sm4.Import(ctx, k, name, key); err != nil && !fault.Has(err, fault.Conflict, keystore.CodeKeyExists) {
			return keystore.Key{}, err
		}
	}
	return keystore.Key{Kind: k, ID: strings.TrimPrefix(id, "imk/"), KCV: kcv, Active: true}, nil
}

// KCV is a key's check value, computed in the token without the key
// leaving it: the first 3 bytes of a zero block encrypted under the key
// (TDES for issuer master keys, AES for masters and roots) — by
// encrypt-data derivation of a zero block (the key has no CKA_ENCRYPT),
// the same value the key file shows for the same key. An index key
// (HMAC only) shows "H" and the first 3 bytes of HMAC-SHA-256(key, 16 zero
// bytes).
func (s *Store) KCV(ctx context.Context, id string) (string, error) {
	if strings.HasPrefix(id, "imk:") {
		id = "imk/" + strings.TrimPrefix(id, "imk:")
	}
	h, ok := s.key(id)
	if !ok {
		if h, ok = s.key("imk/" + id); ok {
			id = "imk/" + id
		}
	}
	if !ok {
		return "", fault.E(fault.NotFound, keystore.CodeKeyMissing, "token %q holds no key %.64q", s.cfg.Token, id)
	}
	var out []byte
	err := s.with(ctx, func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		switch kindOf(id) {
		case keystore.IndexK:
			if err = c.SignInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_SHA256_HMAC, nil)}, h); err == nil {
				out, err = c.Sign(sh, make([]byte, 16))
			}
		case keystore.Master:
			out, err = ecb(c, sh, p11.CKM_AES_ECB, h, make([]byte, 16), false)
		case keystore.EMVRoot:
			out, err = zeroBlock(c, sh, p11.CKM_AES_ECB_ENCRYPT_DATA, h, 16)
		default:
			out, err = zeroBlock(c, sh, p11.CKM_DES3_ECB_ENCRYPT_DATA, h, 8)
		}
		return err
	})
	if err != nil {
		return "", s.hsmErr(err, "key check value of "+id)
	}
	v := strings.ToUpper(hex.EncodeToString(out[:3]))
	if kindOf(id) == keystore.IndexK {
		v = "H" + v
	}
	return v, nil
}

// zeroBlock is the encryption of a zero block under a derive-only key,
// by deriving a short generic secret from it and reading that.
func zeroBlock(c *p11.Ctx, sh p11.SessionHandle, mech uint, k p11.ObjectHandle, n int) ([]byte, error) {
	t := append(secretTemplate(p11.CKK_GENERIC_SECRET, false, "", true), p11.NewAttribute(p11.CKA_VALUE_LEN, n))
	h, err := derive(c, sh, mech, k, make([]byte, n), t)
	if err != nil {
		return nil, err
	}
	defer c.DestroyObject(sh, h)
	a, err := c.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil || len(a) != 1 || len(a[0].Value) < 3 {
		return nil, fault.E(fault.Unavailable, "pkcs11", "the token gives no check value (%v)", err)
	}
	return a[0].Value, nil
}

// List names every tapwallet key in the token with its check value.
func (s *Store) List(ctx context.Context) ([]keystore.Key, error) {
	if err := s.loadKeys(ctx); err != nil {
		return nil, err
	}
	var out []keystore.Key
	for _, k := range []keystore.Kind{keystore.Master, keystore.IndexK, keystore.EMVRoot} {
		ids := s.ids(k)
		for i, id := range ids {
			kcv, err := s.KCV(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, keystore.Key{Kind: k, ID: id, KCV: kcv, Active: i == len(ids)-1})
		}
	}
	s.mu.Lock()
	var imks []string
	for id := range s.keys {
		if strings.HasPrefix(id, "imk/") {
			imks = append(imks, id)
		}
	}
	s.mu.Unlock()
	sortStrings(imks)
	for _, id := range imks {
		kcv, err := s.KCV(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, keystore.Key{Kind: keystore.IMK, ID: strings.TrimPrefix(id, "imk/"), KCV: kcv, Active: true})
	}
	return out, nil
}

// HMACCheck is the index-key check value the token shows, for a key in
// clear (to compare with a key file's before importing it).
func HMACCheck(key keystore.Secret) string {
	m := hmac.New(sha256.New, key.Reveal())
	m.Write(make([]byte, 16))
	return "H" + strings.ToUpper(hex.EncodeToString(m.Sum(nil)[:3]))
}
