package promo_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/promo"
)

var at = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)

// campaign returns a valid instant campaign with mechanic m, funded by the
// network, ending at end.
func campaign(id string, m promo.Mechanic, end time.Time) promo.Campaign {
	c := promo.Campaign{ID: id, Name: promo.Names{ZH: id, EN: id}, Owner: "network",
		Funders:  []promo.Funder{{Kind: promo.FunderNetwork, ShareBP: 10000}},
		Window:   promo.Window{Start: at.Add(-time.Hour), End: end},
		Channels: []promo.Channel{promo.ChannelNFC}, Mechanic: m, Budget: 1000000,
		Enrolment: promo.EnrolAuto, Fulfilment: promo.FulfilInstant}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func purchase(gross int64) *promo.Purchase {
	return &promo.Purchase{Identity: "acq1/T1/000001/607300000001", Card: "card-1", Bank: "icbc", BIN: "622202",
		Product: "debit", MCC: "5411", Merchant: "M1", City: "Beijing", Channel: promo.ChannelNFC, Gross: gross, At: at}
}

// TestDiscount: each mechanic's amount at, below and above its steps, and
// never the whole purchase.
func TestDiscount(t *testing.T) {
	end := at.Add(time.Hour)
	fixed := campaign("f", promo.Mechanic{Kind: promo.MechanicFixed, Threshold: 10000, Amount: 5000}, end)
	pct := campaign("p", promo.Mechanic{Kind: promo.MechanicPercent, PercentBP: 1000, Cap: 2000}, end)
	tiers := campaign("t", promo.Mechanic{Kind: promo.MechanicTiers, Tiers: []promo.Tier{{Spend: 5000, Save: 500}, {Spend: 10000, Save: 1200}}}, end)
	noThreshold := campaign("n", promo.Mechanic{Kind: promo.MechanicFixed, Amount: 5000}, end)
	for _, c := range []struct {
		c     promo.Campaign
		gross int64
		want  int64
	}{
		{fixed, 9999, 0}, {fixed, 10000, 5000}, {fixed, 50000, 5000},
		{pct, 1234, 123}, {pct, 20000, 2000}, {pct, 90000, 2000},
		{tiers, 4999, 0}, {tiers, 5000, 500}, {tiers, 9999, 500}, {tiers, 10000, 1200}, {tiers, 99999, 1200},
		{noThreshold, 3000, 2999}, // never free: the card holder pays at least MinCharge
	} {
		if got := c.c.Discount(c.gross, "id"); got != c.want {
			t.Errorf("%s at %d: got %d, want %d", c.c.ID, c.gross, got, c.want)
		}
	}
}

// TestRandomDiscountDeterministic: a random discount is in its range, the
// same for the same message identity (a retransmission), and varies
// across messages.
func TestRandomDiscountDeterministic(t *testing.T) {
	c := campaign("r", promo.Mechanic{Kind: promo.MechanicRandom, Min: 50, Max: 888}, at.Add(time.Hour))
	seen := map[int64]bool{}
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("acq/T1/%06d", i)
		d := c.Discount(10000, id)
		if d < 50 || d > 888 {
			t.Fatalf("%s: got %d, want 50..888", id, d)
		}
		if again := c.Discount(10000, id); again != d {
			t.Fatalf("%s: got %d then %d, want the same for a retransmission", id, d, again)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("got %d distinct amounts in 200 draws, want a spread", len(seen))
	}
}

// TestEligible: each eligibility rule excludes a purchase that misses it.
func TestEligible(t *testing.T) {
	base := campaign("e", promo.Mechanic{Kind: promo.MechanicFixed, Amount: 100}, at.Add(time.Hour))
	cases := []struct {
		name string
		edit func(*promo.Campaign, *promo.Purchase)
		want bool
	}{
		{"plain", func(c *promo.Campaign, p *promo.Purchase) {}, true},
		{"paused", func(c *promo.Campaign, p *promo.Purchase) { c.Paused = true }, false},
		{"before window", func(c *promo.Campaign, p *promo.Purchase) { p.At = c.Window.Start.Add(-time.Second) }, false},
		{"at window end", func(c *promo.Campaign, p *promo.Purchase) { p.At = c.Window.End }, false},
		{"other channel", func(c *promo.Campaign, p *promo.Purchase) { p.Channel = promo.ChannelInApp }, false},
		{"other bank", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.Banks = []string{"ccb"} }, false},
		{"bank matches", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.Banks = []string{"ccb", "icbc"} }, true},
		{"bin range", func(c *promo.Campaign, p *promo.Purchase) {
			c.Eligibility.BINRanges = []promo.BINRange{{From: "622200", To: "622210"}}
		}, true},
		{"bin outside", func(c *promo.Campaign, p *promo.Purchase) {
			c.Eligibility.BINRanges = []promo.BINRange{{From: "622203", To: "622210"}}
		}, false},
		{"product", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.Products = []string{"credit"} }, false},
		{"mcc", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.MCCs = []string{"5812"} }, false},
		{"merchant", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.Merchants = []string{"M2"} }, false},
		{"city", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.Cities = []string{"Shanghai"} }, false},
		{"new card holder only", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.NewCardHolder = true }, false},
		{"new card holder", func(c *promo.Campaign, p *promo.Purchase) { c.Eligibility.NewCardHolder, p.NewCardHolder = true, true }, true},
		{"not added to card", func(c *promo.Campaign, p *promo.Purchase) { c.Enrolment = promo.EnrolAddToCard }, false},
		{"added to card", func(c *promo.Campaign, p *promo.Purchase) {
			c.Enrolment = promo.EnrolAddToCard
			p.Enrolled = map[string]bool{"e": true}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, p := base, purchase(10000)
			tc.edit(&c, p)
			if got := c.Eligible(p); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBest: the largest discount wins; among equal ones the campaign that
// ends first, then the smaller id; Rank's first is Best; none applies to
// a purchase below every threshold.
func TestBest(t *testing.T) {
	late, early := at.Add(48*time.Hour), at.Add(24*time.Hour)
	cs := []promo.Campaign{
		campaign("small", promo.Mechanic{Kind: promo.MechanicFixed, Threshold: 1000, Amount: 100}, late),
		campaign("big-late", promo.Mechanic{Kind: promo.MechanicFixed, Threshold: 5000, Amount: 1000}, late),
		campaign("big-early-b", promo.Mechanic{Kind: promo.MechanicPercent, Threshold: 5000, PercentBP: 1000, Cap: 1000}, early),
		campaign("big-early-a", promo.Mechanic{Kind: promo.MechanicTiers, Tiers: []promo.Tier{{Spend: 5000, Save: 1000}}}, early),
	}
	m := promo.NewMatcher(cs)
	o, ok := m.Best(purchase(10000))
	if !ok || o.Campaign.ID != "big-early-a" || o.Discount != 1000 || o.Net() != 9000 {
		t.Fatalf("got %v %+v, want big-early-a 10.00 off", ok, o)
	}
	ranked := m.Rank(purchase(10000))
	var ids []string
	for _, r := range ranked {
		ids = append(ids, r.Campaign.ID)
	}
	if fmt.Sprint(ids) != "[big-early-a big-early-b big-late small]" {
		t.Errorf("rank: got %v", ids)
	}
	if o, ok := m.Best(purchase(2000)); !ok || o.Campaign.ID != "small" {
		t.Errorf("20.00: got %v %v, want small", ok, o.Campaign)
	}
	if _, ok := m.Best(purchase(999)); ok {
		t.Errorf("9.99: got an offer, want none")
	}
	// The same set in another order ranks alike (several network processes).
	rev := promo.NewMatcher([]promo.Campaign{cs[3], cs[2], cs[1], cs[0]})
	if o2, _ := rev.Best(purchase(10000)); o2.Campaign.ID != o.Campaign.ID {
		t.Errorf("reversed set: got %s, want %s", o2.Campaign.ID, o.Campaign.ID)
	}
}
