package portal

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the card holder's zone even where the system has no zone files

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// The portal speaks Simplified Chinese first and English: every text of
// its pages, errors and messages is in the catalogues locales/*.json
// (go-i18n's JSON format; plural forms by CLDR rules), chosen by the
// language switch on every page (remembered in the cookie tw_lang), else
// by the browser's Accept-Language, else Chinese.

//go:embed locales/*.json
var localeFS embed.FS

// Languages the portal speaks, the first the default.
const (
	LangZH = "zh-CN"
	LangEN = "en"
)

// Languages lists the portal's languages, Chinese first.
var Languages = []string{LangZH, LangEN}

const cookieLang = "tw_lang"

var bundle = func() *i18n.Bundle {
	b := i18n.NewBundle(language.SimplifiedChinese)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	for _, f := range []string{"locales/zh-CN.json", "locales/en.json"} {
		if _, err := b.LoadMessageFileFS(localeFS, f); err != nil {
			panic("portal: catalogue " + f + ": " + err.Error())
		}
	}
	return b
}()

// pickLanguage returns the visitor's language: the switch's cookie, else
// the best match of Accept-Language (any Chinese is zh-CN), else zh-CN.
func pickLanguage(r *http.Request) string {
	if c := cookie(r, cookieLang); c == LangZH || c == LangEN {
		return c
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return LangZH
	}
	for _, t := range tags {
		if b, _ := t.Base(); b.String() == "zh" {
			return LangZH
		}
		if b, _ := t.Base(); b.String() == "en" {
			return LangEN
		}
	}
	return LangZH
}

// tr is one visitor's translator: language and time zone.
type tr struct {
	lang string
	loc  *i18n.Localizer
	zone *time.Location
}

func newTr(lang string, zone *time.Location) *tr {
	if zone == nil {
		zone = time.UTC
	}
	return &tr{lang: lang, loc: i18n.NewLocalizer(bundle, lang), zone: zone}
}

// missing marks a text the catalogue lacks; the catalogue test fails on it.
const missing = "⟦"

// T translates a message id with optional pairs of template data
// ("Name", value, …). A message the catalogue lacks comes out as ⟦id⟧.
func (t *tr) T(id string, pairs ...any) string {
	return t.localize(id, nil, pairs)
}

// N translates a message with plural forms for n ({{.N}} in the text).
func (t *tr) N(id string, n int, pairs ...any) string {
	return t.localize(id, n, append([]any{"N", n}, pairs...))
}

func (t *tr) localize(id string, count any, pairs []any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if k, ok := pairs[i].(string); ok {
			data[k] = pairs[i+1]
		}
	}
	s, tag, err := t.loc.LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id, TemplateData: data, PluralCount: count})
	if err != nil || tag.String() != t.lang {
		return missing + id + "⟧"
	}
	return s
}

// Has reports whether the catalogue has a message.
func (t *tr) Has(id string) bool {
	_, tag, err := t.loc.LocalizeWithTag(&i18n.LocalizeConfig{MessageID: id})
	return err == nil && tag.String() == t.lang
}

// When writes a time in the card holder's zone with the zone shown:
// "2026-12-06 20:56 (UTC+8)".
func (t *tr) When(at time.Time) string {
	if at.IsZero() {
		return "—"
	}
	return at.In(t.zone).Format("2006-01-02 15:04") + " (" + zoneName(at.In(t.zone)) + ")"
}

// zoneName is "UTC+8", "UTC+5:30", "UTC".
func zoneName(at time.Time) string {
	_, off := at.Zone()
	if off == 0 {
		return "UTC"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	s := "UTC" + sign + strconv.Itoa(off/3600)
	if m := off % 3600 / 60; m != 0 {
		s += ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
	}
	return s
}

// Age says how long ago in words: "刚刚", "3 分钟前", "1 minute ago".
func (t *tr) Age(now, at time.Time) string {
	if at.IsZero() {
		return t.T("age.never")
	}
	d := now.Sub(at)
	switch {
	case d < time.Minute:
		return t.T("age.now")
	case d < time.Hour:
		return t.N("age.minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return t.N("age.hours", int(d.Hours()))
	}
	return t.N("age.days", int(d.Hours()/24))
}

// currencySymbols are the signs put before an amount; other currencies
// are written with their ISO code after it.
var currencySymbols = map[string]string{"CNY": "¥", "USD": "US$", "EUR": "€", "HKD": "HK$", "GBP": "£", "JPY": "JP¥"}

// Money writes an amount as "¥12.34" (a refund or credit "-¥12.34").
func Money(a money.Amount) string {
	s := money.FormatMinor(a.Minor, a.Currency.Exponent())
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if sym, ok := currencySymbols[a.Currency.Code()]; ok {
		s = sym + s
	} else {
		s = s + " " + a.Currency.Code()
	}
	if neg {
		s = "-" + s
	}
	return s
}

// moneyText rewrites an amount other parties formatted ("23.50 CNY") as
// the portal writes amounts ("¥23.50").
func moneyText(s string) string {
	num, code, ok := strings.Cut(strings.TrimSpace(s), " ")
	if sym, known := currencySymbols[code]; ok && known {
		if strings.HasPrefix(num, "-") {
			return "-" + sym + num[1:]
		}
		return sym + num
	}
	return s
}

// funcs are the template functions of one visitor.
func (p *Portal) funcs(t *tr) template.FuncMap {
	return template.FuncMap{
		"t":        t.T,
		"tn":       t.N,
		"age":      func(at time.Time) string { return t.Age(p.now(), at) },
		"when":     t.When,
		"money":    Money,
		"event":    func(kind string) string { return t.event(kind) },
		"state":    func(s string) string { return t.T("state." + s) },
		"cmd":      func(s string) string { return t.T("command." + s) },
		"lang":     func() string { return t.lang },
		"zone":     func() string { return t.zone.String() + ", " + zoneName(p.now().In(t.zone)) },
		"detail":   t.detail,
		"result":   t.result,
		"discount": t.discount,
		"bank":     t.bank,
		"city": func(id string) string {
			if t.Has("city." + id) {
				return t.T("city." + id)
			}
			return id
		},
		"moneyText": moneyText,
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				if k, ok := kv[i].(string); ok {
					m[k] = kv[i+1]
				}
			}
			return m
		},
	}
}

// Zones are the time zones a card holder can choose on the settings page
// (remembered in the cookie tw_tz); the portal's Config.Zone otherwise.
var Zones = []string{"Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
	"Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Australia/Sydney", "UTC"}

const cookieZone = "tw_tz"

// zone is the visitor's time zone: the one chosen, else the portal's.
func (p *Portal) zone(r *http.Request) *time.Location {
	if c := cookie(r, cookieZone); c != "" && slices.Contains(Zones, c) {
		if z, err := time.LoadLocation(c); err == nil {
			return z
		}
	}
	return p.cfg.Zone
}

// setZone remembers the time zone chosen on the settings page for a year.
func (p *Portal) setZone(w http.ResponseWriter, r *http.Request, v *visit) {
	z := r.PostForm.Get("zone")
	if !slices.Contains(Zones, z) {
		p.fail(w, r, v, fault.E(fault.Invalid, "bad_zone", "choose one of the time zones listed"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieZone, Value: z, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: p.secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/settings?done=zone", http.StatusSeeOther)
}

// setLanguage is the language switch: it remembers the choice for a year
// and goes back to the page it was clicked on.
func (p *Portal) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("to")
	if lang != LangZH && lang != LangEN {
		lang = LangZH
	}
	c := &http.Cookie{Name: cookieLang, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: p.secure(r), SameSite: http.SameSiteLaxMode}
	http.SetCookie(w, c)
	http.Redirect(w, r, backTo(r.URL.Query().Get("back")), http.StatusSeeOther)
}

var backPath = regexp.MustCompile(`^/[A-Za-z0-9_/.-]*$`)

// backTo is a path of the portal to return to (never another site, no
// query kept), else the home page.
func backTo(s string) string {
	u, err := url.Parse(s)
	if err != nil || len(s) > 300 || u.Scheme != "" || u.Host != "" || !backPath.MatchString(u.Path) || strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "..") {
		return "/"
	}
	return u.Path
}

// bank names a card's bank: in Chinese by the catalogue's name of the
// bank (bank.<id>, 工商银行), else as the token service names it.
func (t *tr) bank(id, name string) string {
	if t.lang == LangZH && id != "" && t.Has("bank."+id) {
		return t.T("bank." + id)
	}
	return name
}
