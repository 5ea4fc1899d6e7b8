package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
)

// answered0110 is the network's 0110 to req with DE124 promo (none: nil),
// packed and read back as the terminal reads it off the wire.
func answered0110(t *testing.T, req *iso8583.Message, promo *iso8583.PromotionData) *acquirer.Result {
	t.Helper()
	resp, err := iso8583.NewResponse(req, iso8583.Approved)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.SetString(iso8583.DEAuthID, "A1B2C3"); err != nil {
		t.Fatal(err)
	}
	if promo != nil {
		if err := resp.SetPromotionData(*promo); err != nil {
			t.Fatal(err)
		}
	}
	b, err := resp.Pack()
	if err != nil {
		t.Fatal(err)
	}
	got, err := iso8583.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	res := &acquirer.Result{Answer: got, Code: iso8583.Approved, AuthCode: "A1B2C3"}
	if got.Has(iso8583.DEPromotionData) {
		p, err := got.PromotionData()
		if err != nil {
			t.Fatal(err)
		}
		res.Promotion = &p
	}
	return res
}

// TestReceiptPromotion: the receipt of an approved purchase whose 0110
// carries DE124 prints the amount asked, the discount, the campaign's name
// and the amount charged (for a credit after clearing: the amount, and
// the credit to come); without DE124 it prints none and its JSON says
// "discount": null.
func TestReceiptPromotion(t *testing.T) {
	req := iso8583.New(iso8583.AuthorizationRequest)
	if err := errors.Join(req.SetString(iso8583.DEPAN, "6288010000000009"), req.SetString(iso8583.DEProcessingCode, "000000"),
		req.SetAmount(money.Fen(120_00))); err != nil {
		t.Fatal(err)
	}
	shop := acquirer.Merchant{Acquirer: "48021000", Terminal: "T0000001", ID: "898310054110001", Name: "CORNER SHOP", City: "SHANGHAI", Country: "CN", MCC: "5411"}
	if err := shop.Stamp(req, 7, "634014000007", time.Now()); err != nil {
		t.Fatal(err)
	}
	asJSON := false
	term := &posTerminal{asJSON: &asJSON}
	show := func(res *acquirer.Result) (string, *receipt) {
		r := receiptOf(acquirer.KindSale, req, res.Code, res.AuthCode)
		r.setPromotion(res)
		var out bytes.Buffer
		if err := printReceipt(&env{stdout: &out}, term, r); err != nil {
			t.Fatal(err)
		}
		return out.String(), r
	}

	text, r := show(answered0110(t, req, &iso8583.PromotionData{Campaign: "network-new-user-100-50", Gross: 120_00, Discount: 50_00, Name: "新用户满100减50"}))
	for _, want := range []string{"AMOUNT        120.00 CNY", "DISCOUNT      ¥50.00 off\n", "CAMPAIGN      新用户满100减50 (network-new-user-100-50)", "CHARGED       70.00 CNY"} {
		if !strings.Contains(text, want) {
			t.Errorf("instant discount: no %q in\n%s", want, text)
		}
	}
	if r.ChargedMinor != 70_00 || r.DiscountMinor != 50_00 || r.AmountMinor != 120_00 {
		t.Errorf("instant discount: got %+v", r)
	}

	text, r = show(answered0110(t, req, &iso8583.PromotionData{Campaign: "ccb-grocery-cashback", Gross: 120_00, Discount: 6_00,
		Fulfilment: iso8583.PromoStatementCredit, Funders: []iso8583.PromotionFunder{{Kind: iso8583.PromoFunderIssuer, Party: "CCB", Share: 6_00}},
		Name: "建设银行超市返现"}))
	for _, want := range []string{"DISCOUNT      ¥6.00 back to the card after clearing, funded by CCB", "CHARGED       120.00 CNY"} {
		if !strings.Contains(text, want) {
			t.Errorf("statement credit: no %q in\n%s", want, text)
		}
	}
	if r.ChargedMinor != 120_00 {
		t.Errorf("statement credit: charged %d, want the whole 120.00", r.ChargedMinor)
	}

	text, r = show(answered0110(t, req, nil))
	if strings.Contains(text, "DISCOUNT") || strings.Contains(text, "CHARGED") || r.Discount != nil {
		t.Errorf("no DE124: got\n%s", text)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"discount":null`) || strings.Contains(string(b), `"charged"`) {
		t.Errorf("no DE124, JSON: %s", b)
	}

	// A declined answer prints no discount even if DE124 came.
	res := answered0110(t, req, &iso8583.PromotionData{Campaign: "x", Gross: 120_00, Discount: 1_00})
	res.Code = iso8583.InsufficientFunds
	if text, _ = show(res); strings.Contains(text, "DISCOUNT") {
		t.Errorf("declined: got\n%s", text)
	}
}
