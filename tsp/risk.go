package tsp

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/risk"
)

// CodeRiskDeclined is the code of a card binding the risk engine refused
// (fault.Declined).
const CodeRiskDeclined = "risk_declined"

// BindingEngine is the risk engine as the token service uses it at card
// binding (*risk.Engine).
type BindingEngine interface {
	Bind(ctx context.Context, b risk.Binding) (risk.Decision, error)
	RecordBinding(ctx context.Context, b risk.Binding) error
}

// HolderRecorder is the engine's side of the holder's name (*risk.Engine):
// an engine that has it is told the name the bank's ID&V returned
// (screenHolder).
type HolderRecorder interface {
	RecordHolder(ctx context.Context, b risk.Binding) error
}

// PhoneFacts is what the wallet and the lost-phone switch know of a phone
// that the binding rules read: its and its account's age, and when its
// wallet was last switched off (zero: never).
type PhoneFacts struct {
	PhoneCreated, AccountCreated, LostAt time.Time
}

// PhoneFacter tells the token service a phone's facts (the wallet).
type PhoneFacter interface {
	PhoneFacts(ctx context.Context, deviceID, accountID string) (PhoneFacts, error)
}

// Risk is the token service's risk check before ID&V (Service.Risk). Nil,
// or with a nil Engine, the service binds without one. Its errors never
// stop a binding (fail open, logged and counted in Failed); a decline does.
type Risk struct {
	Engine BindingEngine
	Phones PhoneFacter // nil: the phone's facts are unknown
	Keep   interface {
		SaveDecision(ctx context.Context, d risk.Decision) error
	} // nil: decisions are not kept
	Failed atomic.Int64
}

// bindCheck is one binding's screening.
type bindCheck struct {
	facts   risk.Binding
	d       risk.Decision
	decided bool
}

// stepUp reports whether the engine asks for a one-time code.
func (b *bindCheck) stepUp() bool { return b != nil && b.decided && b.d.Outcome == risk.Review }

// idv is the engine's score and reasons as the issuer gets them with the
// ID&V request.
func (b *bindCheck) idv(r *bank.IDVRequest) {
	if b != nil && b.decided {
		r.RiskScore, r.RiskReasons, r.RiskVerdict = b.d.Score, b.d.Reasons, b.d.Verdict()
	}
}

// screenBinding asks the engine about a binding before ID&V, records the
// attempt (every attempt counts) and refuses a decline with fault.Declined
// CodeRiskDeclined naming the reasons.
func (s *Service) screenBinding(ctx context.Context, dev Device, pan card.PAN, st DeviceState) (*bindCheck, error) {
	r := s.Risk
	if r == nil || r.Engine == nil {
		return nil, nil
	}
	b, err := s.bindFacts(ctx, dev, pan)
	if err != nil {
		s.riskFailed("facts", err)
		return nil, nil
	}
	b.PhoneOff, b.Tokens = st.Off, st.Cards
	c := &bindCheck{facts: b}
	if d, err := r.Engine.Bind(ctx, b); err != nil {
		s.riskFailed("deciding", err)
	} else {
		c.d, c.decided = d, true
		if r.Keep != nil {
			if err := r.Keep.SaveDecision(ctx, d); err != nil {
				s.riskFailed("keeping the decision", err)
			}
		}
	}
	if err := r.Engine.RecordBinding(ctx, b); err != nil {
		s.riskFailed("recording", err)
	}
	if c.decided && c.d.Outcome == risk.Decline {
		return c, riskDeclined(c.d)
	}
	return c, nil
}

// bindFacts are the facts of a binding: the card by a reference to its
// keyed index (never its number), the phone, the account, the bank, and
// the wallet's facts of the phone.
func (s *Service) bindFacts(ctx context.Context, dev Device, pan card.PAN) (risk.Binding, error) {
	idx, err := s.panIndex(ctx, pan)
	if err != nil {
		return risk.Binding{}, err
	}
	b := risk.Binding{ID: id.New("bind"), At: s.Now().UTC(), Card: risk.CardRef(idx), Phone: dev.ID, Account: dev.AccountID}
	if v, err := s.Issuers.Route(ctx, pan); err == nil {
		b.Bank = v.BankID
	}
	if s.Risk.Phones != nil {
		f, err := s.Risk.Phones.PhoneFacts(ctx, dev.ID, dev.AccountID)
		if err != nil {
			return risk.Binding{}, err
		}
		b.PhoneCreated, b.AccountCreated, b.PhoneLostAt = f.PhoneCreated, f.AccountCreated, f.LostAt
	}
	return b, nil
}

// recordWrongOTP tells the engine of a wrong one-time code: one more
// attempt for this card on this phone (binding.attempts_72h) and one more
// wrong code on this phone whatever the card (phone.failed_otps_24h),
// with the binding's wrong codes so far.
func (s *Service) recordWrongOTP(ctx context.Context, dev Device, bd Binding, wrong int) {
	if s.Risk == nil || s.Risk.Engine == nil {
		return
	}
	pan, err := s.openBinding(ctx, bd)
	var b risk.Binding
	if err == nil {
		b, err = s.bindFacts(ctx, dev, pan)
	}
	if err == nil {
		b.FailedOTPs, b.WrongOTP = wrong, true
		err = s.Risk.Engine.RecordBinding(ctx, b)
	}
	if err != nil {
		s.riskFailed("recording a wrong code", err)
	}
}

// screenHolder decides a binding again once the bank's ID&V named the
// card holder (v.Holder): the name, by a keyed reference (never the name),
// joins the phone's names (phone.names_90d: more than 2 distinct names on
// a phone, MDES's reason code) and a higher outcome than the first
// decision's replaces it — a step-up sends a one-time code even for a
// green verdict (rc.stepUp), a decline refuses the card with
// fault.Declined CodeRiskDeclined. Nothing happens without a name, a
// first decision or an engine that records names; the engine's errors
// are logged and counted (fail open). AddCard calls it after a verdict
// that is not Red.
func (s *Service) screenHolder(ctx context.Context, rc *bindCheck, v bank.IDVVerdict) error {
	if rc == nil || !rc.decided || v.Holder == "" || s.Risk == nil {
		return nil
	}
	hr, ok := s.Risk.Engine.(HolderRecorder)
	if !ok {
		return nil
	}
	idx, err := s.Keys.Index(ctx, "holder", []byte(risk.NormalName(v.Holder)))
	if err != nil {
		s.riskFailed("the holder's reference", err)
		return nil
	}
	b := rc.facts
	b.Holder, b.Recorded = risk.HolderRef(idx), true
	b.ID = rc.facts.ID + ".idv" // the first decision is kept under the binding's id
	if err := hr.RecordHolder(ctx, b); err != nil {
		s.riskFailed("recording the holder", err)
		return nil
	}
	d, err := s.Risk.Engine.Bind(ctx, b)
	if err != nil {
		s.riskFailed("deciding with the holder", err)
		return nil
	}
	if d.Outcome <= rc.d.Outcome {
		return nil
	}
	rc.d = d
	if s.Risk.Keep != nil {
		if err := s.Risk.Keep.SaveDecision(ctx, d); err != nil {
			s.riskFailed("keeping the decision", err)
		}
	}
	if d.Outcome == risk.Decline {
		return riskDeclined(d)
	}
	return nil
}

// riskDeclined is the error of a binding the engine declined.
func riskDeclined(d risk.Decision) error {
	return fault.E(fault.Declined, CodeRiskDeclined, "this card cannot be added to this phone now (%s): contact your bank", d.String())
}

func (s *Service) riskFailed(what string, err error) {
	s.Risk.Failed.Add(1)
	s.Log.Error("tsp: risk engine failed; binding without it", "step", what, "err", fault.MessageOf(err))
}

// openBinding reads the card number a pending binding sealed.
func (s *Service) openBinding(ctx context.Context, bd Binding) (card.PAN, error) {
	panB, err := s.Keys.Open(ctx, bd.Sealed, []byte("binding:"+bd.ID))
	if err != nil {
		return card.PAN{}, err
	}
	return card.ParsePAN(string(panB))
}
