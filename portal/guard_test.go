package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/portal"
	portalstore "github.com/tapwallet/tapwallet/portal/sqlstore"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// TestNobodyActsOnAnotherAccountsPhone tries every portal and wallet API
// route that names a phone with another account's session (and its phone's
// signature), and checks each is answered like a phone that does not exist
// (or refused) and that nothing changed on the victim's phone.
func TestNobodyActsOnAnotherAccountsPhone(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	victim := e.newPhone(t, "victim@example.com", "Victim's phone", 1)
	intruder := e.newPhone(t, "intruder@example.com", "Intruder's phone", 1)
	vid := victim.Profile.PhoneID

	// The victim switches the phone off and starts switching it back on
	// with a code, so that every wallet-on route has something to steal.
	vb := e.browser(t)
	vb.login("victim@example.com")
	vb.get("/phones/" + vid)
	if st, _ := vb.post("/phones/"+vid+"/wallet-off", nil); st != 200 {
		t.Fatalf("victim's switch-off: got %d", st)
	}
	_, body := vb.post("/phones/"+vid+"/wallet-on", url.Values{"password": {password}})
	victimCeremony := formValue(body, "ceremony")
	if victimCeremony == "" {
		t.Fatal("no ceremony on the victim's code page")
	}
	victimOTP := e.latestCode(t, "victim@example.com") // the phone's own session ended with the switch-off
	before := e.snapshot(t, vid)

	ib := e.browser(t)
	ib.login("intruder@example.com")
	ib.get("/phones")
	portalRoutes := []struct {
		name, method, path string
		form               url.Values
		json               string
		want               []int
	}{
		{"phone page", "GET", "/phones/" + vid, nil, "", []int{404}},
		{"ring", "POST", "/phones/" + vid + "/ring", url.Values{}, "", []int{404}},
		{"message", "POST", "/phones/" + vid + "/message", url.Values{"message": {"hi"}}, "", []int{404}},
		{"wallet off", "POST", "/phones/" + vid + "/wallet-off", url.Values{}, "", []int{404}},
		{"wallet-on page", "GET", "/phones/" + vid + "/wallet-on", nil, "", []int{404}},
		{"wallet-on password", "POST", "/phones/" + vid + "/wallet-on", url.Values{"password": {password}}, "", []int{404}},
		{"wallet-on code", "POST", "/phones/" + vid + "/wallet-on/code", url.Values{"ceremony": {victimCeremony}, "code": {victimOTP}}, "", []int{404}},
		{"wallet-on passkey begin", "POST", "/phones/" + vid + "/wallet-on/begin", nil, `{"password":"` + password + `"}`, []int{404}},
		{"wallet-on passkey finish", "POST", "/phones/" + vid + "/wallet-on/finish", nil, `{"ceremony":"` + victimCeremony + `","credential":{}}`, []int{404}},
		{"add an offer", "POST", "/phones/" + vid + "/cards/offer", url.Values{"card": {"x"}, "offer": {"ccb-grocery-cashback"}}, "", []int{404}},
		{"victim's ceremony on own phone", "POST", "/phones/" + intruder.Profile.PhoneID + "/wallet-on/code", url.Values{"ceremony": {victimCeremony}, "code": {victimOTP}}, "", []int{404}},
	}
	for _, tt := range portalRoutes {
		t.Run("portal "+tt.name, func(t *testing.T) {
			var st int
			var body string
			switch {
			case tt.method == "GET":
				st, body = ib.get(tt.path)
			case tt.json != "":
				st, body = ib.postJSON(tt.path, tt.json)
			default:
				st, body = ib.post(tt.path, tt.form)
			}
			if !contains(tt.want, st) {
				t.Fatalf("got %d %s, want %v", st, snippet(body), tt.want)
			}
			if strings.Contains(body, "Victim&#39;s phone") || strings.Contains(body, "Victim's phone") {
				t.Fatalf("the answer names the victim's phone: %s", snippet(body))
			}
		})
	}
	if _, body := ib.get("/phones"); strings.Contains(body, vid) {
		t.Fatalf("the intruder's phone list shows the victim's phone")
	}

	apiRoutes := []struct {
		name, path, body string
		want             int
	}{
		{"wallet off", "/v1/phones/" + vid + "/wallet-off", `{}`, 404},
		{"wallet on", "/v1/phones/" + vid + "/wallet-on", `{"password":"` + password + `"}`, 404},
		{"ask", "/v1/phones/" + vid + "/ask", `{"kind":"ring"}`, 404},
		{"check in as the victim's phone", "/v1/phones/" + vid + "/checkin", `{"lat":1,"lon":1}`, 401},
	}
	for _, tt := range apiRoutes {
		t.Run("api "+tt.name, func(t *testing.T) {
			st, body := signedCall(t, intruder, "POST", tt.path, tt.body)
			if st != tt.want {
				t.Fatalf("got %d %s, want %d", st, body, tt.want)
			}
		})
	}
	if _, err := intruder.WalletOff(ctx, vid, "mine now"); code(err) != "phone_not_found" {
		t.Fatalf("phone client wallet-off of another account's phone: got %v, want phone_not_found", err)
	}

	if after := e.snapshot(t, vid); after != before {
		t.Fatalf("the victim's phone changed:\n got %s\nwant %s", after, before)
	}
	// And the victim's own ceremony still works: nothing was consumed.
	st, body := vb.post("/phones/"+vid+"/wallet-on/code", url.Values{"ceremony": {victimCeremony}, "code": {victimOTP}, "password": {password}})
	if st != 200 || !strings.Contains(body, "Wallet on") {
		t.Fatalf("victim's own switch-on after the attempts: got %d %s", st, snippet(body))
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// snapshot describes everything the intruder could have changed on a phone.
func (e *env) snapshot(t *testing.T, phoneID string) string {
	t.Helper()
	ctx := context.Background()
	ph, err := e.p.Wallet.Store.Phone(ctx, phoneID)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := e.p.Lost.Store.PendingCommands(ctx, phoneID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range pend {
		kinds = append(kinds, c.Kind)
	}
	loc := "none"
	if ph.Lat != nil {
		loc = "set"
	}
	return strings.Join([]string{boolStr(ph.WalletOn), loc, strings.Join(kinds, "+"), statesStr(e.tokenStates(t, phoneID))}, " | ")
}

func boolStr(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func statesStr(s []tsp.State) string {
	var out []string
	for _, x := range s {
		out = append(out, string(x))
	}
	return strings.Join(out, ",")
}

// TestCSRF posts every form without its token, and with another session's
// token: each is refused with 403 and a page that says why, and nothing
// changes.
func TestCSRF(t *testing.T) {
	e := start(t)
	ph := e.newPhone(t, "carol@example.com", "Carol's phone", 1)
	id := ph.Profile.PhoneID
	b := e.browser(t)
	b.login("carol@example.com")
	b.get("/phones/" + id)
	good := b.csrf
	other := e.browser(t)
	e.newPhone(t, "dave@example.com", "Dave's phone", 0)
	other.login("dave@example.com")
	foreign := other.csrf

	posts := []struct {
		path string
		form url.Values
	}{
		{"/phones/" + id + "/wallet-off", url.Values{}},
		{"/phones/" + id + "/ring", url.Values{}},
		{"/phones/" + id + "/message", url.Values{"message": {"hello"}}},
		{"/phones/" + id + "/wallet-on", url.Values{"password": {password}}},
		{"/phones/" + id + "/wallet-on/code", url.Values{"ceremony": {"x"}, "code": {"123456"}}},
		{"/settings/password", url.Values{}},
		{"/settings/password/code", url.Values{"ceremony": {"x"}, "code": {"123456"}, "password": {password}, "new_password": {"another password"}}},
		{"/login/code", url.Values{"code": {"123456"}}},
		{"/logout", url.Values{}},
		{"/login", url.Values{"email": {"carol@example.com"}, "password": {password}}},
		{"/phones/" + id + "/cards/offer", url.Values{"card": {"x"}, "offer": {"ccb-grocery-cashback"}}},
		{"/alerts/answer", url.Values{"alert": {"authorization:x"}, "answer": {"no"}}},
	}
	tokens := []struct{ name, token string }{{"no token", ""}, {"another session's token", foreign}, {"garbage", "AAAA"}}
	for _, p := range posts {
		for _, tok := range tokens {
			t.Run(p.path+" "+tok.name, func(t *testing.T) {
				form := url.Values{}
				for k, v := range p.form {
					form[k] = v
				}
				form.Set("csrf", tok.token)
				st, body := b.post(p.path, form)
				if st != http.StatusForbidden || !strings.Contains(body, "did not come from a page of the portal") {
					t.Fatalf("got %d %s, want 403 with the CSRF page", st, snippet(body))
				}
			})
		}
	}
	for _, path := range []string{"/settings/passkeys/begin", "/phones/" + id + "/wallet-on/begin", "/login/passkey/begin"} {
		t.Run(path+" JSON without token", func(t *testing.T) {
			b.csrf = ""
			st, body := b.postJSON(path, `{"password":"`+password+`"}`)
			if st != http.StatusForbidden || !strings.Contains(body, `"code":"csrf"`) {
				t.Fatalf("got %d %s, want 403 csrf", st, body)
			}
		})
	}
	b.csrf = good
	if got := e.snapshot(t, id); !strings.HasPrefix(got, "on | none |  | active") {
		t.Fatalf("phone after refused posts: got %q, want untouched", got)
	}
	// The session is still alive: log-out without a token was refused.
	if st, body := b.get("/phones"); st != 200 || !strings.Contains(body, "Carol&#39;s phone") {
		t.Fatalf("phones after refused log-out: got %d", st)
	}
}

// TestLoginThrottled makes password attempts from one address: the
// account locks after 5 wrong ones (the fifth sets the lock), later
// attempts get no password checked — the portal asks for the second factor
// first — and the address is throttled after 10. Repeated events are
// folded: one row per kind and source, with a count.
func TestLoginThrottled(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "erin@example.com", "Erin's phone", 0)
	b := e.browser(t)
	b.get("/login")
	var got []int
	for range 11 {
		st, _ := b.post("/login", url.Values{"email": {"erin@example.com"}, "password": {"not the password"}})
		got = append(got, st)
	}
	want := []int{401, 401, 401, 401, 401, 200, 200, 200, 200, 200, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses: got %v, want %v (5 wrong, 5 sent to the second factor unchecked, then the address throttled)", got, want)
		}
	}
	st, body := b.post("/login", url.Values{"email": {"erin@example.com"}, "password": {password}})
	if st != 429 || !strings.Contains(body, "Too many log-in attempts from this address") {
		t.Fatalf("right password while throttled: got %d %s, want 429 throttled", st, snippet(body))
	}
	a, err := e.p.Wallet.Store.AccountByEmail(ctx, "erin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a.FailedLogins != 5 {
		t.Fatalf("attempts counted: got %d, want 5 (no password is checked while the account is locked)", a.FailedLogins)
	}
	evs, err := e.p.Wallet.Store.Events(ctx, e.accountOf(t, ph), 100)
	if err != nil {
		t.Fatal(err)
	}
	rows, times := map[string]int{}, map[string]int{}
	for _, ev := range evs {
		rows[ev.Kind]++
		times[ev.Kind] += ev.Times
		if ev.Kind != wallet.EventSignUp && ev.Kind != wallet.EventPhoneAdded && ev.Kind != wallet.EventLogin && ev.Source == "" {
			t.Errorf("event %s has no source", ev.Kind)
		}
		if ev.Times > 1 && !ev.FirstAt.Before(ev.At) && !ev.FirstAt.Equal(ev.At) {
			t.Errorf("event %s: first %v after last %v", ev.Kind, ev.FirstAt, ev.At)
		}
	}
	for _, k := range []string{wallet.EventLoginFailed, wallet.EventLoginLocked, wallet.EventLoginThrottled} {
		if rows[k] != 1 {
			t.Errorf("%s: got %d rows, want 1 (repeats folded)", k, rows[k])
		}
	}
	if times[wallet.EventLoginFailed] != 5 || times[wallet.EventLoginLocked] != 5 || times[wallet.EventLoginThrottled] != 2 {
		t.Fatalf("event counts: got %v, want 5 login_failed, 5 login_locked, 2 login_throttled", times)
	}
	// Another browser from the same address is throttled too.
	b2 := e.browser(t)
	b2.get("/login")
	if st, _ := b2.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"x"}}); st != 429 {
		t.Fatalf("second browser from the same address: got %d, want 429", st)
	}
	// After the lock and the throttle have passed, the right password works.
	e.advance(2 * time.Hour)
	b.login("erin@example.com")
}

// TestOwnerNotLockedOut: guessers from three addresses lock the account and
// use up its attempts; the owner, from another address, still logs in —
// the one-time code first, then the password, which the lock does not
// refuse — and a guesser who knows the password but not the code does not.
func TestOwnerNotLockedOut(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.newPhone(t, "gina@example.com", "Gina's phone", 0)
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		g := e.browserFrom(t, ip)
		g.get("/login")
		for range 10 {
			g.post("/login", url.Values{"email": {"gina@example.com"}, "password": {"guess " + ip}})
		}
	}
	a, err := e.p.Wallet.Store.AccountByEmail(ctx, "gina@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !a.LockedUntil.After(time.Now()) || a.FailedLogins != 5 {
		t.Fatalf("after 30 guesses: locked until %v, %d attempts counted; want locked, 5 counted", a.LockedUntil, a.FailedLogins)
	}

	// A guesser who has the password but not the code.
	g := e.browserFrom(t, "127.0.0.5")
	g.get("/login")
	st, body := g.post("/login", url.Values{"email": {"gina@example.com"}, "password": {password}})
	if st != 200 || !strings.Contains(body, `id="login-code-form"`) || !strings.Contains(body, `name="password"`) {
		t.Fatalf("log-in while locked: got %d %s, want the page asking for the code, then the password", st, snippet(body))
	}
	st, body = g.post("/login/code", url.Values{"code": {wrongCode(e.latestCode(t, "gina@example.com"))}, "password": {password}})
	if st != http.StatusUnauthorized || strings.Contains(body, "My phones") {
		t.Fatalf("wrong code with the right password: got %d %s, want 401", st, snippet(body))
	}
	if st, _ := g.get("/phones"); st != 200 || g.loggedIn() {
		t.Fatalf("the guesser has a session after a wrong code")
	}

	// The owner.
	o := e.browserFrom(t, "127.0.0.9")
	o.get("/login")
	st, body = o.post("/login", url.Values{"email": {"gina@example.com"}, "password": {password}})
	if st != 200 || !strings.Contains(body, `id="login-code-form"`) {
		t.Fatalf("owner's log-in while locked: got %d %s, want the code page", st, snippet(body))
	}
	st, body = o.post("/login/code", url.Values{"code": {e.latestCode(t, "gina@example.com")}, "password": {password}})
	if st != 200 || !strings.Contains(body, "My phones") {
		t.Fatalf("owner with code and password: got %d %s, want the phones page", st, snippet(body))
	}
	if a, _ := e.p.Wallet.Store.AccountByEmail(ctx, "gina@example.com"); a.FailedLogins != 0 || !a.LockedUntil.IsZero() && a.LockedUntil.After(time.Now()) {
		t.Fatalf("after the owner's log-in: %d attempts, locked until %v; want the lock ended", a.FailedLogins, a.LockedUntil)
	}
}

// TestAPISwitchFromAnotherPhone switches a lost phone's wallet off from
// another phone of the account through the wallet API, checks that
// payments from the lost phone are declined and the other phone's are not,
// and switches it back on with the password; with a passkey on the
// account, the API leaves switching on to the portal.
func TestAPISwitchFromAnotherPhone(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	lost := e.newPhone(t, "frank@example.com", "Frank's phone", 2)
	spare := e.newPhone(t, "frank@example.com", "Frank's spare", 1)
	r, err := spare.WalletOff(ctx, lost.Profile.PhoneID, "left on the train")
	if err != nil || !r.Changed || len(r.Tokens) != 2 || r.Phone.WalletOn || len(r.Transit) != 0 {
		t.Fatalf("wallet-off from the spare phone: got %+v, %v", r, err)
	}
	if got := e.pay(t, lost); got != rc(tsp.DeclineSuspended) {
		t.Fatalf("tap on the lost phone: got %s, want %s", got, rc(tsp.DeclineSuspended))
	}
	if got := e.pay(t, spare); got != "approved" {
		t.Fatalf("tap on the spare phone: got %s, want approved", got)
	}
	if r, err := spare.WalletOff(ctx, lost.Profile.PhoneID, "again"); err != nil || r.Changed {
		t.Fatalf("wallet-off twice: got %+v, %v, want unchanged", r, err)
	}
	// The switch-off ended the lost phone's session: whoever holds it is
	// logged out of the wallet API.
	if _, err := lost.AddCard(ctx, e.cards[e.next].PAN.Digits(), e.cards[e.next].Expiry.MMYY(), e.cards[e.next].CVN2.Digits()); code(err) != "bad_session" {
		t.Fatalf("adding a card while off: got %v, want bad_session", err)
	}
	if _, err := spare.Cards(ctx); err != nil {
		t.Fatalf("the spare phone's session: got %v, want it untouched", err)
	}
	if _, err := spare.WalletOn(ctx, lost.Profile.PhoneID, "wrong password"); code(err) != "bad_credentials" {
		t.Fatalf("wallet-on with a wrong password: got %v, want bad_credentials", err)
	}
	// A passkey on the account: the API refuses, the portal must be used.
	ps, err := portalstore.Open(ctx, e.p.Place.DSN, e.p.Place.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	pk := portal.Passkey{ID: []byte("cred"), AccountID: e.accountOf(t, lost), Name: "k", Record: []byte(`{}`), CreatedAt: time.Now()}
	if err := ps.AddPasskey(ctx, pk); err != nil {
		t.Fatal(err)
	}
	if _, err := spare.WalletOn(ctx, lost.Profile.PhoneID, password); code(err) != "passkey_required" {
		t.Fatalf("wallet-on with a passkey on the account: got %v, want passkey_required", err)
	}
	if err := ps.RemovePasskey(ctx, pk.AccountID, pk.ID); err != nil {
		t.Fatal(err)
	}
	r, err = spare.WalletOn(ctx, lost.Profile.PhoneID, password)
	if err != nil || !r.Phone.WalletOn || len(r.Tokens) != 2 {
		t.Fatalf("wallet-on: got %+v, %v", r, err)
	}
	if _, err := spare.WalletOn(ctx, lost.Profile.PhoneID, password); code(err) != "wallet_on" {
		t.Fatalf("wallet-on twice: got %v, want wallet_on", err)
	}
	// The lost phone still holds its old keys (it was never reached), but
	// they were retired: it needs the fresh ones.
	if got := e.pay(t, lost); got != rc(tsp.DeclineKeyExpired) {
		t.Fatalf("tap with a retired key: got %s, want %s", got, rc(tsp.DeclineKeyExpired))
	}
	if err := lost.LogIn(ctx, "frank@example.com", password); err != nil {
		t.Fatal(err)
	}
	if res, n := checkIn(t, lost, &phone.Location{Lat: 39.90872, Lon: 116.39748}); !res.FreshKeys || n != 20 {
		t.Fatalf("check-in: got %+v and %d keys, want 20 fresh keys", res, n)
	}
	if got := e.pay(t, lost); got != "approved" {
		t.Fatalf("tap after fresh keys: got %s, want approved", got)
	}
	if err := spare.Ask(ctx, lost.Profile.PhoneID, "message", "call 555-0100"); err != nil {
		t.Fatal(err)
	}
	res, _ := lost.CheckIn(ctx, nil)
	if len(res.Commands) != 1 || res.Commands[0].Message != "call 555-0100" {
		t.Fatalf("message: got %+v", res.Commands)
	}
}

// TestGuessingDoesNotFloodEvents: the audit's 3 minutes of guessing wrote
// 237,000 security events. 600 attempts at one account from 3 addresses
// now leave a handful of folded rows whose counts add up to every attempt
// recorded (each throttled, locked or wrong attempt is counted, not lost).
func TestGuessingDoesNotFloodEvents(t *testing.T) {
	e := start(t)
	ph := e.newPhone(t, "hal@example.com", "Hal's phone", 0)
	const per = 200
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		g := e.browserFrom(t, ip)
		g.get("/login")
		for range per {
			g.post("/login", url.Values{"email": {"hal@example.com"}, "password": {"guess"}})
		}
	}
	evs, err := e.p.Wallet.Store.Events(context.Background(), e.accountOf(t, ph), 1000)
	if err != nil {
		t.Fatal(err)
	}
	rows, times := 0, 0
	for _, ev := range evs {
		switch ev.Kind {
		case wallet.EventLoginFailed, wallet.EventLoginLocked, wallet.EventLoginThrottled:
			rows++
			times += ev.Times
		}
	}
	t.Logf("%d attempts: %d event rows, %d occurrences counted", 3*per, rows, times)
	if rows > 9 || times < 3*per {
		t.Fatalf("%d attempts: got %d rows counting %d, want at most 9 rows (kind × source) counting every attempt", 3*per, rows, times)
	}
}

// TestCodesThrottled: each one-time code is tried once, so a session could
// ask for codes without end and guess one each time; the portal sends at
// most 10 per 10 minutes to an account.
func TestCodesThrottled(t *testing.T) {
	e := start(t)
	ph := e.newPhone(t, "ivy@example.com", "Ivy's phone", 0)
	b := e.browser(t)
	b.login("ivy@example.com")
	b.get("/phones/" + ph.Profile.PhoneID)
	if st, _ := b.post("/phones/"+ph.Profile.PhoneID+"/wallet-off", nil); st != 200 {
		t.Fatalf("switch-off: got %d", st)
	}
	var got []int
	for range 12 {
		st, _ := b.post("/phones/"+ph.Profile.PhoneID+"/wallet-on", nil)
		got = append(got, st)
	}
	for i, st := range got {
		if want := map[bool]int{true: 200, false: 429}[i < 10]; st != want {
			t.Fatalf("code requests: got %v, want 10 × 200 then 429", got)
		}
	}
}

// TestChangePasswordStepUp: changing the password takes a fresh one-time
// code and the current password (the session alone is not enough); once
// changed, the old password opens nothing and every other session of the
// account — the phone's API session included — is ended.
func TestChangePasswordStepUp(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph := e.newPhone(t, "jo@example.com", "Jo's phone", 0)
	b := e.browser(t)
	b.login("jo@example.com")
	other := e.browser(t)
	other.login("jo@example.com")
	b.get("/settings")
	change := func(code, current string) (int, string) {
		_, body := b.post("/settings/password", nil)
		ceremony := formValue(body, "ceremony")
		if ceremony == "" {
			t.Fatalf("no code page: %s", snippet(body))
		}
		if code == "" {
			code = e.latestCode(t, "jo@example.com")
		}
		return b.post("/settings/password/code", url.Values{"ceremony": {ceremony}, "code": {code}, "password": {current}, "new_password": {"a brand new password"}})
	}
	if st, _ := change(wrongCode(e.latestCode(t, "jo@example.com")), password); st != http.StatusUnauthorized {
		t.Fatalf("a wrong code: got %d, want 401", st)
	}
	if st, _ := change("", "not the password"); st != http.StatusUnauthorized {
		t.Fatalf("the right code with a wrong current password: got %d, want 401", st)
	}
	if st, body := change("", password); st != 200 || !strings.Contains(body, "Your password is changed") {
		t.Fatalf("the right code and password: got %d %s", st, snippet(body))
	}
	if _, err := e.p.Wallet.VerifyPassword(ctx, "jo@example.com", password, "test"); codeOf(err) != "bad_credentials" {
		t.Fatalf("the old password: got %v, want bad_credentials", err)
	}
	if _, err := e.p.Wallet.VerifyPassword(ctx, "jo@example.com", "a brand new password", "test"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := ph.Cards(ctx); code(err) != "bad_session" {
		t.Fatalf("the phone's API session after the change: got %v, want bad_session", err)
	}
	if other.loggedIn() {
		t.Fatal("another portal session survived the password change")
	}
	if !b.loggedIn() {
		t.Fatal("the session that changed the password was ended")
	}
}
