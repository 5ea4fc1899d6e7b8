package platform

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/switchtest"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/walletapi"
)

func defaultsStore(t *testing.T) *promo.MemStore {
	t.Helper()
	st := promo.NewMemStore()
	cs, err := promo.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	return st
}

func directory(t *testing.T) *bank.Directory {
	t.Helper()
	cfg, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Directory()
}

// TestPaymentOfDiscount: a record with an instant discount is shown as
// what the card holder paid (gross − discount), the discount, the
// campaign's names from the promo store and the funders by name; looked up
// by its identity, it is the phone's with the card's PAR.
func TestPaymentOfDiscount(t *testing.T) {
	ctx := context.Background()
	recs := switchtest.NewMemory()
	tok, err := card.ParseToken("6288050000000005")
	if err != nil {
		t.Fatal(err)
	}
	au := netswitch.Auth{ID: "T1|000001|1206120000", Digest: "d", PhoneID: "ph1", Token: tok, TokenLast4: tok.Last4(), PANLast4: "0023",
		BankID: "cmb", PAR: "PAR-CMB", MerchantName: "NOODLE BAR", Merchant: "M1", Amount: money.Fen(12000), ClearAmount: 12000,
		ResponseCode: iso8583.Approved, AuthCode: "A1", ReceivedAt: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC),
		Promo: &promo.Redemption{Identity: "T1|000001|1206120000", Campaign: "cmb-dining-tiers", Fulfilment: promo.FulfilInstant,
			CardBank: "cmb", Gross: 12000, Net: 10800, Discount: 1200,
			Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "cmb", Amount: 840}, {Kind: promo.FunderNetwork, Party: "network", Amount: 360}}}}
	if err := recs.SaveAuth(ctx, au); err != nil {
		t.Fatal(err)
	}
	pays := promoPayments{phonePayments: phonePayments{recs}, campaigns: defaultsStore(t), banks: directory(t)}
	pms, err := pays.PhonePayments(ctx, "ph1", 10)
	if err != nil || len(pms) != 1 {
		t.Fatalf("got %v, %v: want the one payment", pms, err)
	}
	v := walletapi.PaymentView(pms[0])
	if v.ID != au.ID || v.Charged != 10800 || v.Amount != 12000 || v.Discount != 1200 || v.CampaignName == nil ||
		v.CampaignName.ZH != "招商银行信用卡餐饮满减" || !slices.Equal(v.Funders, []string{"CMB", "network"}) ||
		v.Promotion != "¥12.00 off, funded by CMB and the network" {
		t.Errorf("got %+v", v)
	}
	pm, err := pays.Payment(ctx, au.ID)
	if err != nil || pm.PhoneID != "ph1" || pm.PAR != "PAR-CMB" || pm.ID != au.ID {
		t.Errorf("Payment: got %+v, %v", pm, err)
	}
	if _, err := pays.Payment(ctx, "nope"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("unknown payment: got %v, want not found", err)
	}
	// Without the promo store the campaign is named by its id.
	pms, _ = phonePayments{recs}.PhonePayments(ctx, "ph1", 10)
	if len(pms) != 1 || pms[0].CampaignName.EN != "cmb-dining-tiers" || pms[0].Charged != 10800 {
		t.Errorf("without names: got %+v", pms)
	}
}

// TestWalletOffers: the adapter finds a card's BIN in the directory, offers
// it its bank's and the network's campaigns, and enrols an add-to-card
// offer by the card's PAR (only for a card it is for).
func TestWalletOffers(t *testing.T) {
	ctx := context.Background()
	st := defaultsStore(t)
	o := walletOffers{store: st, banks: directory(t), now: func() time.Time { return time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC) }}
	cards := []walletapi.OfferCard{{PAR: "P1", Bank: "icbc", Product: "debit"}, {PAR: "P2", Bank: "ccb", Product: "debit"}, {PAR: "P3", Bank: "cmb", Product: "debit"}}
	got, err := o.Offers(ctx, cards)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}
	ids := func(os []walletapi.Offer) []string {
		var s []string
		for _, x := range os {
			s = append(s, x.Campaign)
		}
		slices.Sort(s)
		return s
	}
	for i, want := range [][]string{
		{"icbc-random-tap", "network-new-user-100-50"},
		{"ccb-grocery-cashback", "network-new-user-100-50"},
		{"network-new-user-100-50"}, // CMB's dining offer is for its credit cards
	} {
		if !slices.Equal(ids(got[i]), want) {
			t.Errorf("card %d (%s): offers %v, want %v", i, cards[i].Bank, ids(got[i]), want)
		}
	}
	if c := o.card(cards[0]); c.BIN != "622202" {
		t.Errorf("ICBC debit BIN: got %q", c.BIN)
	}
	if _, err := o.Enrol(ctx, "ccb-grocery-cashback", cards[0]); !fault.Has(err, fault.Invalid, "offer_not_for_card") {
		t.Errorf("ccb offer on an ICBC card: got %v", err)
	}
	if _, err := o.Enrol(ctx, "icbc-random-tap", cards[0]); !fault.Has(err, fault.Invalid, "offer_auto") {
		t.Errorf("auto offer: got %v", err)
	}
	if _, err := o.Enrol(ctx, "nope", cards[1]); fault.KindOf(err) != fault.NotFound {
		t.Errorf("unknown offer: got %v", err)
	}
	off, err := o.Enrol(ctx, "ccb-grocery-cashback", cards[1])
	if err != nil || !off.Added || off.FundedBy != "CCB" {
		t.Fatalf("enrol: got %+v, %v", off, err)
	}
	if en, _ := st.Enrolled(ctx, "P2"); !en["ccb-grocery-cashback"] {
		t.Errorf("not enrolled by PAR: %v", en)
	}
	// The switch matches by the same key: the enrolled card is eligible.
	cs, _ := st.Campaigns(ctx)
	en, _ := st.Enrolled(ctx, "P2")
	for i := range cs {
		if cs[i].ID == "ccb-grocery-cashback" {
			p := &promo.Purchase{Card: "P2", Bank: "ccb", BIN: "621700", Product: "debit", MCC: "5411", Channel: promo.ChannelNFC,
				Gross: 10000, At: o.now(), Enrolled: en}
			if !cs[i].Eligible(p) {
				t.Errorf("the switch would not apply the added offer")
			}
		}
	}
}
