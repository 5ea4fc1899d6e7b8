package netswitch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netmsg"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/tsp"
)

// ReasonRisk starts the reason of an authorization the network's risk
// engine declined (59): "risk v1 score 90: auth.small_burst" — the rule
// set's version, the score and the rules that fired (RiskReason). The
// whole decision, each rule's inputs included, is kept in the risk wing
// under the record's id.
const ReasonRisk Reason = "risk"

// RiskEngine is the network's risk engine as the switch uses it
// (*risk.Engine).
type RiskEngine interface {
	Authorize(ctx context.Context, a risk.Auth) (risk.Decision, error)
	RecordAuth(ctx context.Context, a risk.Auth, approved bool) error
}

// RiskKeeper keeps decisions and opens "was this you?" cases (the risk
// wing, risk/sqlstore).
type RiskKeeper interface {
	SaveDecision(ctx context.Context, d risk.Decision) error
	OpenCase(ctx context.Context, c risk.Case) error
}

// PhonePlaces is where the switch learns a phone's last reported place
// (the wallet). ok is false when the phone reported none.
type PhonePlaces interface {
	LastPlace(ctx context.Context, phoneID string) (s risk.Sighting, ok bool, err error)
}

// Risk is the network's risk check before the issuer (Config.Risk). Nil,
// or with a nil Engine, the switch runs without one. Its errors never
// stop a payment: the switch logs them and goes on as without the engine
// (fail open), counting them in Failed.
type Risk struct {
	Engine RiskEngine
	Keep   RiskKeeper  // nil: decisions are not kept and no case is opened
	Places PhonePlaces // nil: the phone's place is unknown
	// Failed counts the engine's and the keeper's errors.
	Failed atomic.Int64
}

// riskCall is one authorization's screening: the facts and the decision.
type riskCall struct {
	facts   risk.Auth
	d       risk.Decision
	decided bool
}

// declines reports whether the engine declined the authorization.
func (rk *riskCall) declines() bool { return rk != nil && rk.decided && rk.d.Outcome == risk.Decline }

// score is DE123 DF06: the decision's score in two digits, "" without one.
func (rk *riskCall) score() string {
	if rk == nil || !rk.decided {
		return ""
	}
	return twoDigits[min(max(rk.d.Score, 0), 99)]
}

// twoDigits are the scores' texts, "00" to "99": none made per decision.
var twoDigits = func() (t [100]string) {
	for i := range t {
		t[i] = string([]byte{'0' + byte(i/10), '0' + byte(i%10)})
	}
	return t
}()

// RiskReason is the reason recorded for a risk decline: the version, the
// score and the rules that fired (or the block), never a card number.
func RiskReason(d risk.Decision) Reason {
	why := strings.Join(d.Reasons, ",")
	if d.Block != "" {
		why = "blocked " + d.Block
	}
	return Reason(fmt.Sprintf("%s v%d score %d: %s", ReasonRisk, d.Version, d.Score, why))
}

// IsRisk reports whether a record's reason is a risk decline.
func (r Reason) IsRisk() bool { return strings.HasPrefix(string(r), string(ReasonRisk)+" ") }

// riskFacts are the facts of an authorization as the switch knows them:
// from the message, and from the token service's answer when it has one
// (t nil: only the token's reference).
func riskFacts(a *netmsg.Authorization, rec *Auth, t *tsp.Token) risk.Auth {
	f := risk.Auth{ID: rec.ID, At: rec.ReceivedAt, Token: risk.TokenRef(a.Token.Digits()), Bank: rec.BankID, Amount: a.Amount.Minor,
		Currency: int(a.Amount.Currency), MCC: a.MCC, Merchant: a.Merchant}
	if de43 := a.MerchantName; len(de43) >= 40 {
		f.City, f.Country = strings.TrimSpace(de43[25:38]), strings.TrimSpace(de43[38:40])
	}
	if len(a.POSEntryMode) >= 2 {
		f.EntryMode = a.POSEntryMode[:2]
	}
	if t != nil {
		f.Card, f.Phone, f.Account, f.TokenCreated = t.PAR, t.PhoneID, t.AccountID, t.CreatedAt
	}
	return f
}

// screen asks the engine about an authorization whose token the token
// service accepted, before the issuer is asked. nil: no engine, or it
// failed (logged, counted: the payment goes on without it).
func (s *Switch) screen(ctx context.Context, a *netmsg.Authorization, rec *Auth, t tsp.Token) *riskCall {
	r := s.cfg.Risk
	if r == nil || r.Engine == nil {
		return nil
	}
	rk := &riskCall{facts: riskFacts(a, rec, &t)}
	if r.Places != nil && t.PhoneID != "" {
		if p, ok, err := r.Places.LastPlace(ctx, t.PhoneID); err != nil {
			s.riskFailed("the phone's place", err)
		} else if ok {
			rk.facts.PhoneSeen = &p
		}
	}
	d, err := r.Engine.Authorize(ctx, rk.facts)
	if err != nil {
		s.riskFailed("deciding", err)
		return rk // recorded after the answer, not decided
	}
	rk.d, rk.decided = d, true
	return rk
}

// recordRisk tells the engine the authorization's answer once it is
// stored (every answer with a token counts: the token service's and the
// issuer's declines feed the decline velocity), keeps the decision and
// opens a "was this you?" case for a review or a risk decline.
func (s *Switch) recordRisk(ctx context.Context, a *netmsg.Authorization, rec Auth, rk *riskCall) {
	r := s.cfg.Risk
	if r == nil || r.Engine == nil || a == nil || a.Token.IsZero() {
		return
	}
	if rk == nil {
		rk = &riskCall{facts: riskFacts(a, &rec, nil)}
	}
	if err := r.Engine.RecordAuth(ctx, rk.facts, rec.ResponseCode.Approved()); err != nil {
		s.riskFailed("recording", err)
	}
	if rk.decided {
		s.traceRisk(ctx, rec, rk.d)
	}
	if !rk.decided || r.Keep == nil {
		return
	}
	if err := r.Keep.SaveDecision(ctx, rk.d); err != nil {
		s.riskFailed("keeping the decision", err)
	}
	if c, ok := risk.CaseFor(rk.d, rk.facts); ok {
		c.Summary = caseSummary(a, rec)
		if err := r.Keep.OpenCase(ctx, c); err != nil {
			s.riskFailed("opening a case", err)
		}
	}
}

// caseSummary is what the card holder is asked about: amount, merchant,
// city, time, and the network's answer.
func caseSummary(a *netmsg.Authorization, rec Auth) string {
	what := "approved"
	if !rec.ResponseCode.Approved() {
		what = "declined (" + rec.ResponseCode.Text() + ")"
	}
	return fmt.Sprintf("%s at %s, %s UTC: %s", a.Amount, rec.MerchantName,
		rec.ReceivedAt.UTC().Format(time.DateTime), what)
}

// traceRisk is the switch's trace of an authorization's risk decision:
// one structured line, "netswitch: risk decision", once the answer is
// stored — at Info for a review or a decline, at Debug for an approval
// (`tapwallet serve --log-level debug`). Its attributes: auth (the
// message identity DE41|DE11|DE7, the id the record and the kept
// decision go by), rc (the answer's response code), outcome, score,
// version, digest, rules (the enforced rules that fired), shadow and
// snoozed (the others), block; request_id is added by the log's handler
// when the context carries one. Never a card or token number: the
// decision holds references only, and the line names none of them.
func (s *Switch) traceRisk(ctx context.Context, rec Auth, d risk.Decision) {
	level := slog.LevelDebug
	if d.Outcome != risk.Approve {
		level = slog.LevelInfo
	}
	if !s.cfg.Log.Enabled(ctx, level) {
		return
	}
	var shadow, snoozed []string
	for _, h := range d.Hits {
		switch {
		case h.Shadow:
			shadow = append(shadow, h.Rule)
		case h.Snoozed:
			snoozed = append(snoozed, h.Rule)
		}
	}
	s.cfg.Log.LogAttrs(ctx, level, "netswitch: risk decision", slog.String("auth", rec.ID), slog.String("rc", string(rec.ResponseCode)),
		slog.String("outcome", d.Outcome.String()), slog.Int("score", d.Score), slog.Int("version", d.Version),
		slog.String("digest", d.Digest), slog.String("rules", strings.Join(d.Reasons, ",")),
		slog.String("shadow", strings.Join(shadow, ",")), slog.String("snoozed", strings.Join(snoozed, ",")),
		slog.String("block", d.Block))
}

func (s *Switch) riskFailed(what string, err error) {
	s.cfg.Risk.Failed.Add(1)
	s.cfg.Log.Error("netswitch: risk engine failed; going on without it", "step", what, "err", fault.MessageOf(err))
}
