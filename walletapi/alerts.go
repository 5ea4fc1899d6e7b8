package walletapi

import (
	"context"
	"github.com/tapwallet/tapwallet/transit"
	"net/http"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Alerts is the risk engine's "was this you?" cases as the wallet API
// shows them: each account sees and answers its own only.
type Alerts struct {
	Cases risk.Cases
	// State is the engine's state: a "yes" snoozes the pattern there.
	State risk.State
	// SnoozeFor is how long a "yes" silences the rule for that pattern
	// (default 30 days).
	SnoozeFor time.Duration
	Now       func() time.Time
}

// MountAlerts adds the "was this you?" routes (docs/openapi.yaml):
//
//	GET  /v1/alerts       the account's alerts, newest first (?state=open for the open ones)
//	POST /v1/alerts/{id}  answer one: {"answer": "yes"|"no"}; "no" suspends the token
func (a *API) MountAlerts(al Alerts) {
	if al.SnoozeFor <= 0 {
		al.SnoozeFor = 30 * 24 * time.Hour
	}
	if al.Now == nil {
		al.Now = time.Now
	}
	a.mux.HandleFunc("GET /v1/alerts", a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		a.listAlerts(w, r, al, acc)
	}))
	a.mux.HandleFunc("POST /v1/alerts/{id}", a.authed(func(w http.ResponseWriter, r *http.Request, acc string) {
		a.answerAlert(w, r, al, acc)
	}))
}

// AlertView is a case as the card holder sees it: never a card number
// (the case holds references only).
func AlertView(c risk.Case) client.Alert {
	v := client.Alert{ID: c.ID, State: string(c.State), Summary: c.Summary, Outcome: c.Decision.Outcome.String(),
		Reasons: []string{}, Rules: []string{}, Score: c.Decision.Score, Version: c.Decision.Version, Phone: c.Phone,
		OpenedAt: c.OpenedAt, ClosedAt: c.ClosedAt}
	for _, h := range c.Decision.Hits {
		if !h.Shadow && !h.Snoozed {
			v.Rules, v.Reasons = append(v.Rules, h.Rule), append(v.Reasons, h.Reason)
		}
	}
	return v
}

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request, al Alerts, acc string) {
	state := risk.CaseState(r.URL.Query().Get("state"))
	switch state {
	case "", risk.CaseOpen, risk.CaseConfirmedFraud, risk.CaseNotFraud:
	case "all":
		state = ""
	default:
		a.fail(w, r, fault.E(fault.Invalid, "bad_state", "state must be open, confirmed_fraud, not_fraud or all"))
		return
	}
	cs, err := al.Cases.CasesOf(r.Context(), acc, state)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := client.Alerts{Alerts: []client.Alert{}}
	for _, c := range cs {
		out.Alerts = append(out.Alerts, AlertView(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// answerAlert closes the account's case: "yes" as not fraud (the rule is
// snoozed for that pattern), "no" as confirmed fraud — the case's token is
// suspended and the holder is offered to switch the wallet off. Another
// account's case is not found (404 risk_no_case), an answered one is 409
// risk_case_closed.
func (a *API) answerAlert(w http.ResponseWriter, r *http.Request, al Alerts, acc string) {
	var in client.AlertAnswer
	if err := readJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Answer != "yes" && in.Answer != "no" {
		a.fail(w, r, fault.E(fault.Invalid, "bad_answer", `answer must be "yes" (that was me) or "no" (that was not me)`))
		return
	}
	c, err := risk.Answer(r.Context(), al.Cases, al.State, acc, r.PathValue("id"), in.Answer == "yes", al.Now().UTC(), al.SnoozeFor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := client.AlertAnswered{Alert: AlertView(c)}
	if in.Answer == "no" {
		if blocked, ok, err := a.blockCaseTransitCard(r.Context(), c, acc); err != nil {
			a.fail(w, r, err)
			return
		} else if ok {
			out.Blocked = blocked
			out.Advice = "the transit card is blocked at the gates (its balance stays yours: ask its operator for a refund); if the phone is lost or stolen, switch its wallet off (tapwallet phone wallet-off)"
			writeJSON(w, http.StatusOK, out)
			return
		}
		last4, err := a.suspendCaseToken(r.Context(), c, acc)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.Suspended = last4
		out.Advice = "the card is suspended on this phone; if the phone is lost or stolen, switch its wallet off (tapwallet phone wallet-off)"
	}
	writeJSON(w, http.StatusOK, out)
}

// blockCaseTransitCard is BlockRideCard for the case's account, once the
// case's phone is found to be the account's.
func (a *API) blockCaseTransitCard(ctx context.Context, c risk.Case, acc string) (string, bool, error) {
	if _, ride := risk.RideCard(c.ID); a.transit == nil || !ride {
		return "", false, nil
	}
	if _, err := a.Wallet.OwnedPhone(ctx, acc, c.Phone); err != nil {
		return "", false, err
	}
	return BlockRideCard(ctx, a.transit, c)
}

// BlockRideCard puts on its city's hot list the transit card of a transit
// ride's case (risk.PointTransit: its id, point:city|card reference|counter,
// names the card by risk.TransitCardRef), one of the case's phone's cards:
// a ride the card holder did not make is the transit card's, not the bank
// card's that paid for it. It returns the card's last 4 digits and true;
// false for a case of another kind, or when the phone no longer holds the
// card. The caller has checked the case is its visitor's.
func BlockRideCard(ctx context.Context, t *transit.Service, c risk.Case) (string, bool, error) {
	ref, ok := risk.RideCard(c.ID)
	if !ok {
		return "", false, nil
	}
	cards, err := t.CardsOfPhone(ctx, c.Phone)
	if err != nil {
		return "", false, err
	}
	for _, tc := range cards {
		if risk.TransitCardRef(tc.Number) != ref {
			continue
		}
		if err := t.Block(ctx, tc.Number, "the card holder answered a risk alert: that ride was not theirs"); err != nil {
			return "", false, err
		}
		return tc.Number[max(0, len(tc.Number)-4):], true, nil
	}
	return "", false, nil
}

// suspendCaseToken suspends the case's token: found among the cards of
// the case's phone by its reference (risk.TokenRef). It fails with
// fault.NotFound card_not_found when the phone no longer holds it.
func (a *API) suspendCaseToken(ctx context.Context, c risk.Case, acc string) (string, error) {
	if _, err := a.Wallet.OwnedPhone(ctx, acc, c.Phone); err != nil {
		return "", err
	}
	cards, err := a.Tokens.Cards(ctx, c.Phone)
	if err != nil {
		return "", err
	}
	for _, t := range cards {
		if risk.TokenRef(t.Number.Digits()) != c.Token {
			continue
		}
		if err := a.Tokens.Suspend(ctx, t.Number.Digits(), "account:"+acc, "risk_confirmed_fraud"); err != nil {
			return "", err
		}
		return t.Number.Last4(), nil
	}
	return "", fault.E(fault.NotFound, "card_not_found", "the card of this alert is no longer on the phone")
}
