package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/tsp"
)

// tap makes the phone's card answer a terminal with its secure element, as
// the payment applet does, and sends the terminal's 0100 to the network.
func tap(t *testing.T, c *isolink.Client, el *se.Element, card phone.Card, amount int64) string {
	t.Helper()
	now := time.Now()
	tags, err := nettest.AnswerSE(el, card.Token, card.AID, nettest.TerminalData(amount, now), true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := testTerminal.Authorization(card.Token, "", amount, tags, now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := resp.ResponseCode()
	return string(rc)
}

var testTerminal = nettest.NewTerminal("T0000009", "898310054110009", "TAPWALLET MART")

// payingPhone is a new account's phone with the debit card 6222020000000007
// of ICBC and a connection to the network's acquirer port.
func (e *env) payingPhone(t *testing.T, email string) (*phone.Phone, phone.Card, *isolink.Client) {
	t.Helper()
	ctx := context.Background()
	ph := e.newPhone(t, email)
	res, err := ph.AddCard(ctx, "6222020000000007", "1230", "123")
	if err != nil {
		t.Fatal(err)
	}
	c, err := isolink.Dial(ctx, e.p.ISOAddr, isolink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ph, *res.Card, c
}

func TestPaymentHistorySyncAndClearing(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph, card, c := e.payingPhone(t, "dora@example.com")

	if rc := tap(t, c, ph.SE, card, 1234); rc != "00" {
		t.Fatalf("got %s for a tap, want 00", rc)
	}
	t.Run("history", func(t *testing.T) {
		h, err := ph.History(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Status != "approved" || h[0].Merchant != "TAPWALLET MART" || h[0].CardLast4 != "0007" || h[0].Amount != 1234 {
			t.Fatalf("got history %+v, want one approved ¥12.34 payment at TAPWALLET MART with the card ending 0007", h)
		}
	})
	t.Run("sync after a payment", func(t *testing.T) {
		s, err := ph.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 1 || len(s[0].Mismatches) != 0 || s[0].NewKeys != 10 || s[0].KeysAfter != s[0].KeysBefore+10 {
			t.Fatalf("got %+v, want no mismatch and 10 new keys", s)
		}
		if rc := tap(t, c, ph.SE, card, 100); rc != "00" {
			t.Fatalf("got %s with a replenished key, want 00", rc)
		}
	})
	t.Run("a tap that never reached the network", func(t *testing.T) {
		if _, err := nettest.AnswerSE(ph.SE, card.Token, card.AID, nettest.TerminalData(100, time.Now()), true); err != nil {
			t.Fatal(err)
		}
		s, err := ph.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s[0].Mismatches) != 1 || s[0].Mismatches[0].Kind != tsp.MismatchUnseenUse || s[0].Suspended {
			t.Fatalf("got %+v, want one unseen use and no suspension", s[0])
		}
	})
	t.Run("a cloned secure element", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(ph.Dir, "secure-element.json"))
		if err != nil {
			t.Fatal(err)
		}
		clonePath := filepath.Join(t.TempDir(), "clone.json")
		if err := os.WriteFile(clonePath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		clone, err := se.Open(clonePath)
		if err != nil {
			t.Fatal(err)
		}
		if rc := tap(t, c, clone, card, 100); rc != "00" {
			t.Fatalf("got %s for the clone's first tap, want 00 (the network cannot tell yet)", rc)
		}
		s, err := ph.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !s[0].Suspended || s[0].State != "suspended" {
			t.Fatalf("got %+v, want the token suspended", s[0])
		}
		kinds := ""
		for _, m := range s[0].Mismatches {
			kinds += m.Kind + " "
		}
		if !strings.Contains(kinds, tsp.MismatchCloneUse) || !strings.Contains(kinds, tsp.MismatchCounterAhead) {
			t.Errorf("got mismatches %s, want a clone use and a counter ahead", kinds)
		}
		if rc := tap(t, c, clone, card, 100); rc != string(iso8583.Blocked) {
			t.Errorf("got %s for the clone after the sync, want 78", rc)
		}
		_, body := callBody(t, "GET", e.p.URL+"/v1/events", ph.Profile.Session, nil)
		if !strings.Contains(body, "sync_token_suspended") || !strings.Contains(body, "sync_mismatch") {
			t.Errorf("the account's events do not show the sync: %s", body)
		}
	})
	t.Run("clearing from the API", func(t *testing.T) {
		date := time.Now().UTC().Format("2006-01-02")
		if status, _ := callBody(t, "POST", e.p.URL+"/v1/admin/clearing?date="+date, "", nil); status != 401 {
			t.Fatalf("got %d without the operator token, want 401", status)
		}
		tok, err := os.ReadFile(filepath.Join(e.data, "operator-token"))
		if err != nil {
			t.Fatal(err)
		}
		status, body := callBody(t, "POST", e.p.URL+"/v1/admin/clearing?date="+date, "",
			map[string]string{"X-Operator-Token": strings.TrimSpace(string(tok))})
		if status != 200 {
			t.Fatalf("got %d %s, want 200", status, body)
		}
		var rep struct {
			Banks []struct {
				Bank         string `json:"bank"`
				Posted       int    `json:"posted"`
				PostedAmount int64  `json:"posted_amount"`
			} `json:"banks"`
			Network int64 `json:"network"`
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Banks) != 1 || rep.Banks[0].Bank != "icbc" || rep.Banks[0].Posted != 3 || rep.Banks[0].PostedAmount != 1434 || rep.Network != 0 {
			t.Fatalf("got %s, want icbc with 3 payments for 1434 posted", body)
		}
		if _, err := os.Stat(filepath.Join(e.data, "clearing", "TWCLR-"+strings.ReplaceAll(date, "-", "")+"-icbc.txt")); err != nil {
			t.Errorf("no clearing file: %v", err)
		}
	})
}

// callBody sends a request and returns the status and the whole body.
func callBody(t *testing.T, method, url, session string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReplayedCryptogramIsSecurityEvent: a cryptogram sent again under a
// new trace number is declined 59 by the token check, and the token
// service (which owns that decision) records a payment_suspicious event in
// the account's audit trail; an honest decline (no fingerprint) does not.
func TestReplayedCryptogramIsSecurityEvent(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ph, card, c := e.payingPhone(t, "rita@example.com")
	send := func(tags map[emv.Tag][]byte) string {
		t.Helper()
		m, err := testTerminal.Authorization(card.Token, "", 500, tags, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := resp.ResponseCode()
		return string(rc)
	}
	events := func() string {
		_, body := callBody(t, "GET", e.p.URL+"/v1/events", ph.Profile.Session, nil)
		return body
	}
	noFinger, err := nettest.AnswerSE(ph.SE, card.Token, card.AID, nettest.TerminalData(500, time.Now()), false)
	if err != nil {
		t.Fatal(err)
	}
	if rc := send(noFinger); rc != string(iso8583.IncorrectPIN) {
		t.Fatalf("got %s without a fingerprint, want %s", rc, iso8583.IncorrectPIN)
	}
	if body := events(); strings.Contains(body, tsp.EventPaymentSuspicious) {
		t.Fatalf("a tap without a fingerprint is a security event: %s", body)
	}
	tags, err := nettest.AnswerSE(ph.SE, card.Token, card.AID, nettest.TerminalData(500, time.Now()), true)
	if err != nil {
		t.Fatal(err)
	}
	if rc := send(tags); rc != "00" {
		t.Fatalf("got %s for a tap, want 00", rc)
	}
	if rc := send(tags); rc != string(iso8583.SuspectedFraud) {
		t.Fatalf("got %s for the same cryptogram under a new trace number, want 59", rc)
	}
	body := events()
	if !strings.Contains(body, tsp.EventPaymentSuspicious) || !strings.Contains(body, "ending "+card.Token[len(card.Token)-4:]) {
		t.Errorf("the account's events lack the suspicious payment: %s", body)
	}
}
