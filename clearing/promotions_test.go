package clearing_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// testMerchant is the merchant (DE42) of every purchase of the tests.
const testMerchant = "898310054110001"

// testCampaigns are the campaigns of the promotion tests: an instant
// discount funded by the network, the card's bank and the merchant; one
// the merchant funds alone; a statement credit funded by ICBC whatever the
// card's bank, with the network; and bonus points funded by the card's
// bank. Every mechanic is a placeholder: the tests choose the discount.
var testCampaigns = func() []promo.Campaign {
	one := func(id, fulfilment, funders string) string {
		return fmt.Sprintf(`{"id": %q, "name": {"zh": "测试", "en": "test"}, "owner": "network", "funders": %s,
			"window": {"start": "2026-01-01T00:00:00Z", "end": "2200-01-01T00:00:00Z"}, "channels": ["nfc"], "eligibility": {},
			"mechanic": {"kind": "fixed", "amount": "1.00"}, "limits": {}, "budget": "1000000.00", "enrolment": "auto", "fulfilment": %q}`,
			id, funders, fulfilment)
	}
	file := `{"campaigns": [` + strings.Join([]string{
		one("t-three", "instant", `[{"kind": "network", "share_bp": 5000}, {"kind": "issuer", "share_bp": 3000}, {"kind": "merchant", "party": "`+testMerchant+`", "share_bp": 2000}]`),
		one("t-merchant", "instant", `[{"kind": "merchant", "party": "`+testMerchant+`", "share_bp": 10000}]`),
		one("t-credit", "statement_credit", `[{"kind": "issuer", "party": "icbc", "share_bp": 7000}, {"kind": "network", "share_bp": 3000}]`),
		one("t-points", "points", `[{"kind": "issuer", "share_bp": 10000}]`),
	}, ",") + `]}`
	cs, err := promo.ParseFile(strings.NewReader(file))
	if err != nil {
		panic(err)
	}
	return cs
}()

func testCampaign(id string) *promo.Campaign {
	for i := range testCampaigns {
		if testCampaigns[i].ID == id {
			return &testCampaigns[i]
		}
	}
	return nil
}

// promoRecords is the switch's records with what the switch's promotion
// hook records beside them (the redemption, MCC and PAR of an
// authorization), kept here so that clearing's tests do not depend on how
// the switch's store keeps them.
type promoRecords struct {
	*netstore.Store
	mu     sync.Mutex
	promos map[string]*promo.Redemption
	pars   map[string]string
}

func newPromoRecords(st *netstore.Store) *promoRecords {
	return &promoRecords{Store: st, promos: map[string]*promo.Redemption{}, pars: map[string]string{}}
}

func (s *promoRecords) set(id, par string, r *promo.Redemption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promos[id], s.pars[id] = r, par
}

func (s *promoRecords) attach(a *netswitch.Auth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.promos[a.ID]; r != nil {
		c := *r
		a.Promo = &c
	} else {
		a.Promo = nil
	}
	if par, ok := s.pars[a.ID]; ok {
		a.PAR, a.MCC = par, "5812"
	}
}

func (s *promoRecords) DayAuths(ctx context.Context, date string) ([]netswitch.Auth, error) {
	as, err := s.Store.DayAuths(ctx, date)
	for i := range as {
		s.attach(&as[i])
	}
	return as, err
}

func (s *promoRecords) Auth(ctx context.Context, id string) (netswitch.Auth, error) {
	a, err := s.Store.Auth(ctx, id)
	if err == nil {
		s.attach(&a)
	}
	return a, err
}

// parOf is a card's PAR in the tests: 29 letters and digits.
func parOf(pan string) string { return "U001" + strings.Repeat("P", 9) + pan }

// discounted is a purchase the tests made, as the switch would: the hold
// of its promotion reserved, the issuer asked for the net of an instant
// discount (the gross otherwise), the record keeping the gross and the
// redemption.
type discounted struct {
	*auth
	id    string // the switch's identity, the promotion hold's
	gross int64
	clear int64 // what remains to clear, gross terms
	promo *promo.Redemption
}

// purchase makes a purchase of gross on pan with campaign (nil: none) and
// a discount of discount fen; it returns it approved or declined (rc).
func (w *world) purchase(t interface{ Fatalf(string, ...any) }, recs *promoRecords, st promo.Store, pan string, gross int64, c *promo.Campaign, discount int64) *discounted {
	ctx := context.Background()
	card := w.cardholder(pan)
	issuerAmount := gross
	var red *promo.Redemption
	m := w.message(pan, gross)
	id := netswitch.AuthID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission))
	if c != nil {
		o := promo.Offer{Campaign: c, Gross: gross, Discount: discount, Shares: c.Split(discount, card.Bank)}
		r := o.Redeem(&promo.Purchase{Identity: id, Merchant: testMerchant, Bank: card.Bank})
		red = &r
		if c.Fulfilment == promo.FulfilInstant {
			issuerAmount = gross - discount
			_ = m.SetNumber(iso8583.DEAmount, issuerAmount)
		}
		if _, err := st.Reserve(ctx, promo.Hold{ID: id, Campaign: c.ID, Card: parOf(pan), Amount: discount, At: w.clock.Now(),
			ExpiresAt: w.clock.Now().Add(promo.HoldTimeout)}); err != nil {
			t.Fatalf("reserving %s: %v", c.ID, err)
		}
	}
	resp := w.hosts[card.Bank].Handle(ctx, m)
	rc, _ := resp.ResponseCode()
	code, _ := resp.String(iso8583.DEAuthID)
	acct, _ := w.hosts[card.Bank].AccountFor(card.PAN)
	a := &auth{msg: m, bank: card.Bank, acct: acct, amount: issuerAmount, rc: string(rc), code: code,
		holdID: issuer.HoldID(card.Bank, str(m, iso8583.DETransmission), str(m, iso8583.DESTAN), str(m, iso8583.DETerminal))}
	d := &discounted{auth: a, id: id, gross: gross, clear: gross, promo: red}
	if !rc.Approved() {
		if red != nil {
			if _, err := st.Void(ctx, id); err != nil {
				t.Fatalf("voiding a declined purchase's hold: %v", err)
			}
		}
		d.promo = nil
		return d
	}
	a.status, a.held = ledger.StatusPending, issuerAmount
	now := w.clock.Now()
	rec := netswitch.Auth{ID: id, Digest: "the message's digest", Acquirer: "48021000", Terminal: str(m, iso8583.DETerminal), STAN: str(m, iso8583.DESTAN),
		Transmission: str(m, iso8583.DETransmission), RRN: str(m, iso8583.DERRN), Merchant: testMerchant, LocalDate: str(m, iso8583.DELocalDate),
		LocalTime: str(m, iso8583.DELocalTime), Token: testToken, BankID: card.Bank, Amount: money.Fen(gross), ClearAmount: gross, PANLast4: card.PAN.Last4(),
		AuthCode: code, ResponseCode: iso8583.ResponseCode(rc), BusinessDate: now.Format("20060102"), ReceivedAt: now, AnsweredAt: now}
	if err := w.store.SaveAuth(ctx, rec); err != nil {
		t.Fatalf("saving the record: %v", err)
	}
	recs.set(id, parOf(pan), red)
	a.date = rec.BusinessDate
	return d
}

// TestRunPromotions clears a day of discounted purchases: an instant
// discount funded by the network, the card's bank and the merchant; a
// statement credit funded by another bank and the network; a purchase
// without a promotion; and a discounted purchase whose issuer hold expired
// (flagged: its promotion hold stays pending). The positions settle every
// share and sum to zero; the holds of what the banks posted are posted
// once, however many times the day is cleared.
func TestRunPromotions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		w := newWorld(t, db)
		ctx := context.Background()
		recs := newPromoRecords(w.store)
		st := promo.NewMemStore()
		if err := st.Save(ctx, testCampaigns); err != nil {
			t.Fatal(err)
		}
		cfg := w.config()
		cfg.Store, cfg.Promotions = recs, st

		late := w.purchase(t, recs, st, "6222020000000007", 3000, testCampaign("t-three"), 1000) // icbc, expires at the issuer
		w.clock.Advance(2 * time.Hour)
		if _, err := w.led.ExpirePending(ctx, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		instant := w.purchase(t, recs, st, "6222020000000007", 10000, testCampaign("t-three"), 1001) // icbc card
		credit := w.purchase(t, recs, st, "6217000000011854", 800, testCampaign("t-credit"), 100)    // ccb card, icbc and the network fund
		plain := w.purchase(t, recs, st, "6222020000000007", 500, nil, 0)
		for _, d := range []*discounted{late, instant, credit, plain} {
			if d.rc != "00" {
				t.Fatalf("got %s for a purchase of %d, want 00", d.rc, d.gross)
			}
		}
		// 1001 split 50/30/20: network 500, icbc 300, merchant 200, and the
		// fen left over to the network.
		if got := instant.promo.Shares; got[0].Amount != 501 || got[1].Amount != 300 || got[2].Amount != 200 || got[1].Party != "icbc" {
			t.Fatalf("got shares %+v", got)
		}
		date := w.clock.Now().Format("20060102")
		rep, err := clearing.Run(ctx, cfg, date)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Items) != 4 || len(rep.Flags()) != 1 || rep.Flags()[0].AuthID != late.id {
			t.Fatalf("got %d items, flags %+v; want 4 and the late one flagged", len(rep.Items), rep.Flags())
		}
		for _, it := range rep.Items {
			switch it.AuthID {
			case instant.id:
				if it.Amount != 10000-1001 || it.Promo == nil || it.Promo.Gross != 10000 || it.PromoHold != clearing.HoldPosted {
					t.Errorf("instant: got %+v, want the net 8999 presented and the hold posted", it)
				}
			case credit.id:
				if it.Amount != 800 || it.Promo == nil || it.Promo.Net != 800 || it.PromoHold != clearing.HoldPosted {
					t.Errorf("credit: got %+v, want the gross presented and the hold posted", it)
				}
			case late.id:
				if it.PromoHold != "" {
					t.Errorf("the flagged presentment's hold: got %q, want not posted", it.PromoHold)
				}
			}
		}
		// icbc: pays its card holders' nets 8999 + 500, its 300 share of
		// the instant discount, its 70 share of the credit to a ccb card.
		// ccb: pays its card holder's 800, is paid the 100 credit. The
		// acquirer: the grosses 10000 + 800 + 500 less the merchant's 200.
		// The network's promotions: 501 + 30.
		want := map[string]int64{"icbc": -(8999 + 500 + 300 + 70), "ccb": -800 + 100}
		for bank, net := range want {
			if got := bankLine(rep, bank).Net; got != net {
				t.Errorf("%s: got net %d, want %d (%+v)", bank, got, net, bankLine(rep, bank))
			}
		}
		if l := bankLine(rep, "icbc"); l.PromoFunded != 370 || l.PromoCredits != 0 {
			t.Errorf("icbc: got %+v, want 370 funded", l)
		}
		if l := bankLine(rep, "ccb"); l.PromoFunded != 0 || l.PromoCredits != 100 {
			t.Errorf("ccb: got %+v, want 100 of credits", l)
		}
		if len(rep.Acquirers) != 1 || rep.Acquirers[0].Net != 10000+800+500-200 || rep.Acquirers[0].MerchantFunded != 200 || rep.Acquirers[0].Discounted != 2 {
			t.Errorf("got acquirers %+v, want 11100 net, 200 merchant funded, 2 discounted", rep.Acquirers)
		}
		if rep.Promotion != -531 || rep.Network != 0 {
			t.Errorf("got network promotions %d and network %d, want -531 and 0", rep.Promotion, rep.Network)
		}
		if sum := positions(rep); sum != 0 {
			t.Errorf("positions sum to %d, want 0", sum)
		}
		if s := rep.Promotions; s == nil || s.Gross != 10800 || s.CardNet != 8999+800 || s.Discounts != 1001 || s.Credits != 100 || len(s.Merchants) != 1 || s.Merchants[0].Settled != 10800-200 {
			t.Errorf("got settlement %+v", rep.Promotions)
		}
		for id, want := range map[string]promo.HoldStatus{instant.id: promo.HoldPosted, credit.id: promo.HoldPosted, late.id: promo.HoldPending} {
			if h, err := st.Hold(ctx, id); err != nil || h.Status != want {
				t.Errorf("hold %s: got %s %v, want %s", id, h.Status, err, want)
			}
		}
		files := rep.ClearingFiles()
		var promos int
		for _, d := range files["icbc"].Details {
			if d.PAR != parOf("6222020000000007") || d.MCC != "5812" {
				t.Errorf("icbc record %d: got PAR %q MCC %q", d.Seq, d.PAR, d.MCC)
			}
			if d.Promo != nil {
				promos++
			}
		}
		if promos != 2 || files["icbc"].PromoDebits()[156] != 1000+1001 {
			t.Errorf("icbc's file carries %d promotions and %d of discounts, want 2 and 2001", promos, files["icbc"].PromoDebits()[156])
		}
		text := rep.Text()
		for _, want := range []string{"network promotions", "t-three", "Promotion holds: 0 expired before clearing, 2 posted now", "merchant funded"} {
			if !strings.Contains(text, want) {
				t.Errorf("the text report has no %q:\n%s", want, text)
			}
		}

		again, err := clearing.Run(ctx, cfg, date)
		if err != nil {
			t.Fatal(err)
		}
		if again.PromoHolds.Posted != 0 || again.PromoHolds.AlreadyPosted != 2 || positions(again) != 0 || bankLine(again, "icbc").Net != want["icbc"] {
			t.Errorf("again: got holds %+v, icbc %+v; want nothing posted twice and the same positions", again.PromoHolds, bankLine(again, "icbc"))
		}
		// A refund whose split does not balance (as promo's split of a
		// 1 fen refund after clearing can be) is flagged by the network,
		// kept out of the file and of the positions.
		m := w.refundMessage(credit.msg, 1)
		bad := netswitch.Refund{ID: netswitch.AuthID(str(m, iso8583.DETerminal), str(m, iso8583.DESTAN), str(m, iso8583.DETransmission)), OriginalID: credit.id,
			Acquirer: "48021000", Terminal: str(m, iso8583.DETerminal), STAN: str(m, iso8583.DESTAN), Transmission: str(m, iso8583.DETransmission),
			RRN: str(m, iso8583.DERRN), Merchant: testMerchant, LocalDate: str(m, iso8583.DELocalDate), LocalTime: str(m, iso8583.DELocalTime),
			Token: testToken, PANLast4: "0000", BankID: "ccb", Amount: money.Fen(1), AuthCode: "FUNDER", ResponseCode: iso8583.Approved,
			BusinessDate: date, ReceivedAt: w.clock.Now(), AnsweredAt: w.clock.Now(), Promo: &netswitch.PromoRefund{Campaign: "t-credit", HoldID: credit.id,
				Split: promo.RefundSplit{Gross: 1, CardHolder: -1, Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: "icbc", Amount: 1}, {Kind: promo.FunderNetwork, Party: "network", Amount: 1}}}}}
		if err := w.store.SaveRefund(ctx, bad); err != nil {
			t.Fatal(err)
		}
		flagged, err := clearing.Run(ctx, cfg, date)
		if err != nil {
			t.Fatal(err)
		}
		if fl := flagged.RefundFlags(); len(fl) != 1 || fl[0].Flag != clearing.FlagBadSplit || positions(flagged) != 0 || bankLine(flagged, "ccb").Net != want["ccb"] {
			t.Errorf("got refund flags %+v, ccb %+v; want the bad split flagged and nothing netted", fl, bankLine(flagged, "ccb"))
		}
		for _, d := range flagged.ClearingFiles()["ccb"].Details {
			if d.Credit {
				t.Errorf("the bad split was presented: %+v", d)
			}
		}
		if r, _ := w.store.Refund(ctx, bad.ID); !r.ClearedAt.IsZero() {
			t.Error("the bad split was marked cleared")
		}

		u, _ := st.Usage(ctx, "t-three")
		if u.Spent != 1001 || u.Reserved != 1000 || u.SpentCount != 1 {
			t.Errorf("t-three: got %+v, want 1001 spent once and the flagged 1000 still reserved", u)
		}
	})
}

// positions returns the sum of every position of a report: the banks',
// the acquirers', the network's promotions and the network's own.
func positions(r clearing.Report) int64 {
	sum := r.Promotion + r.Network
	for _, l := range r.Banks {
		sum += l.Net
	}
	for _, l := range r.Acquirers {
		sum += l.Net
	}
	return sum
}
