package attack

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
)

// TestAttackAPIGuessing: the audit made 100 password guesses in 30 s
// across 20 accounts from one address and none was refused. Now the
// wallet API limits log-ins by source address (20 a minute) and by account
// (10 per 10 minutes), sign-ups by source, and one-time codes by source
// and account; a refusal is 429 with Retry-After. The throttled attempts
// are folded into a few security events, not a row each.
func TestAttackAPIGuessing(t *testing.T) {
	s := startServe(t)
	for i := range 20 {
		source(t, 50+i).signup(s, fmt.Sprintf("user%d@example.com", i), pw)
	}

	// 100 guesses from one address across the 20 accounts.
	guesser := source(t, 1)
	got := map[int]int{}
	for i := range 100 {
		_, a := guesser.login(s, fmt.Sprintf("user%d@example.com", i%20), "guess "+strconv.Itoa(i))
		got[a.Status]++
		if a.Status == 429 && (a.Code != "throttled" || a.Header.Get("Retry-After") == "") {
			t.Errorf("guess %d: got 429 %s Retry-After %q, want throttled with Retry-After", i, a.Code, a.Header.Get("Retry-After"))
		}
	}
	t.Logf("100 guesses from one address: %v", got)
	if got[401] > 20 || got[429] < 80 {
		t.Errorf("100 guesses from one address: %d checked, %d refused; want at most 20 checked", got[401], got[429])
	}

	// 30 guesses at one account from 30 addresses.
	checked := 0
	for i := range 30 {
		if _, a := source(t, 100+i).login(s, "user0@example.com", "guess"); a.Status == 401 {
			checked++
		}
	}
	if checked > 10 {
		t.Errorf("30 guesses at one account from 30 addresses: %d checked, want at most 10", checked)
	}

	// Sign-ups from one address.
	refused := 0
	for i := range 30 {
		if a := source(t, 2).signup(s, fmt.Sprintf("new%d@example.com", i), pw); a.Status == 429 {
			refused++
		}
	}
	if refused < 10 {
		t.Errorf("30 sign-ups from one address: %d refused, want at least 10 (20 per 10 minutes)", refused)
	}

	// One-time codes: a phone guessing a card's code.
	c := source(t, 3)
	tok, _ := c.login(s, "user19@example.com", pw)
	ph := c.register(s, tok, "guessing phone")
	codeRefused := 0
	for i := range 25 {
		a := c.signed(s, ph, "POST", "/v1/phones/"+ph.id+"/cards/verify", fmt.Sprintf(`{"binding_id":"bind_x","otp":"%06d"}`, i))
		if a.Status == 429 {
			codeRefused++
		}
	}
	if codeRefused < 15 {
		t.Errorf("25 one-time codes for one account: %d refused, want at least 15 (10 per 10 minutes)", codeRefused)
	}

	// The security events of a guessed account: a few folded rows.
	owner := source(t, 60)
	tok, a := owner.login(s, "user1@example.com", pw)
	if tok == "" {
		// user1 may be locked by the guessing above; its owner's API log-in
		// waits, the portal's second factor does not (see the lock-out test).
		t.Logf("user1's API log-in: %d %s", a.Status, a.Code)
		return
	}
	ev := owner.call("GET", s.api+"/v1/events", tok, "")
	var out struct {
		Events []struct {
			Kind  string `json:"kind"`
			Times int    `json:"times"`
		} `json:"events"`
	}
	json.Unmarshal([]byte(ev.Body), &out)
	total := 0
	for _, e := range out.Events {
		total += e.Times
	}
	t.Logf("user1's security events: %d rows for %d occurrences", len(out.Events), total)
	if len(out.Events) > 8 {
		t.Errorf("security events of a guessed account: %d rows, want the repeats folded", len(out.Events))
	}
}
