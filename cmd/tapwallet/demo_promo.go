package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// promoChapter: the banks' and the network's promotions and rewards
// (docs/promotions.md). A new card holder's ¥100 purchase gets the
// network's ¥50 off at the terminal, once; an ICBC card a random
// discount, the same one when the terminal sends the authorization again;
// a CCB card holder adds "5% back on groceries" to her card and gets the
// credit after clearing; clearing settles the merchants the gross and the
// funders their shares; points accrue on cleared purchases, pay for a
// purchase (once, however often asked) and come back off on a refund; a
// campaign's budget runs out exactly at its limit.
func (d *demo) promoChapter() error {
	ctx, cancel := context.WithTimeout(d.ctx, 3*time.Minute)
	defer cancel()
	net, err := isolink.Dial(ctx, d.p.ISOAddr, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer net.Close()
	kc := kernel.DefaultConfig()
	kc.TerminalID = "T0000012" // its own trace numbers: the chapter's identities (DE41, DE11, DE7) are its own
	k, err := kernel.New(kc)
	if err != nil {
		return err
	}
	ph := d.alice

	d.say("Banks and the network run promotions: Alice's phone lists the offers of her cards")
	offers, err := ph.Offers(ctx)
	if err != nil {
		return err
	}
	var icbc, ccb *phone.Card
	cards, err := ph.Cards(ctx)
	if err != nil {
		return err
	}
	for i, c := range cards {
		switch c.Bank {
		case "icbc":
			icbc = &cards[i]
		case "ccb":
			ccb = &cards[i]
		}
	}
	shown := 0
	for _, co := range offers {
		for _, o := range co.Offers {
			d.ok("%s %s card ending %s: %s — %s, funded by %s (%s)", co.BankName, co.Product, co.PANLast4, o.Name.ZH, o.Benefit, o.FundedBy, o.Enrolment)
			shown++
		}
	}
	if err := d.check(shown > 0 && icbc != nil && ccb != nil, "Alice's cards have %d offers (ICBC card %v, CCB card %v)", shown, icbc != nil, ccb != nil); err != nil {
		return err
	}

	d.say("Carol, new to tapwallet, pays ¥100.00: the network's \"spend ¥100, save ¥50, new users\" applies at the terminal")
	carol, cc, err := d.carol(ctx, cards)
	if err != nil {
		return err
	}
	first, resp, err := d.payOnline(ctx, k, net, carol, cc.Token, money.Fen(10000))
	if err != nil {
		return err
	}
	pd, err := promoAnswer(resp)
	if err != nil {
		return err
	}
	if err := d.check(pd != nil && pd.Campaign == "network-new-user-100-50" && pd.Discount == 5000, "the first ¥100.00 got %+v, want ¥50.00 off", pd); err != nil {
		return err
	}
	d.ok("0110 approved; DE124 names the campaign %s: ¥%s off, the terminal prints \"%s\" and charges ¥%s", pd.Campaign, money.FormatMinor(pd.Discount, 2), pd.Name, money.FormatMinor(pd.Gross-pd.Discount, 2))
	if _, held, err := d.cardBalance(ctx, cc); err == nil {
		if err := d.check(held.Minor == 5000, "the bank holds %s, want ¥50.00 (the net)", held); err != nil {
			return err
		}
		d.ok("%s holds ¥50.00 on the card — the net; the network pays the other ¥50.00 at clearing", cc.BankName)
	}

	d.say("Her second ¥100.00 pays full price: the offer is one per card")
	second, resp, err := d.payOnline(ctx, k, net, carol, cc.Token, money.Fen(10000))
	if err != nil {
		return err
	}
	if pd, err = promoAnswer(resp); err != nil {
		return err
	}
	if err := d.check(pd == nil, "the second purchase got a promotion: %+v", pd); err != nil {
		return err
	}
	d.ok("approved at ¥100.00, no DE124")

	d.say("Alice pays ¥30.00 with her ICBC card: ICBC's random discount (随机立减); the terminal sends the authorization again and gets the same discount, reserved once")
	req, resp, err := d.payOnline(ctx, k, net, ph, icbc.Token, money.Fen(3000))
	if err != nil {
		return err
	}
	if pd, err = promoAnswer(resp); err != nil {
		return err
	}
	if err := d.check(pd != nil && pd.Campaign == "icbc-random-tap" && pd.Discount >= 50 && pd.Discount <= 888, "the ICBC purchase got %+v", pd); err != nil {
		return err
	}
	before, err := d.p.Promotions().Usage(ctx, pd.Campaign)
	if err != nil {
		return err
	}
	again, err := net.Send(ctx, req)
	if err != nil {
		return err
	}
	pd2, err := promoAnswer(again)
	if err != nil {
		return err
	}
	after, err := d.p.Promotions().Usage(ctx, pd.Campaign)
	if err != nil {
		return err
	}
	if err := d.check(pd2 != nil && pd2.Discount == pd.Discount && after.ReservedCount+after.SpentCount == before.ReservedCount+before.SpentCount, "the retransmission got %+v (%d then %d holds)", pd2, before.ReservedCount, after.ReservedCount); err != nil {
		return err
	}
	d.ok("¥%s off ¥30.00, funded by ICBC; sent again, the same answer and still %d hold(s) on the campaign's budget", money.FormatMinor(pd.Discount, 2), after.ReservedCount+after.SpentCount)

	d.say("Alice adds CCB's \"5%% back on groceries\" to her CCB card and shops for ¥80.00")
	added, err := ph.AddOffer(ctx, "ccb-grocery-cashback", ccb.Token)
	if err != nil {
		return err
	}
	d.ok("added: %s", added.Offer.Benefit)
	_, resp, err = d.payOnline(ctx, k, net, ph, ccb.Token, money.Fen(8000))
	if err != nil {
		return err
	}
	if pd, err = promoAnswer(resp); err != nil {
		return err
	}
	if err := d.check(pd != nil && pd.Fulfilment == iso8583.PromoStatementCredit && pd.Discount == 400, "the grocery purchase got %+v, want a ¥4.00 credit after clearing", pd); err != nil {
		return err
	}
	ccbBefore, _, err := d.cardBalance(ctx, *ccb)
	if err != nil {
		return err
	}
	d.ok("charged ¥80.00 now; ¥4.00 comes back to the card once the purchase clears")

	d.say("The phones show the promotions in their history")
	for _, who := range []struct {
		name string
		ph   *phone.Phone
	}{{"Carol", carol}, {"Alice", ph}} {
		h, err := who.ph.History(ctx, 3)
		if err != nil {
			return err
		}
		for _, pm := range h {
			if pm.Promotion != "" {
				d.ok("%s: %s %s — %s, charged %s", who.name, pm.Merchant, pm.Display, pm.Promotion, pm.ChargedDisplay)
			}
		}
	}

	d.say("End of the day: clearing settles the merchant the gross and each funder its share; points accrue")
	date := time.Now().UTC().Format("20060102")
	rep, err := d.p.Clear(ctx, date, filepath.Join(d.dir, "clearing"))
	if err != nil {
		return err
	}
	if err := d.check(len(rep.Flags()) == 0 && rep.Promotions != nil, "clearing flagged %d presentments (promotions %v)", len(rep.Flags()), rep.Promotions != nil); err != nil {
		return err
	}
	text := rep.Text()
	if i := strings.Index(text, "Promotions:"); i >= 0 {
		for _, line := range strings.Split(strings.TrimRight(text[i:], "\n"), "\n") {
			fmt.Fprintf(d.out, "    %s\n", line)
		}
	}
	var sum int64
	for _, b := range rep.Banks {
		sum += b.Net
	}
	for _, a := range rep.Acquirers {
		sum += a.Net
	}
	sum += rep.Promotion
	if err := d.check(sum == 0, "the positions sum to %d, want 0", sum); err != nil {
		return err
	}
	d.ok("the banks', the acquirers' and the network's promotion positions sum to 0")
	ccbAfter, _, err := d.cardBalance(ctx, *ccb)
	if err != nil {
		return err
	}
	if err := d.check(ccbAfter.Minor-ccbBefore.Minor == 400, "the CCB card went from %s to %s, want ¥4.00 credited", ccbBefore, ccbAfter); err != nil {
		return err
	}
	d.ok("CCB credited Alice's card ¥4.00 (5%% of ¥80.00) from its promotion account")
	pts, err := carol.Points(ctx)
	if err != nil {
		return err
	}
	earned := cardPoints(pts.Cards, cc.PANLast4)
	if err := d.check(earned > 0, "Carol's card has no points after clearing"); err != nil {
		return err
	}
	d.ok("Carol's %s card: %d points (on ¥150.00 charged)", cc.BankName, earned)

	d.say("Carol pays ¥0.60 of her second purchase with 60 points, and asks twice")
	hist, err := carol.History(ctx, 5)
	if err != nil {
		return err
	}
	secondID := paymentID(hist, second)
	if err := d.check(secondID != "", "the second purchase is not in Carol's history"); err != nil {
		return err
	}
	availBefore, _, err := d.cardBalance(ctx, cc)
	if err != nil {
		return err
	}
	paid, err := carol.PayWithPoints(ctx, secondID, 60)
	if err != nil {
		return err
	}
	paidAgain, err := carol.PayWithPoints(ctx, secondID, 60)
	if err != nil {
		return err
	}
	availAfter, _, err := d.cardBalance(ctx, cc)
	if err != nil {
		return err
	}
	if err := d.check(paid.Credit == 60 && paidAgain.Again && availAfter.Minor-availBefore.Minor == 60, "paid %+v, again %+v, card %s → %s", paid, paidAgain, availBefore, availAfter); err != nil {
		return err
	}
	d.ok("%s credited %s for 60 points, once; asked again, the same answer (%d points left)", cc.BankName, paid.CreditDisplay, paid.Balance)

	d.say("The store refunds Carol's first purchase in full: she gets back her ¥50.00, the network its ¥50.00, and the points come back off")
	availBefore, _, err = d.cardBalance(ctx, cc)
	if err != nil {
		return err
	}
	charge, err := acquirer.ChargeOf("carol-1", first, time.Now())
	if err != nil {
		return err
	}
	refund, err := acquirer.RefundRequest(charge, acquirer.NewRefundMessage(10000, iso8583.STAN(time.Now().UnixNano()%900000+1), time.Now()))
	if err != nil {
		return err
	}
	resp, err = net.Send(ctx, refund)
	if err != nil {
		return err
	}
	if rc, _ := resp.ResponseCode(); !rc.Approved() {
		return d.check(false, "the refund got %s", rc)
	}
	if _, err := d.p.Clear(ctx, date, ""); err != nil {
		return err
	}
	pts, err = carol.Points(ctx)
	if err != nil {
		return err
	}
	left := cardPoints(pts.Cards, cc.PANLast4)
	if err := d.check(left == earned-60-50, "after the refund Carol has %d points, want %d", left, earned-60-50); err != nil {
		return err
	}
	if availAfter, _, err = d.cardBalance(ctx, cc); err != nil {
		return err
	}
	if err := d.check(availAfter.Minor-availBefore.Minor == 5000, "the refund brought the card from %s to %s, want ¥50.00 more", availBefore, availAfter); err != nil {
		return err
	}
	d.ok("refund approved; at clearing ¥50.00 credited to the card, ¥50.00 back to the network; 50 points taken back: %d left", left)

	d.say("A store runs \"¥1.00 off any purchase\" with a budget of ¥3.00: it runs out exactly at its limit")
	if err := d.smallBudget(ctx, k); err != nil {
		return err
	}
	var got []string
	for i := 0; i < 4; i++ {
		_, resp, err := d.payOnline(ctx, k, net, carol, cc.Token, money.Fen(1200))
		if err != nil {
			return err
		}
		pd, err := promoAnswer(resp)
		if err != nil {
			return err
		}
		if pd != nil && pd.Campaign == "demo-mart-budget" {
			got = append(got, "¥"+money.FormatMinor(pd.Discount, 2)+" off")
		} else {
			got = append(got, "full price")
		}
	}
	u, err := d.p.Promotions().Usage(ctx, "demo-mart-budget")
	if err != nil {
		return err
	}
	if err := d.check(strings.Join(got, ", ") == "¥1.00 off, ¥1.00 off, ¥1.00 off, full price" && u.Remaining() == 0, "four purchases got %v, %d left of the budget", got, u.Remaining()); err != nil {
		return err
	}
	d.ok("four purchases of ¥12.00: %s; the budget: ¥%s reserved of ¥%s, ¥0.00 left", strings.Join(got, ", "), money.FormatMinor(u.Reserved+u.Spent, 2), money.FormatMinor(u.Budget, 2))
	return nil
}

// carol makes Carol's phone with a debit card of a bank that runs no
// promotion of its own, not one of Alice's.
func (d *demo) carol(ctx context.Context, alice []phone.Card) (*phone.Phone, phone.Card, error) {
	taken := map[string]bool{}
	for _, c := range alice {
		taken[c.Bank+c.PANLast4] = true
	}
	var pick *bank.Cardholder
	for i := range d.p.Banks.Cards {
		c := &d.p.Banks.Cards[i]
		switch c.Bank {
		case "icbc", "cmb", "ccb", "boc":
			continue
		}
		if c.IDV == bank.Green && c.Product == bank.Debit && c.Funds().Minor >= 100000 && c.Expiry.Year >= 2027 && !taken[c.Bank+c.PAN.Last4()] {
			pick = c
			break
		}
	}
	if pick == nil {
		return nil, phone.Card{}, d.check(false, "no debit test card for Carol in the bank configuration")
	}
	carol, err := phone.Open(filepath.Join(d.dir, "phone-carol"), d.p.URL)
	if err != nil {
		return nil, phone.Card{}, err
	}
	const email, pw = "carol@example.com", "correct horse battery staple"
	if err := carol.SignUp(ctx, email, pw); err != nil {
		return nil, phone.Card{}, err
	}
	if err := carol.LogIn(ctx, email, pw); err != nil {
		return nil, phone.Card{}, err
	}
	if _, err := carol.Register(ctx, "Carol's phone", "Xiaomi Mi 5"); err != nil {
		return nil, phone.Card{}, err
	}
	res, err := carol.AddCard(ctx, pick.PAN.Digits(), pick.Expiry.MMYY(), pick.CVN2.Digits())
	if err != nil {
		return nil, phone.Card{}, err
	}
	if res.Card == nil {
		return nil, phone.Card{}, d.check(false, "Carol's card asked for a one-time code")
	}
	if err := carol.EnrollFinger(phone.DefaultFinger); err != nil {
		return nil, phone.Card{}, err
	}
	d.ok("Carol's phone holds the %s debit card ending %s", res.Card.BankName, res.Card.PANLast4)
	return carol, *res.Card, nil
}

// smallBudget publishes the store's campaign of ¥1.00 off with a budget of
// ¥3.00 (as `tapwallet promo add` would) and waits until the network
// matches it.
func (d *demo) smallBudget(ctx context.Context, k *kernel.Kernel) error {
	now := time.Now().UTC()
	file := fmt.Sprintf(`{"campaigns": [{"id": "demo-mart-budget", "name": {"zh": "商户立减1元", "en": "¥1.00 off at the mart"},
		"owner": "network", "funders": [{"kind": "merchant", "party": %q, "share_bp": 10000}],
		"window": {"start": %q, "end": %q}, "channels": ["nfc"], "eligibility": {"merchants": [%q]},
		"mechanic": {"kind": "fixed", "amount": "1.00"}, "budget": "3.00", "enrolment": "auto", "fulfilment": "instant"}]}`,
		k.Config().MerchantID, now.Add(-time.Hour).Format(time.RFC3339), now.Add(24*time.Hour).Format(time.RFC3339), k.Config().MerchantID)
	cs, err := promo.ParseFile(strings.NewReader(file))
	if err != nil {
		return err
	}
	if err := d.p.Promotions().Save(ctx, cs); err != nil {
		return err
	}
	d.ok("published: %s, funded by the merchant, budget ¥3.00", cs[0].Name.ZH)
	d.p.RefreshPromotions(ctx)
	return nil
}

// promoAnswer reads DE124 of an approved answer: nil without one.
func promoAnswer(resp *iso8583.Message) (*iso8583.PromotionData, error) {
	if rc, _ := resp.ResponseCode(); !rc.Approved() {
		return nil, fmt.Errorf("the payment got %s, want 00", rc)
	}
	if !resp.Has(iso8583.DEPromotionData) {
		return nil, nil
	}
	pd, err := resp.PromotionData()
	if err != nil {
		return nil, err
	}
	return &pd, nil
}

// cardPoints is the points of the card ending last4.
func cardPoints(cards []client.CardPoints, last4 string) int64 {
	for _, c := range cards {
		if c.PANLast4 == last4 {
			return c.Balance
		}
	}
	return 0
}

// paymentID finds the history's payment of the authorization req.
func paymentID(h []phone.Payment, req *iso8583.Message) string {
	stan, _ := req.String(iso8583.DESTAN)
	de7, _ := req.String(iso8583.DETransmission)
	for _, pm := range h {
		if strings.HasSuffix(pm.ID, "|"+stan+"|"+de7) {
			return pm.ID
		}
	}
	return ""
}
