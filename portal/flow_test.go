package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// TestLostPhoneWithoutPasskey walks the whole lost-phone story through the
// portal's pages for an account without a passkey: log in with the
// password, find the phone, ask it to ring, switch its wallet off (a tap is
// declined), let it check in (keys wiped, ring delivered), switch it back
// on with the password and a one-time code, let it check in (fresh keys),
// and tap again (approved). The account's other phone is never touched.
func TestLostPhoneWithoutPasskey(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	lost := e.newPhone(t, "alice@example.com", "Alice's Mi 5", 2)
	other := e.newPhone(t, "alice@example.com", "Alice's tablet", 1)
	if got := e.pay(t, lost); got != "approved" {
		t.Fatalf("first tap: got %s, want approved", got)
	}
	if _, err := lost.CheckIn(ctx, &phone.Location{Lat: 39.93391, Lon: 116.45400}); err != nil {
		t.Fatal(err)
	}

	b := e.browser(t)
	b.login("alice@example.com")
	st, body := b.get("/phones")
	if st != 200 || !strings.Contains(body, "Alice&#39;s Mi 5") || !strings.Contains(body, "Alice&#39;s tablet") {
		t.Fatalf("phones page: got %d %s, want both phones", st, snippet(body))
	}
	id := lost.Profile.PhoneID
	st, body = b.get("/phones/" + id)
	for _, want := range []string{"39.93391° N, 116.45400° E", "<svg class=\"map\"", `class="map-ring"`, "2nd Ring Rd", "from the centre of Beijing", "Wallet on"} {
		if !strings.Contains(body, want) {
			t.Fatalf("phone page (%d): no %q in %s", st, want, snippet(body))
		}
	}

	st, body = b.post("/phones/"+id+"/ring", nil)
	if st != 200 || !strings.Contains(body, "will ring the next time it syncs") {
		t.Fatalf("ring: got %d %s", st, snippet(body))
	}
	st, body = b.post("/phones/"+id+"/wallet-off", url.Values{"reason": {"lost in a taxi"}})
	if st != 200 || !strings.Contains(body, "Wallet off") || !strings.Contains(body, "lost in a taxi") {
		t.Fatalf("wallet off: got %d %s", st, snippet(body))
	}
	if got := e.tokenStates(t, id); !allIn(got, tsp.Suspended) {
		t.Fatalf("lost phone's tokens after switch-off: got %v, want all suspended", got)
	}
	if got := e.tokenStates(t, other.Profile.PhoneID); !allIn(got, tsp.Active) {
		t.Fatalf("other phone's tokens: got %v, want all active (untouched)", got)
	}
	if got := e.pay(t, lost); got != rc(tsp.DeclineSuspended) {
		t.Fatalf("tap after switch-off: got %s, want %s", got, rc(tsp.DeclineSuspended))
	}
	if got := e.pay(t, other); got != "approved" {
		t.Fatalf("tap on the other phone: got %s, want approved", got)
	}

	// The phone is reached: it checks in (signed by its device key; its
	// session ended with the switch-off), rings and destroys its keys; a
	// sync needs a session, which it no longer has.
	res, err := lost.CheckIn(ctx, nil)
	if err != nil {
		t.Fatalf("check-in while off: %v", err)
	}
	if _, err := lost.Sync(ctx); code(err) != "bad_session" {
		t.Fatalf("sync while off: got %v, want bad_session (the switch-off ended the phone's session)", err)
	}
	kinds := []string{}
	for _, c := range res.Commands {
		kinds = append(kinds, c.Kind)
	}
	if res.WalletOn || res.Wiped == 0 || strings.Join(kinds, ",") != "ring,wipe_keys" {
		t.Fatalf("check-in while off: got on=%v wiped=%d commands=%v, want off, keys wiped, ring then wipe", res.WalletOn, res.Wiped, kinds)
	}
	// The phone now knows its cards are suspended: it offers none.
	if got := e.pay(t, lost); got != "tap: no card offered" {
		t.Fatalf("tap after the check-in: got %s, want tap: no card offered", got)
	}
	for _, c := range lost.Profile.Cards {
		if n := lost.SE.KeysLeft(c.Token); n != 0 || c.State != "suspended" {
			t.Fatalf("card ending %s after the check-in: %d keys, %s, want 0 keys, suspended", c.TokenLast4, n, c.State)
		}
	}

	// Found: switch back on with the password and a one-time code.
	st, body = b.get("/phones/" + id + "/wallet-on")
	if st != 200 || !strings.Contains(body, "Send me a code") {
		t.Fatalf("wallet-on page: got %d %s", st, snippet(body))
	}
	st, body = b.post("/phones/"+id+"/wallet-on", nil)
	ceremony := formValue(body, "ceremony")
	if st != 200 || ceremony == "" || !strings.Contains(body, `name="password"`) {
		t.Fatalf("wallet-on: got %d %s, want the page asking for the code and the password", st, snippet(body))
	}
	otp, err := other.LatestOTP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = b.post("/phones/"+id+"/wallet-on/code", url.Values{"ceremony": {ceremony}, "code": {wrongCode(otp)}, "password": {password}})
	if st != http.StatusUnauthorized {
		t.Fatalf("wrong code: got %d, want 401", st)
	}
	st, _ = b.post("/phones/"+id+"/wallet-on/code", url.Values{"ceremony": {ceremony}, "code": {otp}, "password": {password}})
	if st != http.StatusNotFound {
		t.Fatalf("the right code after a wrong one: got %d, want 404 (a code is tried once)", st)
	}
	_, body = b.post("/phones/"+id+"/wallet-on", nil)
	ceremony = formValue(body, "ceremony")
	otp, _ = other.LatestOTP(ctx)
	st, _ = b.post("/phones/"+id+"/wallet-on/code", url.Values{"ceremony": {ceremony}, "code": {otp}, "password": {"wrong password"}})
	if st != http.StatusUnauthorized {
		t.Fatalf("the right code with a wrong password: got %d, want 401", st)
	}
	_, body = b.post("/phones/"+id+"/wallet-on", nil)
	ceremony = formValue(body, "ceremony")
	otp, _ = other.LatestOTP(ctx)
	st, body = b.post("/phones/"+id+"/wallet-on/code", url.Values{"ceremony": {ceremony}, "code": {otp}, "password": {password}})
	if st != 200 || !strings.Contains(body, "Wallet on") {
		t.Fatalf("wallet on: got %d %s", st, snippet(body))
	}
	if got := e.tokenStates(t, id); !allIn(got, tsp.Active) {
		t.Fatalf("tokens after switch-on: got %v, want all active", got)
	}
	// The phone logs in again before it syncs.
	if _, err := lost.Sync(ctx); code(err) != "bad_session" {
		t.Fatalf("sync after switch-on without logging in: got %v, want bad_session", err)
	}
	if err := lost.LogIn(ctx, "alice@example.com", password); err != nil {
		t.Fatal(err)
	}
	if res, n := checkIn(t, lost, nil); !res.WalletOn || !res.FreshKeys || n != 20 {
		t.Fatalf("check-in after switch-on: got %+v and %d keys, want 20 fresh keys", res, n)
	}
	if got := e.pay(t, lost); got != "approved" {
		t.Fatalf("tap after switch-on: got %s, want approved", got)
	}

	// The record: who, when, from where.
	evs, err := e.p.Wallet.Store.Events(ctx, e.accountOf(t, lost), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{wallet.EventLogin: false, wallet.EventWalletOff: false, wallet.EventWalletOn: false, wallet.EventWalletOnFailed: false, wallet.EventPhoneRing: false}
	for _, ev := range evs {
		if _, ok := want[ev.Kind]; ok && ev.Source != "" {
			want[ev.Kind] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("security events: no %s with a source", k)
		}
	}
	_, body = b.get("/security")
	if !strings.Contains(body, "Wallet switched off") || !strings.Contains(body, "Wallet switched on") {
		t.Errorf("security page lacks the switch events: %s", snippet(body))
	}
	toks, _ := e.p.Tokens.Cards(ctx, id)
	tevs, _ := e.p.Tokens.Store.TokenEvents(ctx, toks[0].Number.Digits())
	var actors []string
	for _, te := range tevs {
		actors = append(actors, te.To+" by "+te.Actor)
	}
	acc := e.accountOf(t, lost)
	if got := strings.Join(actors, "; "); !strings.Contains(got, "suspended by portal:"+acc) || !strings.Contains(got, "active by portal:"+acc) {
		t.Errorf("token events: got %q, want suspended and active by portal:%s", got, acc)
	}
	// The payments as the card network recorded them: approved, declined
	// 78 while off, approved again.
	_, body = b.get("/transactions")
	if n := strings.Count(body, `<tr class="payment declined">`); n != 1 || !strings.Contains(body, "declined: card suspended (the wallet on the phone is off)") || strings.Count(body, `<tr class="payment approved">`) != 3 || strings.Contains(body, "declined 78") {
		t.Errorf("transactions page: got %d declined rows, want 1 declined because the card is suspended (in words, no code 78) and 3 approved: %s", n, snippet(body))
	}
	st, body = b.post("/logout", nil)
	if st != 200 || !strings.Contains(body, "You are logged out") {
		t.Errorf("log-out: got %d %s", st, snippet(body))
	}
	if st, body = b.get("/phones"); !strings.Contains(body, "Log in") {
		t.Errorf("phones after log-out: got %d %s, want the log-in page", st, snippet(body))
	}
}

func (e *env) accountOf(t *testing.T, ph *phone.Phone) string {
	t.Helper()
	p, err := e.p.Wallet.Store.Phone(context.Background(), ph.Profile.PhoneID)
	if err != nil {
		t.Fatal(err)
	}
	return p.AccountID
}

func wrongCode(c string) string {
	if c == "000000" {
		return "000001"
	}
	return "000000"
}

// TestSwitchOffTimeToDecline checks the very next authorization after the
// switch-off is declined (the time is measured by BenchmarkSwitchOffToDecline
// and the demo, never asserted).
func TestSwitchOffTimeToDecline(t *testing.T) {
	e := start(t)
	ph := e.newPhone(t, "bob@example.com", "Bob's phone", 1)
	b := e.browser(t)
	b.login("bob@example.com")
	b.get("/phones/" + ph.Profile.PhoneID)
	c := ph.Profile.Cards[0]
	chip, err := taptest.Tap(ph.SE, c, 1500, time.Now()) // the thief's tap, in flight

	if err != nil {
		t.Fatal(err)
	}
	b.post("/phones/"+ph.Profile.PhoneID+"/wallet-off", nil)
	if _, err := e.p.Tokens.Authorize(context.Background(), taptest.Request(c.Token, chip)); codeOf(err) != tsp.DeclineSuspended {
		t.Fatalf("the next authorization: got %v, want %s", err, tsp.DeclineSuspended)
	}
}
