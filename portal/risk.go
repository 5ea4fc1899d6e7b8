package portal

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/wallet"
)

// Risk is the risk engine as the portal shows it (docs/risk.md): the
// account's "was this you?" cases, answered yes or no in the portal as
// through POST /v1/alerts/{id}, and the kept decisions that explain each
// payment. The zero Risk is no engine: no alerts page, no decision shown.
type Risk struct {
	// Cases are the engine's cases (platform: RiskCases()); every read
	// and answer names the visitor's account, so another account's case
	// is not found.
	Cases risk.Cases
	// State is the engine's state (risk.Engine.State()): a "yes" snoozes
	// the rule's pattern there. Needed with Cases.
	State risk.State
	// Decisions are the kept decisions (platform: RiskDecisions()); nil:
	// payments are shown without theirs.
	Decisions Decisions
	// SnoozeFor is how long a "yes" silences the rule for that pattern
	// (default 30 days, as the wallet API).
	SnoozeFor time.Duration
	// BlockRideCard, if set, answers "that was not me" to a transit ride's
	// case: the transit card goes on its city's hot list (its last 4 and
	// true; false for a case of another kind), instead of the bank card's
	// token being suspended (platform: walletapi.BlockRideCard).
	BlockRideCard func(ctx context.Context, c risk.Case) (string, bool, error)
}

// Decisions is the risk engine's read of a kept decision
// (risk.Versions.DecisionOf): fault.NotFound risk_no_decision when none
// was kept.
type Decisions interface {
	DecisionOf(ctx context.Context, p risk.Point, id string) (risk.Decision, error)
}

// ruleView is one enforced rule that fired, in words.
type ruleView struct {
	Name, Reason string
	Score        int
}

// decisionView is a risk decision as a card holder reads it: the score,
// what it did and why — never a card or token number (decisions hold
// references only, and only the rules' words are shown).
type decisionView struct {
	Score   int
	Outcome string // approve, review, decline, blocked
	Version int
	Rules   []ruleView
	Quiet   int // rules that fired without counting: snoozed, or shadow
}

// explain puts a decision in the visitor's words: each enforced rule by
// its catalogue name and reason ("rule.<id>", "reason.<id>"), else by the
// rule set's own reason text.
func (t *tr) explain(d risk.Decision) *decisionView {
	v := &decisionView{Score: d.Score, Outcome: d.Outcome.String(), Version: d.Version}
	if d.Block != "" {
		v.Outcome = "blocked"
	}
	for _, h := range d.Hits {
		if h.Shadow || h.Snoozed {
			v.Quiet++
			continue
		}
		r := ruleView{Name: t.T("rule.other"), Reason: h.Reason, Score: h.Score}
		if t.Has("rule." + h.Rule) {
			r.Name = t.T("rule." + h.Rule)
		}
		if t.Has("reason." + h.Rule) {
			r.Reason = t.T("reason." + h.Rule)
		}
		v.Rules = append(v.Rules, r)
	}
	return v
}

// decisionOf is the kept decision of an authorization (nil when the
// engine kept none, or none is connected). A failing read is logged and
// the payment shown without it.
func (p *Portal) decisionOf(ctx context.Context, t *tr, authID string) *decisionView {
	if p.cfg.Risk.Decisions == nil {
		return nil
	}
	d, err := p.cfg.Risk.Decisions.DecisionOf(ctx, risk.PointAuthorization, authID)
	if err != nil {
		if fault.KindOf(err) != fault.NotFound {
			p.cfg.Log.WarnContext(ctx, "portal: a risk decision could not be read", "err", err)
		}
		return nil
	}
	return t.explain(d)
}

// alertsOn reports whether the "was this you?" alerts are connected.
func (p *Portal) alertsOn() bool { return p.cfg.Risk.Cases != nil && p.cfg.Risk.State != nil }

// alertView is a case as the alerts page shows it.
type alertView struct {
	ID        string // the case's id, named by the answer form (another account's is not found)
	Anchor    string // the element id: alert-1, alert-2 … on the page
	State     string
	Open      bool
	Binding   bool     // a card being added to a phone, not a payment
	Payment   *Payment // the payment asked about, when still listed
	Summary   string   // the network's summary when the payment is not listed
	PhoneID   string
	PhoneName string
	OfferOff  bool // "not me" and the phone's wallet still on: offer to switch it off
	OpenedAt  time.Time
	ClosedAt  time.Time
	Decision  *decisionView
	History   []changeView
}

// changeView is one change of a case's state, in words.
type changeView struct {
	At       time.Time
	By       string
	From, To string
}

type alertsView struct {
	Alerts []alertView
	Open   int
}

// maxAlertPayments is how many recent payments the alerts page looks the
// cases' payments up among.
const maxAlertPayments = 200

func (p *Portal) alertsPage(w http.ResponseWriter, r *http.Request, v *visit) {
	if !p.alertsOn() {
		p.fail(w, r, v, fault.E(fault.NotFound, "no_page", "there is no such page"))
		return
	}
	av, err := p.alerts(r.Context(), p.tr(r), v.AccountID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	p.render(w, r, http.StatusOK, "alerts", &view{Title: "page.alerts", Nav: "alerts", Visit: v, Notice: r.URL.Query().Get("done"), Data: av})
}

// alerts lists the account's cases, newest first, each with the payment
// it asks about, its decision and its history in words.
func (p *Portal) alerts(ctx context.Context, t *tr, accountID string) (alertsView, error) {
	cases, err := p.cfg.Risk.Cases.CasesOf(ctx, accountID, "")
	if err != nil {
		return alertsView{}, err
	}
	phones, err := p.cfg.Wallet.Phones(ctx, accountID)
	if err != nil {
		return alertsView{}, err
	}
	names, on := map[string]string{}, map[string]bool{}
	for _, ph := range phones {
		names[ph.ID], on[ph.ID] = ph.Name, ph.WalletOn
	}
	pays := map[string]Payment{}
	if len(cases) > 0 {
		list, err := p.payments(ctx, accountID, maxAlertPayments)
		if err != nil {
			return alertsView{}, err
		}
		for _, pm := range list {
			pays[pm.id] = pm
		}
	}
	var out alertsView
	for i, c := range cases {
		a := alertView{ID: c.ID, Anchor: "alert-" + strconv.Itoa(i+1), State: string(c.State), Open: c.State == risk.CaseOpen,
			Binding: c.Decision.Point == risk.PointBinding, PhoneID: c.Phone, PhoneName: names[c.Phone],
			OpenedAt: c.OpenedAt, ClosedAt: c.ClosedAt, Decision: t.explain(c.Decision)}
		if pm, ok := pays[strings.TrimPrefix(c.ID, string(risk.PointAuthorization)+":")]; ok && !a.Binding {
			a.Payment = &pm
		} else if !a.Binding {
			a.Summary = c.Summary
		}
		a.OfferOff = c.State == risk.CaseConfirmedFraud && on[c.Phone]
		for _, ch := range c.History {
			a.History = append(a.History, changeView{At: ch.At, By: t.changedBy(ch.By, accountID), From: string(ch.From), To: string(ch.To)})
		}
		if a.Open {
			out.Open++
		}
		out.Alerts = append(out.Alerts, a)
	}
	return out, nil
}

// changedBy says who changed a case: the risk engine, you, an analyst.
func (t *tr) changedBy(by, accountID string) string {
	switch {
	case by == "risk":
		return t.T("actor.risk")
	case strings.HasPrefix(by, "analyst:"):
		return t.T("actor.analyst")
	}
	return t.actor(by, accountID, nil)
}

// openAlerts counts the account's open cases (0 without the engine, or
// when the engine cannot be read: the phones page is not refused for it).
func (p *Portal) openAlerts(ctx context.Context, accountID string) int {
	if !p.alertsOn() {
		return 0
	}
	cs, err := p.cfg.Risk.Cases.CasesOf(ctx, accountID, risk.CaseOpen)
	if err != nil {
		p.cfg.Log.WarnContext(ctx, "portal: the open alerts could not be read", "err", err)
		return 0
	}
	return len(cs)
}

// answerAlert is the card holder's answer in the portal, with the same
// effect as POST /v1/alerts/{id}: "yes" closes the case as not fraud and
// snoozes the rule for that pattern; "no" closes it as confirmed fraud,
// suspends the case's token and offers to switch the phone's wallet off.
// Another account's case is not found; an answered one is refused.
func (p *Portal) answerAlert(w http.ResponseWriter, r *http.Request, v *visit) {
	if !p.alertsOn() {
		p.fail(w, r, v, fault.E(fault.NotFound, "no_page", "there is no such page"))
		return
	}
	answer := r.PostForm.Get("answer")
	if answer != "yes" && answer != "no" {
		p.fail(w, r, v, fault.E(fault.Invalid, "bad_answer", `answer must be "yes" (that was me) or "no" (that was not me)`))
		return
	}
	snooze := p.cfg.Risk.SnoozeFor
	if snooze <= 0 {
		snooze = 30 * 24 * time.Hour
	}
	ctx := r.Context()
	c, err := risk.Answer(ctx, p.cfg.Risk.Cases, p.cfg.Risk.State, v.AccountID, r.PostForm.Get("alert"), answer == "yes", p.now(), snooze)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	done := "me"
	if answer == "no" {
		done = "not-me"
		if last4, ok, err := p.blockRideCard(ctx, c, v); err != nil {
			p.fail(w, r, v, err)
			return
		} else if ok {
			p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, PhoneID: c.Phone, Kind: eventTransitBlocked,
				Detail: "transit card ending " + last4 + " blocked at the gates: not me", Source: source(r)})
			http.Redirect(w, r, "/alerts?done=not-me-ride", http.StatusSeeOther)
			return
		}
		last4, err := p.suspendCaseToken(ctx, c, v)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		p.cfg.Wallet.Record(ctx, wallet.Event{AccountID: v.AccountID, PhoneID: c.Phone, Kind: eventTokenSuspended,
			Detail: "token ending " + last4 + " suspended: not me", Source: source(r)})
	}
	http.Redirect(w, r, "/alerts?done="+done, http.StatusSeeOther)
}

// eventTokenSuspended is the security event of a card suspended because
// its holder answered an alert "that was not me"; eventTransitBlocked of
// a transit card hot-listed for a ride its holder did not make.
const (
	eventTokenSuspended = "token_suspended"
	eventTransitBlocked = "transit_card_blocked"
)

// blockRideCard hot-lists the transit card of a transit ride's case
// (Risk.BlockRideCard) once the case's phone is found to be the visitor's;
// false for a case of another kind or without the door.
func (p *Portal) blockRideCard(ctx context.Context, c risk.Case, v *visit) (string, bool, error) {
	if _, ride := risk.RideCard(c.ID); p.cfg.Risk.BlockRideCard == nil || !ride {
		return "", false, nil
	}
	if _, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, c.Phone); err != nil {
		return "", false, err
	}
	return p.cfg.Risk.BlockRideCard(ctx, c)
}

// suspendCaseToken suspends the case's token, found among the cards of
// the case's phone by its reference (risk.TokenRef); it returns its last
// 4 digits. It fails with fault.NotFound card_not_found when the phone no
// longer holds it.
func (p *Portal) suspendCaseToken(ctx context.Context, c risk.Case, v *visit) (string, error) {
	if _, err := p.cfg.Wallet.OwnedPhone(ctx, v.AccountID, c.Phone); err != nil {
		return "", err
	}
	toks, err := p.cfg.Tokens.Cards(ctx, c.Phone)
	if err != nil {
		return "", err
	}
	for _, tk := range toks {
		if risk.TokenRef(tk.Number.Digits()) == c.Token {
			return tk.Number.Last4(), p.cfg.Tokens.Suspend(ctx, tk.Number.Digits(), "portal:"+v.AccountID, "risk_confirmed_fraud")
		}
	}
	return "", fault.E(fault.NotFound, "card_not_found", "the card of this alert is no longer on the phone")
}
