package issuer_test

import (
	"context"
	"testing"

	"github.com/tapwallet/tapwallet/iso8583"
)

// TestPromotionDataChecked: an 0100 with DE124 is held only when its gross
// adds up — DE4 + the funders' shares for an instant discount, DE4 for a
// credit or points after clearing; else 30 and no hold. A refund (0200)
// carrying DE124 is taken as any refund.
func TestPromotionDataChecked(t *testing.T) {
	hs, led := hosts(t)
	ctx := context.Background()
	icbc := hs["icbc"]
	const debit = "6222020000000007"
	instant := func(gross, discount int64, shares ...int64) iso8583.PromotionData {
		p := iso8583.PromotionData{Campaign: "net-100-50", Gross: gross, Discount: discount, Fulfilment: iso8583.PromoInstant}
		for i, s := range shares {
			party := []string{"network", "icbc"}[i%2]
			p.Funders = append(p.Funders, iso8583.PromotionFunder{Kind: byte(1 + i%2), Party: party, Share: s})
		}
		return p
	}
	for _, c := range []struct {
		name   string
		amount int64
		promo  *iso8583.PromotionData
		raw    []byte
		want   string
	}{
		{"no promotion", 9500, nil, nil, "00"},
		{"instant, gross = DE4 + shares", 9500, &iso8583.PromotionData{Campaign: "c1", Gross: 10000, Discount: 500, Fulfilment: iso8583.PromoInstant,
			Funders: []iso8583.PromotionFunder{{Kind: iso8583.PromoFunderNetwork, Party: "network", Share: 300}, {Kind: iso8583.PromoFunderIssuer, Party: "icbc", Share: 200}}}, nil, "00"},
		{"instant, two funders", 5000, ptr(instant(10000, 5000, 5000)), nil, "00"},
		{"instant, DE4 is the gross", 10000, ptr(instant(10000, 500, 500)), nil, "30"},
		{"instant, a fen short", 9501, ptr(instant(10000, 500, 300, 200)), nil, "30"},
		{"statement credit holds the gross", 10000, &iso8583.PromotionData{Campaign: "c2", Gross: 10000, Discount: 500, Fulfilment: iso8583.PromoStatementCredit,
			Funders: []iso8583.PromotionFunder{{Kind: iso8583.PromoFunderIssuer, Party: "icbc", Share: 500}}}, nil, "00"},
		{"statement credit on the net", 9500, &iso8583.PromotionData{Campaign: "c2", Gross: 10000, Discount: 500, Fulfilment: iso8583.PromoStatementCredit,
			Funders: []iso8583.PromotionFunder{{Kind: iso8583.PromoFunderIssuer, Party: "icbc", Share: 500}}}, nil, "30"},
		{"DE124 that does not read", 9500, nil, []byte{0xDF, 0x60, 0x05, 'a'}, "30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := msg(debit, c.amount)
			if c.promo != nil {
				if err := m.SetPromotionData(*c.promo); err != nil {
					t.Fatal(err)
				}
			}
			if c.raw != nil {
				if err := m.SetBytes(iso8583.DEPromotionData, c.raw); err != nil {
					t.Fatal(err)
				}
			}
			if got := rc(icbc.Handle(ctx, m)); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			de7, _ := m.String(iso8583.DETransmission)
			stan, _ := m.String(iso8583.DESTAN)
			_, err := led.LookupTransfer(ctx, "icbc|"+de7+"|"+stan+"|T0000001")
			if held := err == nil; held != (c.want == "00") {
				t.Fatalf("held %v, want a hold only when approved", held)
			}
		})
	}

	t.Run("a refund with DE124", func(t *testing.T) {
		orig := msg(debit, 9500)
		if err := orig.SetPromotionData(instant(10000, 500, 500)); err != nil {
			t.Fatal(err)
		}
		if got := rc(icbc.Handle(ctx, orig)); got != "00" {
			t.Fatalf("purchase: got %s", got)
		}
		r := refundMsg(orig, debit, 4750)
		if err := r.SetPromotionData(iso8583.PromotionData{Campaign: "net-100-50", Gross: 5000, Discount: 250,
			Funders: []iso8583.PromotionFunder{{Kind: iso8583.PromoFunderNetwork, Party: "network", Share: 250}}}); err != nil {
			t.Fatal(err)
		}
		if got := rc(icbc.Handle(ctx, r)); got != "00" {
			t.Fatalf("refund with DE124: got %s, want 00", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }
