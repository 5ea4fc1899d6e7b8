package keystore

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
)

// Store is a key store as operations, the way a card network talks to its
// payment HSM: the caller names keys by reference (a token range, a key id)
// and hands data; results come back, the keys never do. keystore/soft
// keeps the keys in the key file (the default); keystore/pkcs11 keeps them
// in a PKCS#11 token. Both pass the conformance suite in
// keystore/keystoretest.
type Store interface {
	// Seal encrypts a card number (or any secret) under a fresh data key
	// wrapped by the active vault master key; aad is bound to it.
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	// Open reverses Seal with whichever master key sealed it. Altered data
	// or aad: fault.Internal "vault_integrity"; a master key the store
	// does not hold: fault.Internal "vault_key_unknown".
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
	// Rewrap wraps sealed's data key again under the active master key
	// (false: it already was).
	Rewrap(ctx context.Context, sealed []byte) ([]byte, bool, error)
	// Index is the keyed hash (HMAC-SHA-256) of data for one purpose
	// under the active index key; Indexes gives it under every index key
	// held, the active key's first.
	Index(ctx context.Context, purpose string, data []byte) ([]byte, error)
	Indexes(ctx context.Context, purpose string, data []byte) ([][]byte, error)

	// VerifyARQC derives the card's session key from the token range's
	// issuer master key and checks the cryptogram. A cryptogram that does
	// not verify: fault.Declined CodeARQC. The Session makes the ARPC.
	VerifyARQC(ctx context.Context, r ARQC) (Session, error)
	// ARPCSession derives the same keys without checking a cryptogram
	// (Data is not read): for the ARPC of an authorization the caller
	// already verified (a payment HSM's "generate ARPC"). The caller must
	// refuse to be an oracle: only for cryptograms it saw verify.
	ARPCSession(ctx context.Context, r ARQC) (Session, error)
	// KeyBatch derives limited-use keys and seals them to a phone's device
	// key; only the sealed batch leaves the store.
	KeyBatch(ctx context.Context, r Batch) ([]byte, error)
	// ActiveRoot names the EMV root new token ranges derive from.
	ActiveRoot(ctx context.Context) (string, error)

	// List names every key by kind, id and key check value.
	List(ctx context.Context) ([]Key, error)
	// KCV is the key check value of one key by id ("k1", "r2", or an
	// imported issuer master key's name).
	KCV(ctx context.Context, id string) (string, error)
	// Rotate adds a key of kind k and makes it active; it returns its id.
	Rotate(ctx context.Context, k Kind) (string, error)
	// Import stores a key given in clear (from components, at a key
	// ceremony) under name; it fails with fault.Conflict if the name is
	// taken and keeps nothing of the key but the stored object.
	Import(ctx context.Context, k Kind, name string, key Secret) (Key, error)
	// Close releases the store (a PKCS#11 session).
	Close() error
}

// Session is the result of a verified ARQC: it makes the ARPC with the
// session (or card master) key that checked the cryptogram, in the
// cryptogram's algorithm. Close forgets the key; a Session is for one
// authorization and is not safe for concurrent use.
type Session interface {
	// ARPC1 is ARPC method 1 for the 2-byte authorization response code
	// (8 bytes).
	ARPC1(ctx context.Context, arc []byte) ([]byte, error)
	// ARPC2 is ARPC method 2 for the 4-byte card status update and up to 8
	// bytes of proprietary authentication data (4 bytes).
	ARPC2(ctx context.Context, csu, prop []byte) ([]byte, error)
	Close()
}

// SessionKeyMethod is how the session key comes from the card master key.
type SessionKeyMethod int

const (
	// ByCounter: the PBOC 3.0 / UnionPay session key of a 2-byte counter —
	// the ATC, or (for tapwallet's limited-use keys) the key index.
	ByCounter SessionKeyMethod = iota
	// ByR: the EMV common session key of an 8-byte diversification value R.
	ByR
)

// ARPCKey is the key ARPCs are made with.
type ARPCKey int

const (
	ARPCWithSessionKey ARPCKey = iota // the session key (UnionPay, EMV CSK)
	ARPCWithCardKey                   // the card master key (some schemes)
)

// ARQC asks a store to check an application cryptogram.
type ARQC struct {
	// Range names the issuer master key: a token range ("token-range-
	// 628801") derived from root Root ("" is r1), or an imported key.
	Range string
	Root  string
	// Alg is the cryptogram's algorithm, and the derivation's: an SM4
	// card has SM4 keys (CVN 12).
	Alg emv.Alg
	// PAN and PSN choose the card master key (EMV option A).
	PAN, PSN string
	Method   SessionKeyMethod
	Counter  int    // ByCounter: 0-65535
	R        []byte // ByR: 8 bytes
	Data     []byte // the data the card MACed
	Pad      emv.Padding
	ARQC     []byte // 8 bytes
	ARPCKey  ARPCKey
}

// Batch asks a store for a phone's limited-use keys: the PBOC session keys
// of indexes First..First+Count-1 of a token's card master key, in the
// JSON the phone's secure element reads ({"token","keys":[{"index","key",
// "expires_at"}]}), sealed to its device key (devicekey.Seal, aad = token).
type Batch struct {
	Range, Root string
	Alg         emv.Alg
	PAN, PSN    string
	First       int
	Count       int
	Expires     time.Time
	DeviceKey   []byte // the phone's public key, DER
}

// Codes of the store's errors.
const (
	CodeARQC       = "arqc_invalid"   // fault.Declined: the cryptogram does not verify
	CodeRequest    = "keystore_input" // fault.Invalid: a malformed request
	CodeKeyMissing = "key_missing"    // fault.NotFound: no key of that id / name
	CodeKeyExists  = "key_exists"     // fault.Conflict: an import under a name in use
	CodeSession    = "session_used"   // fault.Invalid: a closed session
)

// Check validates r's shape (the same for every store).
func (r ARQC) Check() error {
	bad := func(what string) error { return fault.E(fault.Invalid, CodeRequest, "ARQC request: %s", what) }
	switch {
	case r.Range == "":
		return bad("no key range")
	case r.Alg != emv.TDES && r.Alg != emv.SM4:
		return bad("algorithm must be tdes or sm4")
	case len(r.ARQC) != 8:
		return bad("the cryptogram must be 8 bytes")
	case r.Method == ByCounter && (r.Counter < 0 || r.Counter > 0xFFFF):
		return bad("counter out of range")
	case r.Method == ByR && len(r.R) != 8:
		return bad("R must be 8 bytes")
	case r.Method != ByCounter && r.Method != ByR:
		return bad("unknown session key method")
	}
	return nil
}

// Check validates b's shape.
func (b Batch) Check() error {
	switch {
	case b.Range == "" || b.PAN == "":
		return fault.E(fault.Invalid, CodeRequest, "key batch: no range or card number")
	case b.Alg != emv.TDES && b.Alg != emv.SM4:
		return fault.E(fault.Invalid, CodeRequest, "key batch: algorithm must be tdes or sm4")
	case b.First < 1 || b.Count < 1 || b.First+b.Count-1 > 0xFFFF:
		return fault.E(fault.Invalid, CodeRequest, "key batch: key indexes out of range")
	}
	return nil
}

// CheckARPC1 and CheckARPC2 validate ARPC inputs.
func CheckARPC1(arc []byte) error {
	if len(arc) != 2 {
		return fault.E(fault.Invalid, CodeRequest, "the ARC must be 2 bytes")
	}
	return nil
}

func CheckARPC2(csu, prop []byte) error {
	if len(csu) != 4 || len(prop) > 8 {
		return fault.E(fault.Invalid, CodeRequest, "ARPC method 2 needs a 4-byte CSU and at most 8 bytes of proprietary data")
	}
	return nil
}

// Counter2 is a counter as the 2 bytes of the PBOC derivation.
func Counter2(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

// CSKData is the 16-byte input of the EMV common session key for R.
func CSKData(r []byte) []byte {
	in := make([]byte, 16)
	copy(in, r)
	copy(in[8:], r)
	in[2], in[10] = 0xF0, 0x0F
	return in
}

// PBOCData is the 16-byte input of the PBOC session key for a counter.
func PBOCData(counter int) []byte {
	in := make([]byte, 16)
	in[6], in[7] = byte(counter>>8), byte(counter)
	in[14], in[15] = ^in[6], ^in[7]
	return in
}

// Random returns n random bytes.
func Random(n int) []byte { return random(n) }

// Plain is a Store seen without contexts, for the parties that still call
// Seal/Open/Index the old way (the switch's record sealing, the portal's
// keyed hashes, the network–issuer secret). An Index the store cannot make
// gives a fresh random value (it matches nothing) and reports the error to
// OnError.
type Plain struct {
	S       Store
	OnError func(error)
}

var _ Keys = Plain{}

func (p Plain) Seal(plaintext, aad []byte) ([]byte, error) {
	return p.S.Seal(context.Background(), plaintext, aad)
}

func (p Plain) Open(sealed, aad []byte) ([]byte, error) {
	return p.S.Open(context.Background(), sealed, aad)
}

func (p Plain) Index(purpose string, data []byte) []byte {
	h, err := p.S.Index(context.Background(), purpose, data)
	if err != nil {
		if p.OnError != nil {
			p.OnError(err)
		}
		b := make([]byte, 32)
		rand.Read(b)
		return b
	}
	return h
}

func (p Plain) Indexes(purpose string, data []byte) [][]byte {
	h, err := p.S.Indexes(context.Background(), purpose, data)
	if err != nil {
		return [][]byte{p.Index(purpose, data)}
	}
	return h
}
