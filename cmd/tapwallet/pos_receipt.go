package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/walletapi"
)

// receipt is what the terminal prints for each transaction, and its JSON
// form (--json): never the full card number, only the token masked to its
// first 6 and last 4 digits.
type receipt struct {
	Type        string `json:"type"`   // sale, preauth, completion, refund, void
	Result      string `json:"result"` // approved or declined
	Merchant    string `json:"merchant"`
	MerchantID  string `json:"merchant_id"`
	Terminal    string `json:"terminal"`
	Token       string `json:"token"`  // first 6, last 4
	Amount      string `json:"amount"` // "12.34 CNY"
	AmountMinor int64  `json:"amount_minor"`
	Currency    int    `json:"currency"`
	// Discount is the promotion's discount line ("¥50.00 off"), null when
	// the network applied none (DE124 of the 0110, docs/promotions.md);
	// then the rest tell the discount, the campaign and what the card
	// holder is charged (the amount less an instant discount). The
	// merchant is settled the amount.
	Discount      *string `json:"discount"`
	DiscountMinor int64   `json:"discount_minor,omitempty"`
	Charged       string  `json:"charged,omitempty"` // "70.00 CNY"
	ChargedMinor  int64   `json:"charged_minor,omitempty"`
	Campaign      string  `json:"campaign,omitempty"`
	CampaignName  string  `json:"campaign_name,omitempty"` // as the network names it for the receipt (Chinese)
	AuthCode      string  `json:"auth_code"`
	RRN           string  `json:"rrn"`
	STAN          string  `json:"stan"`
	ARPC          string  `json:"arpc"` // the terminal's check of the issuer authentication data; "" where none applies
	ResponseCode  string  `json:"response_code"`
	ResponseText  string  `json:"response_text"`
	// Original is the sale a refund, void or completion names: its RRN,
	// STAN and amount.
	Original *receiptOriginal `json:"original,omitempty"`
	Time     time.Time        `json:"time"`
}

type receiptOriginal struct {
	RRN    string `json:"rrn"`
	STAN   string `json:"stan"`
	Amount string `json:"amount"`
}

var receiptTypes = map[acquirer.Kind]string{acquirer.KindSale: "sale", acquirer.KindPreAuth: "preauth"}

// receiptOf is the receipt of an authorization req answered rc.
func receiptOf(kind acquirer.Kind, req *iso8583.Message, rc iso8583.ResponseCode, authCode string) *receipt {
	str := func(de int) string { s, _ := req.String(de); return strings.TrimSpace(s) }
	amt, _ := req.Amount()
	name := str(iso8583.DEMerchantName)
	if len(name) > 25 {
		name = strings.TrimSpace(name[:25])
	}
	r := &receipt{Type: receiptTypes[kind], Merchant: name, MerchantID: str(iso8583.DEMerchant), Terminal: str(iso8583.DETerminal),
		Token: maskToken(str(iso8583.DEPAN)), AuthCode: authCode, RRN: str(iso8583.DERRN), STAN: str(iso8583.DESTAN), Time: time.Now().UTC()}
	r.setAmount(amt.Minor, int(amt.Currency))
	r.setCode(rc)
	return r
}

// receiptOfCharge is the receipt of an operation on charge c: amount
// minor units, the network's answer ans.
func receiptOfCharge(typ string, c acquirer.Charge, amount int64, ans acquirer.Answered) *receipt {
	name := c.MerchantName
	if len(name) > 25 {
		name = name[:25]
	}
	r := &receipt{Type: typ, Merchant: strings.TrimSpace(name), MerchantID: strings.TrimSpace(c.Merchant), Terminal: strings.TrimSpace(c.Terminal),
		Token: maskToken(c.Token), AuthCode: ans.AuthCode, RRN: c.RRN, STAN: ans.STAN, Time: time.Now().UTC(),
		Original: &receiptOriginal{RRN: c.RRN, STAN: c.STAN, Amount: money.New(c.Amount, money.Currency(c.Currency)).String()}}
	r.setAmount(amount, c.Currency)
	r.setCode(ans.Code)
	return r
}

func (r *receipt) setAmount(minor int64, cur int) {
	r.AmountMinor, r.Currency = minor, cur
	r.Amount = money.New(minor, money.Currency(cur)).String()
}

// setPromotion adds the promotion of an approved purchase's answer: the
// discount, the campaign and the amount charged (nothing when none).
func (r *receipt) setPromotion(res *acquirer.Result) {
	p := res.Promotion
	if p == nil || p.Discount <= 0 || r.Result != "approved" {
		return
	}
	cur := money.Currency(r.Currency)
	var funders []string
	for _, f := range p.Funders {
		funders = append(funders, f.Party)
	}
	line := walletapi.Benefit(money.New(p.Discount, cur), promoFulfilment[p.Fulfilment], funders)
	r.Discount, r.DiscountMinor, r.Campaign, r.CampaignName = &line, p.Discount, p.Campaign, p.Name
	r.ChargedMinor = res.Charged(r.AmountMinor)
	r.Charged = money.New(r.ChargedMinor, cur).String()
}

// promoFulfilment names DF63's fulfilments (absent: instant).
var promoFulfilment = map[byte]string{0: "instant", iso8583.PromoInstant: "instant", iso8583.PromoStatementCredit: "statement_credit", iso8583.PromoPoints: "points"}

func (r *receipt) setCode(rc iso8583.ResponseCode) {
	r.ResponseCode, r.ResponseText, r.Result = string(rc), rc.Text(), "declined"
	if rc.Approved() {
		r.Result = "approved"
	}
}

// maskToken shows a token's first 6 and last 4 digits (card.Token's
// form); anything that is not a token shows as ****.
func maskToken(digits string) string {
	if t, err := card.ParseToken(digits); err == nil {
		return t.String()
	}
	return "****"
}

// printReceipt writes the receipt: as one JSON object with --json, else
// as the lines of a paper receipt.
func printReceipt(e *env, term *posTerminal, r *receipt) error {
	if *term.asJSON {
		return writeJSON(e.stdout, r)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "------ %s ------\n", strings.ToUpper(r.Type))
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, v)
		}
	}
	line("MERCHANT", r.Merchant)
	line("MERCHANT ID", r.MerchantID)
	line("TERMINAL", r.Terminal)
	line("CARD (TOKEN)", r.Token)
	line("AMOUNT", r.Amount)
	if r.Discount != nil {
		line("DISCOUNT", *r.Discount)
		line("CAMPAIGN", strings.TrimSpace(r.CampaignName+" ("+r.Campaign+")"))
		line("CHARGED", r.Charged)
	}
	if r.Original != nil {
		line("ORIGINAL", fmt.Sprintf("RRN %s STAN %s %s", r.Original.RRN, r.Original.STAN, r.Original.Amount))
	}
	line("AUTH CODE", r.AuthCode)
	line("RRN", r.RRN)
	line("STAN", r.STAN)
	line("ARPC", r.ARPC)
	line("RESPONSE", r.ResponseCode+" "+r.ResponseText)
	line("DATE", r.Time.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(w, "------ %s ------\n", strings.ToUpper(r.Result))
	return w.Flush()
}

// progress is where a pos command writes what it is doing: standard
// output, or standard error with --json (standard output is the JSON).
func (e *env) progress(term *posTerminal) io.Writer {
	if *term.asJSON {
		return e.stderr
	}
	return e.stdout
}
