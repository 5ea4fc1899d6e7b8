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
	"github.com/tapwallet/tapwallet/platform"
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

// TestPromotionsEndToEnd: through the platform's own promotions (the promo
// wing, the issuer hosts' points): a first tap of 100.00 gets the
// network's new-user 50.00 off at the terminal and in the phone's history;
// after clearing the bank has accrued points on the 50.00 the card holder
// paid, which pay part of that purchase, once.
func TestPromotionsEndToEnd(t *testing.T) {
	ctx := context.Background()
	p, err := platform.Start(ctx, platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ISOAddr: "127.0.0.1:0", ArgonTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Promotions() == nil {
		t.Fatal("the platform runs no promotions")
	}
	p.MountPromotions()
	envv, green := phoneWithCard(t, p, "e2e@example.com", func(c *bank.Cardholder) bool { return c.Funds().Minor > 1000_00 })

	out := mustRun(t, envv, "New users: spend ¥100, save ¥50", "phone", "offers")
	if strings.Contains(out, green.PAN.Digits()) {
		t.Fatalf("phone offers printed a card number:\n%s", out)
	}
	sale := posTap(t, envv, p.ISOAddr, "pos", "sale", "--amount", "100.00")
	if sale.Discount == nil || sale.ChargedMinor != 50_00 || sale.CampaignName != "新用户满100减50" {
		t.Fatalf("receipt: got %+v", sale)
	}
	out = mustRun(t, envv, "¥50.00 off, funded by the network", "phone", "history")
	if !strings.Contains(out, "charged 50.00 CNY") {
		t.Errorf("phone history:\n%s", out)
	}
	ph, err := phone.Load(envv["TAPWALLET_PROFILE"], envv["TAPWALLET_SERVER"])
	if err != nil {
		t.Fatal(err)
	}
	pms, err := ph.History(ctx, 5)
	if err != nil || len(pms) != 1 || pms[0].ID == "" || pms[0].Discount != 50_00 || pms[0].Charged != 50_00 {
		t.Fatalf("history: %+v, %v", pms, err)
	}
	id := pms[0].ID

	// Before clearing the bank has not posted it: nothing to pay.
	if _, _, err := runCLI(t, envv, "phone", "points", "pay", id); err == nil {
		t.Errorf("paying with points before the purchase posted: no error")
	}
	if _, err := p.Clear(ctx, time.Now().UTC().Format("20060102"), ""); err != nil {
		t.Fatal(err)
	}
	pts, err := ph.Points(ctx)
	if err != nil || len(pts.Cards) != 1 || pts.Cards[0].Balance <= 0 {
		t.Fatalf("points after clearing: %+v, %v", pts, err)
	}
	before := pts.Cards[0].Balance
	t.Logf("after clearing: %d points at %s (%s)", before, pts.Cards[0].BankName, pts.Cards[0].ValueDisplay)
	paid, err := ph.PayWithPoints(ctx, id, 10)
	if err != nil || paid.Points != 10 || paid.Credit != 10*pts.Cards[0].FenPerPoint || paid.Balance != before-10 || paid.Again {
		t.Fatalf("pay with points: %+v, %v (had %d)", paid, err, before)
	}
	again, err := ph.PayWithPoints(ctx, id, 10)
	if err != nil || !again.Again || again.Credit != paid.Credit {
		t.Errorf("asked again: %+v, %v", again, err)
	}
	if pts, _ = ph.Points(ctx); pts.Cards[0].Balance != before-10 {
		t.Errorf("points after paying twice: %d, want %d", pts.Cards[0].Balance, before-10)
	}
}
