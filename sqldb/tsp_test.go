package sqldb_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// greenIssuer approves every card of BIN 622999 (an in-process bank).
type greenIssuer struct{}

func (greenIssuer) Verify(ctx context.Context, pan card.PAN, exp card.Expiry, cvn2 string) (tsp.Verdict, error) {
	return greenIssuer{}.Route(ctx, pan)
}
func (greenIssuer) Route(ctx context.Context, pan card.PAN) (tsp.Verdict, error) {
	return tsp.Verdict{Decision: tsp.Green, BankID: "test", BankName: "Test Bank", Product: "debit", TokenRange: 99}, nil
}
func (greenIssuer) Bank(id string) (string, string, bool) { return "Test Bank", "#000000", true }

func testPAN(i int) string {
	body := fmt.Sprintf("622999%09d", i)
	return body + string(card.LuhnDigit(body))
}

type fixture struct {
	db     *sqldb.DB
	wallet *wallet.Service
	tokens *tsp.Service
	phone  wallet.Phone
}

func newFixture(t *testing.T, db *sqldb.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	keys, err := keystore.OpenFile(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := wallet.NewService(&sqldb.WalletStore{DB: db}, nil)
	w.ArgonTime, w.ArgonMemoryKiB = 1, 1024
	ts := tsp.New(&sqldb.TokenStore{DB: db}, keys, greenIssuer{}, tsp.EMVKeys{Alg: emv.TDES}, nil)
	acc, err := w.SignUp(ctx, "bob@example.com", "password123", "test")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	ph, err := w.RegisterPhone(ctx, acc.ID, "p", "m", der, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, wallet: w, tokens: ts, phone: ph}
}

// TestCardLimitConcurrent: 16 concurrent adds on one phone leave exactly 8.
func TestCardLimitConcurrent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: f.phone, PAN: testPAN(i), Expiry: "1230", CVN2: "123"})
			}(i)
		}
		wg.Wait()
		ok, limited := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case fault.Has(err, fault.Limit, "card_limit"):
				limited++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 8 || limited != 8 {
			t.Errorf("got %d added and %d refused, want 8 and 8", ok, limited)
		}
		toks, err := f.tokens.Cards(ctx, f.phone.ID)
		if err != nil {
			t.Fatal(err)
		}
		ph, _ := f.wallet.Store.Phone(ctx, f.phone.ID)
		if len(toks) != 8 || ph.CardCount != 8 {
			t.Errorf("got %d tokens and card_count %d, want 8 and 8", len(toks), ph.CardCount)
		}
		defaults := 0
		for _, tk := range toks {
			if tk.Default {
				defaults++
			}
		}
		if defaults != 1 {
			t.Errorf("got %d default cards, want 1", defaults)
		}
		// Removing one frees a slot; the next add succeeds, the one after fails.
		ph.CardCount = 8
		if err := f.tokens.RemoveCard(ctx, ph, toks[3].Number.Digits(), "test"); err != nil {
			t.Fatal(err)
		}
		ph, _ = f.wallet.Store.Phone(ctx, f.phone.ID)
		if _, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: ph, PAN: testPAN(100), Expiry: "1230", CVN2: "123"}); err != nil {
			t.Fatalf("add after remove: %v", err)
		}
		ph, _ = f.wallet.Store.Phone(ctx, f.phone.ID)
		if _, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: ph, PAN: testPAN(101), Expiry: "1230", CVN2: "123"}); !fault.Has(err, fault.Limit, "card_limit") {
			t.Fatalf("ninth card: got %v, want card_limit", err)
		}
	})
}

// TestTokenLifecycle covers the token's states, events, PAR sharing and the
// properties of the token number.
func TestTokenLifecycle(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		res, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: f.phone, PAN: testPAN(7), Expiry: "1230", CVN2: "123"})
		if err != nil {
			t.Fatal(err)
		}
		tok := res.Card.Token
		if !card.LuhnValid(tok.Number.Digits()) || tok.Number.Digits()[:6] != "628899" || tok.Number.Digits() == testPAN(7) {
			t.Errorf("token %s: want a Luhn-valid number in 628899 that is not the PAN", tok.Number)
		}
		if len(tok.PAR) != 29 {
			t.Errorf("got PAR of %d characters, want 29", len(tok.PAR))
		}
		if _, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: f.phone, PAN: testPAN(7), Expiry: "1230", CVN2: "123"}); !fault.Has(err, fault.Conflict, "card_on_phone") {
			t.Errorf("same card twice: got %v, want card_on_phone", err)
		}
		// Another phone of the account gets another token with the same PAR.
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		ph2, _ := f.wallet.RegisterPhone(ctx, f.phone.AccountID, "p2", "m", der, "test")
		res2, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: ph2, PAN: testPAN(7), Expiry: "1230", CVN2: "123"})
		if err != nil {
			t.Fatal(err)
		}
		if res2.Card.Token.PAR != tok.PAR || res2.Card.Token.Number == tok.Number {
			t.Errorf("second token: PAR %s (want %s), number must differ", res2.Card.Token.PAR, tok.PAR)
		}
		n := tok.Number.Digits()
		steps := []struct {
			to   tsp.State
			call func() error
		}{
			{tsp.Suspended, func() error { return f.tokens.Suspend(ctx, n, "portal:acc", "wallet switched off") }},
			{tsp.Active, func() error { return f.tokens.Resume(ctx, n, "portal:acc", "wallet switched on") }},
			{tsp.Deleted, func() error { return f.tokens.RemoveCard(ctx, f.phone, n, "account:acc") }},
		}
		for _, s := range steps {
			if err := s.call(); err != nil {
				t.Fatalf("to %s: %v", s.to, err)
			}
			got, _ := f.tokens.Store.Token(ctx, n)
			if got.State != s.to {
				t.Fatalf("got state %s, want %s", got.State, s.to)
			}
		}
		if err := f.tokens.Resume(ctx, n, "x", "y"); !fault.Has(err, fault.Conflict, "token_deleted") {
			t.Errorf("resume a deleted token: got %v, want token_deleted", err)
		}
		evs, _ := f.tokens.Store.TokenEvents(ctx, n)
		if len(evs) != 4 || evs[1].Actor != "portal:acc" || evs[1].Reason != "wallet switched off" {
			t.Errorf("got events %+v, want 4 with who and why", evs)
		}
	})
}

// TestStepUp covers the one-time code: wrong, three wrong, late, right.
func TestStepUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		now := time.Now()
		f.tokens.Now = func() time.Time { return now }
		b := tsp.Binding{ID: "bind_x", PhoneID: f.phone.ID, AccountID: f.phone.AccountID, Sealed: []byte{1}, Expiry: "1230", BankID: "test",
			OTPHash: f.tokens.Keys.Index("otp", []byte("bind_x:123456")), State: "pending", ExpiresAt: now.Add(5 * time.Minute), CreatedAt: now}
		if err := f.tokens.Store.CreateBinding(ctx, b, tsp.OTPMessage{ID: "m1", AccountID: f.phone.AccountID, BindingID: "bind_x", Message: "code 123456", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"wrong_otp", "wrong_otp", "otp_attempts", "binding_closed"} {
			_, err := f.tokens.ConfirmOTP(ctx, f.phone, "bind_x", "000000")
			if fault.CodeOf(err) != want {
				t.Fatalf("try %d: got %v, want %s", i+1, err, want)
			}
		}
		b.ID = "bind_y"
		b.OTPHash = f.tokens.Keys.Index("otp", []byte("bind_y:123456"))
		f.tokens.Store.CreateBinding(ctx, b, tsp.OTPMessage{ID: "m2", AccountID: f.phone.AccountID, BindingID: "bind_y", Message: "x", CreatedAt: now})
		f.tokens.Now = func() time.Time { return now.Add(5*time.Minute + time.Second) }
		if _, err := f.tokens.ConfirmOTP(ctx, f.phone, "bind_y", "123456"); !fault.Has(err, fault.Invalid, "otp_expired") {
			t.Fatalf("late code: got %v, want otp_expired", err)
		}
		if _, err := f.tokens.ConfirmOTP(ctx, f.phone, "bind_nope", "123456"); !fault.Has(err, fault.NotFound, "binding_not_found") {
			t.Fatalf("unknown binding: got %v", err)
		}
	})
}

// TestKeyUseCryptogram: both token stores keep the cryptogram a key made
// when it is used (what tells a cloned phone's second cryptogram from a
// replay), a use declined for its counter keeps none, and an alert to the
// card holder lands in the outbox.
func TestKeyUseCryptogram(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		fast := sqldb.NewFastTokenStore(db)
		defer fast.Close()
		stores := []struct {
			name  string
			store tsp.Store
		}{{"TokenStore", &sqldb.TokenStore{DB: db}}, {"FastTokenStore", fast}}
		for i, s := range stores {
			t.Run(s.name, func(t *testing.T) {
				res, err := f.tokens.AddCard(ctx, tsp.AddCardRequest{Phone: f.phone, PAN: testPAN(20 + i), Expiry: "1230", CVN2: "123"})
				if err != nil || res.Card == nil {
					t.Fatalf("add card: %v", err)
				}
				tok := res.Card.Token.Number.Digits()
				arqc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
				if err := s.store.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 1, ATC: 5, At: time.Now(), Cryptogram: arqc}); err != nil {
					t.Fatal(err)
				}
				err = s.store.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 2, ATC: 5, At: time.Now(), Cryptogram: []byte{9, 9, 9, 9, 9, 9, 9, 9}})
				if !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
					t.Fatalf("a counter used twice: got %v, want %s", err, tsp.DeclineATCReplay)
				}
				keys, err := s.store.(tsp.KeyLister).LUKs(ctx, tok)
				if err != nil || len(keys) < 2 {
					t.Fatalf("keys: got %d (%v)", len(keys), err)
				}
				if k := keys[0]; k.Index != 1 || k.UsedATC != 5 || string(k.UsedARQC) != string(arqc) {
					t.Errorf("key 1: got index %d counter %d cryptogram %x, want 1, 5, %x", k.Index, k.UsedATC, k.UsedARQC, arqc)
				}
				if k := keys[1]; !k.UsedAt.IsZero() || len(k.UsedARQC) != 0 {
					t.Errorf("key 2 after a declined use: got used at %v with cryptogram %x, want unused", k.UsedAt, k.UsedARQC)
				}
				if k, err := (&sqldb.TokenStore{DB: db}).LUK(ctx, tok, 1); err != nil || string(k.UsedARQC) != string(arqc) {
					t.Errorf("LUK: got cryptogram %x (%v), want %x", k.UsedARQC, err, arqc)
				}
			})
		}
		t.Run("alert", func(t *testing.T) {
			msg := tsp.OTPMessage{ID: "otp_alert_1", AccountID: f.phone.AccountID, Message: "your card was suspended", CreatedAt: time.Now()}
			if err := (&sqldb.TokenStore{DB: db}).AddMessage(ctx, msg); err != nil {
				t.Fatal(err)
			}
			out, err := f.tokens.Outbox(ctx, f.phone.AccountID)
			if err != nil || len(out) == 0 || out[0].Message != msg.Message {
				t.Errorf("outbox: got %+v (%v), want the alert first", out, err)
			}
		})
	})
}
