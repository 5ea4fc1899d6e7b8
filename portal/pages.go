package portal

import (
	"bytes"
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string
	Visit  *visit
	CSRF   string // the token of a page shown before any session
	Error  string
	Notice string
	Script bool // the page runs passkey.js
	Data   any
}

// Token is the page's CSRF token.
func (v *view) Token() string {
	if v.Visit != nil {
		return v.Visit.CSRF
	}
	return v.CSRF
}

var pageNames = []string{"error", "login", "login_passkey", "login_code", "password_code", "phones", "phone", "wallet_on", "wallet_on_code", "transactions", "security", "settings"}

func (p *Portal) parseTemplates() error {
	funcs := template.FuncMap{
		"age":   func(t time.Time) string { return age(p.now(), t) },
		"when":  when,
		"event": eventLabel,
		"b64":   func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) },
		"last4": func(s string) string { return last4(s) },
		"fp":    wallet.Fingerprint,
	}
	p.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fault.Wrap(err, fault.Internal, "portal_templates", "portal template %s", name)
		}
		p.pages[name] = t
	}
	return nil
}

// render writes a page; templates are executed into a buffer first so a
// failure never leaves half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, code int, name string, v *view) {
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.cfg.Log.ErrorContext(r.Context(), "portal template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < 2*time.Minute:
		return "1 minute ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " minutes ago"
	case d < 2*time.Hour:
		return "1 hour ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " hours ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

var eventLabels = map[string]string{
	wallet.EventSignUp: "Account created", wallet.EventLogin: "Logged in", wallet.EventLoginFailed: "Wrong password",
	wallet.EventLoginLocked: "Log-in while locked", wallet.EventLogout: "Logged out", wallet.EventPhoneAdded: "Phone registered",
	wallet.EventCardAdded: "Card added", wallet.EventCardRemoved: "Card removed", wallet.EventCardStepUp: "Card waits for a code",
	wallet.EventCardDeclined: "Card refused", wallet.EventBadSignature: "Bad phone signature", wallet.EventWalletOff: "Wallet switched off",
	wallet.EventWalletOn: "Wallet switched on", wallet.EventDefaultChosen: "Default card chosen",
	wallet.EventLoginThrottled: "Log-ins throttled", wallet.EventPasskeyAdded: "Passkey added", wallet.EventPasskeyRemoved: "Passkey removed",
	wallet.EventPasskeyFailed: "Passkey failed", wallet.EventPhoneRing: "Ring requested", wallet.EventPhoneMessage: "Message requested",
	wallet.EventWalletOnFailed: "Switch-on refused",
}

func eventLabel(kind string) string {
	if l, ok := eventLabels[kind]; ok {
		return l
	}
	return strings.ReplaceAll(kind, "_", " ")
}

// notices are the fixed messages a redirect may ask a page to show (the
// query names one; nothing from the query is ever shown).
var notices = map[string]string{
	"off":           "The wallet on this phone is switched off. Its cards are suspended: no store terminal will approve a payment from it.",
	"on":            "The wallet on this phone is on again. The phone gets fresh payment keys the next time it syncs.",
	"already-on":    "The wallet on this phone is on.",
	"ring":          "The phone will ring the next time it syncs.",
	"message":       "The phone will show your message the next time it syncs.",
	"passkey-added": "Your passkey is added. From now on you log in with your password and your passkey.",
	"passkey-gone":  "The passkey is removed.",
	"password":      "Your password is changed. Every other session of your account (the phone app included) is logged out.",
	"out":           "You are logged out.",
}

// --- log-in and log-out ---

func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	if _, err := p.cfg.Wallet.Authenticate(r.Context(), cookie(r, cookieSession), wallet.SessionPortal); err == nil {
		http.Redirect(w, r, "/phones", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type loginView struct {
	Email string
	Next  string
}

// preToken returns the log-in form's CSRF token, setting its cookie if
// the visitor has none yet.
func (p *Portal) preToken(w http.ResponseWriter, r *http.Request) string {
	pre := cookie(r, cookiePre)
	if pre == "" {
		pre = randomID()
		p.setCookie(w, r, cookiePre, pre, "/", 24*time.Hour)
	}
	return p.csrfToken(pre)
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := p.cfg.Wallet.Authenticate(r.Context(), cookie(r, cookieSession), wallet.SessionPortal); err == nil {
		http.Redirect(w, r, "/phones", http.StatusSeeOther)
		return
	}
	v := &view{Title: "Log in", CSRF: p.preToken(w, r), Notice: notices[r.URL.Query().Get("done")],
		Data: loginView{Next: safeNext(r.URL.Query().Get("next"))}}
	p.render(w, r, http.StatusOK, "login", v)
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := p.cfg.Wallet.LogOut(r.Context(), v.Token, source(r)); err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.setCookie(w, r, cookieSession, "", "/", 0)
	http.Redirect(w, r, "/login?done=out", http.StatusSeeOther)
}

// --- phones ---

type cardView struct {
	BankName, Product, PANLast4, TokenLast4, State, Art string
	Default                                             bool
}

var colour = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

func (p *Portal) cards(ctx context.Context, phoneID string) ([]cardView, error) {
	toks, err := p.cfg.Tokens.Cards(ctx, phoneID)
	if err != nil {
		return nil, err
	}
	var out []cardView
	for _, t := range toks {
		c := cardView{BankName: t.BankID, Product: t.Product, PANLast4: t.PANLast4, TokenLast4: t.Number.Last4(), State: string(t.State), Default: t.Default, Art: "#555555"}
		if t.BankName != "" {
			c.BankName = t.BankName
			if colour.MatchString(t.CardArt) {
				c.Art = t.CardArt
			}
		}
		out = append(out, c)
	}
	return out, nil
}

type phoneView struct {
	wallet.Phone
	Cards  []cardView
	Active int
}

func (p *Portal) phoneView(ctx context.Context, ph wallet.Phone) (phoneView, error) {
	cards, err := p.cards(ctx, ph.ID)
	if err != nil {
		return phoneView{}, err
	}
	pv := phoneView{Phone: ph, Cards: cards}
	for _, c := range cards {
		if c.State == string(tsp.Active) {
			pv.Active++
		}
	}
	return pv, nil
}

func (p *Portal) phonesPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	phones, err := p.cfg.Wallet.Phones(ctx, v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	var out []phoneView
	for _, ph := range phones {
		pv, err := p.phoneView(ctx, ph)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		out = append(out, pv)
	}
	p.render(w, r, http.StatusOK, "phones", &view{Title: "My phones", Nav: "phones", Visit: v, Data: out})
}

type phonePage struct {
	Phone     phoneView
	Located   bool
	Map       template.HTML
	Place     string
	Near      string
	Transit   []lostphone.TransitCard
	NoTransit bool
	Pending   []lostphone.Command
	Switches  []switchRow
	Events    []wallet.Event
}

// switchRow is a switch-off (and back on) as the phone page lists it.
type switchRow struct {
	lostphone.Switch
	OffByLabel, OnByLabel string
}

// actorLabel says who acted in words: "you, in the portal" or "the phone
// “name”" (a switch from another phone of the account).
func actorLabel(actor, accountID string, names map[string]string) string {
	switch {
	case actor == "portal:"+accountID:
		return "you, in the portal"
	case strings.HasPrefix(actor, "phone:"):
		if n, ok := names[strings.TrimPrefix(actor, "phone:")]; ok {
			return "your phone “" + n + "”"
		}
	}
	return actor
}

func (p *Portal) phonePage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	ph, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, r.PathValue("phone"))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	pv, err := p.phoneView(ctx, ph)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	page := phonePage{Phone: pv, NoTransit: !p.cfg.Lost.HasTransit()}
	if ph.Lat != nil && ph.Lon != nil {
		page.Located = true
		page.Map = drawMap(*ph.Lat, *ph.Lon)
		page.Place = formatPlace(*ph.Lat, *ph.Lon)
		page.Near = nearest(*ph.Lat, *ph.Lon)
	}
	if page.Transit, err = p.cfg.Lost.TransitCards(ctx, v.AccountID, ph.ID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	if page.Pending, err = p.cfg.Lost.Pending(ctx, v.AccountID, ph.ID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	switches, err := p.cfg.Lost.History(ctx, v.AccountID, ph.ID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	names, err := p.phoneNames(ctx, v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	for _, sw := range switches {
		page.Switches = append(page.Switches, switchRow{Switch: sw, OffByLabel: actorLabel(sw.OffBy, v.AccountID, names), OnByLabel: actorLabel(sw.OnBy, v.AccountID, names)})
	}
	evs, err := p.cfg.Wallet.Events(ctx, v.AccountID, 200)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	for _, e := range evs {
		if e.PhoneID == ph.ID && len(page.Events) < 10 {
			page.Events = append(page.Events, e)
		}
	}
	p.render(w, r, http.StatusOK, "phone", &view{Title: ph.Name, Nav: "phones", Visit: v, Notice: notices[r.URL.Query().Get("done")], Data: page})
}

func (p *Portal) ask(w http.ResponseWriter, r *http.Request, v *visit) {
	kind := lostphone.CommandMessage
	if strings.HasSuffix(r.URL.Path, "/ring") {
		kind = lostphone.CommandRing
	}
	phoneID := r.PathValue("phone")
	if _, err := p.cfg.Lost.Ask(r.Context(), p.request(r, v, phoneID, ""), kind, r.PostForm.Get("message")); err != nil {
		p.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/phones/"+phoneID+"?done="+kind, http.StatusSeeOther)
}

func (p *Portal) walletOff(w http.ResponseWriter, r *http.Request, v *visit) {
	phoneID := r.PathValue("phone")
	req := p.request(r, v, phoneID, r.PostForm.Get("reason"))
	req.KeepSession = v.Token
	if _, err := p.cfg.Lost.SwitchOff(r.Context(), req); err != nil {
		p.fail(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/phones/"+phoneID+"?done=off", http.StatusSeeOther)
}

// --- switching a wallet back on ---

type walletOnView struct {
	Phone      wallet.Phone
	Passkey    bool   // the account has a passkey: confirm with it
	Usable     bool   // passkeys can work at this address
	PortalURL  string // where they can
	Ceremony   string // the one-time code's ceremony
	CodeSentTo string
}

// offPhone returns the visitor's phone of the path if its wallet is off;
// otherwise it has answered (not found, or back to the phone: it is on).
func (p *Portal) offPhone(w http.ResponseWriter, r *http.Request, v *visit) (wallet.Phone, bool) {
	ph, err := p.cfg.Wallet.OwnedPhone(r.Context(), v.AccountID, r.PathValue("phone"))
	if err != nil {
		p.fail(w, r, v, err)
		return ph, false
	}
	if ph.WalletOn {
		http.Redirect(w, r, "/phones/"+ph.ID+"?done=already-on", http.StatusSeeOther)
		return ph, false
	}
	return ph, true
}

func (p *Portal) walletOnPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	ph, ok := p.offPhone(w, r, v)
	if !ok {
		return
	}
	keys, err := p.cfg.Store.Passkeys(ctx, v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "wallet_on", &view{Title: "Switch the wallet back on", Nav: "phones", Visit: v, Script: len(keys) > 0,
		Data: walletOnView{Phone: ph, Passkey: len(keys) > 0, Usable: p.PasskeysUsable(), PortalURL: p.URL()}})
}

// --- transactions, security events, settings ---

type transactionsView struct {
	Payments []Payment
	Network  bool // the card network's records are connected
	Events   []wallet.Event
	Phones   map[string]string
}

func (p *Portal) phoneNames(ctx context.Context, accountID string) (map[string]string, error) {
	phones, err := p.cfg.Wallet.Phones(ctx, accountID)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, ph := range phones {
		m[ph.ID] = ph.Name
	}
	return m, nil
}

func (p *Portal) transactionsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	tv := transactionsView{Network: p.cfg.Records != nil}
	var err error
	if tv.Phones, err = p.phoneNames(ctx, v.AccountID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	if p.cfg.Records != nil {
		tv.Payments, err = p.payments(ctx, v.AccountID, 50)
	} else {
		tv.Events, err = p.cfg.Wallet.Events(ctx, v.AccountID, 50)
	}
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "transactions", &view{Title: "Recent transactions", Nav: "transactions", Visit: v, Data: tv})
}

func (p *Portal) securityPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	evs, err := p.cfg.Wallet.Events(ctx, v.AccountID, 100)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	names, err := p.phoneNames(ctx, v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "security", &view{Title: "Security events", Nav: "security", Visit: v, Data: transactionsView{Events: evs, Phones: names}})
}

type settingsView struct {
	Passkeys  []Passkey
	Usable    bool
	PortalURL string
}

func (p *Portal) settingsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	keys, err := p.cfg.Store.Passkeys(r.Context(), v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "settings", &view{Title: "Settings", Nav: "settings", Visit: v, Script: true, Notice: notices[r.URL.Query().Get("done")],
		Data: settingsView{Passkeys: keys, Usable: p.PasskeysUsable(), PortalURL: p.URL()}})
}
