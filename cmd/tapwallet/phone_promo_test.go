package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// cliRewards is the banks' points: 1200 points on every card, a purchase
// paid with points once.
type cliRewards struct {
	mu   sync.Mutex
	left map[string]int64
	paid map[string]bank.PointsPayment
}

func (r *cliRewards) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.left[par]; !ok {
		r.left[par] = 1200
	}
	return bank.Points{Bank: bankID, Balance: r.left[par], FenPerPoint: 1}, nil
}

func (r *cliRewards) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paid[req.Purchase]; ok {
		p.Again = true
		return p, nil
	}
	if req.PAR != "PAR-CLI" || req.Bank != "icbc" {
		return bank.PointsPayment{}, fault.E(fault.NotFound, "points_no_purchase", "no such purchase of the card")
	}
	if _, ok := r.left[req.PAR]; !ok {
		r.left[req.PAR] = 1200
	}
	r.left[req.PAR] -= req.Points
	p := bank.PointsPayment{Purchase: req.Purchase, Points: req.Points, Credit: req.Points, Balance: r.left[req.PAR]}
	r.paid[req.Purchase] = p
	return p, nil
}

func greenCardOf(cfg *bank.Config, bankID string, kind bank.ProductKind) *bank.Cardholder {
	for i := range cfg.Cards {
		if c := &cfg.Cards[i]; c.Bank == bankID && c.Product == kind && c.IDV == bank.Green && c.Expiry.Year >= 2028 && c.Usable() {
			return c
		}
	}
	return nil
}

// TestPhoneOffersAndPoints: tapwallet phone offers lists each card's
// offers and adds an add-to-card one (refused on another bank's card), the
// tap shows the paying card and its offers from the last fetch, phone
// points shows the banks' points, phone history shows the discount and
// points pay credits a payment once.
func TestPhoneOffersAndPoints(t *testing.T) {
	p, envv := startPlatform(t)
	registeredPhone(t, envv, "offers@example.com")
	icbc, ccb := greenCardOf(p.Banks, "icbc", bank.Debit), greenCardOf(p.Banks, "ccb", bank.Debit)
	if icbc == nil || ccb == nil {
		t.Fatal("no green ICBC and CCB debit test cards")
	}
	for _, c := range []*bank.Cardholder{icbc, ccb} {
		mustRun(t, envv, "payment keys", "phone", "add-card", "--pan", c.PAN.Digits(), "--expiry", c.Expiry.MMYY(), "--cvn2", c.CVN2.Digits())
	}
	st := promo.NewMemStore()
	cs, err := promo.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	rw := &cliRewards{left: map[string]int64{}, paid: map[string]bank.PointsPayment{}}
	p.MountPromotionsWith(st, rw)
	ph, err := phone.Load(envv["TAPWALLET_PROFILE"], envv["TAPWALLET_SERVER"])
	if err != nil {
		t.Fatal(err)
	}
	icbcCard, _ := ph.FindCard(icbc.PAN.Last4())
	ccbCard, _ := ph.FindCard(ccb.PAN.Last4())

	// Before any fetch the tap shows the card only.
	if got := tapPreview(ph, ""); !strings.Contains(got, "paying with") || strings.Contains(got, "offers") {
		t.Errorf("tap preview before offers were fetched: %q", got)
	}
	out := mustRun(t, envv, "ICBC random discount", "phone", "offers")
	for _, want := range []string{"✓ New users: spend ¥100, save ¥50  新用户满100减50", "funded by the network",
		"+ CCB groceries", "not added yet: tapwallet phone offers add ccb-grocery-cashback " + ccbCard.TokenLast4} {
		if !strings.Contains(out, want) {
			t.Errorf("phone offers: no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "CMB") || strings.Contains(out, icbc.PAN.Digits()) {
		t.Errorf("phone offers shows another bank's offer or a card number:\n%s", out)
	}
	var js client.Offers
	if err := json.Unmarshal([]byte(mustRun(t, envv, "{", "phone", "offers", "--json")), &js); err != nil || len(js.Cards) != 2 {
		t.Fatalf("offers --json: %v %+v", err, js)
	}
	// The tap now names the default card's store offers (not the in-app only ones).
	ph, _ = phone.Load(envv["TAPWALLET_PROFILE"], envv["TAPWALLET_SERVER"])
	if got := tapPreview(ph, icbcCard.TokenLast4); !strings.Contains(got, "card ending "+icbc.PAN.Last4()) || !strings.Contains(got, "ICBC random discount (random 0.50-8.88 over 20.00)") {
		t.Errorf("tap preview: %q", got)
	}

	_, _, err = runCLI(t, envv, "phone", "offers", "add", "ccb-grocery-cashback", icbcCard.TokenLast4)
	if !fault.Has(err, fault.Invalid, "offer_not_for_card") && (err == nil || !strings.Contains(err.Error(), "not for this card")) {
		t.Errorf("adding CCB's offer to the ICBC card: got %v", err)
	}
	mustRun(t, envv, `added "CCB groceries: 5% back after clearing"`, "phone", "offers", "add", "ccb-grocery-cashback", ccbCard.TokenLast4)
	if out := mustRun(t, envv, "CCB", "phone", "offers"); !strings.Contains(out, "✓ CCB groceries") {
		t.Errorf("after adding: %s", out)
	}
	var ee *exitError
	if _, _, err := runCLI(t, envv, "phone", "offers", "add", "x"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("offers add with one argument: got %v, want exit 2", err)
	}

	out = mustRun(t, envv, "points", "phone", "points")
	if !strings.Contains(out, "ICBC       1200 points  worth ¥12.00") || !strings.Contains(out, "debit card ending "+ccb.PAN.Last4()+": 1200 points (¥12.00)") {
		t.Errorf("phone points:\n%s", out)
	}

	// A purchase of 120.00 with the network's 50.00 off, as the switch records it.
	tok, err := card.ParseToken(icbcCard.Token)
	if err != nil {
		t.Fatal(err)
	}
	id := "TERM0001|000042|1206120000"
	au := netswitch.Auth{ID: id, Digest: "d", PhoneID: ph.Profile.PhoneID, Token: tok, TokenLast4: tok.Last4(), PANLast4: icbc.PAN.Last4(),
		BankID: "icbc", PAR: "PAR-CLI", MerchantName: "CORNER SHOP", Amount: money.Fen(12000), ClearAmount: 12000,
		ResponseCode: iso8583.Approved, AuthCode: "A1", ReceivedAt: time.Now(),
		Promo: &promo.Redemption{Identity: id, Campaign: "network-new-user-100-50", Fulfilment: promo.FulfilInstant, CardBank: "icbc",
			Gross: 12000, Net: 7000, Discount: 5000, Shares: []promo.Share{{Kind: promo.FunderNetwork, Party: "network", Amount: 5000}}}}
	if err := p.Records.SaveAuth(context.Background(), au); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, envv, "CORNER SHOP", "phone", "history")
	for _, want := range []string{"¥50.00 off, funded by the network", "charged 70.00 CNY", "payment id " + id} {
		if !strings.Contains(out, want) {
			t.Errorf("phone history: no %q in\n%s", want, out)
		}
	}
	mustRun(t, envv, "paid with 500 points: ¥5.00 credited to the card; 700 points left", "phone", "points", "pay", id, "--points", "500")
	mustRun(t, envv, "already paid with points: 500 points, ¥5.00 credited", "phone", "points", "pay", id, "--points", "500")
	if _, _, err := runCLI(t, envv, "phone", "points", "pay", "TERM0001|000043|1206120000"); err == nil || !strings.Contains(err.Error(), "no such payment") {
		t.Errorf("paying an unknown payment: got %v", err)
	}
	if _, _, err := runCLI(t, envv, "phone", "points", "pay"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("points pay without a payment: got %v, want exit 2", err)
	}
	if _, _, err := runCLI(t, envv, "phone", "points", "pay", id, "--points", "-5"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("negative points: got %v, want exit 2", err)
	}
}
