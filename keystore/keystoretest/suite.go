// Package keystoretest is the conformance suite every keystore.Store
// passes (the key file's soft store and a PKCS#11 token's): seal and open,
// rotation, keyed hashes, the published EMV vectors (emv/testdata) through
// the interface, ARQCs and ARPCs in TDES and SM4 against package emv, key
// batches, key check values, errors, and no key in any printed form.
package keystoretest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/devicekey"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

// VectorIMK is the issuer master key of the published vectors
// (pyemv, emv-basic): imported by the suite under the name "vectors".
const VectorIMK = "0123456789ABCDEFFEDCBA9876543210"

// vector is the part of emv/testdata/vectors.json the suite reads.
type vector struct {
	Name, Source, Op, Alg, Option, IMK, Key, PAN, PSN, R, Data, ARC, CSU, Prop string
	Published                                                                  bool
	Pad                                                                        int
	ARPCKey                                                                    string `json:"arpc_key"`
	ARPCMethod                                                                 int    `json:"arpc_method"`
	Want                                                                       string
	WantAC                                                                     string `json:"want_ac"`
	WantARPC                                                                   string `json:"want_arpc"`
}

func vectors(t *testing.T) []vector {
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "emv", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q", s)
	}
	return b
}

func upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// Run runs the suite on the store s (fresh: its keys generated, nothing
// imported). It imports the vectors' issuer master key as "vectors".
func Run(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	imk, err := s.Import(ctx, keystore.IMK, "vectors", keystore.NewSecret(unhex(t, VectorIMK)))
	if err != nil {
		t.Fatalf("import the vectors' IMK: %v", err)
	}
	t.Run("KCV", func(t *testing.T) { testKCV(t, s, imk) })
	t.Run("PublishedVectors", func(t *testing.T) { testVectors(t, s) })
	for _, alg := range []emv.Alg{emv.TDES, emv.SM4} {
		t.Run("Counter/"+alg.String(), func(t *testing.T) { testCounter(t, s, alg) })
		t.Run("KeyBatch/"+alg.String(), func(t *testing.T) { testBatch(t, s, alg) })
	}
	t.Run("SM4ARPCIsSM4", func(t *testing.T) { testSM4ARPC(t, s) })
	t.Run("SealOpen", func(t *testing.T) { testSeal(t, s) })
	t.Run("Index", func(t *testing.T) { testIndex(t, s) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, s) })
	t.Run("Rotation", func(t *testing.T) { testRotation(t, s) })
	t.Run("NoKeyPrinted", func(t *testing.T) { testRedacted(t, s) })
}

func testKCV(t *testing.T, s keystore.Store, imk keystore.Key) {
	ctx := context.Background()
	found := false
	for _, v := range vectors(t) {
		if v.Op != "kcv" || !v.Published || !strings.EqualFold(v.Key, VectorIMK) {
			continue
		}
		found = true
		if !strings.HasPrefix(imk.KCV, v.Want) {
			t.Errorf("%s: import gave KCV %s, want %s…", v.Name, imk.KCV, v.Want)
		}
	}
	if !found {
		t.Fatal("no published KCV vector for the vectors' IMK")
	}
	kcv, err := s.KCV(ctx, "vectors")
	if err != nil || kcv != imk.KCV || kcv != keystore.KCV(unhex(t, VectorIMK)) {
		t.Errorf("KCV(vectors): got %s, %v, want %s (the import's and keystore.KCV's)", kcv, err, imk.KCV)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[keystore.Kind]bool{}
	for _, k := range list {
		kinds[k.Kind] = true
		if len(k.KCV) < 6 {
			t.Errorf("list: %v has no key check value", k)
		}
	}
	for _, k := range []keystore.Kind{keystore.Master, keystore.IndexK, keystore.EMVRoot, keystore.IMK} {
		if !kinds[k] {
			t.Errorf("list: no %s key in %v", k, list)
		}
	}
}

// testVectors runs the published option A chains (issuer master key →
// card master key → common session key of R → ARQC → ARPC method 1 or
// 2, with the session or the card master key) through VerifyARQC.
func testVectors(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	n := 0
	for _, v := range vectors(t) {
		if v.Op != "chain" || !v.Published || v.Option != "a" || !strings.EqualFold(v.IMK, VectorIMK) {
			continue
		}
		n++
		r := keystore.ARQC{Range: "vectors", Alg: emv.TDES, PAN: v.PAN, PSN: v.PSN, Method: keystore.ByR, R: unhex(t, v.R),
			Data: unhex(t, v.Data), Pad: emv.Padding(v.Pad), ARQC: unhex(t, v.WantAC)}
		if v.ARPCKey == "mk" {
			r.ARPCKey = keystore.ARPCWithCardKey
		}
		sess, err := s.VerifyARQC(ctx, r)
		if err != nil {
			t.Errorf("%s: the published ARQC %s does not verify: %v", v.Name, v.WantAC, err)
			continue
		}
		var arpc []byte
		if v.ARPCMethod == 2 {
			arpc, err = sess.ARPC2(ctx, unhex(t, v.CSU), unhex(t, v.Prop))
		} else {
			arpc, err = sess.ARPC1(ctx, unhex(t, v.ARC))
		}
		sess.Close()
		if err != nil || upper(arpc) != v.WantARPC {
			t.Errorf("%s: ARPC method %d got %s (%v), want %s", v.Name, v.ARPCMethod, upper(arpc), err, v.WantARPC)
		}
		bad := r
		bad.ARQC = append([]byte(nil), r.ARQC...)
		bad.ARQC[7] ^= 1
		if _, err := s.VerifyARQC(ctx, bad); !fault.Has(err, fault.Declined, keystore.CodeARQC) {
			t.Errorf("%s: an altered ARQC: got %v, want declined %s", v.Name, err, keystore.CodeARQC)
		}
	}
	if n < 6 {
		t.Fatalf("only %d published option A chains in emv/testdata", n)
	}
}

const testPAN, testPSN = "6288990000001234", "00"

// reference computes a counter-based cryptogram and its ARPCs in clear
// with package emv, from the vectors' IMK.
func reference(t *testing.T, alg emv.Alg, counter int, data []byte) (ac, arpc1, arpc2 []byte) {
	imk := unhex(t, VectorIMK)
	mk, err := emv.MasterKey(alg, emv.OptionA, imk, testPAN, testPSN)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := emv.SessionKeyPBOC(alg, mk, keystore.Counter2(counter))
	if err != nil {
		t.Fatal(err)
	}
	if ac, err = emv.Cryptogram(alg, sk, data, emv.PadMethod1); err != nil {
		t.Fatal(err)
	}
	if arpc1, err = emv.ARPCMethod1(alg, sk, ac, []byte("00")); err != nil {
		t.Fatal(err)
	}
	if arpc2, err = emv.ARPCMethod2(alg, sk, ac, []byte{0, 0, 0, 0}, nil); err != nil {
		t.Fatal(err)
	}
	return ac, arpc1, arpc2
}

func counterRequest(alg emv.Alg, counter int, data, ac []byte) keystore.ARQC {
	return keystore.ARQC{Range: "vectors", Alg: alg, PAN: testPAN, PSN: testPSN, Method: keystore.ByCounter, Counter: counter,
		Data: data, Pad: emv.PadMethod1, ARQC: ac}
}

// testCounter: the UnionPay way (session key by ATC or key index) gives
// emv's cryptogram and ARPCs, method 1 and 2.
func testCounter(t *testing.T, s keystore.Store, alg emv.Alg) {
	ctx := context.Background()
	data := []byte("amount 000000001234 country 0156 tvr 0000000000 un 11223344 atc 001c")
	for _, counter := range []int{1, 0x1C, 65535} {
		ac, a1, a2 := reference(t, alg, counter, data)
		sess, err := s.VerifyARQC(ctx, counterRequest(alg, counter, data, ac))
		if err != nil {
			t.Fatalf("counter %d: %v", counter, err)
		}
		got1, err1 := sess.ARPC1(ctx, []byte("00"))
		got2, err2 := sess.ARPC2(ctx, []byte{0, 0, 0, 0}, nil)
		sess.Close()
		if err1 != nil || err2 != nil || !bytes.Equal(got1, a1) || !bytes.Equal(got2, a2) {
			t.Errorf("counter %d: ARPCs %X (%v), %X (%v), want %X, %X", counter, got1, err1, got2, err2, a1, a2)
		}
		if _, err := sess.ARPC1(ctx, []byte("00")); !fault.Has(err, fault.Invalid, keystore.CodeSession) {
			t.Errorf("ARPC of a closed session: got %v, want %s", err, keystore.CodeSession)
		}
		again, err := s.ARPCSession(ctx, counterRequest(alg, counter, nil, ac))
		if err != nil {
			t.Fatal(err)
		}
		got, err := again.ARPC1(ctx, []byte("00"))
		again.Close()
		if err != nil || !bytes.Equal(got, a1) {
			t.Errorf("ARPCSession: got %X (%v), want %X", got, err, a1)
		}
		if _, err := s.VerifyARQC(ctx, counterRequest(alg, (counter+1)&0xFFFF, data, ac)); !fault.Has(err, fault.Declined, keystore.CodeARQC) {
			t.Errorf("another counter's key: got %v, want declined", err)
		}
	}
}

// testSM4ARPC: an SM4 card's ARPC is SM4 (it was once always TDES).
func testSM4ARPC(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	data := []byte("sm4 card data")
	ac, want, _ := reference(t, emv.SM4, 7, data)
	sess, err := s.VerifyARQC(ctx, counterRequest(emv.SM4, 7, data, ac))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	got, err := sess.ARPC1(ctx, []byte("00"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("SM4 ARPC: got %X (%v), want %X", got, err, want)
	}
	mk, _ := emv.MasterKey(emv.SM4, emv.OptionA, unhex(t, VectorIMK), testPAN, testPSN)
	sk, _ := emv.SessionKeyPBOC(emv.SM4, mk, keystore.Counter2(7))
	tdes, _ := emv.ARPCMethod1(emv.TDES, sk, ac, []byte("00"))
	if bytes.Equal(got, tdes) {
		t.Fatal("the SM4 card's ARPC is the TDES one")
	}
}

func testBatch(t *testing.T, s keystore.Store, alg emv.Alg) {
	ctx := context.Background()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	exp := time.Unix(1_900_000_000, 0)
	sealed, err := s.KeyBatch(ctx, keystore.Batch{Range: "vectors", Alg: alg, PAN: testPAN, PSN: testPSN, First: 11, Count: 3, Expires: exp, DeviceKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := devicekey.Open(priv, sealed, []byte(testPAN))
	if err != nil {
		t.Fatalf("the phone cannot open its batch: %v", err)
	}
	var b keystore.BatchPlaintext
	if err := json.Unmarshal(plain, &b); err != nil || b.Token != testPAN || len(b.Keys) != 3 {
		t.Fatalf("batch: %v, %+v", err, b.Token)
	}
	mk, _ := emv.MasterKey(alg, emv.OptionA, unhex(t, VectorIMK), testPAN, testPSN)
	for i, k := range b.Keys {
		want, _ := emv.SessionKeyPBOC(alg, mk, keystore.Counter2(11+i))
		if k.Index != 11+i || k.ExpiresAt != exp.Unix() || keystore.KCV(k.Key) != keystore.KCV(want) || !sameKey(alg, k.Key, want) {
			t.Errorf("key %d: index %d, expiry %d, KCV %s, want index %d, KCV %s", i, k.Index, k.ExpiresAt, keystore.KCV(k.Key), 11+i, keystore.KCV(want))
		}
	}
	if _, err := s.KeyBatch(ctx, keystore.Batch{Range: "vectors", Alg: alg, PAN: testPAN, First: 0, Count: 3, DeviceKey: pub}); !fault.Has(err, fault.Invalid, keystore.CodeRequest) {
		t.Errorf("key index 0: got %v, want %s", err, keystore.CodeRequest)
	}
}

// sameKey compares keys as the cipher uses them: DES ignores the parity
// bits (a PKCS#11 token sets them on the keys it derives).
func sameKey(alg emv.Alg, a, b []byte) bool {
	if alg == emv.TDES {
		return bytes.Equal(emv.AdjustParity(append([]byte(nil), a...)), emv.AdjustParity(append([]byte(nil), b...)))
	}
	return bytes.Equal(a, b)
}

func testSeal(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	pan := []byte("6222020000000004")
	sealed, err := s.Seal(ctx, pan, []byte("vault:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, pan) {
		t.Fatal("sealed data holds the card number")
	}
	got, err := s.Open(ctx, sealed, []byte("vault:1"))
	if err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := s.Open(ctx, sealed, []byte("vault:2")); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Errorf("another record's aad: got %v, want vault_integrity", err)
	}
	bad := append([]byte(nil), sealed...)
	bad[len(bad)-20] ^= 1
	if _, err := s.Open(ctx, bad, []byte("vault:1")); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Errorf("tampered: got %v, want vault_integrity", err)
	}
	bad = append([]byte(nil), sealed...)
	bad[2+len(keystore.SealedKeyID(sealed))+15] ^= 1 // inside the wrapped data key
	if _, err := s.Open(ctx, bad, []byte("vault:1")); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Errorf("tampered data key: got %v, want vault_integrity", err)
	}
	if _, err := s.Open(ctx, sealed[:20], []byte("vault:1")); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Errorf("truncated: got %v, want vault_integrity", err)
	}
}

func testIndex(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	a, err := s.Index(ctx, "pan", []byte("6222020000000004"))
	b, _ := s.Index(ctx, "pan", []byte("6222020000000004"))
	c, _ := s.Index(ctx, "otp", []byte("6222020000000004"))
	if err != nil || len(a) != 32 || !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("index: %x %x %x %v: want 32 bytes, the same for the same purpose and data, another for another purpose", a, b, c, err)
	}
	all, err := s.Indexes(ctx, "pan", []byte("6222020000000004"))
	if err != nil || len(all) == 0 || !bytes.Equal(all[0], a) {
		t.Fatalf("indexes: %x, %v: want the active one first", all, err)
	}
}

func testErrors(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	data := []byte("x")
	ac, _, _ := reference(t, emv.TDES, 1, data)
	for _, c := range []struct {
		name string
		r    keystore.ARQC
		kind fault.Kind
		code string
	}{
		{"no range", keystore.ARQC{Alg: emv.TDES, ARQC: ac}, fault.Invalid, keystore.CodeRequest},
		{"short ARQC", keystore.ARQC{Range: "vectors", Alg: emv.TDES, PAN: testPAN, ARQC: ac[:4]}, fault.Invalid, keystore.CodeRequest},
		{"bad algorithm", keystore.ARQC{Range: "vectors", Alg: 9, PAN: testPAN, ARQC: ac}, fault.Invalid, keystore.CodeRequest},
		{"SM4 with R", keystore.ARQC{Range: "vectors", Alg: emv.SM4, PAN: testPAN, Method: keystore.ByR, R: make([]byte, 8), ARQC: ac}, fault.Invalid, keystore.CodeRequest},
		{"bad PAN", keystore.ARQC{Range: "vectors", Alg: emv.TDES, PAN: "62x8", ARQC: ac}, fault.Invalid, keystore.CodeRequest},
		{"root not held", keystore.ARQC{Range: "token-range-628899", Root: "r99", Alg: emv.TDES, PAN: testPAN, ARQC: ac}, fault.NotFound, keystore.CodeKeyMissing},
	} {
		if _, err := s.VerifyARQC(ctx, c.r); !fault.Has(err, c.kind, c.code) {
			t.Errorf("%s: got %v, want %s %s", c.name, err, c.kind, c.code)
		}
	}
	sess, err := s.VerifyARQC(ctx, counterRequest(emv.TDES, 1, data, ac))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.ARPC1(ctx, []byte("000")); !fault.Has(err, fault.Invalid, keystore.CodeRequest) {
		t.Errorf("3-byte ARC: got %v", err)
	}
	if _, err := sess.ARPC2(ctx, []byte{0}, nil); !fault.Has(err, fault.Invalid, keystore.CodeRequest) {
		t.Errorf("1-byte CSU: got %v", err)
	}
	if _, err := s.KCV(ctx, "k999"); !fault.Has(err, fault.NotFound, keystore.CodeKeyMissing) {
		t.Errorf("KCV of a missing key: got %v", err)
	}
	if _, err := s.Import(ctx, keystore.IMK, "vectors", keystore.NewSecret(unhex(t, VectorIMK))); !fault.Has(err, fault.Conflict, keystore.CodeKeyExists) {
		t.Errorf("import under a name in use: got %v", err)
	}
	if _, err := s.Import(ctx, keystore.IMK, "short", keystore.NewSecret([]byte("0123"))); !fault.Has(err, fault.Invalid, keystore.CodeRequest) {
		t.Errorf("import of a 4-byte key: got %v", err)
	}
}

// testRotation: after a rotation of the master key new seals name the new
// key, old ones still open and re-wrap to it; after an index rotation the
// old hash is still among Indexes; after a root rotation the active root
// is the new one and ranges of the old root still verify.
func testRotation(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	pan := []byte("6222020000000012")
	old, err := s.Seal(ctx, pan, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	oldIdx, _ := s.Index(ctx, "pan", pan)
	rootBefore, _ := s.ActiveRoot(ctx)
	id, err := s.Rotate(ctx, keystore.Master)
	if err != nil {
		t.Fatal(err)
	}
	if keystore.SealedKeyID(old) == id {
		t.Fatalf("rotation made no new key (still %s)", id)
	}
	fresh, _ := s.Seal(ctx, pan, []byte("a"))
	if keystore.SealedKeyID(fresh) != id {
		t.Errorf("a seal after rotation names %s, want %s", keystore.SealedKeyID(fresh), id)
	}
	for _, x := range [][]byte{old, fresh} {
		if got, err := s.Open(ctx, x, []byte("a")); err != nil || !bytes.Equal(got, pan) {
			t.Errorf("open after rotation: %q, %v", got, err)
		}
	}
	re, changed, err := s.Rewrap(ctx, old)
	if err != nil || !changed || keystore.SealedKeyID(re) != id {
		t.Fatalf("rewrap: %v, %v, %s", changed, err, keystore.SealedKeyID(re))
	}
	if got, err := s.Open(ctx, re, []byte("a")); err != nil || !bytes.Equal(got, pan) {
		t.Errorf("open re-wrapped: %q, %v", got, err)
	}
	if _, changed, _ := s.Rewrap(ctx, re); changed {
		t.Error("a second rewrap changed it again")
	}
	if _, err := s.Rotate(ctx, keystore.IndexK); err != nil {
		t.Fatal(err)
	}
	all, err := s.Indexes(ctx, "pan", pan)
	if err != nil || len(all) < 2 || bytes.Equal(all[0], oldIdx) || !containsBytes(all[1:], oldIdx) {
		t.Errorf("indexes after an index rotation: %d hashes (%v), want the new first and the old among the rest", len(all), err)
	}
	rid, err := s.Rotate(ctx, keystore.EMVRoot)
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := s.ActiveRoot(ctx); act != rid || act == rootBefore {
		t.Errorf("active root after rotation %s, want %s (was %s)", act, rid, rootBefore)
	}
	// Token ranges keep verifying under the root they name; the same range
	// under two roots has two keys.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	var kcvs []string
	for _, root := range []string{rootBefore, rid} {
		sealed, err := s.KeyBatch(ctx, keystore.Batch{Range: "token-range-628899", Root: root, Alg: emv.TDES, PAN: testPAN, PSN: testPSN, First: 1, Count: 1, Expires: time.Now(), DeviceKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := devicekey.Open(priv, sealed, []byte(testPAN))
		var b keystore.BatchPlaintext
		json.Unmarshal(plain, &b)
		luk := b.Keys[0].Key
		ac, err := emv.Cryptogram(emv.TDES, luk, []byte("d"), emv.PadMethod1)
		if err != nil {
			t.Fatal(err)
		}
		r := counterRequest(emv.TDES, 1, []byte("d"), ac)
		r.Range, r.Root = "token-range-628899", root
		sess, err := s.VerifyARQC(ctx, r)
		if err != nil {
			t.Errorf("root %s: the cryptogram of its own limited-use key: %v", root, err)
			continue
		}
		sess.Close()
		kcvs = append(kcvs, keystore.KCV(luk))
	}
	if len(kcvs) == 2 && kcvs[0] == kcvs[1] {
		t.Error("one range under two roots has the same keys")
	}
}

func containsBytes(all [][]byte, b []byte) bool {
	for _, x := range all {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// testRedacted formats the store, a session and a Secret every way and
// finds none of the vectors' key (nor its halves) in the text.
func testRedacted(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	data := []byte("y")
	ac, _, _ := reference(t, emv.TDES, 3, data)
	sess, err := s.VerifyARQC(ctx, counterRequest(emv.TDES, 3, data, ac))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	secret := keystore.NewSecret(unhex(t, VectorIMK))
	holder := struct {
		Store   keystore.Store
		Session keystore.Session
		Key     keystore.Secret
		key     keystore.Secret
	}{s, sess, secret, secret}
	AssertNoKey(t, []string{VectorIMK}, s, sess, secret, &secret, holder, &holder)
}

// AssertNoKey formats each value with %v, %+v, %#v, %s, %x, %q and as
// JSON, and fails if any key in keysHex (upper or lower case hex, whole or
// either 8-byte half, or the raw bytes) appears.
func AssertNoKey(t testing.TB, keysHex []string, values ...any) {
	t.Helper()
	for i, v := range values {
		var out []string
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
			out = append(out, fmt.Sprintf(f, v))
		}
		if j, err := json.Marshal(v); err == nil {
			out = append(out, string(j))
		}
		text := strings.Join(out, "\n")
		if where := FindKey(text, keysHex); where != "" {
			t.Errorf("value %d (%T) shows key material (%s) when printed:\n%.600s", i, v, where, text)
		}
	}
}

// FindKey reports which key (or half) of keysHex appears in text, "" if
// none does.
func FindKey(text string, keysHex []string) string {
	low := strings.ToLower(text)
	for _, k := range keysHex {
		k = strings.ToLower(k)
		raw, _ := hex.DecodeString(k)
		for _, part := range []string{k, k[:16], k[len(k)-16:]} {
			if strings.Contains(low, part) {
				return "hex " + part[:4] + "…"
			}
		}
		if len(raw) > 0 && strings.Contains(text, string(raw)) {
			return "raw bytes"
		}
		if len(raw) > 0 && strings.Contains(text, fmt.Sprint(raw)[1:20]) {
			return "bytes in decimal"
		}
	}
	return ""
}
