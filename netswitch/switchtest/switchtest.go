// Package switchtest is the conformance suite of a netswitch.Store: every
// implementation runs Run. open returns two stores over ONE database, as
// two switch processes sharing it would hold them; the suite checks that a
// message identity is decided once between them.
package switchtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
)

// Run runs the suite; open makes a fresh database and two stores on it.
func Run(t *testing.T, open func(t *testing.T) (a, b netswitch.Store)) {
	ctx := context.Background()
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	token, err := card.ParseToken("6288010000000009")
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id string) netswitch.Auth {
		return netswitch.Auth{ID: id, Digest: "d-" + id, Terminal: "T1", STAN: "000001", Transmission: "0314090000", Token: token,
			TokenLast4: token.Last4(), BankID: "b1", PhoneID: "ph1", Amount: money.New(1234, money.CNY), ClearAmount: 1234, SealedPAN: []byte("sealed"),
			BusinessDate: "20260314", ReceivedAt: now}
	}
	t.Run("save once, finish once", func(t *testing.T) {
		a, b := open(t)
		r := rec("x1")
		if err := a.SaveAuth(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveAuth(ctx, r); !fault.Has(err, fault.Conflict, netswitch.CodeAuthExists) {
			t.Fatalf("second SaveAuth at the other store: got %v, want %s", err, netswitch.CodeAuthExists)
		}
		r.ResponseCode, r.AuthCode, r.Answer, r.AnsweredAt = iso8583.Approved, "A1", []byte("0110"), now
		if err := a.FinishAuth(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := b.FinishAuth(ctx, r); !fault.Has(err, fault.Conflict, netswitch.CodeAuthSettled) {
			t.Fatalf("second FinishAuth: got %v, want %s", err, netswitch.CodeAuthSettled)
		}
		got, err := b.Auth(ctx, "x1")
		if err != nil || got.ResponseCode != iso8583.Approved || string(got.Answer) != "0110" || got.Amount != money.New(1234, money.CNY) || got.Token != token {
			t.Fatalf("Auth: got %+v, %v", got, err)
		}
		if _, err := b.Auth(ctx, "nope"); !fault.Has(err, fault.NotFound, netswitch.CodeAuthNotFound) {
			t.Fatalf("unknown: got %v, want %s", err, netswitch.CodeAuthNotFound)
		}
	})
	t.Run("a reversal first declines the original at the other store", func(t *testing.T) {
		a, b := open(t)
		if err := a.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "e1", RRN: "r", At: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "e1", RRN: "r", At: now}); err != nil {
			t.Fatalf("again: %v, want nil", err)
		}
		if err := b.SaveAuth(ctx, rec("e1")); !fault.Has(err, fault.Conflict, netswitch.CodeAuthExists) {
			t.Fatalf("original after its reversal: got %v, want %s", err, netswitch.CodeAuthExists)
		}
		m, err := b.Auth(ctx, "e1")
		if err != nil || !m.Early() {
			t.Fatalf("got %+v %v, want the reversal's marker", m, err)
		}
		if as, _ := b.DayAuths(ctx, m.BusinessDate); len(as) != 0 {
			t.Fatalf("DayAuths: got %d, want the marker left out", len(as))
		}
		r := rec("e1")
		r.ResponseCode, r.Reason = iso8583.DoNotHonour, netswitch.ReasonReversedBeforeArrival
		if err := b.SettleEarly(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := a.SettleEarly(ctx, r); !fault.Has(err, fault.Conflict, netswitch.CodeAuthExists) {
			t.Fatalf("second SettleEarly: got %v, want %s", err, netswitch.CodeAuthExists)
		}
		got, _ := a.Auth(ctx, "e1")
		if got.Early() || got.ResponseCode != iso8583.DoNotHonour || got.Digest != "d-e1" {
			t.Fatalf("settled: got %+v", got)
		}
		if err := a.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "x9", At: now}); err != nil {
			t.Fatal(err)
		}
		if err := a.SaveAuth(ctx, rec("x2")); err != nil {
			t.Fatal(err)
		}
		if err := b.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "x2", At: now}); !fault.Has(err, fault.Conflict, netswitch.CodeAuthExists) {
			t.Fatalf("reversal of a stored original: got %v, want %s", err, netswitch.CodeAuthExists)
		}
	})
	t.Run("reversal and original race: exactly one claims the identity", func(t *testing.T) {
		a, b := open(t)
		for i := range 40 {
			id := "race" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			var wg sync.WaitGroup
			var early, orig error
			wg.Add(2)
			go func() { defer wg.Done(); early = a.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: id, At: now}) }()
			go func() { defer wg.Done(); orig = b.SaveAuth(ctx, rec(id)) }()
			wg.Wait()
			if (early == nil) == (orig == nil) {
				t.Fatalf("%s: reversal %v, original %v: want exactly one to win", id, early, orig)
			}
		}
	})
	t.Run("abandon, queue, reverse", func(t *testing.T) {
		a, b := open(t)
		if err := a.SaveAuth(ctx, rec("d1")); err != nil {
			t.Fatal(err)
		}
		left, err := b.Deciding(ctx, now.Add(time.Second), 10)
		if err != nil || len(left) != 1 {
			t.Fatalf("Deciding: got %d, %v", len(left), err)
		}
		if err := b.AbandonAuth(ctx, "d1", now); err != nil {
			t.Fatal(err)
		}
		if err := a.AbandonAuth(ctx, "d1", now); !fault.Has(err, fault.Conflict, netswitch.CodeAuthSettled) {
			t.Fatalf("second AbandonAuth: got %v", err)
		}
		r := rec("d1")
		r.ResponseCode = iso8583.Approved
		if err := a.FinishAuth(ctx, r); !fault.Has(err, fault.Conflict, netswitch.CodeAuthSettled) {
			t.Fatalf("FinishAuth after abandon: got %v, want %s", err, netswitch.CodeAuthSettled)
		}
		ps, err := a.PendingReversals(ctx)
		if err != nil || len(ps) != 1 || ps[0].Auth.ID != "d1" || string(ps[0].Auth.SealedPAN) != "sealed" {
			t.Fatalf("PendingReversals: got %+v, %v", ps, err)
		}
		if err := b.DoneReversal(ctx, "d1", 0); err != nil {
			t.Fatal(err)
		}
		if ps, _ := a.PendingReversals(ctx); len(ps) != 0 {
			t.Fatalf("after DoneReversal: %d queued", len(ps))
		}
		if err := a.SaveAuth(ctx, func() netswitch.Auth { x := rec("v1"); x.ResponseCode = iso8583.Approved; return x }()); err != nil {
			t.Fatal(err)
		}
		if err := b.MarkReversed(ctx, "v1", now, "00", 500); err != nil {
			t.Fatal(err)
		}
		if err := b.MarkReversed(ctx, "v1", now, "00", 900); err != nil {
			t.Fatal(err)
		}
		got, _ := a.Auth(ctx, "v1")
		if !got.PartiallyReversed() || got.ClearAmount != 500 {
			t.Fatalf("partial: got clear %d", got.ClearAmount)
		}
		if err := b.MarkReversed(ctx, "none", now, "00", 0); !fault.Has(err, fault.NotFound, netswitch.CodeAuthNotFound) {
			t.Fatalf("MarkReversed unknown: got %v", err)
		}
	})
	t.Run("listings", func(t *testing.T) {
		a, b := open(t)
		for i, id := range []string{"l1", "l2", "l3"} {
			r := rec(id)
			r.ReceivedAt = now.Add(time.Duration(i) * time.Minute)
			r.ResponseCode = iso8583.Approved
			if err := a.SaveAuth(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "l0", At: now}); err != nil {
			t.Fatal(err)
		}
		ids := func(as []netswitch.Auth, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			s := ""
			for _, x := range as {
				s += x.ID + " "
			}
			return s
		}
		if got := ids(b.PhoneAuths(ctx, "ph1", 2)); got != "l3 l2 " {
			t.Errorf("PhoneAuths(2): got %q, want newest first: l3 l2", got)
		}
		if got := ids(b.TokenAuths(ctx, []string{token.Digits(), "other"}, 0)); got != "l3 l2 l1 " {
			t.Errorf("TokenAuths: got %q, want l3 l2 l1 (no marker)", got)
		}
		if got := ids(b.DayAuths(ctx, "20260314")); got != "l1 l2 l3 " {
			t.Errorf("DayAuths: got %q, want oldest first, no marker", got)
		}
		if err := a.MarkCleared(ctx, []string{"l1"}, "20260315", now); err != nil {
			t.Fatal(err)
		}
		if err := b.MarkCleared(ctx, []string{"l1", "l2"}, "20260316", now); err != nil {
			t.Fatal(err)
		}
		l1, _ := a.Auth(ctx, "l1")
		l2, _ := a.Auth(ctx, "l2")
		if l1.ClearingDate != "20260315" || l2.ClearingDate != "20260316" {
			t.Errorf("MarkCleared: got %q %q, want the first clearing kept", l1.ClearingDate, l2.ClearingDate)
		}
	})
	t.Run("refunds", func(t *testing.T) {
		ra, rb := refundStores(t, nil, nil, open)
		f := netswitch.Refund{ID: "f1", Digest: "df", OriginalID: "o1", Amount: money.New(100, money.CNY), ResponseCode: iso8583.Approved, BusinessDate: "20260314", ReceivedAt: now}
		if err := ra.SaveRefund(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := rb.SaveRefund(ctx, f); !fault.Has(err, fault.Conflict, netswitch.CodeRefundExists) {
			t.Fatalf("again: got %v", err)
		}
		f.ID, f.Amount = "f2", money.New(50, money.CNY)
		_ = rb.SaveRefund(ctx, f)
		if n, err := ra.Refunded(ctx, "o1"); err != nil || n != 150 {
			t.Fatalf("Refunded: got %d, %v; want 150", n, err)
		}
		if err := ra.MarkRefundsCleared(ctx, []string{"f1"}, "20260315", now); err != nil {
			t.Fatal(err)
		}
		rs, _ := rb.DayRefunds(ctx, "20260314")
		if len(rs) != 2 || rs[0].ClearingDate != "20260315" || rs[1].ClearingDate != "" {
			t.Fatalf("DayRefunds: got %+v", rs)
		}
	})
	t.Run("refund claims decided once", func(t *testing.T) {
		a, b := open(t)
		ra, rb := refundStores(t, a, b, nil)
		o := rec("o2") // clears 1234
		o.ResponseCode, o.Answer, o.AnsweredAt = iso8583.Approved, []byte("0110"), now
		if err := a.SaveAuth(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := ra.ClaimRefund(ctx, "r1", "o2", 1000); err != nil {
			t.Fatal(err)
		}
		if err := rb.ClaimRefund(ctx, "r1", "o2", 1000); err != nil {
			t.Fatalf("the same refund again at the other store: got %v, want nil (claimed once)", err)
		}
		if err := rb.ClaimRefund(ctx, "r1", "o2", 999); !fault.Has(err, fault.Conflict, netswitch.CodeRefundExists) {
			t.Fatalf("another amount under r1: got %v, want %s", err, netswitch.CodeRefundExists)
		}
		if err := rb.ClaimRefund(ctx, "r2", "o2", 235); !fault.Has(err, fault.Conflict, netswitch.CodeRefundExceeds) {
			t.Fatalf("235 over 234 left: got %v, want %s", err, netswitch.CodeRefundExceeds)
		}
		if err := rb.ClaimRefund(ctx, "r3", "nowhere", 1); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("unknown original: got %v, want fault.NotFound", err)
		}
		// r1 declined by the issuer: storing it gives its claim back.
		f := netswitch.Refund{ID: "r1", Digest: "d", OriginalID: "o2", Amount: money.New(1000, money.CNY), ResponseCode: iso8583.DoNotHonour,
			BusinessDate: "20260314", ReceivedAt: now}
		if err := ra.SaveRefund(ctx, f); err != nil {
			t.Fatal(err)
		}
		// Now 1234 is left: of 20 refunds of 100 over both stores at
		// once, exactly 12 fit.
		var wg sync.WaitGroup
		var mu sync.Mutex
		fit, exceeded := 0, 0
		for i := range 20 {
			st := ra
			if i%2 == 1 {
				st = rb
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.ClaimRefund(ctx, "c"+string(rune('a'+i)), "o2", 100)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					fit++
				case fault.Has(err, fault.Conflict, netswitch.CodeRefundExceeds):
					exceeded++
				default:
					t.Errorf("claim %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if fit != 12 || exceeded != 8 {
			t.Fatalf("concurrent claims: %d fit, %d exceeded; want 12 and 8", fit, exceeded)
		}
	})
}

// refundStores returns a and b (or two stores open makes) as
// RefundStores, skipping the test when they are not.
func refundStores(t *testing.T, a, b netswitch.Store, open func(t *testing.T) (a, b netswitch.Store)) (ra, rb netswitch.RefundStore) {
	if open != nil {
		a, b = open(t)
	}
	ra, okA := a.(netswitch.RefundStore)
	rb, okB := b.(netswitch.RefundStore)
	if !okA || !okB {
		t.Skip("not a RefundStore")
	}
	return ra, rb
}
