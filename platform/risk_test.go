package platform_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/risk"
)

// riskTap taps the phone's card at a terminal in city at the platform's
// clock and returns the response code the network answered over TCP.
func (e *env) riskTap(t *testing.T, c *isolink.Client, ph *phone.Phone, card phone.Card, city string, amount int64, spoil bool) string {
	t.Helper()
	at := time.Now().Add(time.Duration(e.clock.Load()))
	tags, err := nettest.AnswerSE(ph.SE, card.Token, card.AID, nettest.TerminalData(amount, at), true)
	if err != nil {
		t.Fatal(err)
	}
	if spoil { // a wrong cryptogram: the token service declines it (88)
		tags[qpboc.TagCryptogram] = append([]byte(nil), tags[qpboc.TagCryptogram]...)
		tags[qpboc.TagCryptogram][0] ^= 0xFF
	}
	term := *testTerminal
	term.City = city
	m, err := term.Authorization(card.Token, "", amount, tags, at)
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

func (e *env) advance(d time.Duration) { e.clock.Add(int64(d)) }

// lastReason is the reason the switch recorded for the phone's newest
// authorization.
func (e *env) lastAuth(t *testing.T, phoneID string) netswitch.Auth {
	t.Helper()
	as, err := e.p.Records.PhoneAuths(context.Background(), phoneID, 1)
	if err != nil || len(as) == 0 {
		t.Fatalf("no authorization recorded for the phone: %v", err)
	}
	return as[0]
}

// syncKeys gives the phone fresh limited-use keys (ten a sync).
func syncKeys(t *testing.T, ph *phone.Phone) {
	t.Helper()
	if _, err := ph.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestRiskOverISO8583 drives the default authorization rules end to end:
// terminals send 0100s over TCP to the platform's network, which asks its
// risk engine before the issuer. Each rule fires on its case (59 with the
// reason on the switch's record, or approved with an alert) and stays
// silent on its near miss.
func TestRiskOverISO8583(t *testing.T) {
	t.Run("card testing", func(t *testing.T) {
		e := start(t)
		ph, card, c := e.payingPhone(t, "tess@example.com")
		for i := 0; i < 2; i++ {
			if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 100, true); rc == "00" {
				t.Fatalf("a wrong cryptogram approved")
			}
		}
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 500, false); rc != "00" {
			t.Fatalf("near miss (2 declines, then 5.00): got %s, want 00", rc)
		}
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 100, true); rc == "00" {
			t.Fatalf("a wrong cryptogram approved")
		}
		syncKeys(t, ph)
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 500, false); rc != "59" {
			t.Fatalf("3 declines, then 5.00: got %s, want 59 (card testing)", rc)
		}
		a := e.lastAuth(t, ph.Profile.PhoneID)
		if !a.Reason.IsRisk() || !strings.Contains(string(a.Reason), "auth.card_testing") || !strings.Contains(string(a.Reason), fmt.Sprintf("v%d score 9", risk.Default().Version)) {
			t.Fatalf("recorded reason %q, want the risk reason naming auth.card_testing, the version and the score", a.Reason)
		}
		d, err := e.p.RiskDecisions().DecisionOf(context.Background(), risk.PointAuthorization, a.ID)
		if err != nil || d.Outcome != risk.Decline || d.Version != risk.Default().Version {
			t.Fatalf("kept decision %+v %v, want a decline of the default version", d, err)
		}
		if strings.Contains(string(d.JSON()), card.Token) {
			t.Fatal("the kept decision holds the token number")
		}
	})
	t.Run("impossible travel", func(t *testing.T) {
		e := start(t)
		ph, card, c := e.payingPhone(t, "tom@example.com")
		if rc := e.riskTap(t, c, ph, card, "BEIJING", 3000, false); rc != "00" {
			t.Fatalf("first tap in Beijing: got %s, want 00", rc)
		}
		e.advance(3 * time.Hour) // ~1,070 km in 3 h: a fast train, not impossible
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 3000, false); rc != "00" {
			t.Fatalf("near miss (Shanghai 3 h after Beijing): got %s, want 00", rc)
		}
		e.advance(10 * time.Minute)
		if rc := e.riskTap(t, c, ph, card, "BEIJING", 3000, false); rc != "59" {
			t.Fatalf("Beijing 10 minutes after Shanghai: got %s, want 59", rc)
		}
		a := e.lastAuth(t, ph.Profile.PhoneID)
		if !strings.Contains(string(a.Reason), "auth.impossible_travel") {
			t.Fatalf("recorded reason %q, want auth.impossible_travel", a.Reason)
		}
		// "Was this you?" — the holder answers no: the token is suspended.
		alerts, err := ph.Alerts(context.Background(), true)
		if err != nil || len(alerts) != 1 || alerts[0].Outcome != "decline" || !strings.Contains(alerts[0].Summary, "TAPWALLET MART") {
			t.Fatalf("alerts %+v %v, want the one open decline", alerts, err)
		}
		other := e.newPhone(t, "mallory@example.com")
		if got, err := other.Alerts(context.Background(), false); err != nil || len(got) != 0 {
			t.Fatalf("another account sees %+v %v, want none", got, err)
		}
		if _, err := other.AnswerAlert(context.Background(), alerts[0].ID, true); code(err) != risk.CodeNoCase {
			t.Fatalf("another account answering: got %v, want %s", err, risk.CodeNoCase)
		}
		ans, err := ph.AnswerAlert(context.Background(), alerts[0].ID, false)
		if err != nil || ans.Alert.State != "confirmed_fraud" || ans.Suspended != card.Token[len(card.Token)-4:] || ans.Advice == "" {
			t.Fatalf("answer no: %+v %v, want confirmed fraud, the token suspended and advice", ans, err)
		}
		if _, err := ph.AnswerAlert(context.Background(), alerts[0].ID, true); code(err) != risk.CodeCaseClosed {
			t.Fatalf("answering again: got %v, want %s", err, risk.CodeCaseClosed)
		}
		e.advance(6 * time.Hour)
		if rc := e.riskTap(t, c, ph, card, "BEIJING", 3000, false); rc != "78" {
			t.Fatalf("a tap after 'not me': got %s, want 78 (token suspended)", rc)
		}
	})
	t.Run("amount spike", func(t *testing.T) {
		e := start(t)
		ph, card, c := e.payingPhone(t, "amy@example.com")
		for i := 0; i < 5; i++ {
			if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 2000, false); rc != "00" {
				t.Fatalf("history tap %d: got %s, want 00", i, rc)
			}
			e.advance(20 * time.Minute)
		}
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 10000, false); rc != "00" {
			t.Fatalf("near miss (5 × the 95th percentile): got %s, want 00", rc)
		}
		if al, _ := ph.Alerts(context.Background(), false); len(al) != 0 {
			t.Fatalf("near miss alerted: %+v", al)
		}
		e.advance(20 * time.Minute)
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 60000, false); rc != "00" {
			t.Fatalf("a spike is reviewed (approved and alerted): got %s, want 00", rc)
		}
		al, err := ph.Alerts(context.Background(), true)
		if err != nil || len(al) != 1 || al[0].Outcome != "review" || len(al[0].Rules) != 1 || al[0].Rules[0] != "auth.amount_p95" {
			t.Fatalf("alerts %+v %v, want one review by auth.amount_p95", al, err)
		}
		// (the near miss raised the 95th percentile to 100.00: 600.00 is above 5 times it)
		// "Yes, that was me": closed as not fraud, the pattern snoozed.
		if ans, err := ph.AnswerAlert(context.Background(), al[0].ID, true); err != nil || ans.Alert.State != "not_fraud" || ans.Suspended != "" {
			t.Fatalf("answer yes: %+v %v", ans, err)
		}
		e.advance(20 * time.Minute)
		if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 60000, false); rc != "00" {
			t.Fatalf("after yes: got %s, want 00", rc)
		}
		if al, _ := ph.Alerts(context.Background(), true); len(al) != 0 {
			t.Fatalf("the snoozed pattern alerted again: %+v", al)
		}
	})
}

// TestShadowRuleOverISO8583: a shadow rule that would decline every
// payment is evaluated and recorded with the authorization's decision,
// and changes nothing: the tap is approved by the issuer. The same rule
// enforced declines the next tap 59.
func TestShadowRuleOverISO8583(t *testing.T) {
	e := start(t)
	ph, card, c := e.payingPhone(t, "shadow@example.com")
	set := risk.Default()
	set.Version++
	set.Rules = append(set.Rules, risk.Rule{ID: "test.everything", Point: risk.PointAuthorization,
		Reason: "every payment (a rule under trial)", When: risk.Cond{Attr: "auth.amount", Op: ">=", Value: 1.0},
		Score: 99, Outcome: risk.Decline, Shadow: true})
	if err := e.p.Risk().Use(set); err != nil {
		t.Fatal(err)
	}
	if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 1234, false); rc != "00" {
		t.Fatalf("a tap under a shadow rule that declines everything: got %s, want 00", rc)
	}
	a := e.lastAuth(t, ph.Profile.PhoneID)
	d, err := e.p.RiskDecisions().DecisionOf(context.Background(), risk.PointAuthorization, a.ID)
	if err != nil {
		t.Fatalf("no decision kept for the approved tap: %v", err)
	}
	var hit *risk.Hit
	for i := range d.Hits {
		if d.Hits[i].Rule == "test.everything" {
			hit = &d.Hits[i]
		}
	}
	if hit == nil || !hit.Shadow || d.Outcome != risk.Approve || d.Version != set.Version {
		t.Fatalf("kept decision %+v: want approve of v%d with the shadow hit test.everything recorded", d, set.Version)
	}

	enforced := risk.Default()
	enforced.Version = set.Version + 1
	enforced.Rules = append(enforced.Rules, set.Rules[len(set.Rules)-1])
	enforced.Rules[len(enforced.Rules)-1].Shadow = false
	if err := e.p.Risk().Use(enforced); err != nil {
		t.Fatal(err)
	}
	if rc := e.riskTap(t, c, ph, card, "SHANGHAI", 1234, false); rc != "59" {
		t.Fatalf("the same rule enforced: got %s, want 59", rc)
	}
	if a := e.lastAuth(t, ph.Profile.PhoneID); !strings.Contains(string(a.Reason), "test.everything") {
		t.Fatalf("recorded reason %q, want test.everything", a.Reason)
	}
}
