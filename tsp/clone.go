package tsp

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tapwallet/tapwallet/id"
)

// A phone's secure element here is software: its keys are a file in the
// phone's profile, and whoever copies the folder holds the same keys and
// counter. The network cannot stop a copy's first payment — it is a
// genuine cryptogram with an unused key — but the two copies leave two key
// histories, and the first place they meet is proof of a clone:
//
//   - at authorization, a genuine cryptogram (it verifies with the key the
//     token service derives) with a key the network saw used with another
//     counter or another cryptogram, or with a counter it saw made with
//     another key (checkClone);
//   - at a sync, a key the network saw used that the phone still holds, or
//     a counter the network saw that the phone never reached (Replenish).
//
// Either suspends the token at once, tells the card holder (a message in
// the outbox that stands for SMS) and reports a security event.

// EventTokenCloned is the kind of the security event raised when a token is
// suspended because two copies of its keys were used.
const EventTokenCloned = "token_cloned"

// Security is where the token service reports security findings about a
// card holder's tokens: the wallet's audit trail (the platform hands the
// events to the wallet service).
type Security interface {
	SecurityEvent(ctx context.Context, e SecurityEvent)
}

// SecurityEvent is one security finding about a card holder's token.
type SecurityEvent struct {
	AccountID, DeviceID string
	Kind                string // EventTokenCloned
	Detail, Source      string
}

// Alerter is a Store that can queue a message to a card holder in the
// one-time-code outbox (which stands for SMS). AddMessage fails with the
// store's errors.
type Alerter interface {
	AddMessage(ctx context.Context, m OTPMessage) error
}

// checkClone runs when an authorization's cryptogram verifies but its key
// or counter was seen before (seen is that decline). It compares the use
// with the network's record of the token's keys: the same key with another
// counter or cryptogram, or the same counter with another key, is a clone —
// the token is suspended and DeclineCloned returned. Anything else (the
// very same cryptogram sent again, a counter that came late) returns seen.
func (s *Service) checkClone(ctx context.Context, t Token, keyIndex, atc int, arqc []byte, seen error) error {
	luks, err := s.luks(ctx, t)
	if err != nil {
		s.Log.ErrorContext(ctx, "tsp: cannot read the key uses to check for a clone", "token", t.Number, "err", err)
		return seen
	}
	why := cloneSign(luks, keyIndex, atc, arqc)
	if why == "" {
		return seen
	}
	if err := s.suspendClone(ctx, t, "tsp:authorize", why, true); err != nil {
		return err
	}
	return decline(DeclineCloned, "two copies of the phone's keys are paying (%s): the token is suspended", why)
}

// cloneSign says how a use of key keyIndex with counter atc and cryptogram
// arqc contradicts the recorded uses, or "" when it does not.
func cloneSign(luks []LUK, keyIndex, atc int, arqc []byte) string {
	for _, k := range luks {
		if k.UsedAt.IsZero() {
			continue
		}
		switch {
		case k.Index == keyIndex && k.UsedATC != atc:
			return fmt.Sprintf("limited-use key %d was used with counter %d and again with counter %d", keyIndex, k.UsedATC, atc)
		case k.Index == keyIndex && len(k.UsedARQC) > 0 && !bytes.Equal(k.UsedARQC, arqc):
			return fmt.Sprintf("limited-use key %d made two different cryptograms with counter %d", keyIndex, atc)
		case k.Index != keyIndex && k.UsedATC == atc:
			return fmt.Sprintf("counter %d was made with limited-use key %d and again with key %d", atc, k.Index, keyIndex)
		}
	}
	return ""
}

// suspendClone suspends a token that two copies of a phone used, tells the
// card holder and, when event is set, records a security event (a sync's
// caller records its own). It fails only if the suspension fails.
func (s *Service) suspendClone(ctx context.Context, t Token, actor, why string, event bool) error {
	if err := s.Suspend(ctx, t.Number.Digits(), actor, "clone suspected: "+why); err != nil {
		return err
	}
	s.Log.WarnContext(ctx, "tsp: token suspended, cloned phone suspected", "token", t.Number, "actor", actor, "why", why)
	if a, ok := s.Store.(Alerter); ok {
		msg := OTPMessage{ID: id.New("otp"), AccountID: t.AccountID, CreatedAt: s.Now().UTC(),
			Message: fmt.Sprintf("[tapwallet] Your card ending %s was suspended: it was used from a copy of your phone's wallet (%s). "+
				"If you did not copy your phone, someone has its keys: check your phones, then remove the card and add it again.", t.PANLast4, why)}
		if err := a.AddMessage(ctx, msg); err != nil {
			s.Log.ErrorContext(ctx, "tsp: clone alert not queued", "token", t.Number, "err", err)
		}
	}
	if event && s.Security != nil {
		s.Security.SecurityEvent(ctx, SecurityEvent{AccountID: t.AccountID, DeviceID: t.PhoneID, Kind: EventTokenCloned,
			Detail: "token ending " + t.Number.Last4() + " suspended: " + why, Source: actor})
	}
	return nil
}
