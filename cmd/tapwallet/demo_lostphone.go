package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// demoEmail and demoPassword are the story's account (the first chapter's).
const (
	demoEmail    = "alice@example.com"
	demoPassword = "correct horse battery staple"
)

// lostPhoneChapter: Alice loses her phone. On a friend's laptop she opens
// the portal, logs in, finds the phone where it last reported itself and
// switches its wallet off; the thief's tap is declined by the network at
// once. The phone turns up, syncs and destroys its keys; she switches the
// wallet back on (password, then a one-time code), the phone takes fresh
// keys, and her next tap is approved.
func (d *demo) lostPhoneChapter() error {
	ctx := d.ctx
	ph := d.alice
	id := ph.Profile.PhoneID
	portalURL := d.p.Portal.URL()
	pos, err := taptest.NewTerminal(d.p.ISOAddr, "T0000606")
	if err != nil {
		return err
	}

	d.say("Alice's phone syncs in Sanlitun, Beijing, and reports where it is")
	if _, err := ph.CheckIn(ctx, &phone.Location{Lat: 39.93391, Lon: 116.45400}); err != nil {
		return err
	}
	d.ok("the wallet service keeps the phone's last place and when it reported it (find my phone)")

	d.say("She loses it. On a friend's laptop she opens the portal at %s and logs in", portalURL)
	b, err := newPortalBrowser(d.p.Portal.URL())
	if err != nil {
		return err
	}
	b.get("/login")
	if _, _, err := b.post("/login", url.Values{"email": {ph.Profile.Email}, "password": {demoPassword}}); err != nil {
		return err
	}
	loginCode, err := ph.LatestOTP(ctx)
	if err != nil {
		return err
	}
	st, body, err := b.post("/login/code", url.Values{"code": {loginCode}})
	if err != nil {
		return err
	}
	if err := d.check(st == 200 && strings.Contains(body, `id="phones"`), "log-in: the portal answered %d", st); err != nil {
		return err
	}
	d.ok("password, then the one-time code %s sent to her messages; the session is a Secure (under TLS), HttpOnly, SameSite=Strict cookie; every form carries a CSRF token", loginCode)
	d.ok("(no passkey yet: with one, the portal asks for it instead of the code — see docs/portal.md)")

	d.say("She finds the phone")
	_, body, err = b.get("/phones/" + id)
	if err != nil {
		return err
	}
	place, age := textOf(body, "place"), textOf(body, "place-age")
	if err := d.check(place != "" && strings.Contains(body, `<svg class="map"`), "the phone page shows no place"); err != nil {
		return err
	}
	d.ok("%s — %s (drawn on a map with a grid and a scale bar, no map tiles)", place, age)

	d.say("She switches the wallet off on it")
	t0 := time.Now()
	st, body, err = b.post("/phones/"+id+"/wallet-off", url.Values{"reason": {"lost in a taxi"}})
	if err != nil {
		return err
	}
	switched := time.Since(t0)
	if err := d.check(st == 200 && strings.Contains(body, `class="badge off" id="wallet-state"`), "switch-off: the portal answered %d", st); err != nil {
		return err
	}
	toks, err := d.p.Tokens.Cards(ctx, id)
	if err != nil {
		return err
	}
	suspended := 0
	for _, t := range toks {
		if t.State == tsp.Suspended {
			suspended++
		}
	}
	if err := d.check(suspended == len(toks), "%d of %d tokens suspended", suspended, len(toks)); err != nil {
		return err
	}
	d.ok("all %d tokens of the phone suspended in the token service, its limited-use keys retired, a key wipe queued (%.1f ms)", suspended, msOf(switched))
	if d.p.Lost.Transit == nil {
		d.ok("(no transit operator connected: no transit card to put on a hot list)")
	}

	d.say("The thief taps the phone at a store for %s", money.Fen(8800))
	pay, err := pos.Pay(ctx, ph, money.Fen(8800))
	if err != nil {
		return err
	}
	toDecline := time.Since(t0)
	want, _ := netswitch.DeclineCode(fault.E(fault.Declined, tsp.DeclineSuspended, "the token is suspended"))
	if err := d.check(!pay.Approved && pay.Code == want, "the thief's tap: got %s, want declined %s", pay, want); err != nil {
		return err
	}
	d.ok("the phone still made a cryptogram, but the card network declined it: %s", pay)
	d.ok("from \"switch off\" to the first declined authorization: %.0f ms, the very next one (the network answered in %.1f ms)", msOf(toDecline), msOf(pay.Took))

	d.say("The phone turns up. It syncs: it destroys its payment keys")
	ci, err := ph.CheckIn(ctx, nil)
	if err != nil {
		return err
	}
	if err := d.check(!ci.WalletOn && ci.Wiped > 0, "check-in while off: wiped %d keys, wallet on %v", ci.Wiped, ci.WalletOn); err != nil {
		return err
	}
	d.ok("%d limited-use keys destroyed in the secure element; the cards show as suspended", ci.Wiped)

	d.say("She switches the wallet back on: the one-time code sent to her, and her password")
	_, body, err = b.post("/phones/"+id+"/wallet-on", url.Values{})
	if err != nil {
		return err
	}
	ceremony := formValueOf(body, "ceremony")
	if err := d.check(ceremony != "", "the portal asked for no code"); err != nil {
		return err
	}
	code, err := latestCode(ctx, d.p.Tokens, ph.Profile.Email, d.p.Wallet)
	if err != nil {
		return err
	}
	d.ok("the code %s arrives by message (the lost phone's session ended with the switch-off: she reads it elsewhere)", code)
	st, body, err = b.post("/phones/"+id+"/wallet-on/code", url.Values{"ceremony": {ceremony}, "code": {code}, "password": {demoPassword}})
	if err != nil {
		return err
	}
	if err := d.check(st == 200 && strings.Contains(body, `class="badge on" id="wallet-state"`), "switch-on: the portal answered %d", st); err != nil {
		return err
	}
	d.ok("the tokens the switch-off suspended are active again")

	d.say("Back home in Shanghai, the phone logs in again (the switch-off ended its session), reports where it is, syncs and takes fresh keys")
	if err := ph.LogIn(ctx, ph.Profile.Email, demoPassword); err != nil {
		return err
	}
	// Its last report was Sanlitun, Beijing: a tap at the Shanghai store
	// minutes later would be impossible travel for the network's risk
	// engine (auth.impossible_travel, declined 59) had it not reported
	// its new place.
	if _, err := ph.CheckIn(ctx, &phone.Location{Lat: 31.2304, Lon: 121.4737}); err != nil {
		return err
	}
	res, err := ph.Sync(ctx)
	if err != nil {
		return err
	}
	fresh := 0
	for _, c := range res {
		fresh += c.NewKeys
	}
	if err := d.check(fresh > 0, "no fresh keys"); err != nil {
		return err
	}
	d.ok("%d fresh limited-use keys installed", fresh)

	d.say("She taps at the store again")
	pay, err = pos.Pay(ctx, ph, money.Fen(3600))
	if err != nil {
		return err
	}
	if !pay.Approved {
		if a, err := ph.Alerts(ctx, true); err == nil && len(a) > 0 {
			return d.check(false, "the tap after switching on: got %s (%s), want approved", pay, strings.Join(a[0].Reasons, "; "))
		}
	}
	if err := d.check(pay.Approved, "the tap after switching on: got %s, want approved", pay); err != nil {
		return err
	}
	d.ok("%s %s", money.Fen(3600), pay)

	d.say("The record: who, when, from where")
	evs, err := d.p.Wallet.Store.Events(ctx, d.accountOf(id), 20)
	if err != nil {
		return err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Kind == wallet.EventWalletOff || e.Kind == wallet.EventWalletOn || (e.Kind == wallet.EventLogin && strings.HasPrefix(e.Detail, "portal")) {
			d.ok("%s  %-10s from %-9s %s", e.At.Format("15:04:05"), e.Kind, e.Source, e.Detail)
		}
	}
	d.ok("the portal is at %s — log in as %s, password %q, to look around (it stops with the demo unless it runs with --keep)", portalURL, ph.Profile.Email, demoPassword)
	return nil
}

func (d *demo) accountOf(phoneID string) string {
	p, err := d.p.Wallet.Store.Phone(d.ctx, phoneID)
	if err != nil {
		return ""
	}
	return p.AccountID
}

// portalBrowser is the laptop's browser in the story: it keeps cookies and
// sends each form with the CSRF token of the page it came from.
type portalBrowser struct {
	c    *http.Client
	base string
	csrf string
}

func newPortalBrowser(base string) (*portalBrowser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &portalBrowser{c: &http.Client{Jar: jar, Timeout: 15 * time.Second}, base: strings.TrimSuffix(base, "/")}, nil
}

var csrfMetaRE = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

func (b *portalBrowser) do(req *http.Request) (int, string, error) {
	resp, err := b.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if m := csrfMetaRE.FindSubmatch(body); m != nil && len(m[1]) > 0 {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body), err
}

func (b *portalBrowser) get(path string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), "GET", b.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	return b.do(req)
}

func (b *portalBrowser) post(path string, form url.Values) (int, string, error) {
	form.Set("csrf", b.csrf)
	req, err := http.NewRequestWithContext(context.Background(), "POST", b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// textOf returns the text of the element with the id, tags stripped.
func textOf(page, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(.*?)</`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], ""))
}

func formValueOf(page, name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// latestCode reads the newest one-time code in the account's messages
// (the lost phone, logged out by the switch-off, cannot).
func latestCode(ctx context.Context, tokens *tsp.Service, email string, w *wallet.Service) (string, error) {
	a, err := w.Store.AccountByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	msgs, err := tokens.Outbox(ctx, a.ID)
	if err != nil {
		return "", err
	}
	var code string
	var at time.Time
	for _, m := range msgs {
		for _, f := range strings.Fields(m.Message) {
			if f = strings.TrimRight(f, "."); len(f) == 6 && strings.Trim(f, "0123456789") == "" && !m.CreatedAt.Before(at) {
				code, at = f, m.CreatedAt
			}
		}
	}
	if code == "" {
		return "", fault.E(fault.NotFound, "no_otp", "no one-time code has been sent")
	}
	return code, nil
}
