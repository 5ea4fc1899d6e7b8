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
	"github.com/tapwallet/tapwallet/sqldb"
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
	victimOTP, _ := victim.LatestOTP(ctx)
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
	st, body := vb.post("/phones/"+vid+"/wallet-on/code", url.Values{"ceremony": {victimCeremony}, "code": {victimOTP}})
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
		{"/settings/passkeys/remove", url.Values{"id": {"AQID"}, "password": {password}}},
		{"/logout", url.Values{}},
		{"/login", url.Values{"email": {"carol@example.com"}, "password": {password}}},
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
				if st != http.StatusForbidden || !strings.Contains(body, "this form did not come from a page of the portal") {
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

// TestLoginThrottled makes password attempts from one address: the wallet
// locks the account after 5 wrong ones, the portal throttles the address
// after 10, and every attempt is in the security events.
func TestLoginThrottled(t *testing.T) {
	e := start(t)
	ph := e.newPhone(t, "erin@example.com", "Erin's phone", 0)
	b := e.browser(t)
	b.get("/login")
	var got []int
	for range 11 {
		st, _ := b.post("/login", url.Values{"email": {"erin@example.com"}, "password": {"not the password"}})
		got = append(got, st)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses: got %v, want %v", got, want)
		}
	}
	st, body := b.post("/login", url.Values{"email": {"erin@example.com"}, "password": {password}})
	if st != 429 || !strings.Contains(body, "Too many log-in attempts from this address") {
		t.Fatalf("right password while throttled: got %d %s, want 429 throttled", st, snippet(body))
	}
	evs, err := e.p.Wallet.Store.Events(context.Background(), e.accountOf(t, ph), 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Kind]++
		if ev.Kind != wallet.EventSignUp && ev.Kind != wallet.EventPhoneAdded && ev.Kind != wallet.EventLogin && ev.Source == "" {
			t.Errorf("event %s has no source", ev.Kind)
		}
	}
	if count[wallet.EventLoginFailed] != 5 || count[wallet.EventLoginLocked] != 5 || count[wallet.EventLoginThrottled] != 2 {
		t.Fatalf("events: got %v, want 5 login_failed, 5 login_locked, 2 login_throttled", count)
	}
	// Another address is not throttled by this one (the account still is locked).
	b2 := e.browser(t)
	b2.get("/login")
	if st, _ := b2.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"x"}}); st != 429 {
		// Same test process, same address: 127.0.0.1 is still throttled.
		t.Fatalf("second browser from the same address: got %d, want 429", st)
	}
	// After the lock and the throttle have passed, the right password works.
	e.advance(2 * time.Hour)
	b.login("erin@example.com")
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
	if _, err := lost.AddCard(ctx, e.cards[e.next].PAN.Digits(), e.cards[e.next].Expiry.MMYY(), e.cards[e.next].CVN2.Digits()); code(err) != "wallet_off" {
		t.Fatalf("adding a card while off: got %v, want wallet_off", err)
	}
	if _, err := spare.WalletOn(ctx, lost.Profile.PhoneID, "wrong password"); code(err) != "bad_credentials" {
		t.Fatalf("wallet-on with a wrong password: got %v, want bad_credentials", err)
	}
	// A passkey on the account: the API refuses, the portal must be used.
	ps := &sqldb.PortalStore{DB: e.p.DB}
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
	if res, n := checkIn(t, lost, &phone.Location{Lat: 31.2304, Lon: 121.4737}); !res.FreshKeys || n != 20 {
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
