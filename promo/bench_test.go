package promo_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/promo"
)

// Campaigns200 returns 200 campaigns over 20 banks, 4 MCCs and every
// mechanic, of which about a third fit a given tap.
func campaigns200() []promo.Campaign {
	banks := []string{"icbc", "ccb", "abc", "boc", "bocom", "cmb"}
	mechanics := []promo.Mechanic{
		{Kind: promo.MechanicFixed, Threshold: 5000, Amount: 500},
		{Kind: promo.MechanicPercent, PercentBP: 300, Cap: 800},
		{Kind: promo.MechanicTiers, Tiers: []promo.Tier{{Spend: 2000, Save: 100}, {Spend: 8000, Save: 600}}},
		{Kind: promo.MechanicRandom, Min: 50, Max: 900},
	}
	var cs []promo.Campaign
	for i := 0; i < 200; i++ {
		c := campaign(fmt.Sprintf("c%03d", i), mechanics[i%4], at.Add(time.Duration(1+i%7)*24*time.Hour))
		if i%3 != 0 { // two thirds for another bank or category
			c.Eligibility.Banks = []string{banks[1+i%5]}
		}
		if i%5 == 0 {
			c.Eligibility.MCCs = []string{"5411", "5812"}
		}
		cs = append(cs, c)
	}
	return cs
}

// BenchmarkMatch200 ranks 200 campaigns for one tap (docs/promotions.md).
func BenchmarkMatch200(b *testing.B) {
	m := promo.NewMatcher(campaigns200())
	p := purchase(12000)
	if len(m.Rank(p)) < 50 {
		b.Fatalf("only %d campaigns fit", len(m.Rank(p)))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Identity = fmt.Sprint(i)
		if _, ok := m.Best(p); !ok {
			b.Fatal("no offer")
		}
	}
}
