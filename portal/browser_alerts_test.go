package portal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/tsp"
)

// TestBrowserChineseAlertsAndOffers opens the portal in Chinese on a 390
// px wide phone screen with the risk engine's alerts, the promotions and
// the points connected: the phones page's banner leads to the alert of a
// tap declined for impossible travel, explained (rule, reason, score);
// "不是我" suspends the card and offers the switch-off; the phone page
// lists each card's offers and points and "添加到这张卡" adds the CCB
// offer; the transactions show the discount and who funded it, and a
// payment's risk decision opens. No page is wider than the screen.
// Screenshots go to the artifacts (portal-zh-390-alerts*.png, …).
func TestBrowserChineseAlertsAndOffers(t *testing.T) {
	exe := chromium(t)
	e := start(t)
	bg := context.Background()
	ph := e.phoneWithBanks(t, "zhao@example.com", "赵磊的手机", "icbc", "ccb")
	id := ph.Profile.PhoneID
	if got := e.pay(t, ph); got != "approved" {
		t.Fatalf("first tap: %s", got)
	}
	if _, err := ph.CheckIn(bg, &phone.Location{Lat: 31.2397, Lon: 121.4998}); err != nil { // Shanghai; the terminal is in Beijing
		t.Fatal(err)
	}
	if got := e.pay(t, ph); got != "59" {
		t.Fatalf("a tap in Beijing just after the phone reported Shanghai: got %s, want 59", got)
	}
	acc := e.accountID(t, "zhao@example.com")
	waitCase(t, e, acc)
	st := defaultCampaigns(t)
	base := e.portalWith(t, func(c *portal.Config) {
		c.Risk, c.Promotions, c.Points = e.p.PortalRisk(), e.p.PortalPromotions(st), &fakePoints{}
		c.Records = discounting{Records: e.p.Records, discount: 300, bank: "icbc"}
	})

	d := phoneScreen(t, exe, base+"/login")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	check := d.fit

	d.do("log in with the password",
		chromedp.WaitVisible(css("#login-form")),
		chromedp.SendKeys(css("#email"), "zhao@example.com"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#login-code-form")))
	d.do("log in with the one-time code",
		chromedp.SendKeys(css("#code"), e.latestCode(t, "zhao@example.com")),
		chromedp.Click(css("#confirm-login")),
		chromedp.WaitVisible(css("#phones")))
	if b := d.text("#open-alerts"); !strings.Contains(b, "您有 1 条待确认") {
		t.Fatalf("the phones page's banner: %q", b)
	}

	d.do("the alert", chromedp.Click(css("#open-alerts a")), chromedp.WaitVisible(css("#alert-1 .answer-no")))
	if a := d.text("#alert-1"); !strings.Contains(a, "不可能的行程") || !strings.Contains(a, "风险评分") || !strings.Contains(a, "¥15.00") || strings.Contains(a, "impossible") {
		t.Fatalf("the alert: %q", a)
	}
	check("alerts", "#alert-1 h2", "#alert-1 .risk-rules li", ".answer-yes", ".answer-no")
	d.do("不是我", chromedp.Click(css("#alert-1 .answer-no")), chromedp.WaitVisible(css("#notice")), chromedp.WaitVisible(css(".alert-wallet-off")))
	if c, err := e.p.RiskCases().CaseOf(bg, acc, firstCase(t, e, acc)); err != nil || c.State != risk.CaseConfirmedFraud {
		t.Fatalf("the case after 不是我: %+v %v", c.State, err)
	}
	for _, tk := range mustCards(t, e, id) {
		if want := map[string]tsp.State{"icbc": tsp.Suspended, "ccb": tsp.Active}[tk.BankID]; tk.State != want {
			t.Fatalf("the %s card after 不是我 for the ICBC card's tap: %s, want %s", tk.BankID, tk.State, want)
		}
	}
	d.do("the history", chromedp.Click(css("#alert-1 details.history summary")), chromedp.WaitVisible(css("#alert-1 tr.change")))
	if h := d.text("#alert-1 details.history"); !strings.Contains(h, "风控系统") || !strings.Contains(h, "您本人（门户）") || !strings.Contains(h, "(UTC+8)") {
		t.Fatalf("the alert's history: %q", h)
	}
	check("alerts-answered", "#notice", ".alert-wallet-off", "#alert-1 tr.change")

	d.do("the phone's cards", chromedp.Navigate(base+"/phones/"+id), chromedp.WaitVisible(css(".offers")))
	if p := d.text("#cards"); !strings.Contains(p, "积分：1234 分") || !strings.Contains(p, "工商银行随机立减") || !strings.Contains(p, "建设银行超市返现") {
		t.Fatalf("the cards: %q", p)
	}
	check("offers", ".offer", ".points", ".add-offer")
	d.do("添加到这张卡", chromedp.Click(css(".add-offer")), chromedp.WaitVisible(css("#notice")), chromedp.WaitVisible(css(".offer-added")))
	var ccb map[string]bool
	for _, tk := range mustCards(t, e, id) {
		if tk.BankID == "ccb" {
			ccb, _ = st.Enrolled(bg, tk.PAR)
		}
	}
	if !ccb["ccb-grocery-cashback"] {
		t.Fatalf("the CCB card's enrolments after 添加到这张卡: %v", ccb)
	}

	d.do("the transactions", chromedp.Navigate(base+"/transactions"), chromedp.WaitVisible(css("#payments")))
	if disc := d.text("#payments"); !strings.Contains(disc, "立减 ¥3.00，由工商银行提供") || !strings.Contains(disc, "¥12.00") {
		t.Fatalf("the transactions: %q", disc)
	}
	d.do("a payment's risk decision", chromedp.Click(css("tr.declined details.risk summary")), chromedp.WaitVisible(css("tr.declined .risk-rules li")))
	check("transactions-risk", ".pay-amount", ".pay-discount", "tr.declined .risk-rules li")
}

// waitCase waits for the engine to keep the account's first case (it
// keeps decisions and cases in batches, milliseconds after the answer).
func waitCase(t *testing.T, e *env, account string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cs, err := e.p.RiskCases().CasesOf(context.Background(), account, ""); err == nil && len(cs) > 0 {
			return
		}
	}
	t.Fatal("no case was opened for the account")
}

func firstCase(t *testing.T, e *env, account string) string {
	t.Helper()
	cs, err := e.p.RiskCases().CasesOf(context.Background(), account, "")
	if err != nil || len(cs) == 0 {
		t.Fatalf("cases: %v %v", cs, err)
	}
	return cs[len(cs)-1].ID
}

func mustCards(t *testing.T, e *env, phoneID string) []tsp.Token {
	t.Helper()
	toks, err := e.p.Tokens.Cards(context.Background(), phoneID)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}
