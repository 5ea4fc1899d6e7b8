package attack

import (
	"strings"
	"testing"
)

// TestAttackSignupEnumeration: the audit told which e-mails had an account
// from /v1/signup's answer (409 email_taken). Now a sign-up with a taken
// e-mail is answered exactly like one with a new e-mail; only the owner's
// password logs in, and the owner's account records the attempt.
func TestAttackSignupEnumeration(t *testing.T) {
	s := startServe(t)
	c := newClient(t, "")
	if a := c.signup(s, "known@example.com", pw); a.Status != 202 {
		t.Fatalf("first signup: got %d %s", a.Status, a.Body)
	}
	taken := source(t, 5).signup(s, "known@example.com", "another password")
	fresh := source(t, 6).signup(s, "unknown@example.com", "another password")
	norm := func(a answer, email string) string { return strings.ReplaceAll(a.Body, email, "EMAIL") }
	if taken.Status != fresh.Status || norm(taken, "known@example.com") != norm(fresh, "unknown@example.com") {
		t.Fatalf("taken vs new e-mail:\n got %d %s\nand %d %s\nwant the same answer", taken.Status, taken.Body, fresh.Status, fresh.Body)
	}
	if tok, _ := c.login(s, "known@example.com", "another password"); tok != "" {
		t.Fatal("the second sign-up's password opened the first account")
	}
	tok, _ := c.login(s, "known@example.com", pw)
	if tok == "" {
		t.Fatal("the owner's password no longer works")
	}
	if ev := c.call("GET", s.api+"/v1/events", tok, ""); !strings.Contains(ev.Body, `"signup_existing"`) {
		t.Errorf("the owner's events: %s, want a signup_existing event", ev.Body)
	}
}
