package portal_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/tsp"
)

// portalWith serves, beside the platform's, a portal built from the same
// parts and what change adds (the risk engine's alerts, promotions,
// points), at a localhost address of its own; it returns its address.
func (e *env) portalWith(t *testing.T, change func(*portal.Config)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg := portal.ConfigOf(e.p.Portal)
	cfg.URL = "http://localhost:" + port
	change(&cfg)
	pt, err := portal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: pt, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return cfg.URL
}

// browserAt is a browser of the portal at base.
func (e *env) browserAt(t *testing.T, base string) *browser {
	b := e.browser(t)
	b.base = base
	return b
}

func (e *env) accountID(t *testing.T, email string) string {
	t.Helper()
	a, err := e.p.Wallet.Store.AccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestAlertsAnsweredInPortal: a tap the risk engine declines (the phone
// reported Shanghai, the terminal is in Beijing: impossible travel) opens
// a "was this you?" alert shown in the portal to its account only, with
// the decision explained (rule, reason, score) on the alert and on the
// payment; another account's answer is refused and changes nothing; "no"
// closes it as confirmed fraud, suspends the card (the next tap is
// declined 78) and offers to switch the wallet off; the history says who
// changed it and when; "yes" on another alert snoozes its rule's
// pattern; an answered alert cannot be answered again; without the CSRF
// token nothing is answered.
func TestAlertsAnsweredInPortal(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	alice := e.newPhone(t, "alice@example.com", "Alice's Mi 5", 1)
	bob := e.newPhone(t, "bob@example.com", "Bob's phone", 1)
	if _, err := alice.CheckIn(ctx, &phone.Location{Lat: 31.2397, Lon: 121.4998}); err != nil { // Shanghai
		t.Fatal(err)
	}
	if got := e.pay(t, alice); got != "59" {
		t.Fatalf("a tap in Beijing minutes after the phone reported Shanghai: got %s, want 59 (impossible travel)", got)
	}
	if got := e.pay(t, bob); got != "approved" {
		t.Fatalf("bob's tap: got %s", got)
	}
	aliceID := e.accountID(t, "alice@example.com")
	waitCase(t, e, aliceID)
	cases, err := e.p.RiskCases().CasesOf(ctx, aliceID, risk.CaseOpen)
	if err != nil || len(cases) != 1 {
		t.Fatalf("alice's open cases: %v %v, want one", cases, err)
	}
	caseID := cases[0].ID

	base := e.portalWith(t, func(c *portal.Config) { c.Risk = e.p.PortalRisk() })
	ab := e.browserAt(t, base)
	ab.login("alice@example.com")
	plain := e.browserAt(t, e.portalWith(t, func(c *portal.Config) { c.Risk = portal.Risk{} }))
	plain.login("alice@example.com")
	if _, body := plain.get("/phones"); strings.Contains(body, `href="/alerts"`) {
		t.Fatal("a portal without the risk engine links the alerts")
	}
	if st, _ := plain.get("/alerts"); st != 404 {
		t.Fatalf("a portal without the risk engine: /alerts %d, want 404", st)
	}
	if _, body := ab.get("/phones"); !strings.Contains(body, "You have 1 “was this you?” alert to answer") || !strings.Contains(body, `<a href="/alerts">Alerts</a>`) {
		t.Fatalf("phones page: no banner for the open alert: %s", snippet(body))
	}
	st, body := ab.get("/alerts")
	for _, want := range []string{"Impossible travel", "too far from the last payment or the phone", "risk score", "Waiting for your answer",
		"Risk check: refused as suspected fraud", "Alice&#39;s Mi 5", `name="alert" value="` + caseID + `"`, "the risk checks"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Fatalf("alerts page (%d): no %q in %s", st, want, snippet(body))
		}
	}
	// The payment itself explains its decision on the transactions page.
	if _, tx := ab.get("/transactions"); !strings.Contains(tx, `<details class="risk">`) || !strings.Contains(tx, "Impossible travel") {
		t.Fatalf("transactions: the declined tap's decision is not explained: %s", snippet(tx))
	}

	// Bob sees none of it and cannot answer it.
	bb := e.browserAt(t, base)
	bb.login("bob@example.com")
	if _, body := bb.get("/alerts"); strings.Contains(body, caseID) || strings.Contains(body, "Impossible travel") || !strings.Contains(body, "No alerts.") {
		t.Fatalf("bob's alerts page shows alice's: %s", snippet(body))
	}
	for _, answer := range []string{"no", "yes"} {
		if st, body := bb.post("/alerts/answer", url.Values{"alert": {caseID}, "answer": {answer}}); st != 404 || !strings.Contains(body, "Your account has no such alert.") {
			t.Fatalf("bob answers alice's alert %q: got %d %s, want 404", answer, st, snippet(body))
		}
	}
	if c, err := e.p.RiskCases().CaseOf(ctx, aliceID, caseID); err != nil || c.State != risk.CaseOpen || len(c.History) != 1 {
		t.Fatalf("alice's case after bob's answers: %+v %v, want open, unchanged", c, err)
	}
	if got := e.tokenStates(t, alice.Profile.PhoneID); !allIn(got, tsp.Active) {
		t.Fatalf("alice's card after bob's answers: %v, want active", got)
	}
	// A forged form answers nothing.
	if st, _ := ab.post("/alerts/answer", url.Values{"csrf": {"forged"}, "alert": {caseID}, "answer": {"no"}}); st != 403 {
		t.Fatalf("answer without the CSRF token: got %d, want 403", st)
	}
	if st, _ := ab.post("/alerts/answer", url.Values{"alert": {caseID}, "answer": {"maybe"}}); st != 400 {
		t.Fatalf("answer maybe: got %d, want 400", st)
	}

	// Alice: "no, that was not me".
	st, body = ab.post("/alerts/answer", url.Values{"alert": {caseID}, "answer": {"no"}})
	for _, want := range []string{"The card is suspended: no payment with it is approved", "Not you: confirmed fraud", `class="danger alert-wallet-off"`,
		`action="/phones/` + alice.Profile.PhoneID + `/wallet-off"`, "you, in the portal"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Fatalf("after no (%d): no %q in %s", st, want, snippet(body))
		}
	}
	c, err := e.p.RiskCases().CaseOf(ctx, aliceID, caseID)
	if err != nil || c.State != risk.CaseConfirmedFraud || len(c.History) != 2 || c.History[1].By != "account:"+aliceID {
		t.Fatalf("alice's case after no: %+v %v", c, err)
	}
	if got := e.tokenStates(t, alice.Profile.PhoneID); !allIn(got, tsp.Suspended) {
		t.Fatalf("alice's card after no: %v, want suspended", got)
	}
	if st, body := ab.post("/alerts/answer", url.Values{"alert": {caseID}, "answer": {"yes"}}); st != 409 || !strings.Contains(body, "answered already") {
		t.Fatalf("second answer: got %d %s, want 409", st, snippet(body))
	}
	if got := e.pay(t, alice); got != rc(tsp.DeclineSuspended) {
		t.Fatalf("tap after no: got %s, want %s", got, rc(tsp.DeclineSuspended))
	}
	// The offered switch-off works from the alert.
	if st, body := ab.post("/phones/"+alice.Profile.PhoneID+"/wallet-off", url.Values{"reason": {"a payment that was not me"}}); st != 200 || !strings.Contains(body, "Wallet off") {
		t.Fatalf("switch-off from the alert: %d %s", st, snippet(body))
	}

	// "Yes, that was me" on another alert of bob's: closed as not fraud,
	// its rule's pattern snoozed for 30 days.
	bobID := e.accountID(t, "bob@example.com")
	now := time.Now().UTC()
	hit := risk.Hit{Rule: "auth.amount_p95", Reason: "amount more than 5 times this card's usual", Score: 60, Outcome: risk.Review, Pattern: "token=tk_x|merchant=M1"}
	yes := risk.Case{ID: "authorization:T9|000001|1206100000", Account: bobID, Phone: bob.Profile.PhoneID, Token: "tk_x", State: risk.CaseOpen, OpenedAt: now,
		Decision: risk.Decision{Point: risk.PointAuthorization, ID: "T9|000001|1206100000", At: now, Score: 60, Outcome: risk.Review, Reasons: []string{hit.Rule}, Hits: []risk.Hit{hit}},
		History:  []risk.Change{{At: now, By: "risk", To: risk.CaseOpen}}}
	if err := e.p.RiskCases().OpenCase(ctx, yes); err != nil {
		t.Fatal(err)
	}
	_, body = bb.get("/alerts")
	if !strings.Contains(body, "Unusually large amount") || !strings.Contains(body, "risk score 60/99") {
		t.Fatalf("bob's alert: %s", snippet(body))
	}
	if st, body := bb.post("/alerts/answer", url.Values{"alert": {yes.ID}, "answer": {"yes"}}); st != 200 || !strings.Contains(body, "It was you") || strings.Contains(body, "alert-wallet-off") {
		t.Fatalf("bob's yes: %d %s", st, snippet(body))
	}
	if snoozed, err := e.p.Risk().State().Snoozed(ctx, hit.Rule, hit.Pattern, now.Add(29*24*time.Hour)); err != nil || !snoozed {
		t.Fatalf("after yes the rule's pattern is not snoozed: %v %v", snoozed, err)
	}
	if got := e.tokenStates(t, bob.Profile.PhoneID); !allIn(got, tsp.Active) {
		t.Fatalf("bob's card after yes: %v, want active", got)
	}

	// "No" to a transit ride's alert blocks that transit card at the gates
	// (Risk.BlockRideCard), not the bank card that paid for it.
	ride := risk.Case{ID: "transit_clearing:beijing|tc_x|3", Account: bobID, Phone: bob.Profile.PhoneID, Token: "tk_x", State: risk.CaseOpen, OpenedAt: now,
		Decision: risk.Decision{Point: risk.PointTransit, ID: "beijing|tc_x|3", At: now, Score: 40, Outcome: risk.Review, Reasons: []string{"transit.tap_burst"}},
		History:  []risk.Change{{At: now, By: "risk", To: risk.CaseOpen}}}
	if err := e.p.RiskCases().OpenCase(ctx, ride); err != nil {
		t.Fatal(err)
	}
	var blocked []string
	transitRisk := e.p.PortalRisk()
	transitRisk.BlockRideCard = func(_ context.Context, c risk.Case) (string, bool, error) {
		blocked = append(blocked, c.ID)
		return "0001", true, nil
	}
	tb := e.browserAt(t, e.portalWith(t, func(c *portal.Config) { c.Risk = transitRisk }))
	tb.login("bob@example.com")
	if st, body := tb.post("/alerts/answer", url.Values{"alert": {ride.ID}, "answer": {"no"}}); st != 200 || len(blocked) != 1 || blocked[0] != ride.ID ||
		!strings.Contains(body, "The transit card is blocked at the gates") || strings.Contains(body, "no payment with it is approved") {
		t.Fatalf("bob's no to a ride: %d, blocked %v: %s", st, blocked, snippet(body))
	}
	if got := e.tokenStates(t, bob.Profile.PhoneID); !allIn(got, tsp.Active) {
		t.Fatalf("bob's bank card after no to a ride: %v, want active (the transit card is what is blocked)", got)
	}
	if c, err := e.p.RiskCases().CaseOf(ctx, bobID, ride.ID); err != nil || c.State != risk.CaseConfirmedFraud {
		t.Fatalf("the ride's case after no: %+v %v", c, err)
	}

	// The alerts, the phones and the transactions in both languages: no
	// code-like text, Chinese in Chinese.
	for _, lang := range []string{"zh-CN", "en"} {
		ab.lang = lang
		for _, path := range []string{"/alerts", "/phones", "/transactions", "/phones/" + alice.Profile.PhoneID} {
			_, body := ab.get(path)
			text := visible(body)
			if c := portal.RawCode(text); c != "" {
				t.Errorf("%s %s: code-like text %q", lang, path, c)
			}
			if lang == "zh-CN" && path == "/alerts" && (!strings.Contains(text, "不可能的行程") || !strings.Contains(text, "不是本人：已确认欺诈") || !strings.Contains(text, "风控系统")) {
				t.Errorf("zh-CN alerts: %s", snippet(text))
			}
		}
	}
}

// TestOffersPointsAndDiscounts: each card lists the offers it can get (its
// bank's, the network's), "add to card" adds an enrolment campaign to the
// card by its PAR (as the switch matches it) and only to a card that can
// get it, each card shows its points at its bank (asked by PAR, never a
// card number), and a discounted payment shows the amount charged, the
// price and who funded the discount — in both languages, with no card or
// token number anywhere.
func TestOffersPointsAndDiscounts(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.phoneWithBanks(t, "lin@example.com", "小林的手机", "icbc", "ccb")
	id := ph.Profile.PhoneID
	if got := e.pay(t, ph); got != "approved" {
		t.Fatalf("tap: %s", got)
	}
	toks, err := e.p.Tokens.Cards(ctx, id)
	if err != nil || len(toks) != 2 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	byBank := map[string]tsp.Token{}
	for _, tk := range toks {
		byBank[tk.BankID] = tk
	}
	st := defaultCampaigns(t)
	pts := &fakePoints{}
	records := discounting{Records: e.p.Records, discount: 300, bank: "icbc"}
	base := e.portalWith(t, func(c *portal.Config) {
		c.Promotions, c.Points, c.Records = e.p.PortalPromotions(st), pts, records
	})
	b := e.browserAt(t, base)
	b.lang = "zh-CN"
	b.login("lin@example.com")
	_, page := b.get("/phones/" + id)
	for _, want := range []string{"这张卡可享的优惠", "工商银行随机立减", "满¥20.00随机立减¥0.50–¥8.88", "建设银行超市返现", "返 5.00%，最高¥20.00", "清算后返还到卡上",
		"添加到这张卡", "积分：1234 分（可抵 ¥12.34）", "200 分将于", "新用户满100减50", `<strong class="card-name">工商银行 `, `<strong class="card-name">建设银行 `} {
		if !strings.Contains(page, want) {
			t.Errorf("zh phone page: no %q", want)
		}
	}
	if strings.Contains(page, "招商银行信用卡餐饮满减") || strings.Contains(page, "中国银行公交充值立减") {
		t.Errorf("zh phone page offers another bank's campaign")
	}
	if c := portal.RawCode(visible(page)); c != "" {
		t.Errorf("zh phone page: code-like text %q", c)
	}
	for _, q := range pts.asked {
		if q != byBank["icbc"].BankID+"|"+byBank["icbc"].PAR && q != byBank["ccb"].BankID+"|"+byBank["ccb"].PAR {
			t.Errorf("points asked for %q, want a bank and a card's PAR", q)
		}
	}
	if len(pts.asked) != 2 {
		t.Errorf("points asked %d times, want once per card", len(pts.asked))
	}

	ccb, icbc := cardChunk(page, "建设银行超市返现"), cardChunk(page, "工商银行随机立减")
	ccbHandle, icbcHandle := attr(ccb, "data-card"), attr(icbc, "data-card")
	if ccbHandle == "" || icbcHandle == "" || ccbHandle == icbcHandle {
		t.Fatalf("card handles: %q %q", ccbHandle, icbcHandle)
	}
	if strings.Contains(icbc, "add-offer") {
		t.Errorf("the ICBC card offers to add an automatic campaign")
	}
	// Not for this card: the CCB offer on the ICBC card, an unknown offer.
	for _, f := range []url.Values{{"card": {icbcHandle}, "offer": {"ccb-grocery-cashback"}}, {"card": {ccbHandle}, "offer": {"nope"}}, {"card": {ccbHandle}, "offer": {"icbc-random-tap"}}} {
		if st, _ := b.post("/phones/"+id+"/cards/offer", f); st != 404 {
			t.Errorf("add %v: got %d, want 404", f, st)
		}
	}
	// Another account cannot add an offer to this phone's card.
	other := e.newPhone(t, "other@example.com", "Other", 1)
	ob := e.browserAt(t, base)
	ob.login("other@example.com")
	if st, _ := ob.post("/phones/"+id+"/cards/offer", url.Values{"card": {ccbHandle}, "offer": {"ccb-grocery-cashback"}}); st != 404 {
		t.Errorf("another account adds an offer: got %d, want 404", st)
	}
	if st, _ := ob.post("/phones/"+other.Profile.PhoneID+"/cards/offer", url.Values{"card": {ccbHandle}, "offer": {"ccb-grocery-cashback"}}); st != 404 {
		t.Errorf("another account adds an offer naming the card on its own phone: got %d, want 404", st)
	}
	if en, _ := st.Enrolled(ctx, byBank["ccb"].PAR); len(en) != 0 {
		t.Fatalf("enrolled before the holder added it: %v", en)
	}
	stc, page := b.post("/phones/"+id+"/cards/offer", url.Values{"card": {ccbHandle}, "offer": {"ccb-grocery-cashback"}})
	if stc != 200 || !strings.Contains(page, "优惠已添加到这张卡") || !strings.Contains(cardChunk(page, "建设银行超市返现"), "已添加") {
		t.Fatalf("add to card: %d %s", stc, snippet(page))
	}
	if en, _ := st.Enrolled(ctx, byBank["ccb"].PAR); !en["ccb-grocery-cashback"] {
		t.Fatalf("the offer is not enrolled by the card's PAR: %v", en)
	}

	// The platform's own points: the card's bank host, asked by PAR (no
	// purchase cleared yet: none).
	real := e.browserAt(t, e.portalWith(t, func(c *portal.Config) { c.Points = e.p.PortalPoints() }))
	real.login("lin@example.com")
	if _, body := real.get("/phones/" + id); strings.Count(body, `class="points" data-points="0"`) != 2 {
		t.Errorf("the issuers' points of the two cards: %s", snippet(body))
	}

	// The discounted payment: the net charged, the price, who funded it.
	_, tx := b.get("/transactions")
	for _, want := range []string{"¥12.00", "¥15.00", "立减 ¥3.00，由工商银行提供"} {
		if !strings.Contains(tx, want) {
			t.Errorf("zh transactions: no %q in %s", want, snippet(visible(tx)))
		}
	}
	b.lang = "en"
	_, tx = b.get("/transactions")
	if !strings.Contains(tx, "¥3.00 off, funded by ICBC") {
		t.Errorf("en transactions: no discount line in %s", snippet(visible(tx)))
	}
	_, csv := b.get("/transactions.csv")
	if !strings.Contains(csv, "¥3.00 off, funded by ICBC") || !strings.Contains(csv, "¥12.00") {
		t.Errorf("csv: %s", csv)
	}
	// No card or token number anywhere.
	_, en := b.get("/phones/" + id)
	for _, h := range e.cards[:e.next] {
		for _, body := range []string{page, tx, csv, en} {
			if strings.Contains(body, h.PAN.Digits()) {
				t.Fatalf("a card number is on a page")
			}
		}
	}
	for _, tk := range toks {
		for _, body := range []string{page, tx, csv, en} {
			if strings.Contains(body, tk.Number.Digits()) || strings.Contains(body, tk.PAR) {
				t.Fatalf("a token number or PAR is on a page")
			}
		}
	}
}

// defaultCampaigns is a promo store holding the shipped campaigns.
func defaultCampaigns(t *testing.T) *promo.MemStore {
	t.Helper()
	st := promo.NewMemStore()
	cs, err := promo.Defaults()
	if err == nil {
		err = st.Save(context.Background(), cs)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// phoneWithBanks registers a phone with a card of each bank named.
func (e *env) phoneWithBanks(t *testing.T, email, name string, banks ...string) *phone.Phone {
	t.Helper()
	ph := e.newPhone(t, email, name, 0)
	for _, bk := range banks {
		var c *bank.Cardholder
		for i := e.next; i < len(e.cards); i++ {
			if e.cards[i].Bank == bk {
				e.cards[i], e.cards[e.next] = e.cards[e.next], e.cards[i]
				c = e.cards[e.next]
				e.next++
				break
			}
		}
		if c == nil {
			t.Fatalf("no green test card of %s", bk)
		}
		if _, err := ph.AddCard(context.Background(), c.PAN.Digits(), c.Expiry.MMYY(), c.CVN2.Digits()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ph.Cards(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ph
}

// cardChunk is the part of the phone page of the card whose offers name
// want.
func cardChunk(page, want string) string {
	for _, c := range strings.Split(page, `class="card-row"`)[1:] {
		if strings.Contains(c, want) {
			return c
		}
	}
	return ""
}

func attr(s, name string) string {
	i := strings.Index(s, name+`="`)
	if i < 0 {
		return ""
	}
	s = s[i+len(name)+2:]
	return s[:strings.IndexByte(s, '"')]
}

// fakePoints is a bank's points programme: 1234 points, 200 of them
// expiring in a month; it remembers who asked.
type fakePoints struct{ asked []string }

func (f *fakePoints) Points(_ context.Context, bankID, par string) (bank.Points, error) {
	f.asked = append(f.asked, bankID+"|"+par)
	return bank.Points{Bank: bankID, Balance: 1234, FenPerPoint: 1, Expiring: 200, ExpiresAt: time.Now().Add(30 * 24 * time.Hour)}, nil
}

// discounting is the network's records with an instant discount the
// switch applied to each approved payment of a card of bank: discount
// fen off, funded by that bank.
type discounting struct {
	portal.Records
	discount int64
	bank     string
}

func (d discounting) TokenAuths(ctx context.Context, tokens []string, limit int) ([]netswitch.Auth, error) {
	auths, err := d.Records.TokenAuths(ctx, tokens, limit)
	for i, au := range auths {
		if au.Approved() && au.BankID == d.bank {
			auths[i].Promo = &promo.Redemption{Identity: au.ID, Campaign: "icbc-random-tap", Fulfilment: promo.FulfilInstant, CardBank: d.bank,
				Gross: au.Amount.Minor, Net: au.Amount.Minor - d.discount, Discount: d.discount,
				Shares: []promo.Share{{Kind: promo.FunderIssuer, Party: d.bank, Amount: d.discount}}}
		}
	}
	return auths, err
}

// TestDiscountEndToEnd: the portal built as the platform builds it (the
// risk engine, the promo wing, the issuers' points) shows a discount the
// switch really gave: a new card holder's first ¥120.00 tap gets the
// network's ¥50 off ¥100, charged ¥70.00.
func TestDiscountEndToEnd(t *testing.T) {
	e := start(t)
	if e.p.Promotions() == nil {
		t.Fatal("the platform runs without its promo wing")
	}
	ph := e.phoneWithBanks(t, "qian@example.com", "钱的手机", "icbc")
	pos, err := taptest.NewTerminalAt(e.p.ISOAddr, "", "BEIJING")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pos.Pay(context.Background(), ph, money.Fen(12000))
	if err != nil || !p.Approved {
		t.Fatalf("the ¥120.00 tap: %+v %v", p, err)
	}
	base := e.portalWith(t, func(c *portal.Config) {
		c.Risk, c.Promotions, c.Points = e.p.PortalRisk(), e.p.PortalPromotions(e.p.Promotions()), e.p.PortalPoints()
	})
	b := e.browserAt(t, base)
	b.login("qian@example.com")
	_, tx := b.get("/transactions")
	for _, want := range []string{"¥70.00", "¥120.00", "¥50.00 off, funded by the card network", `<details class="risk">`} {
		if !strings.Contains(tx, want) {
			t.Errorf("transactions: no %q in %s", want, snippet(visible(tx)))
		}
	}
	_, page := b.get("/phones/" + ph.Profile.PhoneID)
	if !strings.Contains(page, "ICBC random discount") || !strings.Contains(page, `class="points" data-points="0"`) {
		t.Errorf("phone page: offers or points missing: %s", snippet(visible(page)))
	}
}
