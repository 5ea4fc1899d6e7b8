package issuer_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/money"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
)

// refundMsg builds the 0200 refund of amount against an 0100, as the
// network forwards it: the PAN in DE2, DE90 naming the original.
func refundMsg(orig *iso8583.Message, pan string, amount int64) *iso8583.Message {
	seq++
	m := iso8583.New(iso8583.FinancialRequest)
	m.Copy(orig, iso8583.DEAcquirer, iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DECurrency)
	m.SetTransmissionTime(time.Date(2026, 3, 14, 9, 0, 1, 0, time.UTC))
	_ = m.SetSTAN(iso8583.STAN(seq))
	_ = m.SetString(iso8583.DEPAN, pan)
	_ = m.SetString(iso8583.DEProcessingCode, "200000")
	_ = m.SetNumber(iso8583.DEAmount, amount)
	stan, _ := orig.String(iso8583.DESTAN)
	de7, _ := orig.String(iso8583.DETransmission)
	_ = m.SetString(iso8583.DEOriginal, "0100"+stan+de7+"00048021000"+"00000000000")
	return m
}

func TestHostRefund(t *testing.T) {
	hs, led := hosts(t)
	ctx := context.Background()
	icbc := hs["icbc"]
	const debit = "6222020000000007"
	account, _ := icbc.AccountFor(mustPAN(t, debit))
	credits := func() int64 {
		as, err := led.LookupAccounts(ctx, []string{account})
		if err != nil || len(as) != 1 {
			t.Fatalf("lookup: %v", err)
		}
		return as[0].CreditsPosted
	}
	purchase := func(amount int64) *iso8583.Message {
		m := msg(debit, amount)
		if got := rc(icbc.Handle(ctx, m)); got != "00" {
			t.Fatalf("purchase: got %s, want 00", got)
		}
		return m
	}
	holdID := func(m *iso8583.Message) string {
		de7, _ := m.String(iso8583.DETransmission)
		stan, _ := m.String(iso8583.DESTAN)
		return issuer.HoldID("icbc", de7, stan, "T0000001")
	}

	t.Run("credits once, answers a repeat the same", func(t *testing.T) {
		p := purchase(5000)
		before := credits()
		r := refundMsg(p, debit, 2000)
		first := icbc.Handle(ctx, r)
		again := icbc.Handle(ctx, r)
		a, _ := first.String(iso8583.DEAuthID)
		b, _ := again.String(iso8583.DEAuthID)
		if rc(first) != "00" || rc(again) != "00" || a != b || len(a) != 6 {
			t.Fatalf("got %s %s then %s %s, want the same approval twice", rc(first), a, rc(again), b)
		}
		if got := credits() - before; got != 2000 {
			t.Errorf("got %d credited, want 2000", got)
		}
		clash := r.Clone()
		_ = clash.SetNumber(iso8583.DEAmount, 2001)
		if got := rc(icbc.Handle(ctx, clash)); got != "94" {
			t.Errorf("got %s for the identity with another amount, want 94", got)
		}
	})
	t.Run("after clearing posted less, at most what was posted", func(t *testing.T) {
		p := purchase(5000)
		if r, err := led.CreateTransfer(ctx, ledger.Post("post|"+holdID(p), holdID(p), 3000, "")); err != nil || r != ledger.OK {
			t.Fatalf("post: %v %v", r, err)
		}
		if got := rc(icbc.Handle(ctx, refundMsg(p, debit, 3001))); got != "13" {
			t.Errorf("got %s, want 13", got)
		}
		if got := rc(icbc.Handle(ctx, refundMsg(p, debit, 3000))); got != "00" {
			t.Errorf("got %s, want 00", got)
		}
	})
	tests := []struct {
		name string
		msg  func() *iso8583.Message
		want string
	}{
		{"unknown original", func() *iso8583.Message { return refundMsg(msg(debit, 100), debit, 100) }, "25"},
		{"another card's original", func() *iso8583.Message { return refundMsg(purchase(100), "6253300000000005", 100) }, "25"},
		{"voided original", func() *iso8583.Message {
			p := purchase(100)
			if got := rc(icbc.Handle(ctx, reversal(p))); got != "00" {
				t.Fatalf("reversal: got %s", got)
			}
			return refundMsg(p, debit, 100)
		}, "13"},
		{"not this bank's card", func() *iso8583.Message { return refundMsg(purchase(100), "6217000000000000004", 100) }, "14"},
		{"purchase processing code", func() *iso8583.Message {
			m := refundMsg(purchase(100), debit, 100)
			_ = m.SetString(iso8583.DEProcessingCode, "000000")
			return m
		}, "12"},
		{"zero amount", func() *iso8583.Message { return refundMsg(purchase(100), debit, 0) }, "13"},
		{"no DE90", func() *iso8583.Message {
			m := refundMsg(purchase(100), debit, 100)
			m.Unset(iso8583.DEOriginal)
			return m
		}, "30"},
		{"a lost card still gets its money back", func() *iso8583.Message {
			// The card was lost after the purchase: hold placed directly.
			const lost = "6253300000020003"
			m := msg(lost, 700)
			acct, _ := icbc.AccountFor(mustPAN(t, lost))
			hold := ledger.Hold(holdID(m), acct, icbc.SettlementAccount(), mustAmount(t, m), ledger.HoldTimeout, "")
			if r, err := led.CreateTransfer(ctx, hold); err != nil || r != ledger.OK {
				t.Fatalf("hold: %v %v", r, err)
			}
			return refundMsg(m, lost, 700)
		}, "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := icbc.Handle(ctx, tt.msg())
			if got := rc(resp); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if _, has := resp.String(iso8583.DEAuthID); tt.want != "00" && has {
				t.Error("a decline carries an auth code")
			}
		})
	}
}

func mustPAN(t *testing.T, s string) card.PAN {
	t.Helper()
	p, err := card.ParsePAN(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustAmount(t *testing.T, m *iso8583.Message) money.Amount {
	t.Helper()
	a, err := m.Amount()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
