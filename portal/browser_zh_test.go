package portal_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/tsp"
)

// fits is a script that checks the page at the phone's width: nothing
// wider than the screen (no sideways scrolling), and every element of the
// selectors shown whole within the width. It returns what is wrong, or "".
const fits = `((sels) => {
  const vw = window.innerWidth, bad = [];
  const sw = document.documentElement.scrollWidth;
  if (sw > vw) bad.push('scrollWidth ' + sw + ' > ' + vw);
  for (const sel of sels) {
    const els = document.querySelectorAll(sel);
    if (!els.length) bad.push('no ' + sel);
    els.forEach((e) => {
      const r = e.getBoundingClientRect(), st = getComputedStyle(e);
      if (r.width <= 0 || r.height <= 0 || st.visibility === 'hidden' || st.display === 'none' || r.left < -0.5 || r.right > vw + 0.5)
        bad.push(sel + ' at ' + Math.round(r.left) + '..' + Math.round(r.right) + ' (' + st.display + ')');
    });
  }
  return bad.join('; ');
})(%s)`

// phoneScreen starts headless Chromium asking for Chinese on a 390 × 844
// phone screen at start.
func phoneScreen(t *testing.T, exe, start string) *driver {
	t.Helper()
	ctx := chrome(t, exe, "zh-CN,zh", 390, 844, start)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatalf("phone-sized screen: %v", err)
	}
	return &driver{t: t, ctx: ctx}
}

// fit checks the page in Chinese at the phone's width (fits: nothing
// wider than the screen, each element of sels shown whole) and saves its
// screenshot as portal-zh-390-<page>.png.
func (d *driver) fit(page string, sels ...string) {
	d.t.Helper()
	q := `["` + strings.Join(sels, `","`) + `"]`
	if len(sels) == 0 {
		q = "[]"
	}
	sctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	bad, err := chromedp.Run(sctx, chromedp.Evaluate[string](fmt.Sprintf(fits, q)))
	if err != nil {
		d.t.Fatalf("%s: %v", page, err)
	}
	if bad != "" {
		d.shot("portal-zh-390-" + page + "-FAILED.png")
		d.t.Errorf("%s at 390 px: %s", page, bad)
	}
	lang, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if lang != "zh-CN" {
		d.t.Errorf("%s: page language %q, want zh-CN", page, lang)
	}
	d.shot("portal-zh-390-" + page + ".png")
}

// TestBrowserChinesePhoneWidth opens the portal in Chinese (the browser
// asks for zh-CN) on a 390 px wide phone screen: log in with the password
// and the one-time code, the phones, one phone (its map of Shanghai, its
// cards with their payments), the transactions (approved and declined),
// the security events and the settings — each page in Chinese, none wider
// than the screen, the amount, result, card and state of each row shown
// whole — then switches to English and back with the switch on the page.
// Screenshots of each page go to the artifacts.
func TestBrowserChinesePhoneWidth(t *testing.T) {
	exe := chromium(t)
	e := start(t)
	bg := context.Background()
	ph := e.newPhone(t, "wang@example.com", "王芳的小米手机", 2)
	if got := e.pay(t, ph); got != "approved" {
		t.Fatalf("first tap: %s", got)
	}
	if _, err := ph.CheckIn(bg, &phone.Location{Lat: 31.2397, Lon: 121.4998}); err != nil {
		t.Fatal(err)
	}
	id := ph.Profile.PhoneID
	d := phoneScreen(t, exe, e.base+"/login")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	check := d.fit

	d.do("the log-in page in Chinese", chromedp.WaitVisible(css("#login-form")))
	if h := d.text("h1"); h != "登录" {
		t.Fatalf("log-in page heading: %q, want 登录", h)
	}
	check("login", "#login-form", "#lang-switch")
	d.do("log in with the password",
		chromedp.SendKeys(css("#email"), "wang@example.com"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#login-code-form")))
	d.do("and the one-time code (sent in Chinese)",
		chromedp.SendKeys(css("#code"), e.latestCode(t, "wang@example.com")),
		chromedp.Click(css("#confirm-login")),
		chromedp.WaitVisible(css("#phones")))
	if got := d.text("#phones .card-count"); got != "2 张卡（2 张可用）" {
		t.Errorf("the phone's cards: %q", got)
	}
	check("phones", "#phones .tile", ".card-count")

	d.do("the phone", chromedp.Navigate(e.base+"/phones/"+id), chromedp.WaitVisible(css("svg.map")))
	if got := d.text("#place-age"); !strings.Contains(got, "刚刚报告") || !strings.Contains(got, "(UTC+8)") || !strings.Contains(got, "上海") {
		t.Errorf("the report's age: %q", got)
	}
	check("phone", "svg.map", ".card-row .card-name", ".card-row .card-state", ".card-row .pay-amount", ".card-row .pay-result", ".card-row .pay-card")

	d.do("switch the wallet off", chromedp.Click(css("#wallet-off")), chromedp.WaitVisible(css("#notice")))
	if n := d.text("#notice"); !strings.Contains(n, "钱包已关闭") {
		t.Fatalf("after the switch-off: %q", n)
	}
	if got := e.pay(t, ph); got != rc(tsp.DeclineSuspended) {
		t.Fatalf("a tap while off: %s", got)
	}
	check("phone-off", "#switches td", ".card-row .card-state")

	d.do("the transactions", chromedp.Navigate(e.base+"/transactions"), chromedp.WaitVisible(css("#payments")))
	if got := d.text("#payments tr.declined .pay-result .state"); got != "已拒绝：卡片已暂停（手机钱包已关闭）" {
		t.Errorf("the declined payment's result: %q", got)
	}
	if got := d.text("#payments tr.approved .pay-amount"); got != "¥15.00" {
		t.Errorf("the approved payment's amount: %q", got)
	}
	check("transactions", "#payments .pay-amount", "#payments .pay-result", "#payments .pay-card", "#csv")

	d.do("the security events", chromedp.Navigate(e.base+"/security"), chromedp.WaitVisible(css("#events")))
	check("security", "#events td")
	d.do("the settings", chromedp.Navigate(e.base+"/settings"), chromedp.WaitVisible(css("#password-change")))
	check("settings", "#password-change button")

	d.do("switch to English", chromedp.Click(css("#lang-en")), chromedp.WaitVisible(css("#lang-zh")))
	if h := d.text("h1"); h != "Settings" {
		t.Errorf("after the switch to English: heading %q", h)
	}
	d.do("English is remembered", chromedp.Navigate(e.base+"/transactions"), chromedp.WaitVisible(css("#payments")))
	if got := d.text("#payments tr.declined .pay-result .state"); got != "declined: card suspended (the wallet on the phone is off)" {
		t.Errorf("in English, the declined payment's result: %q", got)
	}
	d.shot("portal-en-390-transactions.png")
	d.do("back to Chinese", chromedp.Click(css("#lang-zh")), chromedp.WaitVisible(css("#lang-en")))
	if h := d.text("h1"); h != "最近的交易" {
		t.Errorf("after the switch back: heading %q", h)
	}
}
