package soft

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
)

const cachePAN, cachePSN = "6288990000001234", "00"

func openTemp(t testing.TB) *Store {
	s, err := Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// request makes a genuine ARQC for counter with the card key derived from imk.
func request(t testing.TB, imk []byte, rng, pan string, counter int) keystore.ARQC {
	mk, err := emv.MasterKey(emv.TDES, emv.OptionA, imk, pan, cachePSN)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := emv.SessionKeyPBOC(emv.TDES, mk, keystore.Counter2(counter))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("amount 000000001234 un 11223344")
	ac, err := emv.Cryptogram(emv.TDES, sk, data, emv.PadMethod1)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.ARQC{Range: rng, Alg: emv.TDES, PAN: pan, PSN: cachePSN, Method: keystore.ByCounter,
		Counter: counter, Data: data, Pad: emv.PadMethod1, ARQC: ac}
}

func rangeKey(t testing.TB, s *Store, rng string) []byte {
	imk, err := s.f.IssuerKey("", rng)
	if err != nil {
		t.Fatal(err)
	}
	return imk.Reveal()
}

func verify(t testing.TB, s *Store, r keystore.ARQC) {
	t.Helper()
	sess, err := s.VerifyARQC(context.Background(), r)
	if err != nil {
		t.Fatalf("VerifyARQC: %v", err)
	}
	sess.Close()
}

// TestCardKeyCached: a card's second cryptogram within cacheFor is checked
// with the kept card key (it verifies, nothing new is derived); after
// cacheFor the keys are derived again.
func TestCardKeyCached(t *testing.T) {
	s := openTemp(t)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	imk := rangeKey(t, s, "token-range-628899")
	verify(t, s, request(t, imk, "token-range-628899", cachePAN, 1))
	id := cardID{imkID{"", "token-range-628899"}, emv.TDES, cachePAN, cachePSN}
	first := s.cache.cards[id]
	verify(t, s, request(t, imk, "token-range-628899", cachePAN, 2))
	if got := s.cache.cards[id]; got.until != first.until || len(s.cache.cards) != 1 || len(s.cache.imks) != 1 {
		t.Fatalf("second cryptogram: cache %d cards, %d ranges, entry renewed %v; want the first entry kept", len(s.cache.cards), len(s.cache.imks), got.until != first.until)
	}
	now = now.Add(cacheFor)
	verify(t, s, request(t, imk, "token-range-628899", cachePAN, 3))
	if got := s.cache.cards[id]; !got.until.Equal(now.Add(cacheFor)) {
		t.Fatalf("after cacheFor: entry until %v, want derived again (until %v)", got.until, now.Add(cacheFor))
	}
}

// TestImportForgetsKeys: an issuer master key imported under a range's name
// is the one the next cryptogram is checked with, though the range's
// derived key was kept a moment before.
func TestImportForgetsKeys(t *testing.T) {
	s := openTemp(t)
	verify(t, s, request(t, rangeKey(t, s, "bank-x"), "bank-x", cachePAN, 1))
	imported := []byte("0123456789ABCDEF")
	if _, err := s.Import(context.Background(), keystore.IMK, "bank-x", keystore.NewSecret(imported)); err != nil {
		t.Fatal(err)
	}
	verify(t, s, request(t, imported, "bank-x", cachePAN, 2))
}

// TestCacheBounded: past cacheMax cards the cache starts again; every card
// still verifies, and Close wipes what is kept.
func TestCacheBounded(t *testing.T) {
	s := openTemp(t)
	imk := rangeKey(t, s, "r")
	kept := map[cardID]cached{}
	for i := 0; i <= cacheMax; i++ {
		pan := fmt.Sprintf("62889900%08d", i)
		r := request(t, imk, "r", pan, 1)
		if i < 2 || i >= cacheMax-1 {
			verify(t, s, r)
		} else { // fill without deriving: the bound is what is tested
			put(&s.cache, &s.cache.cards, cardID{imkID{"", "r"}, emv.TDES, pan, cachePSN}, keystore.NewSecret(imk), s.now())
		}
		if n := len(s.cache.cards); n > cacheMax {
			t.Fatalf("after %d cards: %d kept, want at most %d", i+1, n, cacheMax)
		}
	}
	for k, e := range s.cache.cards {
		kept[k] = e
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range kept {
		if !bytes.Equal(e.key.Reveal(), make([]byte, e.key.Len())) {
			t.Fatal("Close left a kept card key unwiped")
		}
	}
}

// TestCacheConcurrent: cards verified at once while the cache is emptied
// all verify (run with -race).
func TestCacheConcurrent(t *testing.T) {
	s := openTemp(t)
	imk := rangeKey(t, s, "r")
	reqs := make([]keystore.ARQC, 8)
	for i := range reqs {
		reqs[i] = request(t, imk, "r", fmt.Sprintf("62889900%08d", i), 7)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				sess, err := s.VerifyARQC(context.Background(), r)
				if err != nil {
					errs <- err
					return
				}
				sess.Close()
				s.cache.clear()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// BenchmarkVerifyARQC: one card's cryptograms checked one after another,
// with its keys kept ("cached") and derived each time ("derived", the
// cache emptied before each).
func BenchmarkVerifyARQC(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "cached"
		if cold {
			name = "derived"
		}
		b.Run(name, func(b *testing.B) {
			s := openTemp(b)
			r := request(b, rangeKey(b, s, "r"), "r", cachePAN, 9)
			for b.Loop() {
				if cold {
					s.cache.clear()
				}
				verify(b, s, r)
			}
		})
	}
}

// TestCloseWipesSchedules: the card key's schedule kept with it is wiped
// with it (it derives another session key afterwards), and a session's
// Close wipes its own.
func TestCloseWipesSchedules(t *testing.T) {
	s := openTemp(t)
	imk := rangeKey(t, s, "r")
	r := request(t, imk, "r", cachePAN, 5)
	sess, err := s.VerifyARQC(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	e := s.cache.cards[cardID{imkID{"", "r"}, emv.TDES, cachePAN, cachePSN}]
	if e.keyed == nil {
		t.Fatal("no schedule kept with the card key")
	}
	before, _ := e.keyed.SessionKeyPBOC(keystore.Counter2(5))
	arpc, err := sess.ARPC1(context.Background(), []byte("00"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := emv.ARPCMethod1(emv.TDES, before, r.ARQC, []byte("00"))
	if !bytes.Equal(arpc, want) {
		t.Fatalf("ARPC %X, want %X", arpc, want)
	}
	keyed := sess.(*session).keyed
	sess.Close()
	if again, _ := keyed.ARPCMethod1(r.ARQC, []byte("00")); bytes.Equal(again, arpc) {
		t.Fatal("the session's schedule makes the ARPC after Close")
	}
	if _, err := sess.ARPC1(context.Background(), []byte("00")); err == nil {
		t.Fatal("ARPC1 after Close: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.keyed.SessionKeyPBOC(keystore.Counter2(5)); bytes.Equal(after, before) {
		t.Fatal("the card key's schedule derives its session key after Close")
	}
	if !bytes.Equal(e.key.Reveal(), make([]byte, e.key.Len())) {
		t.Fatal("Close left the card key unwiped")
	}
}

// TestOpenKeepsDataKey: a sealed value opened is opened again with its
// data key kept — still checked whole (another aad, an altered byte:
// vault_integrity) — until cacheFor has passed; a value that does not open
// leaves nothing kept; a key that expired is wiped when another takes its
// place, and Close wipes the one kept (its AES round keys and GCM table:
// the whole value is zeros).
func TestOpenKeepsDataKey(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	now := time.Now()
	s.now = func() time.Time { return now }
	pan, aad := []byte(cachePAN), []byte("vault:v1")
	sealed, err := s.Seal(ctx, pan, aad)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), sealed...)
	bad[len(bad)-1] ^= 1
	if _, err := s.Open(ctx, bad, aad); !fault.Has(err, fault.Internal, "vault_integrity") {
		t.Fatalf("an altered value: %v, want vault_integrity", err)
	}
	if len(s.cache.deks) != 0 {
		t.Fatal("a value that did not open left its data key kept")
	}
	for i := range 2 {
		if got, err := s.Open(ctx, sealed, aad); err != nil || !bytes.Equal(got, pan) {
			t.Fatalf("open %d: %q %v", i, got, err)
		}
	}
	if len(s.cache.deks) != 1 {
		t.Fatalf("%d data keys kept, want 1", len(s.cache.deks))
	}
	p, _ := keystore.ParseSealed(sealed)
	e := s.cache.deks[string(p.AppendDataKeyRef(nil))]
	for _, c := range []struct {
		what        string
		sealed, aad []byte
	}{{"another aad", sealed, []byte("vault:v2")}, {"an altered value", bad, aad}} {
		if _, err := s.Open(ctx, c.sealed, c.aad); !fault.Has(err, fault.Internal, "vault_integrity") {
			t.Fatalf("%s with the key kept: %v, want vault_integrity", c.what, err)
		}
	}
	now = now.Add(cacheFor)
	if got, err := s.Open(ctx, sealed, aad); err != nil || !bytes.Equal(got, pan) {
		t.Fatalf("open once the key expired: %q %v", got, err)
	}
	if !zeros(e.aead) {
		t.Fatal("the expired AES-GCM kept was not wiped when another took its place")
	}
	e = s.cache.deks[string(p.AppendDataKeyRef(nil))]
	if _, err := p.OpenBy(e.aead, aad); err != nil {
		t.Fatalf("the kept AES-GCM does not open its value: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !zeros(e.aead) {
		t.Fatal("Close left the kept AES-GCM's key schedule (its value is not all zeros)")
	}
}

// zeros reports whether the value a points at is all zeros.
func zeros(a any) bool {
	v := reflect.ValueOf(a)
	n := v.Type().Elem().Size()
	return bytes.Equal(unsafe.Slice((*byte)(v.UnsafePointer()), n), make([]byte, n))
}

// BenchmarkOpen: a token's card number opened, its data key kept from the
// last opening ("kept") and unwrapped each time ("unwrapped": the key kept
// dropped before each).
func BenchmarkOpen(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "kept"
		if cold {
			name = "unwrapped"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := openTemp(b)
			aad := []byte("vault:v1")
			sealed, err := s.Seal(ctx, []byte(cachePAN), aad)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if cold {
					s.cache.clear()
				}
				if _, err := s.Open(ctx, sealed, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
