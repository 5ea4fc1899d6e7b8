package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tapwallet/tapwallet/promo"
)

// TestApply: the best campaign applies while its budget lasts, then the
// next best; a retransmission gets the same offer and hold without a
// second reservation; a purchase no campaign fits gets none.
func TestApply(t *testing.T) {
	each(t, func(t *testing.T, open func() testStore) {
		ctx := context.Background()
		s := open()
		big := campaign("big", 10000, promo.Limits{})
		big.Mechanic = promo.Mechanic{Kind: promo.MechanicFixed, Threshold: 10000, Amount: 5000}
		small := campaign("small", 100000, promo.Limits{})
		small.Mechanic = promo.Mechanic{Kind: promo.MechanicPercent, PercentBP: 500, Cap: 1000}
		cs := []promo.Campaign{big, small}
		if err := s.Save(ctx, cs); err != nil {
			t.Fatal(err)
		}
		m := promo.NewMatcher(cs)
		p := func(i int, gross int64) *promo.Purchase {
			return &promo.Purchase{Identity: fmt.Sprintf("msg-%d", i), Card: fmt.Sprintf("card-%d", i), Bank: "icbc",
				Channel: promo.ChannelNFC, Gross: gross, At: at}
		}
		var got []string
		for i := 0; i < 4; i++ {
			o, h, ok, err := promo.Apply(ctx, s, m, p(i, 12000))
			if err != nil || !ok || h.Amount != o.Discount || h.Status != promo.HoldPending {
				t.Fatalf("purchase %d: %+v %+v %v %v", i, o, h, ok, err)
			}
			got = append(got, fmt.Sprintf("%s:%d", o.Campaign.ID, o.Net()))
		}
		if fmt.Sprint(got) != "[big:7000 big:7000 small:11400 small:11400]" {
			t.Errorf("got %v, want big twice (its budget is 100.00) then small", got)
		}
		o, h, ok, err := promo.Apply(ctx, s, m, p(1, 12000))
		if err != nil || !ok || o.Campaign.ID != "big" || h.ID != "msg-1" {
			t.Fatalf("retransmission: %v %+v %v", o.Campaign, h, err)
		}
		if u, _ := s.Usage(ctx, "big"); u.Reserved != 10000 || u.ReservedCount != 2 {
			t.Errorf("big after a retransmission: %+v", u)
		}
		if _, _, ok, err := promo.Apply(ctx, s, m, p(9, 1)); ok || err != nil {
			t.Errorf("1 fen: got an offer (%v, %v)", ok, err)
		}
	})
}
