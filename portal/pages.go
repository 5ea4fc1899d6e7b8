package portal

import (
	"bytes"
	"context"
	"crypto/subtle"
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

// view is what every page template gets. Title is a catalogue id (or,
// with TitleText, a name such as the phone's); Notice names one of the
// fixed notices a redirect may ask for; Error is already in the visitor's
// language.
type view struct {
	Title     string
	TitleText string
	Nav       string
	Visit     *visit
	CSRF      string // the token of a page shown before any session
	Error     string
	Notice    string
	Script    bool // the page runs passkey.js
	Data      any
	Lang      string // set by render
	Path      string // set by render: the page, for the language switch
}

// Token is the page's CSRF token.
func (v *view) Token() string {
	if v.Visit != nil {
		return v.Visit.CSRF
	}
	return v.CSRF
}

var pageNames = []string{"error", "login", "login_passkey", "login_code", "password_code", "phones", "phone", "wallet_on", "wallet_on_code", "transactions", "security", "settings", "alerts"}

// parseTemplates parses every page once; each answer executes a clone
// with the visitor's functions (language, time zone).
func (p *Portal) parseTemplates() error {
	funcs := p.funcs(newTr(LangZH, p.cfg.Zone))
	funcs["b64"] = func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	funcs["last4"] = func(s string) string { return last4(s) }
	funcs["fp"] = wallet.Fingerprint
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

// tr is the visitor's translator.
func (p *Portal) tr(r *http.Request) *tr { return newTr(pickLanguage(r), p.zone(r)) }

// render writes a page in the visitor's language; templates are executed
// into a buffer first so a failure never leaves half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, code int, name string, v *view) {
	t := p.tr(r)
	v.Lang, v.Path = t.lang, r.URL.Path
	if !notices[v.Notice] {
		v.Notice = ""
	}
	page, err := p.pages[name].Clone()
	if err == nil {
		var buf bytes.Buffer
		if err = page.Funcs(p.funcs(t)).ExecuteTemplate(&buf, "layout", v); err == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Language", t.lang)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Vary", "Accept-Language, Cookie")
			w.WriteHeader(code)
			w.Write(buf.Bytes())
			return
		}
	}
	p.cfg.Log.ErrorContext(r.Context(), "portal template failed", "page", name, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func last4(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}

// notices are the fixed messages a redirect may ask a page to show (the
// query names one, "notice.<name>" in the catalogues; nothing from the
// query is ever shown).
var notices = map[string]bool{"off": true, "on": true, "already-on": true, "ring": true, "message": true,
	"passkey-added": true, "passkey-gone": true, "password": true, "out": true, "default": true, "removed": true, "zone": true,
	"me": true, "not-me": true, "not-me-ride": true, "offer": true}

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
	v := &view{Title: "page.login", CSRF: p.preToken(w, r), Notice: r.URL.Query().Get("done"),
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

// cardView is a card on a phone. Handle names it in the forms (a keyed
// hash of the token: the token itself is never in a page or a URL).
type cardView struct {
	BankID, BankName, Product, PANLast4, TokenLast4, State, Art, Handle string
	Default                                                             bool
	Payments                                                            []Payment
	Promotions                                                          bool        // promotions are connected: the offers are listed
	Offers                                                              []offerView // what the card can get
	Points                                                              *pointsView // the card's points at its bank (nil: not known)
	token                                                               string
	tok                                                                 tsp.Token
}

var colour = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// cardHandle is the name of a token in the portal's forms.
func (p *Portal) cardHandle(token string) string {
	return base64.RawURLEncoding.EncodeToString(p.cfg.Keys.Index("portal card", []byte(token)))[:22]
}

func (p *Portal) cards(ctx context.Context, phoneID string) ([]cardView, error) {
	toks, err := p.cfg.Tokens.Cards(ctx, phoneID)
	if err != nil {
		return nil, err
	}
	var out []cardView
	for _, t := range toks {
		if t.State == tsp.Deleted {
			continue
		}
		c := cardView{BankID: t.BankID, BankName: t.BankID, Product: t.Product, PANLast4: t.PANLast4, TokenLast4: t.Number.Last4(), State: string(t.State), Default: t.Default, Art: "#555555",
			Handle: p.cardHandle(t.Number.Digits()), token: t.Number.Digits(), tok: t}
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

type phonesView struct {
	Phones []phoneView
	Alerts int // open "was this you?" alerts
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
	p.render(w, r, http.StatusOK, "phones", &view{Title: "page.phones", Nav: "phones", Visit: v, Data: phonesView{Phones: out, Alerts: p.openAlerts(ctx, v.AccountID)}})
}

type phonePage struct {
	Phone     phoneView
	Located   bool
	Map       template.HTML
	Place     string
	Near      string
	Transit   []lostphone.TransitCard
	NoTransit bool
	Network   bool // the card network's records are connected: each card's payments
	Discounts bool // a discount column
	Pending   []lostphone.Command
	Switches  []switchRow
	Events    []wallet.Event
}

// switchRow is a switch-off (and back on) as the phone page lists it.
type switchRow struct {
	lostphone.Switch
	OffByLabel, OnByLabel string
}

// cardPayments is how many recent payments the phone page shows per card.
const cardPayments = 5

func (p *Portal) phonePage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	t := p.tr(r)
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
	page := phonePage{Phone: pv, NoTransit: !p.cfg.Lost.HasTransit(), Network: p.cfg.Records != nil}
	if ph.Lat != nil && ph.Lon != nil {
		page.Located = true
		page.Map = drawMap(t, *ph.Lat, *ph.Lon, p.now().Sub(ph.LocatedAt))
		page.Place = formatPlace(*ph.Lat, *ph.Lon)
		page.Near = nearest(t, *ph.Lat, *ph.Lon)
	}
	if err := p.cardsPayments(ctx, t, v.AccountID, ph.ID, pv.Cards); err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.cardPromotions(ctx, t, pv.Cards)
	for _, c := range pv.Cards {
		page.Discounts = page.Discounts || p.cfg.Promotions != nil || discounted(c.Payments)
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
		page.Switches = append(page.Switches, switchRow{Switch: sw, OffByLabel: t.actor(sw.OffBy, v.AccountID, names), OnByLabel: t.actor(sw.OnBy, v.AccountID, names)})
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
	p.render(w, r, http.StatusOK, "phone", &view{TitleText: ph.Name, Nav: "phones", Visit: v, Notice: r.URL.Query().Get("done"), Data: page})
}

// cardsPayments fills in each card's newest payments.
func (p *Portal) cardsPayments(ctx context.Context, t *tr, accountID, phoneID string, cards []cardView) error {
	if p.cfg.Records == nil || len(cards) == 0 {
		return nil
	}
	info := map[string]cardInfo{}
	var tokens []string
	for _, c := range cards {
		info[c.token] = cardInfo{phoneID: phoneID, bank: c.BankName, panLast4: c.PANLast4}
		tokens = append(tokens, c.token)
	}
	pays, err := p.paymentsOf(ctx, accountID, info, tokens, cardPayments*len(cards)*4)
	if err != nil {
		return err
	}
	p.explained(ctx, t, pays)
	for i := range cards {
		for _, pm := range pays {
			if pm.token == cards[i].token && len(cards[i].Payments) < cardPayments {
				cards[i].Payments = append(cards[i].Payments, pm)
			}
		}
	}
	return nil
}

// phoneCard finds the visitor's phone of the path and its card named by
// the form's handle (another account's phone, or a card not on it, is not
// found).
func (p *Portal) phoneCard(r *http.Request, v *visit) (wallet.Phone, cardView, error) {
	ph, err := p.cfg.Wallet.OwnedPhone(r.Context(), v.AccountID, r.PathValue("phone"))
	if err != nil {
		return ph, cardView{}, err
	}
	cards, err := p.cards(r.Context(), ph.ID)
	if err != nil {
		return ph, cardView{}, err
	}
	h := r.PostForm.Get("card")
	for _, c := range cards {
		if h != "" && subtle.ConstantTimeCompare([]byte(h), []byte(c.Handle)) == 1 {
			return ph, c, nil
		}
	}
	return ph, cardView{}, fault.E(fault.NotFound, "card_not_on_phone", "no such card on this phone")
}

func phoneDevice(ph wallet.Phone) tsp.Device {
	return tsp.Device{ID: ph.ID, AccountID: ph.AccountID, PublicKey: ph.PublicKey}
}

// cardDefault makes a card the phone's default (the one it offers at a
// terminal first).
func (p *Portal) cardDefault(w http.ResponseWriter, r *http.Request, v *visit) {
	p.cardChange(w, r, v, "default", wallet.EventDefaultChosen, func(ph wallet.Phone, c cardView) error {
		return p.cfg.Tokens.SetDefault(r.Context(), phoneDevice(ph), c.token)
	})
}

// cardRemove removes a card from the phone: its token is deleted and can
// never pay again.
func (p *Portal) cardRemove(w http.ResponseWriter, r *http.Request, v *visit) {
	p.cardChange(w, r, v, "removed", wallet.EventCardRemoved, func(ph wallet.Phone, c cardView) error {
		return p.cfg.Tokens.RemoveCard(r.Context(), phoneDevice(ph), c.token, "portal:"+v.AccountID)
	})
}

func (p *Portal) cardChange(w http.ResponseWriter, r *http.Request, v *visit, done, kind string, change func(wallet.Phone, cardView) error) {
	ph, c, err := p.phoneCard(r, v)
	if err == nil {
		err = change(ph, c)
	}
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.cfg.Wallet.Record(r.Context(), wallet.Event{AccountID: v.AccountID, PhoneID: ph.ID, Kind: kind, Detail: "token ending " + c.TokenLast4, Source: source(r)})
	http.Redirect(w, r, "/phones/"+ph.ID+"?done="+done, http.StatusSeeOther)
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
	Phone     wallet.Phone
	Passkey   bool   // the account has a passkey: confirm with it
	Usable    bool   // passkeys can work at this address
	PortalURL string // where they can
	Ceremony  string // the one-time code's ceremony
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
	p.render(w, r, http.StatusOK, "wallet_on", &view{Title: "page.wallet_on", Nav: "phones", Visit: v, Script: len(keys) > 0,
		Data: walletOnView{Phone: ph, Passkey: len(keys) > 0, Usable: p.PasskeysUsable(), PortalURL: p.URL()}})
}

// --- transactions, security events, settings ---

type transactionsView struct {
	Payments  []Payment
	Network   bool // the card network's records are connected
	Discounts bool // promotions are connected: a discount column
	Events    []wallet.Event
	Phones    map[string]string
	Page      int // 1-based
	Prev      int // 0: none
	Next      int // 0: none
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

// Paging of the transactions: PageSize a page, at most MaxPayments in all
// (the CSV export too).
const (
	PageSize    = 20
	MaxPayments = 1000
)

func (p *Portal) transactionsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	ctx := r.Context()
	tv := transactionsView{Network: p.cfg.Records != nil, Discounts: p.cfg.Promotions != nil, Page: 1}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 1 && n <= MaxPayments/PageSize {
		tv.Page = n
	}
	var err error
	if tv.Phones, err = p.phoneNames(ctx, v.AccountID); err != nil {
		p.fail(w, r, v, err)
		return
	}
	if p.cfg.Records != nil {
		var all []Payment
		all, err = p.payments(ctx, v.AccountID, tv.Page*PageSize+1)
		from := (tv.Page - 1) * PageSize
		if from < len(all) {
			tv.Payments = all[from:min(len(all), from+PageSize)]
		}
		if len(all) > tv.Page*PageSize {
			tv.Next = tv.Page + 1
		}
		if tv.Page > 1 {
			tv.Prev = tv.Page - 1
		}
		p.explained(ctx, p.tr(r), tv.Payments)
		tv.Discounts = tv.Discounts || discounted(tv.Payments)
	} else {
		tv.Events, err = p.cfg.Wallet.Events(ctx, v.AccountID, 50)
	}
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "transactions", &view{Title: "page.transactions", Nav: "transactions", Visit: v, Data: tv})
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
	p.render(w, r, http.StatusOK, "security", &view{Title: "page.security", Nav: "security", Visit: v, Data: transactionsView{Events: evs, Phones: names}})
}

type settingsView struct {
	Zones     []string
	Zone      string
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
	p.render(w, r, http.StatusOK, "settings", &view{Title: "page.settings", Nav: "settings", Visit: v, Script: true, Notice: r.URL.Query().Get("done"),
		Data: settingsView{Zones: Zones, Zone: p.zone(r).String(), Passkeys: keys, Usable: p.PasskeysUsable(), PortalURL: p.URL()}})
}

// discounted reports whether a promotion gave any of the payments something.
func discounted(pays []Payment) bool {
	for _, pm := range pays {
		if pm.Promo != nil {
			return true
		}
	}
	return false
}
