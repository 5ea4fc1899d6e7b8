package tsp

import (
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
)

// Meter is told the token service's decisions (Service.Meter; the platform
// hands it the metrics of `serve`): each authorization's token check by
// outcome and decline code, each card binding by the bank's ID&V verdict.
// Its label values come from fixed sets (below), never from a request. It
// must be safe for concurrent use; a nil Meter is told nothing.
type Meter interface {
	// Checked: one authorization's token check. outcome is "approved",
	// "declined" (code: one of the Decline* codes, "other" for a code
	// not among them) or "error" (code: the fault kind — unavailable,
	// internal…: the check could not be made).
	Checked(outcome, code string)
	// Bound: one card binding's ID&V. verdict is "green" (bound at once),
	// "step_up" (the bank asks a one-time code), "risk_step_up" (green at
	// the bank, the risk engine asks a one-time code), "red" (the bank
	// declined) or "error" (code: the bank's fault code — unknown_bin,
	// wrong_cvn2, card_blocked…, "other" for one not among them).
	Bound(verdict, code string)
}

// The outcomes of Meter.Checked and the verdicts of Meter.Bound.
const (
	CheckApproved = "approved"
	CheckDeclined = "declined"
	CheckError    = "error"

	BindGreen      = "green"
	BindStepUp     = "step_up"
	BindRiskStepUp = "risk_step_up"
	BindRed        = "red"
	BindError      = "error"
)

// declineCodes are the token check's decline codes, the bounded label set
// of Checked's code.
var declineCodes = map[string]bool{
	DeclineTokenUnknown: true, DeclineTokenDeleted: true, DeclineSuspended: true, DeclineDomain: true,
	DeclineExpired: true, DeclineATCReplay: true, DeclineATCJump: true, DeclineKeyUnknown: true,
	DeclineKeyUsed: true, DeclineKeyExpired: true, DeclineCryptogram: true, DeclineCDCVM: true,
	DeclineCDCVMConflict: true, DeclineChipData: true, DeclineCloned: true,
}

// idvCodes are the banks' ID&V error codes, the bounded label set of
// Bound's code.
var idvCodes = map[string]bool{
	bank.CodeUnknownBIN: true, bank.CodeCardNotFound: true, bank.CodeCardExpired: true, bank.CodeWrongExpiry: true,
	bank.CodeWrongCVN2: true, bank.CodeCardBlocked: true, bank.CodeIDVDeclined: true, bank.CodeNoBankConfig: true,
}

// bounded is code when known holds it, else "other".
func bounded(known map[string]bool, code string) string {
	if known[code] {
		return code
	}
	return "other"
}

// meterCheck tells the meter, if any, how one token check ended.
func (s *Service) meterCheck(err error) {
	switch {
	case s.Meter == nil:
	case err == nil:
		s.Meter.Checked(CheckApproved, "")
	case fault.KindOf(err) == fault.Declined:
		s.Meter.Checked(CheckDeclined, bounded(declineCodes, fault.CodeOf(err)))
	default:
		s.Meter.Checked(CheckError, string(fault.KindOf(err)))
	}
}

// meterIDV tells the meter, if any, the ID&V verdict of one binding (err:
// the bank's error; riskStepUp: a green card the risk engine steps up).
func (s *Service) meterIDV(v bank.IDVVerdict, err error, riskStepUp bool) {
	if s.Meter == nil {
		return
	}
	switch {
	case err != nil:
		s.Meter.Bound(BindError, bounded(idvCodes, fault.CodeOf(err)))
	case v.Decision == bank.Green && riskStepUp:
		s.Meter.Bound(BindRiskStepUp, "")
	case v.Decision == bank.Green:
		s.Meter.Bound(BindGreen, "")
	case v.Decision == bank.StepUp:
		s.Meter.Bound(BindStepUp, "")
	default:
		s.Meter.Bound(BindRed, "")
	}
}
