package tsptest

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

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/tsp"
)

// Issuers is a bank for every card (a bank.IDV): BIN 622999 is approved
// outright, BIN 622998 asks for a one-time code, 622997 is declined;
// anything else is fault.NotFound bank.CodeUnknownBIN.
type Issuers struct{}

// Verify runs the ID&V of a card; see bank.IDV.
func (Issuers) Verify(ctx context.Context, r bank.IDVRequest) (bank.IDVVerdict, error) {
	v, err := Issuers{}.Route(ctx, r.PAN)
	switch r.PAN.BIN() {
	case "622998":
		v.Decision = bank.StepUp
	case "622997":
		v.Decision, v.Reason = bank.Red, bank.CodeIDVDeclined
	}
	return v, err
}

// Route returns the bank of a card; see bank.IDV.
func (Issuers) Route(ctx context.Context, pan card.PAN) (bank.IDVVerdict, error) {
	switch pan.BIN() {
	case "622999", "622998", "622997":
		return bank.IDVVerdict{Decision: bank.Green, BankID: "test", BankName: "Test Bank", Product: bank.Debit, TokenRange: 99, CardArt: "#123456"}, nil
	}
	return bank.IDVVerdict{Decision: bank.Red, Reason: bank.CodeUnknownBIN}, fault.E(fault.NotFound, bank.CodeUnknownBIN, "no bank issues BIN %s", pan.BIN())
}

// Bank describes the test bank.
func (Issuers) Bank(bankID string) (string, string, bool) {
	return "Test Bank", "#123456", bankID == "test"
}

// PAN returns the i-th test card number of a BIN (Luhn-valid).
func PAN(bin string, i int) string {
	body := fmt.Sprintf("%s%09d", bin, i)
	return body + string(card.LuhnDigit(body))
}

// NewDevice returns a device of a new account with a fresh P-256 key.
func NewDevice(t testing.TB) tsp.Device {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	return tsp.Device{ID: id.New("ph"), AccountID: id.New("acc"), PublicKey: der}
}

// NewService returns a token service over st with a fresh key file and
// Issuers.
func NewService(t testing.TB, st tsp.Store) *tsp.Service {
	t.Helper()
	keys, err := soft.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tsp.New(st, keys, Issuers{}, tsp.EMVKeys{Alg: emv.TDES}, nil)
}

func add(ctx context.Context, s *tsp.Service, d tsp.Device, pan string) (tsp.AddCardResult, error) {
	return s.AddCard(ctx, tsp.AddCardRequest{Device: d, PAN: pan, Expiry: "1230", CVN2: "123"})
}

// Run runs the suite on stores open makes (a fresh, empty store per call).
func Run(t *testing.T, open func(t *testing.T) tsp.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st tsp.Store)
	}{
		{"CardLimitConcurrent", testCardLimitConcurrent},
		{"WalletOffRace", testWalletOffRace},
		{"DeviceOnResumesNamed", testDeviceOn},
		{"Lifecycle", testLifecycle},
		{"StepUp", testStepUp},
		{"KeyUse", testKeyUse},
		{"Outbox", testOutbox},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// testCardLimitConcurrent: 32 concurrent adds of different cards on one
// device leave exactly 8, one of them the default; removing one frees one
// slot.
func testCardLimitConcurrent(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d := NewDevice(t)
	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = add(ctx, s, d, PAN("622999", i))
		}(i)
	}
	wg.Wait()
	ok, limited := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case fault.Has(err, fault.Limit, tsp.CodeCardLimit):
			limited++
		default:
			t.Errorf("add: got %v, want success or %s", err, tsp.CodeCardLimit)
		}
	}
	if ok != tsp.MaxCardsPerPhone || limited != n-tsp.MaxCardsPerPhone {
		t.Fatalf("got %d added and %d refused, want %d and %d", ok, limited, tsp.MaxCardsPerPhone, n-tsp.MaxCardsPerPhone)
	}
	toks, err := s.Cards(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := st.Device(ctx, d.ID)
	if err != nil || len(toks) != 8 || ds.Cards != 8 {
		t.Fatalf("got %d tokens and a count of %d (%v), want 8 and 8", len(toks), ds.Cards, err)
	}
	defaults := 0
	for _, tk := range toks {
		if tk.Default {
			defaults++
		}
		if tk.BankName != "Test Bank" || tk.CardArt != "#123456" {
			t.Errorf("card %s: got bank %q art %q, want Test Bank #123456", tk.Number.Last4(), tk.BankName, tk.CardArt)
		}
	}
	if defaults != 1 {
		t.Errorf("got %d default cards, want 1", defaults)
	}
	if err := s.RemoveCard(ctx, d, toks[3].Number.Digits(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := add(ctx, s, d, PAN("622999", 100)); err != nil {
		t.Fatalf("add after a remove: %v", err)
	}
	if _, err := add(ctx, s, d, PAN("622999", 101)); !fault.Has(err, fault.Limit, tsp.CodeCardLimit) {
		t.Fatalf("ninth card: got %v, want %s", err, tsp.CodeCardLimit)
	}
	// Another device of the same account is not limited by the first.
	d2 := d
	d2.ID = id.New("ph")
	if _, err := add(ctx, s, d2, PAN("622999", 0)); err != nil {
		t.Fatalf("the same card on another device: %v", err)
	}
}

// testWalletOffRace: adds racing a switch-off either land before it (and
// are suspended by it) or fail wallet_off; after it no token of the device
// is active and no card can be added.
func testWalletOffRace(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d := NewDevice(t)
	if _, err := add(ctx, s, d, PAN("622999", 1)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	var suspended []string
	var offErr error
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = add(ctx, s, d, PAN("622999", 10+i))
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		suspended, offErr = s.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:x", Reason: "phone lost"})
	}()
	wg.Wait()
	if offErr != nil {
		t.Fatal(offErr)
	}
	for _, err := range errs {
		if err != nil && !fault.Has(err, fault.Forbidden, tsp.CodeWalletOff) {
			t.Errorf("add racing the switch-off: got %v, want success or %s", err, tsp.CodeWalletOff)
		}
	}
	toks, _ := s.Cards(ctx, d.ID)
	for _, tk := range toks {
		if tk.State != tsp.Suspended {
			t.Errorf("token %s after the switch-off: got %s, want suspended", tk.Number.Last4(), tk.State)
		}
		if n, _ := st.UnusedKeys(ctx, tk.Number.Digits(), time.Now()); n != 0 {
			t.Errorf("token %s after the switch-off: %d keys still valid, want 0", tk.Number.Last4(), n)
		}
	}
	// Tokens that landed after the switch-off's list was read do not exist:
	// a second switch-off finds nothing left to suspend.
	again, err := s.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:x"})
	if err != nil || len(again) != 0 {
		t.Errorf("second switch-off: got %v (%v), want nothing suspended", again, err)
	}
	if len(suspended) != len(toks) {
		t.Errorf("switch-off suspended %d tokens, the device has %d", len(suspended), len(toks))
	}
	if _, err := add(ctx, s, d, PAN("622999", 99)); !fault.Has(err, fault.Forbidden, tsp.CodeWalletOff) {
		t.Errorf("add after the switch-off: got %v, want %s", err, tsp.CodeWalletOff)
	}
	if ds, _ := st.Device(ctx, d.ID); !ds.Off || ds.Cards != len(toks) {
		t.Errorf("device: got %+v, want off with %d cards", ds, len(toks))
	}
}

// testDeviceOn: switching on resumes only the named tokens that are
// suspended and on the device, and lets cards be added again.
func testDeviceOn(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d, other := NewDevice(t), NewDevice(t)
	var nums []string
	for i := 0; i < 3; i++ {
		r, err := add(ctx, s, d, PAN("622999", 200+i))
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, r.Card.Token.Number.Digits())
	}
	ro, err := add(ctx, s, other, PAN("622999", 300))
	if err != nil {
		t.Fatal(err)
	}
	otherTok := ro.Card.Token.Number.Digits()
	if err := s.Suspend(ctx, otherTok, "bank", "fraud"); err != nil {
		t.Fatal(err)
	}
	off, err := s.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:x"})
	if err != nil || len(off) != 3 {
		t.Fatalf("switch-off: got %v (%v), want 3 suspended", off, err)
	}
	on, err := s.DeviceOn(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "portal:x", Tokens: []string{nums[0], nums[2], otherTok}})
	if err != nil {
		t.Fatal(err)
	}
	if len(on) != 2 || !(on[0] == nums[0] && on[1] == nums[2] || on[0] == nums[2] && on[1] == nums[0]) {
		t.Errorf("switch-on resumed %v, want %s and %s", on, nums[0], nums[2])
	}
	for i, want := range []tsp.State{tsp.Active, tsp.Suspended, tsp.Active} {
		if tk, _ := st.Token(ctx, nums[i]); tk.State != want {
			t.Errorf("token %d: got %s, want %s", i, tk.State, want)
		}
	}
	if tk, _ := st.Token(ctx, otherTok); tk.State != tsp.Suspended {
		t.Errorf("another device's token: got %s, want it left suspended", tk.State)
	}
	if _, err := add(ctx, s, d, PAN("622999", 210)); err != nil {
		t.Errorf("add after switch-on: %v", err)
	}
	if _, err := s.DeviceOff(ctx, tsp.DeviceSwitch{Actor: "x"}); !fault.Has(err, fault.Invalid, "device_missing") {
		t.Errorf("switch-off without a device: got %v, want device_missing", err)
	}
}

// testLifecycle: token number, PAR, one card once per device, the states
// with who and why, deleted is final.
func testLifecycle(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d := NewDevice(t)
	pan := PAN("622999", 7)
	res, err := add(ctx, s, d, pan)
	if err != nil || res.Card == nil {
		t.Fatalf("add: got %+v, %v", res, err)
	}
	tok := res.Card.Token
	if n := tok.Number.Digits(); !card.LuhnValid(n) || n[:6] != "628899" || n == pan {
		t.Errorf("token %s: want a Luhn-valid number in 628899 that is not the PAN", tok.Number)
	}
	if len(tok.PAR) != 29 || tok.PANLast4 != pan[len(pan)-4:] {
		t.Errorf("got PAR %q and last four %q, want 29 characters and %s", tok.PAR, tok.PANLast4, pan[len(pan)-4:])
	}
	if _, err := add(ctx, s, d, pan); !fault.Has(err, fault.Conflict, tsp.CodeCardOnPhone) {
		t.Errorf("same card twice: got %v, want %s", err, tsp.CodeCardOnPhone)
	}
	d2 := d
	d2.ID = id.New("ph")
	res2, err := add(ctx, s, d2, pan)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Card.Token.PAR != tok.PAR || res2.Card.Token.Number == tok.Number {
		t.Errorf("second token: PAR %s (want %s), number must differ", res2.Card.Token.PAR, tok.PAR)
	}
	n := tok.Number.Digits()
	if err := s.SetDefault(ctx, d2, n); !fault.Has(err, fault.NotFound, tsp.CodeCardNotFound) {
		t.Errorf("default of another device's card: got %v, want %s", err, tsp.CodeCardNotFound)
	}
	steps := []struct {
		to   tsp.State
		call func() error
	}{
		{tsp.Suspended, func() error { return s.Suspend(ctx, n, "portal:acc", "wallet switched off") }},
		{tsp.Active, func() error { return s.Resume(ctx, n, "portal:acc", "wallet switched on") }},
		{tsp.Deleted, func() error { return s.RemoveCard(ctx, d, n, "account:acc") }},
	}
	for _, step := range steps {
		if err := step.call(); err != nil {
			t.Fatalf("to %s: %v", step.to, err)
		}
		if got, _ := st.Token(ctx, n); got.State != step.to {
			t.Fatalf("got state %s, want %s", got.State, step.to)
		}
	}
	if err := s.Resume(ctx, n, "x", "y"); !fault.Has(err, fault.Conflict, tsp.DeclineTokenDeleted) {
		t.Errorf("resume a deleted token: got %v, want %s", err, tsp.DeclineTokenDeleted)
	}
	evs, _ := st.TokenEvents(ctx, n)
	if len(evs) != 4 || evs[1].Actor != "portal:acc" || evs[1].Reason != "wallet switched off" || evs[3].To != string(tsp.Deleted) {
		t.Errorf("got events %+v, want 4 with who and why", evs)
	}
	if toks, _ := s.Cards(ctx, d.ID); len(toks) != 0 {
		t.Errorf("cards after removing the only one: got %d, want 0", len(toks))
	}
	if _, err := add(ctx, s, d, PAN("622997", 1)); !fault.Has(err, fault.Declined, "idv_declined") {
		t.Errorf("a card the bank declines: got %v, want idv_declined", err)
	}
	if _, err := add(ctx, s, d, PAN("622999", 8)[:15]+"0"); fault.KindOf(err) != fault.Invalid {
		t.Errorf("a bad card number: got %v, want invalid", err)
	}
}

// testStepUp: a card whose bank asks for a code waits for it; wrong codes
// count, a late code fails, the right one binds the card.
func testStepUp(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d := NewDevice(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.Now = func() time.Time { return now }
	res, err := add(ctx, s, d, PAN("622998", 1))
	if err != nil || res.BindingID == "" || res.Card != nil {
		t.Fatalf("add: got %+v, %v, want a binding waiting for a code", res, err)
	}
	msgs, err := s.Outbox(ctx, d.AccountID)
	if err != nil || len(msgs) != 1 || msgs[0].BindingID != res.BindingID {
		t.Fatalf("outbox: got %+v, %v, want the code message", msgs, err)
	}
	code := msgs[0].Message[len(msgs[0].Message)-len("123456. It expires in 5 minutes. Never share it.") : len(msgs[0].Message)-len(". It expires in 5 minutes. Never share it.")]
	other := NewDevice(t)
	if _, err := s.ConfirmOTP(ctx, other, res.BindingID, code); !fault.Has(err, fault.NotFound, tsp.CodeBindingNotFound) {
		t.Errorf("code from another device: got %v, want %s", err, tsp.CodeBindingNotFound)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := s.ConfirmOTP(ctx, d, res.BindingID, wrong); !fault.Has(err, fault.Invalid, "wrong_otp") {
		t.Fatalf("wrong code: got %v, want wrong_otp", err)
	}
	p, err := s.ConfirmOTP(ctx, d, res.BindingID, code)
	if err != nil || p == nil || p.Token.State != tsp.Active {
		t.Fatalf("right code: got %+v, %v, want an active token", p, err)
	}
	if _, err := s.ConfirmOTP(ctx, d, res.BindingID, code); !fault.Has(err, fault.Conflict, "binding_closed") {
		t.Errorf("code used twice: got %v, want binding_closed", err)
	}
	res, _ = add(ctx, s, d, PAN("622998", 2))
	for i, want := range []string{"wrong_otp", "wrong_otp", "otp_attempts", "binding_closed"} {
		if _, err := s.ConfirmOTP(ctx, d, res.BindingID, wrong); fault.CodeOf(err) != want {
			t.Fatalf("wrong try %d: got %v, want %s", i+1, err, want)
		}
	}
	res, _ = add(ctx, s, d, PAN("622998", 3))
	s.Now = func() time.Time { return now.Add(5*time.Minute + time.Second) }
	if _, err := s.ConfirmOTP(ctx, d, res.BindingID, code); !fault.Has(err, fault.Invalid, "otp_expired") {
		t.Errorf("late code: got %v, want otp_expired", err)
	}
}

// testKeyUse: a key's use keeps its counter and cryptogram; a counter not
// above the last declines and leaves the key unused; a used key declines.
func testKeyUse(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	s := NewService(t, st)
	d := NewDevice(t)
	res, err := add(ctx, s, d, PAN("622999", 20))
	if err != nil {
		t.Fatal(err)
	}
	tok := res.Card.Token.Number.Digits()
	arqc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 1, ATC: 5, At: time.Now(), Cryptogram: arqc}); err != nil {
		t.Fatal(err)
	}
	if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 2, ATC: 5, At: time.Now(), Cryptogram: []byte{9, 9, 9, 9, 9, 9, 9, 9}}); !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
		t.Fatalf("a counter used twice: got %v, want %s", err, tsp.DeclineATCReplay)
	}
	if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 1, ATC: 6, At: time.Now(), Cryptogram: arqc}); !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) {
		t.Fatalf("a key used twice: got %v, want %s", err, tsp.DeclineKeyUsed)
	}
	k1, err := st.LUK(ctx, tok, 1)
	if err != nil || k1.UsedATC != 5 || string(k1.UsedARQC) != string(arqc) || k1.UsedAt.IsZero() {
		t.Errorf("key 1: got %+v (%v), want used with counter 5 and %x", k1, err, arqc)
	}
	if k2, err := st.LUK(ctx, tok, 2); err != nil || !k2.UsedAt.IsZero() || len(k2.UsedARQC) != 0 {
		t.Errorf("key 2 after a declined use: got %+v (%v), want unused", k2, err)
	}
	if _, err := st.LUK(ctx, tok, 9999); !fault.Has(err, fault.NotFound, tsp.DeclineKeyUnknown) {
		t.Errorf("a key never issued: got %v, want not found", err)
	}
	if got, _ := st.Token(ctx, tok); got.LastATC != 5 {
		t.Errorf("last counter: got %d, want 5", got.LastATC)
	}
	if kl, ok := st.(tsp.KeyLister); ok {
		keys, err := kl.LUKs(ctx, tok)
		if err != nil || len(keys) != 10 || keys[0].Index != 1 || string(keys[0].UsedARQC) != string(arqc) {
			t.Errorf("LUKs: got %d keys (%v), want 10, the first used with %x", len(keys), err, arqc)
		}
	}
	if n, _ := st.UnusedKeys(ctx, tok, time.Now()); n != 9 {
		t.Errorf("unused keys: got %d, want 9", n)
	}
}

// testOutbox: an alert lands in the card holder's outbox, newest first,
// and only there.
func testOutbox(t *testing.T, st tsp.Store) {
	ctx := context.Background()
	a, ok := st.(tsp.Alerter)
	if !ok {
		t.Skip("the store queues no alerts")
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, acc := range []string{"acc_a", "acc_b", "acc_a"} {
		if err := a.AddMessage(ctx, tsp.OTPMessage{ID: fmt.Sprintf("otp_%d", i), AccountID: acc, Message: fmt.Sprintf("m%d", i), CreatedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := st.Outbox(ctx, "acc_a", 10)
	if err != nil || len(out) != 2 || out[0].Message != "m2" || out[1].Message != "m0" {
		t.Errorf("outbox: got %+v (%v), want m2 then m0", out, err)
	}
}
