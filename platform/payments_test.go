package platform

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/switchtest"
	"github.com/tapwallet/tapwallet/walletapi"
)

// TestPhonePayments: the wallet API's payment history reads the network's
// records through the platform's adapter — each record shown as the phone
// sees it (what stays charged after a partial reversal, why a decline),
// newest first, only the phone's own.
func TestPhonePayments(t *testing.T) {
	ctx := context.Background()
	st := switchtest.NewMemory()
	tok, err := card.ParseToken("6288010000000009")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	save := func(id, phone string, amount, clear int64, rc iso8583.ResponseCode, reason netswitch.Reason, reversed bool) {
		t.Helper()
		at = at.Add(time.Minute)
		a := netswitch.Auth{ID: id, Digest: "d" + id, PhoneID: phone, Token: tok, TokenLast4: tok.Last4(), PANLast4: "0007", BankID: "icbc",
			MerchantName: "TAPWALLET MART", Amount: money.Fen(amount), ClearAmount: clear, ResponseCode: rc, Reason: reason,
			AuthCode: "A1", ReceivedAt: at}
		if reversed {
			a.ReversedAt = at
		}
		if err := st.SaveAuth(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	save("approved", "ph1", 1200, 1200, iso8583.Approved, "", false)
	save("partial", "ph1", 1000, 400, iso8583.Approved, "", true)
	save("reversed", "ph1", 900, 0, iso8583.Approved, "", true)
	save("declined", "ph1", 800, 0, iso8583.InvalidAmount, netswitch.ReasonChipAmount, false)
	save("by-issuer", "ph1", 700, 0, iso8583.InsufficientFunds, netswitch.ReasonIssuerDeclined, false)
	save("other", "ph2", 600, 600, iso8583.Approved, "", false)

	var pays walletapi.Payments = phonePayments{st}
	pms, err := pays.PhonePayments(ctx, "ph1", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status, display, reason string
	}{
		{"declined", "7.00 CNY", iso8583.InsufficientFunds.Text()},
		{"declined", "8.00 CNY", iso8583.InvalidAmount.Text() + " (chip amount)"},
		{"reversed", "9.00 CNY", "reversed by the terminal"},
		{"approved", "4.00 CNY", "partially reversed by the terminal from 10.00 CNY"},
		{"approved", "12.00 CNY", ""},
	}
	if len(pms) != len(want) {
		t.Fatalf("got %d payments, want %d (the phone's own)", len(pms), len(want))
	}
	for i, w := range want {
		v := walletapi.PaymentView(pms[i])
		if v.Status != w.status || v.Display != w.display || v.Reason != w.reason || v.TokenLast4 != "0009" || v.CardLast4 != "0007" || v.Currency != "CNY" {
			t.Errorf("payment %d: got %+v, want %s %s %q", i, v, w.status, w.display, w.reason)
		}
	}
}
