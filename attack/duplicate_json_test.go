package attack

import (
	"strings"
	"testing"
)

// TestAttackDuplicateKeyJSON: the audit sent JSON bodies with a key given
// twice (the last one wins in encoding/json: a proxy or a log that reads the
// first sees another request) and with field names in another letter case
// (matched case-insensitively), and the wallet API took them. Now each is
// a 400 naming the field.
func TestAttackDuplicateKeyJSON(t *testing.T) {
	s := startServe(t)
	c := newClient(t, "")
	c.signup(s, "json@example.com", pw)
	tok, _ := c.login(s, "json@example.com", pw)
	ph := c.register(s, tok, "json phone")
	for _, tt := range []struct {
		name, path, body, code, field string
		signed                        bool
	}{
		{"login, e-mail twice", "/v1/login", `{"email":"someone@example.com","email":"json@example.com","password":"` + pw + `"}`, "duplicate_field", "email", false},
		{"login, password twice", "/v1/login", `{"email":"json@example.com","password":"x","password":"` + pw + `"}`, "duplicate_field", "password", false},
		{"login, Email", "/v1/login", `{"Email":"json@example.com","password":"` + pw + `"}`, "field_case", "Email", false},
		{"signup, PASSWORD", "/v1/signup", `{"email":"json2@example.com","PASSWORD":"` + pw + `"}`, "field_case", "PASSWORD", false},
		{"add card, pan twice", "/v1/phones/" + ph.id + "/cards", `{"pan":"1","pan":"6222020000000007","expiry":"1230","cvn2":"123"}`, "duplicate_field", "pan", true},
		{"wallet-off, Reason", "/v1/phones/" + ph.id + "/wallet-off", `{"Reason":"x"}`, "field_case", "Reason", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a answer
			if tt.signed {
				a = c.signed(s, ph, "POST", tt.path, tt.body)
			} else {
				a = c.call("POST", s.api+tt.path, "", tt.body)
			}
			if a.Status != 400 || a.Code != tt.code || !strings.Contains(a.Body, tt.field) {
				t.Fatalf("got %d %s %s, want 400 %s naming %s", a.Status, a.Code, a.Body, tt.code, tt.field)
			}
		})
	}
	// The phone's wallet is still on: the refused switch-off did nothing.
	if a := c.call("GET", s.api+"/v1/phones", tok, ""); !strings.Contains(a.Body, `"wallet_on":true`) {
		t.Errorf("phones after the refused requests: %s", a.Body)
	}
}
