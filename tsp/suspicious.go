package tsp

import (
	"context"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
)

// EventPaymentSuspicious is the kind of the security event raised when the
// token check declines a payment for a reason that points at an attack
// rather than a mistake: see SuspiciousDecline.
const EventPaymentSuspicious = "payment_suspicious"

// suspiciousDeclines are the token check's declines that are security
// findings: a counter replayed or far ahead, a limited-use key never
// issued, used or expired, a cryptogram that does not verify, a cloned
// phone. (A suspended or expired token, a missing fingerprint or chip
// data are the card holder's or the terminal's mistakes.)
var suspiciousDeclines = map[string]bool{
	DeclineATCReplay: true, DeclineATCJump: true,
	DeclineKeyUnknown: true, DeclineKeyUsed: true, DeclineKeyExpired: true,
	DeclineCryptogram: true, DeclineCloned: true,
}

// SuspiciousDecline reports whether err is a decline of the token check
// that is a security finding about the card holder's account.
func SuspiciousDecline(err error) bool {
	return fault.KindOf(err) == fault.Declined && suspiciousDeclines[fault.CodeOf(err)]
}

// Authorize checks a token for one authorization (see authorize) and, when
// it declines for a reason SuspiciousDecline names, reports an
// EventPaymentSuspicious security event of the token's account; the
// Meter is told the outcome. It returns authorize's result and error.
func (s *Service) Authorize(ctx context.Context, r AuthRequest) (AuthResult, error) {
	res, err := s.authorize(ctx, r)
	s.meterCheck(err)
	if err != nil && s.Security != nil && SuspiciousDecline(err) {
		s.reportSuspicious(ctx, r.Token, fault.CodeOf(err))
	}
	return res, err
}

// reportSuspicious tells Security of a payment declined as suspicious.
func (s *Service) reportSuspicious(ctx context.Context, number, code string) {
	t, err := s.Store.Token(ctx, number)
	if err != nil || t.AccountID == "" {
		return // an unknown token has no account to tell
	}
	s.Security.SecurityEvent(ctx, SecurityEvent{AccountID: t.AccountID, DeviceID: t.PhoneID, Kind: EventPaymentSuspicious,
		Detail: "payment with the token ending " + t.Number.Last4() + " declined: " + strings.ReplaceAll(code, "_", " "),
		Source: "network"})
}
