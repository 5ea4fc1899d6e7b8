package walletapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// promoWallet is the wallet service of two accounts, A (phone phA) and B
// (phone phB), their sessions "sessA" and "sessB"; only what the
// promotions' routes call.
type promoWallet struct {
	Wallet // the rest is not called (a call panics)
	now    time.Time
}

var promoAccounts = map[string]string{"sessA": "A", "sessB": "B"}
var promoPhones = map[string]string{"phA": "A", "phB": "B"}

func (w promoWallet) Clock() time.Time                           { return w.now }
func (w promoWallet) Record(ctx context.Context, e wallet.Event) {}
func (w promoWallet) Authenticate(ctx context.Context, token, kind string) (wallet.Session, error) {
	acc, ok := promoAccounts[token]
	if !ok || kind != wallet.SessionAPI {
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first")
	}
	return wallet.Session{AccountID: acc, Kind: kind}, nil
}
func (w promoWallet) Phones(ctx context.Context, acc string) ([]wallet.Phone, error) {
	var out []wallet.Phone
	for id, a := range promoPhones {
		if a == acc {
			out = append(out, wallet.Phone{ID: id, AccountID: a})
		}
	}
	return out, nil
}
func (w promoWallet) OwnedPhone(ctx context.Context, acc, id string) (wallet.Phone, error) {
	if promoPhones[id] != acc {
		return wallet.Phone{}, fault.E(fault.NotFound, "phone_not_found", "no such phone on this account")
	}
	return wallet.Phone{ID: id, AccountID: acc}, nil
}

// promoTokens is the token service's cards: A has an ICBC debit card and a
// CCB debit card, B a CMB credit card.
type promoTokens struct{ tsp.Requestor }

func promoToken(t testing.TB, number, par, bankID, product, last4 string) tsp.Token {
	n, err := card.ParseToken(number)
	if err != nil {
		t.Fatal(err)
	}
	return tsp.Token{Number: n, PAR: par, BankID: bankID, Product: product, PANLast4: last4}
}

var promoCards map[string][]tsp.Token

func (promoTokens) Cards(ctx context.Context, phone string) ([]tsp.Token, error) {
	return promoCards[phone], nil
}

// memOffers is walletapi.Offers over a promo.MemStore, as the platform's
// adapter is over the promo wing (BINs by bank and product).
type memOffers struct {
	st  *promo.MemStore
	now time.Time
}

func (o memOffers) bin(c OfferCard) OfferCard {
	c.BIN = map[string]string{"icbc/debit": "622202", "ccb/debit": "621700", "cmb/credit": "622575"}[c.Bank+"/"+c.Product]
	return c
}

func (o memOffers) Offers(ctx context.Context, cards []OfferCard) ([][]Offer, error) {
	cs, _ := o.st.Campaigns(ctx)
	out := make([][]Offer, len(cards))
	for i, c := range cards {
		en, _ := o.st.Enrolled(ctx, c.PAR)
		out[i] = CardOffersOf(cs, o.bin(c), en, o.now, strings.ToUpper)
	}
	return out, nil
}

func (o memOffers) Enrol(ctx context.Context, id string, c OfferCard) (Offer, error) {
	cs, _ := o.st.Campaigns(ctx)
	for i := range cs {
		if cs[i].ID != id {
			continue
		}
		if !OfferedTo(&cs[i], o.bin(c), o.now) {
			return Offer{}, fault.E(fault.Invalid, "offer_not_for_card", "not for this card")
		}
		if cs[i].Enrolment != promo.EnrolAddToCard {
			return Offer{}, fault.E(fault.Invalid, "offer_auto", "applies without adding")
		}
		if err := o.st.Enrol(ctx, id, c.PAR); err != nil {
			return Offer{}, err
		}
		return OfferView(&cs[i], c.Bank, true, strings.ToUpper), nil
	}
	return Offer{}, fault.E(fault.NotFound, "promo_no_campaign", "no offer")
}

// memRewards is bank.Rewards: points by PAR; a purchase paid once.
type memRewards struct {
	points map[string]int64
	paid   map[string]bank.PointsPayment
	asked  []bank.PayWithPoints
}

func (r *memRewards) Points(ctx context.Context, bankID, par string) (bank.Points, error) {
	return bank.Points{Bank: bankID, Balance: r.points[par], FenPerPoint: 1}, nil
}

func (r *memRewards) PayWithPoints(ctx context.Context, req bank.PayWithPoints) (bank.PointsPayment, error) {
	r.asked = append(r.asked, req)
	if p, ok := r.paid[req.Purchase]; ok {
		p.Again = true
		return p, nil
	}
	n := min(req.Points, r.points[req.PAR])
	r.points[req.PAR] -= n
	p := bank.PointsPayment{Purchase: req.Purchase, Points: n, Credit: n, Balance: r.points[req.PAR]}
	r.paid[req.Purchase] = p
	return p, nil
}

// memPayments finds payments by id.
type memPayments map[string]Payment

func (m memPayments) Payment(ctx context.Context, id string) (Payment, error) {
	p, ok := m[id]
	if !ok {
		return Payment{}, fault.E(fault.NotFound, "auth_not_found", "no such authorization")
	}
	return p, nil
}

type promoFixture struct {
	srv     *httptest.Server
	rewards *memRewards
	store   *promo.MemStore
}

func newPromoFixture(t *testing.T) *promoFixture {
	t.Helper()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	promoCards = map[string][]tsp.Token{
		"phA": {promoToken(t, "6288010000000009", "PAR-A-ICBC", "icbc", "debit", "0007"), promoToken(t, "6288020000000008", "PAR-A-CCB", "ccb", "debit", "0015")},
		"phB": {promoToken(t, "6288050000000005", "PAR-B-CMB", "cmb", "credit", "0023")},
	}
	st := promo.NewMemStore()
	cs, err := promo.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	rw := &memRewards{points: map[string]int64{"PAR-A-ICBC": 1200, "PAR-A-CCB": 300, "PAR-B-CMB": 9999}, paid: map[string]bank.PointsPayment{}}
	pays := memPayments{
		"a-paid":     {ID: "a-paid", PhoneID: "phA", PAR: "PAR-A-ICBC", Bank: "icbc", Status: PaymentApproved},
		"a-declined": {ID: "a-declined", PhoneID: "phA", PAR: "PAR-A-ICBC", Bank: "icbc", Status: PaymentDeclined},
		"b-paid":     {ID: "b-paid", PhoneID: "phB", PAR: "PAR-B-CMB", Bank: "cmb", Status: PaymentApproved},
	}
	a := New(promoWallet{now: now}, promoTokens{}, nil)
	a.MountPromotions(Promotions{Offers: memOffers{st, now}, Rewards: rw, Payments: pays, BankName: strings.ToUpper})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &promoFixture{srv: srv, rewards: rw, store: st}
}

// do sends a request with the session and decodes a 2xx answer into out;
// it returns the status and the error code of an error answer.
func (f *promoFixture) do(t *testing.T, session, method, path, body string, out any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e client.Error
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, ""
}

func offerIDs(os []client.Offer) []string {
	var ids []string
	for _, o := range os {
		ids = append(ids, o.Campaign)
	}
	return ids
}

// TestOffersOwnCardsOnly: GET /v1/offers lists each card of the account's
// phones with the campaigns of its bank and product (the network's for
// all), never another account's card; ?phone= of another account is 404.
func TestOffersOwnCardsOnly(t *testing.T) {
	f := newPromoFixture(t)
	var got client.Offers
	if st, code := f.do(t, "sessA", "GET", "/v1/offers", "", &got); st != 200 {
		t.Fatalf("GET /v1/offers: %d %s", st, code)
	}
	if len(got.Cards) != 2 {
		t.Fatalf("got %d cards, want A's 2: %+v", len(got.Cards), got.Cards)
	}
	want := map[string][]string{
		"icbc": {"network-new-user-100-50", "icbc-random-tap"},
		"ccb":  {"network-new-user-100-50", "ccb-grocery-cashback"},
	}
	for _, c := range got.Cards {
		if c.Phone != "phA" || c.Bank == "cmb" {
			t.Errorf("card of another account: %+v", c)
		}
		ids := offerIDs(c.Offers)
		slices.Sort(ids)
		w := slices.Clone(want[c.Bank])
		slices.Sort(w)
		if !slices.Equal(ids, w) {
			t.Errorf("%s card: offers %v, want %v", c.Bank, ids, w)
		}
		for _, o := range c.Offers {
			switch o.Campaign {
			case "ccb-grocery-cashback":
				if o.Enrolment != "add_to_card" || o.Added || o.FundedBy != "CCB" || o.Fulfilment != "statement_credit" {
					t.Errorf("ccb offer: %+v", o)
				}
			case "network-new-user-100-50":
				if !o.Added || o.Name.EN != "New users: spend ¥100, save ¥50" || o.FundedBy != "the network" || o.Mechanic != "spend 100.00 save 50.00" ||
					!slices.Contains(o.Conditions, "the card's first purchase on the network") {
					t.Errorf("network offer: %+v", o)
				}
			}
		}
	}
	var b client.Offers
	f.do(t, "sessB", "GET", "/v1/offers", "", &b)
	if len(b.Cards) != 1 || b.Cards[0].Bank != "cmb" || !slices.Contains(offerIDs(b.Cards[0].Offers), "cmb-dining-tiers") {
		t.Errorf("B's offers: %+v", b.Cards)
	} else {
		for _, o := range b.Cards[0].Offers {
			if o.Campaign == "cmb-dining-tiers" && o.FundedBy != "CMB 70%, the network 30%" {
				t.Errorf("cmb funded by %q", o.FundedBy)
			}
		}
	}
	if st, code := f.do(t, "sessA", "GET", "/v1/offers?phone=phB", "", nil); st != 404 || code != "phone_not_found" {
		t.Errorf("A asking for B's phone: %d %s, want 404 phone_not_found", st, code)
	}
	if st, code := f.do(t, "", "GET", "/v1/offers", "", nil); st != 401 || code != "bad_session" {
		t.Errorf("no session: %d %s, want 401 bad_session", st, code)
	}
}

// TestAddOfferToCard: an add-to-card offer is added to the account's own
// card (keyed by its PAR) and then shown added; another account's card,
// an unknown campaign, an automatic one and one of another bank are
// refused, each with its code.
func TestAddOfferToCard(t *testing.T) {
	f := newPromoFixture(t)
	const ccb, icbc, cmb = "6288020000000008", "6288010000000009", "6288050000000005"
	for _, tt := range []struct {
		session, campaign, card string
		status                  int
		code                    string
	}{
		{"sessB", "ccb-grocery-cashback", ccb, 404, "card_not_found"},
		{"sessA", "ccb-grocery-cashback", cmb, 404, "card_not_found"},
		{"sessA", "no-such-campaign", ccb, 404, "promo_no_campaign"},
		{"sessA", "icbc-random-tap", icbc, 400, "offer_auto"},
		{"sessA", "ccb-grocery-cashback", icbc, 400, "offer_not_for_card"},
		{"sessA", strings.Repeat("x", 65), ccb, 400, "bad_campaign"},
		{"", "ccb-grocery-cashback", ccb, 401, "bad_session"},
	} {
		if st, code := f.do(t, tt.session, "POST", "/v1/offers/"+tt.campaign+"/cards/"+tt.card+"/add", "", nil); st != tt.status || code != tt.code {
			t.Errorf("%s adds %.20s to %s: %d %s, want %d %s", tt.session, tt.campaign, tt.card, st, code, tt.status, tt.code)
		}
	}
	if en, _ := f.store.Enrolled(context.Background(), "PAR-A-CCB"); len(en) != 0 {
		t.Fatalf("refused requests enrolled %v", en)
	}
	var added client.OfferAdded
	if st, code := f.do(t, "sessA", "POST", "/v1/offers/ccb-grocery-cashback/cards/"+ccb+"/add", "", &added); st != 200 {
		t.Fatalf("add: %d %s", st, code)
	}
	if added.Status != "added" || added.TokenLast4 != "0008" || !added.Offer.Added {
		t.Errorf("answer: %+v", added)
	}
	if en, _ := f.store.Enrolled(context.Background(), "PAR-A-CCB"); !en["ccb-grocery-cashback"] {
		t.Errorf("not enrolled by the card's PAR: %v", en)
	}
	var got client.Offers
	f.do(t, "sessA", "GET", "/v1/offers?phone=phA", "", &got)
	for _, c := range got.Cards {
		for _, o := range c.Offers {
			if o.Campaign == "ccb-grocery-cashback" && !o.Added {
				t.Errorf("after adding, the offer shows not added")
			}
		}
	}
}

// TestPointsOwnCards: GET /v1/points shows the points of the account's
// own cards, per card and per bank, worth balance × fen_per_point.
func TestPointsOwnCards(t *testing.T) {
	f := newPromoFixture(t)
	var got client.Points
	if st, code := f.do(t, "sessA", "GET", "/v1/points", "", &got); st != 200 {
		t.Fatalf("%d %s", st, code)
	}
	if len(got.Cards) != 2 || len(got.Banks) != 2 {
		t.Fatalf("got %+v, want A's 2 cards at 2 banks", got)
	}
	for _, c := range got.Cards {
		if c.Bank == "cmb" || c.Balance == 9999 {
			t.Errorf("another account's points: %+v", c)
		}
		if c.Bank == "icbc" && (c.Balance != 1200 || c.Value != 1200 || c.ValueDisplay != "¥12.00" || c.BankName != "ICBC") {
			t.Errorf("icbc card: %+v", c)
		}
	}
}

// TestPayWithPoints: the account's own approved payment is paid with
// points once (asked again: the first answer, nothing more); another
// account's payment is not found; bad bodies are refused before anything
// is asked of the bank.
func TestPayWithPoints(t *testing.T) {
	f := newPromoFixture(t)
	for _, tt := range []struct {
		session, body string
		status        int
		code          string
	}{
		{"sessA", `{"payment":"b-paid","points":10}`, 404, "payment_not_found"},
		{"sessA", `{"payment":"nope","points":10}`, 404, "payment_not_found"},
		{"sessA", `{"payment":"a-declined","points":10}`, 400, "payment_not_paid"},
		{"sessA", `{"payment":"a-paid","points":-1}`, 400, "bad_points"},
		{"sessA", `{"payment":"","points":1}`, 400, "bad_payment"},
		{"sessA", `{"payment":"a-paid","points":"1"}`, 400, "bad_json"},
		{"sessA", `{"payment":"a-paid","points":1,"card":"6222020000000007"}`, 400, "unknown_field"},
		{"sessA", `{"payment":"a-paid"} {}`, 400, "bad_json"},
		{"sessA", ``, 400, "bad_json"},
		{"", `{"payment":"a-paid","points":1}`, 401, "bad_session"},
	} {
		if st, code := f.do(t, tt.session, "POST", "/v1/points/pay", tt.body, nil); st != tt.status || code != tt.code {
			t.Errorf("%s %s: %d %s, want %d %s", tt.session, tt.body, st, code, tt.status, tt.code)
		}
	}
	if len(f.rewards.asked) != 0 {
		t.Fatalf("refused requests reached the bank: %+v", f.rewards.asked)
	}
	var paid client.PointsPaid
	if st, code := f.do(t, "sessA", "POST", "/v1/points/pay", `{"payment":"a-paid","points":500}`, &paid); st != 200 {
		t.Fatalf("%d %s", st, code)
	}
	if paid.Points != 500 || paid.Credit != 500 || paid.CreditDisplay != "¥5.00" || paid.Balance != 700 || paid.Again {
		t.Errorf("paid: %+v", paid)
	}
	want := bank.PayWithPoints{Bank: "icbc", PAR: "PAR-A-ICBC", Purchase: "a-paid", Points: 500}
	if len(f.rewards.asked) != 1 || f.rewards.asked[0] != want {
		t.Errorf("asked the bank %+v, want %+v", f.rewards.asked, want)
	}
	f.do(t, "sessA", "POST", "/v1/points/pay", `{"payment":"a-paid","points":500}`, &paid)
	if !paid.Again || paid.Credit != 500 || f.rewards.points["PAR-A-ICBC"] != 700 {
		t.Errorf("asked again: %+v, balance %d: want the first payment, credited once", paid, f.rewards.points["PAR-A-ICBC"])
	}
}

// TestPaymentViewDiscount: an instant discount shows what the card holder
// paid, the discount and its funders in words; a reversed payment shows
// none.
func TestPaymentViewDiscount(t *testing.T) {
	pm := Payment{ID: "T1|000001|1206120000", Merchant: "TAPWALLET MART", Amount: money.Fen(12000), Charged: 7000, Status: PaymentApproved,
		Discount: 5000, Campaign: "network-new-user-100-50", CampaignName: client.Names{ZH: "新用户满100减50", EN: "New users"},
		Fulfilment: "instant", Funders: []string{"network"}}
	v := PaymentView(pm)
	if v.ID != pm.ID || v.Display != "120.00 CNY" || v.Charged != 7000 || v.ChargedDisplay != "70.00 CNY" || v.Discount != 5000 ||
		v.Promotion != "¥50.00 off, funded by the network" || v.CampaignName == nil || v.CampaignName.ZH != "新用户满100减50" {
		t.Errorf("approved: %+v", v)
	}
	pm.Status, pm.Charged = PaymentPartiallyReversed, 3000 // 80.00 of the price stays, less the 50.00
	v = PaymentView(pm)
	if v.Display != "80.00 CNY" || v.Charged != 3000 || v.Promotion == "" {
		t.Errorf("partially reversed: %+v", v)
	}
	pm.Status, pm.Charged = PaymentReversed, 0
	if v = PaymentView(pm); v.Discount != 0 || v.Promotion != "" || v.Charged != 0 {
		t.Errorf("reversed: %+v", v)
	}
	if got := Benefit(money.Fen(500), "statement_credit", []string{"CMB", "network"}); got != "¥5.00 back to the card after clearing, funded by CMB and the network" {
		t.Errorf("Benefit: %q", got)
	}
}

// TestMountPromotionsAgain: a part left out answers 404 no_route; mounted
// again, the routes use the new parts.
func TestMountPromotionsAgain(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a := New(promoWallet{now: now}, promoTokens{}, nil)
	a.MountPromotions(Promotions{Rewards: &memRewards{points: map[string]int64{}, paid: map[string]bank.PointsPayment{}}})
	srv := httptest.NewServer(a)
	defer srv.Close()
	f := &promoFixture{srv: srv}
	if st, code := f.do(t, "sessA", "GET", "/v1/offers", "", nil); st != 404 || code != "no_route" {
		t.Errorf("offers not mounted: %d %s, want 404 no_route", st, code)
	}
	if st, _ := f.do(t, "sessA", "GET", "/v1/points", "", nil); st != 200 {
		t.Errorf("points: %d, want 200", st)
	}
	a.MountPromotions(Promotions{Offers: memOffers{promo.NewMemStore(), now}})
	if st, _ := f.do(t, "sessA", "GET", "/v1/offers", "", nil); st != 200 {
		t.Errorf("offers mounted again: %d, want 200", st)
	}
	if st, code := f.do(t, "sessA", "GET", "/v1/points", "", nil); st != 404 || code != "no_route" {
		t.Errorf("points left out when mounted again: %d %s, want 404 no_route", st, code)
	}
}
