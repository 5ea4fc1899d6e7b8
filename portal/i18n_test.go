package portal_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/risk"
)

// TestCatalogues: the Chinese and the English catalogue hold the same
// messages, none empty, and a plural message has its forms (English one
// and other, Chinese other).
func TestCatalogues(t *testing.T) {
	load := func(lang string) map[string]any {
		b, err := os.ReadFile("locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		return m
	}
	zh, en := load(portal.LangZH), load(portal.LangEN)
	for k, v := range en {
		z, ok := zh[k]
		if !ok {
			t.Errorf("%s: in en, not in zh-CN", k)
			continue
		}
		switch v := v.(type) {
		case string:
			if v == "" || z == "" {
				t.Errorf("%s: empty", k)
			}
			if _, ok := z.(string); !ok {
				t.Errorf("%s: a plural in zh-CN, a plain text in en", k)
			}
		case map[string]any:
			zm, ok := z.(map[string]any)
			if !ok || v["one"] == nil || v["other"] == nil || zm["other"] == nil {
				t.Errorf("%s: plural forms: en %v, zh-CN %v", k, v, z)
			}
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("%s: in zh-CN, not in en", k)
		}
	}
}

var (
	tagRE    = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	attrRE   = regexp.MustCompile(`(?:placeholder|aria-label|title|data-t-[a-z]+)="([^"]*)"`)
	titleRE  = regexp.MustCompile(`(?s)<title[^>]*>(.*?)</title>`)
	hanRE    = regexp.MustCompile(`\p{Han}`)
	csrfLine = regexp.MustCompile(`content="[^"]*"`)
)

// visible is what a person reads on a page: its text, its titles (the
// page's and the map's) and its placeholders and labels.
func visible(page string) string {
	var b strings.Builder
	for _, m := range titleRE.FindAllStringSubmatch(page, -1) {
		b.WriteString(m[1] + "\n")
	}
	for _, m := range attrRE.FindAllStringSubmatch(page, -1) {
		b.WriteString(m[1] + "\n")
	}
	b.WriteString(tagRE.ReplaceAllString(page, " "))
	return html.UnescapeString(b.String())
}

// TestPagesInBothLanguages renders every page of the portal in Chinese and
// in English for an account with payments approved and declined (the
// wallet switched off meanwhile), switch records, events and an error, and
// fails on any code-like text (card_expired, portal:acc_…, bind_…, an
// untranslated catalogue key) in what a person reads; the Chinese pages
// are in Chinese, with Beijing time shown with its zone and amounts as ¥.
func TestPagesInBothLanguages(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.paidPhone(t, "lin@example.com", "小林的手机")
	if _, err := ph.CheckIn(ctx, &phone.Location{Lat: 31.2397, Lon: 121.4998}); err != nil {
		t.Fatal(err)
	}
	id := ph.Profile.PhoneID
	en := e.browser(t)
	en.login("lin@example.com")
	if st, body := en.post("/phones/"+id+"/wallet-off", url.Values{"reason": {"lost"}}); st != 200 {
		t.Fatalf("wallet off: %d %s", st, snippet(body))
	}
	if got := e.pay(t, ph); got == "approved" {
		t.Fatalf("a tap while off: %s", got)
	}
	// The declined tap shows in the transactions; a failed log-in and a
	// wrong code in the events.
	wrong := e.browserFrom(t, "127.0.0.2")
	wrong.post("/login", url.Values{"email": {"lin@example.com"}, "password": {"wrong"}})

	pages := []string{"/phones", "/phones/" + id, "/phones/" + id + "/wallet-on", "/transactions", "/transactions?page=2", "/security", "/settings", "/alerts", "/no-such-page", "/phones/nope"}
	for _, lang := range []string{"zh-CN", "en"} {
		b := e.browser(t)
		b.lang = lang
		// Logged out: the log-in page, and a refused form.
		_, login := b.get("/login")
		_, refused := b.post("/login", url.Values{"csrf": {"forged"}, "email": {"x@example.com"}})
		_, badLogin := b.post("/login", url.Values{"email": {"lin@example.com"}, "password": {"wrong"}})
		b.login("lin@example.com")
		bodies := map[string]string{"/login": login, "/login (forged form)": refused, "/login (wrong password)": badLogin}
		for _, path := range pages {
			_, bodies[path] = b.get(path)
		}
		for path, body := range bodies {
			text := visible(body)
			if c := portal.RawCode(text); c != "" {
				i := strings.Index(text, c)
				t.Errorf("%s %s: code-like text %q in %q", lang, path, c, text[max(0, i-80):min(len(text), i+80)])
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not in %s", lang, path, lang)
			}
			han := len(hanRE.FindAllString(csrfLine.ReplaceAllString(text, ""), -1))
			if lang == "zh-CN" && han < 10 {
				t.Errorf("%s %s: %d Chinese characters: %s", lang, path, han, snippet(text))
			}
		}
		tx := bodies["/transactions"]
		if lang == "zh-CN" {
			for _, want := range []string{"¥15.00", "(UTC+8)", "已拒绝：卡片已暂停（手机钱包已关闭）", "已批准", "Asia/Shanghai"} {
				if !strings.Contains(html.UnescapeString(tx), want) {
					t.Errorf("zh-CN transactions: no %q in %s", want, snippet(visible(tx)))
				}
			}
			for _, want := range []string{"上海", "外环", "内环", "黄浦江", "2 张卡（0 张可用）", "钱包已关闭", "密码错误"} {
				if !strings.Contains(html.UnescapeString(bodies["/phones/"+id]+bodies["/phones"]+bodies["/security"]), want) {
					t.Errorf("zh-CN pages: no %q", want)
				}
			}
		} else {
			for _, want := range []string{"¥15.00", "declined: card suspended", "2 cards (0 active)", "Wrong password"} {
				if !strings.Contains(html.UnescapeString(tx+bodies["/phones"]+bodies["/security"]), want) {
					t.Errorf("en pages: no %q", want)
				}
			}
		}
	}
}

// TestLanguageChoice: Accept-Language chooses (any Chinese is zh-CN, no
// header is Chinese), the switch on every page overrides it and is
// remembered, and it goes back only to a page of the portal.
func TestLanguageChoice(t *testing.T) {
	e := start(t)
	b := e.browser(t)
	for _, tt := range []struct{ accept, want string }{
		{"zh-TW,zh;q=0.9", "zh-CN"}, {"en-GB,en;q=0.8", "en"}, {"fr-FR", "zh-CN"}, {"", "zh-CN"}, {"de, en;q=0.5", "en"},
	} {
		req, _ := http.NewRequest("GET", e.base+"/login", nil)
		req.Header.Set("Accept-Language", tt.accept)
		if tt.accept == "" {
			req.Header.Set("Accept-Language", "")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Language"); got != tt.want {
			t.Errorf("Accept-Language %q: got %s, want %s", tt.accept, got, tt.want)
		}
	}
	_, body := b.get("/login")
	if !strings.Contains(body, `href="/lang?to=zh-CN&amp;back=%2flogin" id="lang-zh"`) {
		t.Fatalf("the English log-in page has no switch to Chinese: %s", snippet(body))
	}
	st, body := b.get("/lang?to=zh-CN&back=/login")
	if st != 200 || !strings.Contains(body, `<html lang="zh-CN">`) || !strings.Contains(body, "登录") {
		t.Fatalf("after the switch: %d %s", st, snippet(body))
	}
	// Remembered, whatever the browser asks for.
	if _, body = b.get("/login"); !strings.Contains(body, `<html lang="zh-CN">`) {
		t.Fatal("the switch to Chinese was not remembered")
	}
	// Back only to the portal.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, back := range []string{"https://evil.example/", "//evil.example/x", "/../x", "javascript:alert(1)"} {
		resp, err := c.Get(e.base + "/lang?to=en&back=" + url.QueryEscape(back))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("back=%q: went to %q, want /", back, loc)
		}
	}
}

// TestManageCards: from the portal the owner makes the second card the
// default and removes the first; another account cannot name them; the
// CSV export has the payments with no full token or card number.
func TestManageCards(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.paidPhone(t, "mei@example.com", "Mei's phone")
	id := ph.Profile.PhoneID
	b := e.browser(t)
	b.login("mei@example.com")
	_, body := b.get("/phones/" + id)
	handles := regexp.MustCompile(`data-card="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(handles) != 2 || !strings.Contains(body, "2 cards (2 active)") || strings.Count(body, `class="payment approved"`) != 1 {
		t.Fatalf("phone page: %d cards, want 2 with one payment: %s", len(handles), snippet(body))
	}
	toks, err := e.p.Tokens.Cards(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if strings.Contains(body, tk.Number.Digits()) {
			t.Fatal("the phone page holds a full token")
		}
	}
	// The CSV export, before any card is removed (the history lists the
	// tokens the token service still has).
	resp, err := b.c.Get(b.base + "/transactions.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(readAll(t, resp), "\ufeff"))).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 2 || rows[1][6] != "¥15.00" {
		t.Fatalf("CSV: %v %v %q", err, resp.Header, rows)
	}
	first, second := handles[0][1], handles[1][1]
	// Another account names the card: not found, nothing changed.
	other := e.browser(t)
	e.newPhone(t, "eve@example.com", "Eve's phone", 0)
	other.login("eve@example.com")
	if st, _ := other.post("/phones/"+id+"/cards/remove", url.Values{"card": {first}}); st != http.StatusNotFound {
		t.Fatalf("another account removing the card: got %d, want 404", st)
	}
	if st, body := b.post("/phones/"+id+"/cards/default", url.Values{"card": {second}}); st != 200 || !strings.Contains(body, "The default card is changed") {
		t.Fatalf("make default: %d %s", st, snippet(body))
	}
	if st, body := b.post("/phones/"+id+"/cards/remove", url.Values{"card": {first}}); st != 200 || !strings.Contains(body, "The card is removed") || !strings.Contains(body, "1 card (1 active)") {
		t.Fatalf("remove: %d %s", st, snippet(body))
	}
	if st, _ := b.post("/phones/"+id+"/cards/remove", url.Values{"card": {first}}); st != http.StatusNotFound {
		t.Fatalf("removing it again: got %d, want 404", st)
	}
	// The card holder's time zone: Beijing time unless chosen otherwise.
	if _, body := b.get("/settings"); !strings.Contains(html.UnescapeString(body), "Times in Asia/Shanghai, UTC+8") {
		t.Errorf("settings: no Beijing time: %s", snippet(body))
	}
	if st, body := b.post("/settings/zone", url.Values{"zone": {"Asia/Tokyo"}}); st != 200 || !strings.Contains(body, "Times are now shown in the time zone you chose") {
		t.Fatalf("choose a zone: %d %s", st, snippet(body))
	}
	if _, body := b.get("/security"); !strings.Contains(html.UnescapeString(body), "(UTC+9)") || !strings.Contains(html.UnescapeString(body), "Times in Asia/Tokyo, UTC+9") {
		t.Errorf("security events after choosing Tokyo: %s", snippet(body))
	}
	if st, _ := b.post("/settings/zone", url.Values{"zone": {"Mars/Olympus"}}); st != http.StatusBadRequest {
		t.Errorf("an unknown zone: got %d, want 400", st)
	}
	toks, _ = e.p.Tokens.Cards(ctx, id)
	live := 0
	for _, tk := range toks {
		if tk.State != "deleted" {
			live++
			if e.p.Portal != nil && !tk.Default {
				t.Errorf("the card left is not the default")
			}
		}
	}
	if live != 1 {
		t.Fatalf("live tokens after the removal: %d, want 1", live)
	}

	all := strings.Join(rows[1], ",")
	for _, tk := range toks {
		if strings.Contains(all, tk.Number.Digits()) || strings.Contains(all, tk.Number.Digits()[:12]) {
			t.Fatalf("the CSV holds a token: %q", all)
		}
	}
	for _, c := range e.cards[:2] {
		if strings.Contains(all, c.PAN.Digits()[:12]) {
			t.Fatalf("the CSV holds a card number: %q", all)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// paidPhone is a phone with two cards, the default one having paid once.
func (e *env) paidPhone(t *testing.T, email, name string) *phone.Phone {
	t.Helper()
	ph := e.newPhone(t, email, name, 2)
	if got := e.pay(t, ph); got != "approved" {
		t.Fatalf("first tap: %s", got)
	}
	return ph
}

// TestRuleNames: every rule of the risk engine's default set has a name
// and a reason in both catalogues, so a payment's decision and an alert
// are explained in Chinese as in English.
func TestRuleNames(t *testing.T) {
	for _, lang := range portal.Languages {
		for _, r := range risk.Default().Rules {
			for _, id := range []string{"rule." + r.ID, "reason." + r.ID} {
				if !portal.HasMessage(lang, id) {
					t.Errorf("%s: no %s (rule %s: %q)", lang, id, r.ID, r.Reason)
				}
			}
		}
	}
}
