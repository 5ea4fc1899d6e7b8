package portal

import (
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/risk"
)

// TestPaymentDiscount: what a payment with the switch's redemption shows —
// the net of an instant discount charged, the gross as its price, after
// a partial reversal what remains less the discount; a credit after
// clearing leaves the amount charged; a declined or reversed payment
// shows none; the funders are named in words in both languages.
func TestPaymentDiscount(t *testing.T) {
	icbc := []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 350}, {Kind: promo.FunderNetwork, Party: "network", Amount: 150}}
	red := func(f promo.Fulfilment) *promo.Redemption {
		return &promo.Redemption{Campaign: "c", Fulfilment: f, Gross: 12000, Net: 11500, Discount: 500, Shares: icbc}
	}
	auth := func(rc iso8583.ResponseCode, clear int64, reversed bool, r *promo.Redemption) netswitch.Auth {
		au := netswitch.Auth{ID: "T1|000001|1206100000", BankID: "icbc", Amount: money.Fen(12000), ResponseCode: rc, ClearAmount: clear, Promo: r}
		if reversed {
			au.ReversedAt = time.Now()
		}
		return au
	}
	zh, en := newTr(LangZH, nil), newTr(LangEN, nil)
	tests := []struct {
		name                    string
		au                      netswitch.Auth
		amount, price, original int64
		zh, en                  string
	}{
		{"instant", auth(iso8583.Approved, 12000, false, red(promo.FulfilInstant)), 11500, 12000, 0,
			"立减 ¥5.00，由工商银行、卡组织提供", "¥5.00 off, funded by ICBC and the card network"},
		{"instant, partly reversed to 80.00", auth(iso8583.Approved, 8000, true, red(promo.FulfilInstant)), 7500, 8000, 11500,
			"立减 ¥5.00，由工商银行、卡组织提供", "¥5.00 off, funded by ICBC and the card network"},
		{"statement credit", auth(iso8583.Approved, 12000, false, red(promo.FulfilStatementCredit)), 12000, 0, 0,
			"清算后返还 ¥5.00，由工商银行、卡组织提供", "¥5.00 back after clearing, funded by ICBC and the card network"},
		{"declined", auth("05", 0, false, red(promo.FulfilInstant)), 12000, 0, 0, "", ""},
		{"reversed in full", auth(iso8583.Approved, 0, true, red(promo.FulfilInstant)), 12000, 0, 0, "", ""},
		{"no promotion", auth(iso8583.Approved, 12000, false, nil), 12000, 0, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := paymentOf(tt.au, cardInfo{bank: "Industrial and Commercial Bank of China"})
			if pm.Amount.Minor != tt.amount || pm.Price.Minor != tt.price || pm.Original.Minor != tt.original {
				t.Errorf("amount %d price %d original %d, want %d %d %d", pm.Amount.Minor, pm.Price.Minor, pm.Original.Minor, tt.amount, tt.price, tt.original)
			}
			if got := zh.discount(pm); got != tt.zh {
				t.Errorf("zh: %q, want %q", got, tt.zh)
			}
			if got := en.discount(pm); got != tt.en {
				t.Errorf("en: %q, want %q", got, tt.en)
			}
		})
	}
}

// TestExplain: a decision in words — enforced rules by their catalogue
// name and reason, a rule the catalogues do not know by the rule set's
// reason, shadow and snoozed hits counted apart, the lost-phone block.
func TestExplain(t *testing.T) {
	d := risk.Decision{Score: 95, Outcome: risk.Decline, Hits: []risk.Hit{
		{Rule: "auth.impossible_travel", Reason: "x", Score: 90},
		{Rule: "bank.custom_rule", Reason: "a rule of the bank's own", Score: 5},
		{Rule: "auth.card_velocity_1h", Reason: "y", Score: 20, Shadow: true},
		{Rule: "auth.amount_p95", Reason: "z", Score: 60, Snoozed: true},
	}}
	v := newTr(LangZH, nil).explain(d)
	if v.Outcome != "decline" || v.Score != 95 || v.Quiet != 2 || len(v.Rules) != 2 {
		t.Fatalf("%+v", v)
	}
	if v.Rules[0].Name != "不可能的行程" || v.Rules[0].Reason == "x" || v.Rules[1].Name != "其他风险规则" || v.Rules[1].Reason != "a rule of the bank's own" {
		t.Fatalf("rules: %+v", v.Rules)
	}
	if v := newTr(LangEN, nil).explain(risk.Decision{Outcome: risk.Decline, Block: risk.BlockPhoneOff}); v.Outcome != "blocked" || len(v.Rules) != 0 {
		t.Fatalf("blocked: %+v", v)
	}
}
