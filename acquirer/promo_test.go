package acquirer_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
)

// answerWithPromotion approves with DE124 set to b (raw bytes) in the 0110.
func answerWithPromotion(b []byte) func(*iso8583.Message) *iso8583.Message {
	return func(req *iso8583.Message) *iso8583.Message {
		resp := answerWith(iso8583.Approved)(req)
		_ = resp.SetBytes(iso8583.DEPromotionData, b)
		return resp
	}
}

// TestAuthorizePromotion: the 0110's DE124 (DF60-DF62, DF68) is read into
// the result: the card holder is charged the amount less an instant
// discount (DF63 absent or 01), the amount when the benefit comes after
// clearing; an unreadable DE124 leaves the approved purchase standing,
// without a promotion and with the reason.
func TestAuthorizePromotion(t *testing.T) {
	valid := func(fulfilment byte) []byte {
		b, err := iso8583.PromotionData{Campaign: "network-new-user-100-50", Gross: 12000, Discount: 5000, Fulfilment: fulfilment, Name: "新用户满100减50"}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tt := range []struct {
		name    string
		de124   []byte
		charged int64
		promo   bool
	}{
		{"instant, DF63 absent", valid(0), 7000, true},
		{"instant", valid(iso8583.PromoInstant), 7000, true},
		{"statement credit", valid(iso8583.PromoStatementCredit), 12000, true},
		{"unreadable", []byte{0xDF, 0x60, 0x05, 'x'}, 12000, false},
		{"none", nil, 12000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answer := answerWith(iso8583.Approved)
			if tt.de124 != nil {
				answer = answerWithPromotion(tt.de124)
			}
			n := startNetwork(t, answer)
			s := openStore(t, t.TempDir())
			a := newAcquirer(t, n.addr, s, 2*time.Second)
			req := authorization(t, s.Counters(shop.Terminal), 12000)
			res, err := a.Charge(context.Background(), "sale-1", req, s.Counters(shop.Terminal))
			if err != nil || !res.Approved() {
				t.Fatalf("got %+v, %v; want approved", res, err)
			}
			if got := res.Charged(12000); got != tt.charged {
				t.Errorf("charged %d, want %d", got, tt.charged)
			}
			if (res.Promotion != nil) != tt.promo {
				t.Fatalf("promotion %v, want one: %v", res.Promotion, tt.promo)
			}
			if tt.promo && (res.Promotion.Campaign != "network-new-user-100-50" || res.Promotion.Discount != 5000 || res.Promotion.Name != "新用户满100减50") {
				t.Errorf("promotion: got %+v", res.Promotion)
			}
			if (res.PromotionErr != nil) != (tt.name == "unreadable") {
				t.Errorf("promotion error: %v", res.PromotionErr)
			}
			if c, err := s.Charge(context.Background(), "sale-1"); err != nil || c.Amount != 12000 {
				t.Errorf("the charge kept for refunds is the gross the merchant is settled: got %+v, %v", c, err)
			}
		})
	}
}
