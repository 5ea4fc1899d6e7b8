package attack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAttackPasskeyBypassWithAPISession: the audit logged in to the wallet
// API with the password alone (POST /v1/login), put the token in the
// portal's session cookie, and with it removed the account's passkey and
// switched a wallet back on. An API token is now refused as a portal
// session (the portal sends it to its log-in page and answers no form),
// a portal session is refused by the wallet API, the portal's own log-in
// takes the second factor (here the one-time code: no passkey yet), and a
// sensitive change (the password) asks for the second factor again.
func TestAttackPasskeyBypassWithAPISession(t *testing.T) {
	s := startServe(t)
	owner := newClient(t, "")
	if a := owner.signup(s, "victim@example.com", pw); a.Status != 202 && a.Status != 201 {
		t.Fatalf("signup: got %d %s", a.Status, a.Body)
	}
	apiToken, a := owner.login(s, "victim@example.com", pw)
	if apiToken == "" {
		t.Fatalf("API log-in: got %d %s", a.Status, a.Body)
	}
	phone := owner.register(s, apiToken, "victim's phone")

	// The attacker: the API token as the portal's cookie.
	attacker := newClient(t, "127.0.0.9")
	attacker.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(s.portal)
	attacker.c.Jar.SetCookies(u, []*http.Cookie{{Name: "tw_session", Value: apiToken, Path: "/"}})
	for _, path := range []string{"/phones", "/settings", "/phones/" + phone.id, "/phones/" + phone.id + "/wallet-on", "/security"} {
		a, csrf := attacker.page(s, path)
		if a.Status != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/login") || csrf != "" {
			t.Errorf("GET %s with an API token as the portal cookie: got %d (Location %q, CSRF token %v), want 303 to /login and no form",
				path, a.Status, a.Header.Get("Location"), csrf != "")
		}
	}
	// Posts: the CSRF token bound to the stolen cookie does not help either
	// (the attacker cannot read one from any page), and the session is refused.
	for _, path := range []string{"/settings/passkeys/remove/begin", "/settings/password/begin", "/phones/" + phone.id + "/wallet-off", "/phones/" + phone.id + "/wallet-on"} {
		a := attacker.form(s, path, "forged", url.Values{"id": {"AQID"}})
		if a.Status != http.StatusForbidden && a.Status != http.StatusUnauthorized {
			t.Errorf("POST %s with an API token as the portal cookie: got %d, want 401 or 403", path, a.Status)
		}
	}

	// The portal's own log-in: the password, then the one-time code.
	owner.portalLogin(s, "victim@example.com", pw, apiToken)
	portalToken := owner.cookie(s, "tw_session")
	if portalToken == "" || portalToken == apiToken {
		t.Fatalf("portal session cookie: got %q", portalToken)
	}
	// … which is no wallet API token.
	if a := attacker.call("GET", s.api+"/v1/phones", portalToken, ""); a.Status != http.StatusUnauthorized || a.Code != "bad_session" {
		t.Errorf("a portal session as a wallet API token: got %d %s, want 401 bad_session", a.Status, a.Code)
	}
	if a := attacker.call("POST", s.api+"/v1/logout", portalToken, ""); a.Status != http.StatusUnauthorized {
		t.Errorf("the API's log-out with a portal session: got %d %s, want 401", a.Status, a.Code)
	}
	if a := attacker.signed(s, &device{id: phone.id, key: phone.key, token: portalToken}, "POST", "/v1/phones/"+phone.id+"/wallet-on", `{"password":"`+pw+`"}`); a.Status != http.StatusUnauthorized {
		t.Errorf("wallet-on through the API with a portal session: got %d %s, want 401", a.Status, a.Code)
	}

	// Step-up: changing the password with the session alone is refused —
	// it takes a fresh code and the current password.
	_, csrf := owner.page(s, "/settings")
	a = owner.form(s, "/settings/password", csrf, nil)
	ceremony := formValue(a.Body, "ceremony")
	if a.Status != 200 || ceremony == "" {
		t.Fatalf("change password: got %d, want the code page", a.Status)
	}
	csrf = csrfMeta.FindStringSubmatch(a.Body)[1]
	a = owner.form(s, "/settings/password/code", csrf, url.Values{"ceremony": {ceremony}, "code": {"000000"}, "password": {pw}, "new_password": {"attacker's password"}})
	if a.Status != http.StatusUnauthorized {
		t.Errorf("change password without the code: got %d, want 401", a.Status)
	}
	if tok, a := newClient(t, "127.0.0.8").login(s, "victim@example.com", pw); tok == "" {
		t.Errorf("the old password after the refused change: got %d %s, want it to still work", a.Status, a.Code)
	}
}

func formValue(body, name string) string {
	i := strings.Index(body, `name="`+name+`" value="`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(`name="`+name+`" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}
