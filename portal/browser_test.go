package portal_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// chromium finds Debian's chromium. Without it the browser test skips —
// unless CI is set, where .ci/run installs it and the test must run.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI runs this test")
	return ""
}

// artifacts is where the test saves what a person looks at afterwards.
func artifacts(t *testing.T) string {
	if d := os.Getenv("TAPWALLET_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// chrome starts Debian's headless Chromium asking for pages in lang
// (Accept-Language) with a window of w×h, and navigates to nothing yet.
func chrome(t *testing.T, exe, lang string, w, h int, start string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("accept-lang", lang),
		chromedp.Flag("lang", strings.Split(lang, ",")[0]),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(cancelB)
	// The first call starts the browser; it must not have a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(start)); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	return ctx
}

// driver runs steps in a browser with time limits and saves screenshots.
type driver struct {
	t   *testing.T
	ctx context.Context
	dir string
}

// do runs steps with a time limit; on failure it says where the browser
// was and what the page said.
func (d *driver) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	sctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(d.ctx, chromedp.Location())
		msgs, _ := chromedp.Run(d.ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('.passkey-status,.error,.notice')).map(e => e.textContent).join(' | ')`))
		d.t.Fatalf("%s: %v (at %s; messages: %q)", step, err, loc, msgs)
	}
}

// text reads an element's text.
func (d *driver) text(sel string) string {
	d.t.Helper()
	sctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		d.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// shot saves a screenshot of the whole page to the artifacts folder.
func (d *driver) shot(name string) {
	d.t.Helper()
	if d.dir == "" {
		d.dir = artifacts(d.t)
	}
	sctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		d.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(d.dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("screenshot: %s", path)
}

// TestBrowserLostPhone drives a real headless Chromium through the portal:
// log in with the password, add a passkey (a virtual authenticator of the
// DevTools WebAuthn domain stands in for the fingerprint), log out, log in
// with the password and the passkey, find the phone on its map, switch its
// wallet off (a payment from it is declined), switch it back on with the
// password and the passkey, and pay again (approved). It saves screenshots
// of the phone page, desktop and phone-sized.
func TestBrowserLostPhone(t *testing.T) {
	exe := chromium(t)
	e := start(t)
	bg := context.Background()
	ph := e.newPhone(t, "grace@example.com", "Grace's Mi 5", 2)
	if _, err := ph.CheckIn(bg, &phone.Location{Lat: 39.90872, Lon: 116.39748}); err != nil {
		t.Fatal(err)
	}
	id := ph.Profile.PhoneID

	ctx := chrome(t, exe, "en-US,en", 1280, 900, e.base+"/login")

	d := &driver{t: t, ctx: ctx}
	do, text := d.do, d.text
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// A virtual authenticator: a platform authenticator with user
	// verification (the fingerprint) that always succeeds.
	no := false
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{EnableUI: &no}); err != nil {
		t.Fatalf("enable the WebAuthn domain: %v", err)
	}
	auth, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{Options: &cdpwebauthn.VirtualAuthenticatorOptions{
		Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
		Transport:      cdpwebauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
		AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("add a virtual authenticator: %v", err)
	}

	logIn := func(step string) {
		t.Helper()
		do(step,
			chromedp.Navigate(e.base+"/login"),
			chromedp.WaitVisible(css("#login-form")),
			chromedp.SendKeys(css("#email"), "grace@example.com"),
			chromedp.SendKeys(css("#password"), password),
			chromedp.Click(css("#login")))
	}
	logIn("log in with the password")
	do("the one-time code page", chromedp.WaitVisible(css("#login-code-form")))
	do("log in with the one-time code",
		chromedp.SendKeys(css("#code"), e.latestCode(t, "grace@example.com")),
		chromedp.Click(css("#confirm-login")),
		chromedp.WaitVisible(css("#phones")))

	do("add a passkey",
		chromedp.Navigate(e.base+"/settings"),
		chromedp.WaitVisible(css("#passkey-add")),
		chromedp.SetValue(css("#passkey-name"), "Grace's fingerprint"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css("#add-passkey")),
		chromedp.WaitVisible(css("#passkeys")))
	creds, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams(auth))
	if err != nil {
		t.Fatalf("read the authenticator: %v", err)
	}
	if len(creds.Credentials) != 1 || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("authenticator credentials: got %d, want 1 for localhost", len(creds.Credentials))
	}

	do("log out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login-form")))
	logIn("log in again: the password")
	do("log in again: the passkey",
		chromedp.WaitVisible(css("#passkey-login")),
		chromedp.Click(css("#use-passkey")),
		chromedp.WaitVisible(css("#phones")))

	do("find the phone",
		chromedp.Click(css(`a[data-phone="`+id+`"]`)),
		chromedp.WaitVisible(css("svg.map")))
	if place, age := text("#place"), text("#place-age"); place != "39.90872° N, 116.39748° E" || !strings.Contains(age, "Reported just now") {
		t.Fatalf("the phone's place: got %q, %q", place, age)
	}
	shot := d.shot
	shot("portal-phone-desktop.png")
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatalf("phone-sized screen: %v", err)
	}
	do("reload phone-sized", chromedp.Reload(), chromedp.WaitVisible(css("svg.map")))
	shot("portal-phone-mobile.png")
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
		t.Fatalf("desktop screen: %v", err)
	}
	do("reload desktop-sized", chromedp.Reload(), chromedp.WaitVisible(css("svg.map")))

	do("switch the wallet off", chromedp.Click(css("#wallet-off")), chromedp.WaitVisible(css("#notice")))
	if n := text("#notice"); !strings.Contains(n, "switched off") {
		t.Fatalf("after switch-off: got notice %q", n)
	}
	if got := e.pay(t, ph); got != rc(tsp.DeclineSuspended) {
		t.Fatalf("a payment from the switched-off phone: got %s, want %s", got, rc(tsp.DeclineSuspended))
	}
	shot("portal-phone-off.png")

	do("switch the wallet back on: password and passkey",
		chromedp.Click(css("#wallet-on")),
		chromedp.WaitVisible(css("#wallet-on-form")),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css("#notice")))
	if n := text("#notice"); !strings.Contains(n, "on again") {
		t.Fatalf("after switch-on: got notice %q", n)
	}
	if got := e.tokenStates(t, id); !allIn(got, tsp.Active) {
		t.Fatalf("tokens after switch-on: got %v, want all active", got)
	}
	if err := ph.LogIn(bg, "grace@example.com", password); err != nil { // the switch-off ended the phone's session
		t.Fatal(err)
	}
	if res, n := checkIn(t, ph, nil); !res.FreshKeys || n != 20 {
		t.Fatalf("the phone's check-in and sync: got %+v and %d keys, want fresh keys: 20", res, n)
	}
	if got := e.pay(t, ph); got != "approved" {
		t.Fatalf("the next payment: got %s, want approved", got)
	}

	// Someone guesses the password from another address until the account
	// locks: the owner still gets in, the passkey first, then the password.
	do("log out before the guessing", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login-form")))
	g := e.browserFrom(t, "127.0.0.2")
	g.get("/login")
	for range 10 {
		g.post("/login", url.Values{"email": {"grace@example.com"}, "password": {"a guess"}})
	}
	if a, _ := e.p.Wallet.Store.AccountByEmail(bg, "grace@example.com"); !a.LockedUntil.After(time.Now()) {
		t.Fatalf("after 10 guesses the account is not locked")
	}
	logIn("log in while locked: the password (not checked yet)")
	do("while locked: the passkey first",
		chromedp.WaitVisible(css("#passkey-login")),
		chromedp.Click(css("#use-passkey")),
		chromedp.WaitVisible(css("#login-code-form")))
	do("while locked: then the password",
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css("#confirm-login")),
		chromedp.WaitVisible(css("#phones")))

	// Removing the passkey asks for it again, and the password.
	do("remove the passkey: the passkey and the password again",
		chromedp.Navigate(e.base+"/settings"),
		chromedp.WaitVisible(css("#passkeys")),
		chromedp.Click(css("#passkeys summary")),
		chromedp.SendKeys(css(".passkey-remove input[name=password]"), password),
		chromedp.Click(css(".passkey-remove button")),
		chromedp.WaitVisible(css("#no-passkeys")))

	// Every sign-in is in the record, the passkey ones as such.
	evs, err := e.p.Wallet.Store.Events(bg, e.accountOf(t, ph), 100)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, ev := range evs {
		if ev.Kind == wallet.EventLogin && strings.HasPrefix(ev.Detail, "portal") {
			logins = append(logins, ev.Detail)
		}
	}
	want := []string{"portal: password + passkey", "portal: password + passkey", "portal: password + one-time code"}
	if strings.Join(logins, "|") != strings.Join(want, "|") {
		t.Fatalf("portal log-ins recorded: got %q, want %q", logins, want)
	}
	if n := count(evs, wallet.EventPasskeyRemoved); n != 1 {
		t.Fatalf("passkey_removed events: got %d, want 1", n)
	}
}

func count(evs []wallet.Event, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
