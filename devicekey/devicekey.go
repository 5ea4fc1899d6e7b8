// Package devicekey is the phone's device key (ECDSA P-256) as the platform
// sees it: the proof-of-possession signature on phone requests that change
// cards, and sealing data (the limited-use key batches) to the phone so that
// only its secure element can open it (ECIES: ephemeral P-256 ECDH,
// HKDF-SHA-256, AES-256-GCM).
package devicekey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"strings"

	"golang.org/x/crypto/hkdf"

	"github.com/tapwallet/tapwallet/fault"
)

// Request signature headers sent by the phone.
const (
	HeaderPhone     = "X-Phone-Id"
	HeaderTime      = "X-Phone-Time"
	HeaderNonce     = "X-Phone-Nonce"
	HeaderSignature = "X-Phone-Signature"
)

// ParsePublic reads a PKIX (DER) P-256 public key. It fails with
// fault.Invalid for anything else.
func ParsePublic(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fault.E(fault.Invalid, "bad_device_key", "device key must be a DER (PKIX) P-256 public key")
	}
	pk, ok := k.(*ecdsa.PublicKey)
	if !ok || pk.Curve != elliptic.P256() {
		return nil, fault.E(fault.Invalid, "bad_device_key", "device key must be an ECDSA P-256 key")
	}
	return pk, nil
}

// SigningString is what a phone signs for one request: a version label, the
// method, the path, the Unix time, a nonce and the SHA-256 of the body.
func SigningString(method, path, unixTime, nonce string, body []byte) []byte {
	h := sha256.Sum256(body)
	return []byte(strings.Join([]string{"tapwallet-phone-v1", method, path, unixTime, nonce, hex.EncodeToString(h[:])}, "\n"))
}

// Verify checks an ASN.1 ECDSA signature over msg. It fails with
// fault.Unauthorized "bad_signature".
func Verify(pub *ecdsa.PublicKey, msg, sig []byte) error {
	h := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, h[:], sig) {
		return fault.E(fault.Unauthorized, "bad_signature", "the phone's signature does not verify")
	}
	return nil
}

// Sign signs msg with the device key (used inside the phone's secure element).
func Sign(priv *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, priv, h[:])
}

// Seal encrypts plaintext to the phone's public key: ephemeral public key
// (65 bytes, uncompressed) | nonce (12) | AES-256-GCM ciphertext. aad is
// bound to it.
func Seal(pub *ecdsa.PublicKey, plaintext, aad []byte) ([]byte, error) {
	rpub, err := pub.ECDH()
	if err != nil {
		return nil, fault.Wrap(err, fault.Invalid, "bad_device_key", "device key cannot do ECDH")
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "seal", "ephemeral key")
	}
	shared, err := eph.ECDH(rpub)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "seal", "ecdh")
	}
	aead, err := kdf(shared, eph.PublicKey().Bytes(), rpub.Bytes())
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	io.ReadFull(rand.Reader, nonce)
	out := append(eph.PublicKey().Bytes(), nonce...)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts what Seal made, with the device's private key. It fails with
// fault.Invalid "bad_sealed_data" if the data was altered or is for another key.
func Open(priv *ecdsa.PrivateKey, sealed, aad []byte) ([]byte, error) {
	bad := fault.E(fault.Invalid, "bad_sealed_data", "sealed data does not open with this device key")
	if len(sealed) < 65+12+16 {
		return nil, bad
	}
	k, err := priv.ECDH()
	if err != nil {
		return nil, bad
	}
	ephPub, err := ecdh.P256().NewPublicKey(sealed[:65])
	if err != nil {
		return nil, bad
	}
	shared, err := k.ECDH(ephPub)
	if err != nil {
		return nil, bad
	}
	aead, err := kdf(shared, sealed[:65], k.PublicKey().Bytes())
	if err != nil {
		return nil, bad
	}
	pt, err := aead.Open(nil, sealed[65:77], sealed[77:], aad)
	if err != nil {
		return nil, bad
	}
	return pt, nil
}

func kdf(shared, ephPub, recipient []byte) (cipher.AEAD, error) {
	key := make([]byte, 32)
	info := append(append([]byte("tapwallet device seal v1"), ephPub...), recipient...)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, info), key); err != nil {
		return nil, fault.Wrap(err, fault.Internal, "seal", "kdf")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "seal", "aes")
	}
	return cipher.NewGCM(b)
}
