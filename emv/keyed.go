package emv

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"unsafe"

	"github.com/emmansun/gmsm/sm4"
)

// Keyed is a 16-byte key with its block cipher's key schedule built once,
// for a key that is used more than once: a card master key deriving a
// session key per cryptogram, or a session key that checks the ARQC and
// then makes the ARPC. For TDES it holds the two single-DES halves
// (crypto/des), which make both the retail MAC (ISO/IEC 9797-1 algorithm
// 3) and TDES with keying option 2 (K1 K2 K1), so a TDES key costs two DES
// key schedules instead of the five a MAC and a block cipher of it would
// build. Its methods compute what the package's functions of the same
// names do.
//
// A Keyed is safe for concurrent use until Wipe, which overwrites its key
// schedules with zeros; after Wipe it computes garbage, so its holder
// must wipe it only when no one uses it any more. It prints redacted.
type Keyed struct {
	alg    Alg
	k1, k2 cipher.Block // TDES: K1 and K2 single-DES; SM4: k1 only
}

// NewKeyed returns key's schedules. It returns an error for an unknown Alg
// or a key that is not 16 bytes; the caller keeps (and wipes) key.
func NewKeyed(a Alg, key []byte) (*Keyed, error) {
	k, err := MakeKeyed(a, key)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// MakeKeyed is NewKeyed as a value, for a holder that keeps the Keyed
// inside itself (one allocation less: a key store's session per
// authorization). It fails like NewKeyed.
func MakeKeyed(a Alg, key []byte) (Keyed, error) {
	if a != TDES && a != SM4 {
		return Keyed{}, fmt.Errorf("%w %v", ErrAlg, a)
	}
	if len(key) != KeySize {
		return Keyed{}, fmt.Errorf("%w (got %d)", ErrKeyLength, len(key))
	}
	k := Keyed{alg: a}
	var err error
	if a == SM4 {
		if k.k1, err = sm4.NewCipher(key); err != nil {
			return Keyed{}, err
		}
		return k, nil
	}
	if k.k1, err = des.NewCipher(key[:8]); err != nil {
		return Keyed{}, err
	}
	if k.k2, err = des.NewCipher(key[8:]); err != nil {
		WipeSchedule(k.k1)
		return Keyed{}, err
	}
	return k, nil
}

// Alg is the key's algorithm.
func (k *Keyed) Alg() Alg { return k.alg }

// Wipe overwrites the key schedules with zeros (the key is gone from the
// Keyed). It may be called more than once.
func (k *Keyed) Wipe() {
	WipeSchedule(k.k1)
	WipeSchedule(k.k2)
}

// encrypt encrypts one block: TDES K1 K2 K1 (EDE) or SM4.
func (k *Keyed) encrypt(dst, src []byte) {
	k.k1.Encrypt(dst, src)
	if k.alg == TDES {
		k.k2.Decrypt(dst, dst)
		k.k1.Encrypt(dst, dst)
	}
}

// encryptECB encrypts b (whole blocks) block by block, in place, and
// returns it: each caller hands over a buffer of its own.
func (k *Keyed) encryptECB(b []byte) []byte {
	bs := k.alg.BlockSize()
	for i := 0; i+bs <= len(b); i += bs {
		k.encrypt(b[i:i+bs], b[i:i+bs])
	}
	return b
}

// MAC is the package's MAC under this key.
func (k *Keyed) MAC(data []byte, p Padding) ([]byte, error) {
	if k.alg == TDES {
		m, err := k.tdesMAC(data, p)
		if err != nil {
			return nil, err
		}
		return append(make([]byte, 0, des.BlockSize), m[:]...), nil
	}
	padded, err := Pad(data, sm4.BlockSize, p)
	if err != nil {
		return nil, err
	}
	return cbcMAC(k.k1, make([]byte, sm4.BlockSize), padded), nil
}

// tdesMAC is the retail MAC of data under a TDES key (CBC-MAC under K1,
// then the last block decrypted under K2 and encrypted under K1), padded
// in a buffer on the stack when it fits.
func (k *Keyed) tdesMAC(data []byte, p Padding) ([des.BlockSize]byte, error) {
	var buf [64]byte
	var h [des.BlockSize]byte
	padded, err := appendPad(buf[:0], data, des.BlockSize, p)
	if err != nil {
		return h, err
	}
	for i := 0; i+des.BlockSize <= len(padded); i += des.BlockSize {
		subtle.XORBytes(h[:], h[:], padded[i:i+des.BlockSize])
		k.k1.Encrypt(h[:], h[:])
	}
	k.k2.Decrypt(h[:], h[:])
	k.k1.Encrypt(h[:], h[:])
	return h, nil
}

// Cryptogram is the package's Cryptogram under this key.
func (k *Keyed) Cryptogram(data []byte, p Padding) ([]byte, error) {
	m, err := k.MAC(data, p)
	if err != nil {
		return nil, err
	}
	return m[:8], nil
}

// VerifyCryptogram is the package's VerifyCryptogram under this key.
func (k *Keyed) VerifyCryptogram(data []byte, p Padding, cryptogram []byte) (bool, error) {
	if k.alg == TDES {
		want, err := k.tdesMAC(data, p)
		if err != nil {
			return false, err
		}
		return subtle.ConstantTimeCompare(want[:], cryptogram) == 1, nil
	}
	want, err := k.Cryptogram(data, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, cryptogram) == 1, nil
}

// CommonSessionKey is the package's CommonSessionKey with this key as the
// card master key (TDES only).
func (k *Keyed) CommonSessionKey(r []byte) ([]byte, error) {
	if k.alg != TDES {
		return nil, fmt.Errorf("%w: the common session key is TDES only", ErrAlg)
	}
	if len(r) != 8 {
		return nil, fmt.Errorf("%w: diversification value must be 8 bytes", ErrArgument)
	}
	in := make([]byte, 16)
	copy(in, r)
	copy(in[8:], r)
	in[2], in[10] = 0xF0, 0x0F
	return AdjustParity(k.encryptECB(in)), nil
}

// SessionKeyPBOC is the package's SessionKeyPBOC with this key as the card
// master key.
func (k *Keyed) SessionKeyPBOC(atc []byte) ([]byte, error) {
	if len(atc) != 2 {
		return nil, fmt.Errorf("%w: ATC must be 2 bytes", ErrArgument)
	}
	in := make([]byte, 16)
	copy(in[6:8], atc)
	in[14], in[15] = ^atc[0], ^atc[1]
	return k.encryptECB(in), nil
}

// ARPCMethod1 is the package's ARPCMethod1 under this key.
func (k *Keyed) ARPCMethod1(arqc, arc []byte) ([]byte, error) {
	if len(arqc) != 8 {
		return nil, fmt.Errorf("%w: ARQC must be 8 bytes", ErrArgument)
	}
	if len(arc) != 2 {
		return nil, fmt.Errorf("%w: ARC must be 2 bytes", ErrArgument)
	}
	// Room for the ARC after the ARPC: the issuer authentication data
	// (tag 91) is ARPC ‖ ARC, appended without another allocation.
	in := make([]byte, k.alg.BlockSize(), max(k.alg.BlockSize(), 8+len(arc)))
	copy(in, arqc)
	in[0] ^= arc[0]
	in[1] ^= arc[1]
	k.encrypt(in, in)
	return in[:8], nil
}

// ARPCMethod2 is the package's ARPCMethod2 under this key.
func (k *Keyed) ARPCMethod2(arqc, csu, prop []byte) ([]byte, error) {
	data, err := arpc2Data(arqc, csu, prop)
	if err != nil {
		return nil, err
	}
	m, err := k.MAC(data, PadMethod2)
	if err != nil {
		return nil, err
	}
	return m[:4], nil
}

// arpc2Data is what ARPC method 2 MACs: ARQC || CSU || proprietary data,
// each checked.
func arpc2Data(arqc, csu, prop []byte) ([]byte, error) {
	if len(arqc) != 8 {
		return nil, fmt.Errorf("%w: ARQC must be 8 bytes", ErrArgument)
	}
	if len(csu) != 4 {
		return nil, fmt.Errorf("%w: CSU must be 4 bytes", ErrArgument)
	}
	if len(prop) > 8 {
		return nil, fmt.Errorf("%w: proprietary authentication data must be 0 to 8 bytes", ErrArgument)
	}
	data := make([]byte, 0, 20)
	data = append(data, arqc...)
	data = append(data, csu...)
	return append(data, prop...), nil
}

// String returns the algorithm and "[redacted]", never the key.
func (k *Keyed) String() string { return k.alg.String() + " key schedule [redacted]" }

// GoString is like String.
func (k *Keyed) GoString() string { return k.String() }

// Format prints String for every verb.
func (k *Keyed) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue makes log/slog print the key redacted.
func (k *Keyed) LogValue() slog.Value { return slog.StringValue(k.String()) }

// WipeSchedule overwrites the key schedule a cipher holds with zeros —
// a block cipher (sm4's round keys, crypto/des's subkeys) or an AEAD of
// the standard library (crypto/cipher's AES-GCM: the AES round keys and
// the GCM key's table) — the cipher's value and the arrays its slices
// point at; the cipher computes garbage after. It touches only numbers —
// never a pointer — and reports false, wiping nothing, for a cipher whose
// layout holds anything else (a key store keeps only a cipher it can
// wipe).
func WipeSchedule(c any) bool {
	v := reflect.ValueOf(c)
	if c == nil || v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	t := v.Type().Elem()
	switch planOf(t) {
	case wipeFlat:
		clear(unsafe.Slice((*byte)(v.UnsafePointer()), t.Size()))
	case wipeWalk:
		wipeAt(v.UnsafePointer(), t)
	default:
		return false
	}
	return true
}

// How a type's value is wiped: refused, cleared whole (numbers only, as
// crypto/des's and crypto/aes's schedules), or walked (wipeAt).
const (
	wipeRefused = iota
	wipeFlat
	wipeWalk
)

// plans holds each type's plan, worked out once (reflect.Type → int).
var plans sync.Map

func planOf(t reflect.Type) int {
	if p, ok := plans.Load(t); ok {
		return p.(int)
	}
	p := wipeRefused
	switch {
	case flat(t):
		p = wipeFlat
	case wipeable(t):
		p = wipeWalk
	}
	plans.Store(t, p)
	return p
}

// flat reports whether a value of t is numbers only, in place.
func flat(t reflect.Type) bool {
	switch {
	case number(t.Kind()):
		return true
	case t.Kind() == reflect.Array:
		return flat(t.Elem())
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			if !flat(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// wipeable reports whether a value of t holds only numbers, arrays and
// structs of them, slices of numbers and pointers to wipeable values
// (a pointer is followed, never changed), eight levels deep at most.
func wipeable(t reflect.Type) bool { return wipeableIn(t, 8) }

func wipeableIn(t reflect.Type, depth int) bool {
	if depth < 0 {
		return false
	}
	wipeable := func(t reflect.Type) bool { return wipeableIn(t, depth-1) }
	if number(t.Kind()) {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return wipeable(t.Elem())
	case reflect.Array:
		return wipeable(t.Elem())
	case reflect.Slice:
		k := t.Elem().Kind()
		return k != reflect.Slice && k != reflect.Struct && k != reflect.Pointer && wipeable(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !wipeable(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}

// number reports whether k is a kind of number (or a bool).
func number(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// wipeAt zeroes the numbers of a wipeable t at p: a slice's elements (its
// header is left as it is), everything else in place.
func wipeAt(p unsafe.Pointer, t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer:
		if q := *(*unsafe.Pointer)(p); q != nil {
			wipeAt(q, t.Elem())
		}
	case reflect.Slice:
		s := *(*[]byte)(p) // a header: data, len, cap
		clear(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), uintptr(cap(s))*t.Elem().Size()))
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			wipeAt(unsafe.Add(p, f.Offset), f.Type)
		}
	case reflect.Array:
		if k := t.Elem().Kind(); k == reflect.Slice || k == reflect.Struct || k == reflect.Pointer {
			for i := range t.Len() {
				wipeAt(unsafe.Add(p, uintptr(i)*t.Elem().Size()), t.Elem())
			}
			return
		}
		clear(unsafe.Slice((*byte)(p), t.Size()))
	default:
		clear(unsafe.Slice((*byte)(p), t.Size()))
	}
}
