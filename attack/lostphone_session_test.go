package attack

import (
	"net/http"
	"strings"
	"testing"
)

// TestAttackLostPhoneSessionReuse: the audit switched a lost phone's wallet
// off and the phone's session still opened the wallet API (and a portal
// page left open on it). Switching off now ends every session the phone
// holds and the account's other portal sessions; the phone still checks in
// by its device signature (to take its key wipe), and after the wallet is
// switched back on it must log in again — its old token stays dead.
func TestAttackLostPhoneSessionReuse(t *testing.T) {
	s := startServe(t)
	c := newClient(t, "")
	c.signup(s, "owner@example.com", pw)
	lostToken, _ := c.login(s, "owner@example.com", pw)
	lost := c.register(s, lostToken, "the lost phone")
	spareToken, _ := c.login(s, "owner@example.com", pw)
	spare := c.register(s, spareToken, "the spare phone")

	// A portal page left open on the lost phone.
	thief := newClient(t, "127.0.0.7")
	thief.portalLogin(s, "owner@example.com", pw, lostToken)
	thief.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if a, _ := thief.page(s, "/phones"); a.Status != 200 {
		t.Fatalf("the portal on the lost phone before the switch-off: got %d", a.Status)
	}

	// The owner switches the lost phone off from the spare one.
	if a := c.signed(s, spare, "POST", "/v1/phones/"+lost.id+"/wallet-off", `{"reason":"stolen"}`); a.Status != 200 {
		t.Fatalf("wallet-off from the spare phone: got %d %s", a.Status, a.Body)
	}
	if a := c.call("GET", s.api+"/v1/phones", lostToken, ""); a.Status != http.StatusUnauthorized || a.Code != "bad_session" {
		t.Errorf("the lost phone's token after the switch-off: got %d %s, want 401 bad_session", a.Status, a.Code)
	}
	if a := c.signed(s, lost, "POST", "/v1/phones/"+lost.id+"/cards", `{"pan":"6222020000000007","expiry":"1230","cvn2":"123"}`); a.Status != http.StatusUnauthorized {
		t.Errorf("adding a card with the lost phone's token: got %d %s, want 401", a.Status, a.Code)
	}
	if a, _ := thief.page(s, "/phones"); a.Status != http.StatusSeeOther {
		t.Errorf("the portal page left open on the lost phone: got %d, want 303 to the log-in", a.Status)
	}
	if a := c.call("GET", s.api+"/v1/phones", spareToken, ""); a.Status != 200 {
		t.Errorf("the spare phone's token: got %d %s, want it untouched", a.Status, a.Code)
	}
	// The lost phone still checks in (signed, no session): it takes the wipe.
	lostNoSession := &device{id: lost.id, key: lost.key}
	if a := c.signed(s, lostNoSession, "POST", "/v1/phones/"+lost.id+"/checkin", ""); a.Status != 200 || !strings.Contains(a.Body, `"wipe_keys"`) {
		t.Errorf("the lost phone's check-in: got %d %s, want 200 with wipe_keys", a.Status, a.Body)
	}

	// Switched back on (the password from the spare phone; no passkey).
	if a := c.signed(s, spare, "POST", "/v1/phones/"+lost.id+"/wallet-on", `{"password":"`+pw+`"}`); a.Status != 200 {
		t.Fatalf("wallet-on: got %d %s", a.Status, a.Body)
	}
	if a := c.call("GET", s.api+"/v1/phones", lostToken, ""); a.Status != http.StatusUnauthorized {
		t.Errorf("the old token after the switch-on: got %d %s, want 401 (log in again)", a.Status, a.Code)
	}
	fresh, a := c.login(s, "owner@example.com", pw)
	if fresh == "" {
		t.Fatalf("logging in again: got %d %s", a.Status, a.Body)
	}
	if a := c.call("GET", s.api+"/v1/phones/"+lost.id+"/cards", fresh, ""); a.Status != 200 {
		t.Errorf("the phone after logging in again: got %d %s", a.Status, a.Code)
	}
}
