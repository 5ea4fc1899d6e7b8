package platform_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/se"
)

// tapAnswer is tap with the network's 0110.
func tapAnswer(t *testing.T, c *isolink.Client, el *se.Element, card phone.Card, amount int64) *iso8583.Message {
	t.Helper()
	now := time.Now()
	tags, err := nettest.AnswerSE(el, card.Token, card.AID, nettest.TerminalData(amount, now), true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := testTerminal.Authorization(card.Token, "", amount, tags, now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPromotionsWired: the platform seeds the shipped campaigns into the
// promo wing, the switch applies them over ISO 8583/TCP (a new card
// holder's first ¥100 tap gets the network's ¥50 off: DE124 in the 0110,
// the record's redemption, the budget reserved through Promotions()),
// and a campaign paused through the store stops applying once the
// matcher is rebuilt (within a few seconds).
func TestPromotionsWired(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	st := e.p.Promotions()
	if st == nil {
		t.Fatal("Promotions() is nil with promotions on")
	}
	cs, err := st.Campaigns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := promo.Defaults()
	if len(cs) != len(want) {
		t.Fatalf("%d campaigns seeded, want the %d defaults", len(cs), len(want))
	}
	ph, card, c := e.payingPhone(t, "promo@example.com")

	resp := tapAnswer(t, c, ph.SE, card, 10000)
	if rc, _ := resp.ResponseCode(); rc != "00" {
		t.Fatalf("first tap: got %s, want 00", rc)
	}
	pd, err := resp.PromotionData()
	if err != nil || pd.Campaign != "network-new-user-100-50" || pd.Gross != 10000 || pd.Discount != 5000 || pd.Name != "新用户满100减50" {
		t.Fatalf("first tap's DE124 %+v (%v), want the new-user ¥50 off ¥100", pd, err)
	}
	id := netswitch.AuthID(de(resp, iso8583.DETerminal), de(resp, iso8583.DESTAN), de(resp, iso8583.DETransmission))
	rec, err := e.p.Records.Auth(ctx, id)
	if err != nil || rec.Promo == nil || rec.Promo.Net != 5000 || rec.PAR == "" {
		t.Fatalf("record promo %+v PAR %q (%v), want net 5000 and the PAR", rec.Promo, rec.PAR, err)
	}
	if h, err := st.Hold(ctx, id); err != nil || h.Status != promo.HoldPending || h.Amount != 5000 || h.Card != rec.PAR {
		t.Errorf("hold %+v (%v), want pending 5000 on the PAR", h, err)
	}
	if u, _ := st.Usage(ctx, "network-new-user-100-50"); u.Reserved != 5000 {
		t.Errorf("reserved %d, want 5000", u.Reserved)
	}

	// No longer new: ICBC's random discount (¥0.50-8.88 on ¥20 or more).
	resp = tapAnswer(t, c, ph.SE, card, 3000)
	if pd, err := resp.PromotionData(); err != nil || pd.Campaign != "icbc-random-tap" || pd.Discount < 50 || pd.Discount > 888 {
		t.Fatalf("second tap's DE124 %+v (%v), want ICBC's random discount", pd, err)
	}
	// Paused in the store by another process (the command on the data
	// folder): the network decides its holds in memory (promo.Mirror), so
	// until it reads the campaigns again (every 3 s) it still gives the
	// discount it decided — approved, and the store takes the hold, never
	// a 96 — and from then on the pause applies.
	if err := st.SetPaused(ctx, "icbc-random-tap", true); err != nil {
		t.Fatal(err)
	}
	resp = tapAnswer(t, c, ph.SE, card, 3000)
	if rc, _ := resp.ResponseCode(); rc != "00" {
		t.Fatalf("tap before the platform read the pause: got %s, want 00", rc)
	}
	if pd, err := resp.PromotionData(); err == nil {
		id := netswitch.AuthID(de(resp, iso8583.DETerminal), de(resp, iso8583.DESTAN), de(resp, iso8583.DETransmission))
		if h, err := st.Hold(ctx, id); err != nil || h.Status != promo.HoldPending || h.Amount != pd.Discount {
			t.Errorf("hold of a discount decided before the pause was read: %+v (%v), want pending %d", h, err, pd.Discount)
		}
	}
	e.p.RefreshPromotions(ctx)
	resp = tapAnswer(t, c, ph.SE, card, 3000)
	if rc, _ := resp.ResponseCode(); rc != "00" || resp.Has(iso8583.DEPromotionData) {
		t.Fatalf("tap after the pause: got %s with DE124 %v, want 00 without", rc, resp.Has(iso8583.DEPromotionData))
	}
	// A campaign saved meanwhile (by the command, another process) applies
	// once the matcher is rebuilt.
	added, err := promo.ParseFile(strings.NewReader(`{"campaigns": [{"id": "platform-test-1", "name": {"zh": "测试立减", "en": "Test"},
		"owner": "network", "funders": [{"kind": "network", "share_bp": 10000}],
		"window": {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}, "channels": ["nfc"],
		"eligibility": {}, "mechanic": {"kind": "fixed", "threshold": "20.00", "amount": "1.00"},
		"limits": {}, "budget": "100.00", "enrolment": "auto", "fulfilment": "instant"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, added); err != nil {
		t.Fatal(err)
	}
	// The platform reads the campaigns every 3 s: wait for that before
	// tapping (each tap spends one of the card's limited-use keys).
	time.Sleep(3500 * time.Millisecond)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp = tapAnswer(t, c, ph.SE, card, 3000)
		if rc, _ := resp.ResponseCode(); rc != "00" {
			t.Fatalf("tap after the save: got %s, want 00", rc)
		}
		if pd, err := resp.PromotionData(); err == nil {
			if pd.Campaign != "platform-test-1" || pd.Discount != 100 {
				t.Fatalf("got %+v, want the new campaign's ¥1", pd)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new campaign does not apply after 15 s")
		}
		time.Sleep(2 * time.Second)
	}
}

func de(m *iso8583.Message, n int) string {
	v, _ := m.String(n)
	return v
}
