package netswitch

import (
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/tsp"
)

// Reason is why the switch answered a record as it did (Auth.Reason,
// Refund.Reason): one of the constants below, or a token-service decline
// code (tsp.Decline*) passed on as it came.
type Reason string

// The reasons the switch records.
const (
	ReasonNone                  Reason = ""
	ReasonReversedBeforeArrival Reason = "reversed_before_arrival" // 05: a reversal of it came first
	ReasonProcessingCode        Reason = "processing_code"         // 12
	ReasonAmount                Reason = "amount"                  // 13: zero, negative or unreadable
	ReasonCurrency              Reason = "currency"                // 13: not the original's
	ReasonExceedsOriginal       Reason = "exceeds_original"        // 13: more than the original has left
	ReasonChipAmount            Reason = "chip_amount"             // 13: 9F02 is not DE4
	ReasonChipCurrency          Reason = "chip_currency"           // 13: 5F2A is not DE49
	ReasonTokenRange            Reason = "token_range"             // 14: no bank's token range
	ReasonTokenBank             Reason = "token_bank"              // 14: the token is another bank's
	ReasonOriginalUnknown       Reason = "original_unknown"        // 25
	ReasonOriginalMismatch      Reason = "original_mismatch"       // 25: another token or RRN
	ReasonDuplicate             Reason = "duplicate"               // 94: another refund claimed its identity
	ReasonChipData              Reason = "chip_data"               // 30: DE55 does not decode
	ReasonIssuerUnknown         Reason = "issuer_unknown"          // 91: no host for the bank
	ReasonIssuerTimeout         Reason = "issuer_timeout"          // 91
	ReasonIssuerUnavailable     Reason = "issuer_unavailable"      // 91
	ReasonIssuerDeclined        Reason = "issuer_declined"         // the issuer's own code
	ReasonIssuerAnswer          Reason = "issuer_answer"           // 96: no response code
	ReasonTokenService          Reason = "token_service"           // 96: the token service failed
	ReasonSeal                  Reason = "seal"                    // 96
	ReasonForward               Reason = "forward"                 // 96: the issuer's message does not build
	ReasonStore                 Reason = "store"                   // 96: the record could not be stored first
	ReasonInterrupted           Reason = "interrupted"             // 96: settled by the recovery sweep
	ReasonPromoStore            Reason = "promo_store"             // 96: the promotion's hold the issuer was told of could not be stored (reversed)
)

// DeclineCode maps an error of the token service's check to the response
// code the network answers (docs/iso8583.md) and the reason recorded (the
// token service's decline code): token_unknown/token_deleted 14,
// token_suspended 78, token_domain 62, token_expired 54,
// atc_replayed/atc_out_of_order/luk_used/token_cloned 59,
// luk_unknown/luk_expired/arqc_invalid 88, cdcvm_missing/cdcvm_conflict 55,
// chip_data 30, another decline 05; anything not a decline 96
// ReasonTokenService.
func DeclineCode(err error) (iso8583.ResponseCode, Reason) {
	if fault.KindOf(err) != fault.Declined {
		return iso8583.SystemMalfunction, ReasonTokenService
	}
	code := fault.CodeOf(err)
	if rc, ok := declineCodes[code]; ok {
		return rc, Reason(code)
	}
	return iso8583.DoNotHonour, Reason(code)
}

var declineCodes = map[string]iso8583.ResponseCode{
	tsp.DeclineTokenUnknown: iso8583.InvalidCardNumber, tsp.DeclineTokenDeleted: iso8583.InvalidCardNumber,
	tsp.DeclineSuspended: iso8583.Blocked, tsp.DeclineDomain: iso8583.RestrictedCard, tsp.DeclineExpired: iso8583.ExpiredCard,
	tsp.DeclineATCReplay: iso8583.SuspectedFraud, tsp.DeclineATCJump: iso8583.SuspectedFraud,
	tsp.DeclineKeyUsed: iso8583.SuspectedFraud, tsp.DeclineCloned: iso8583.SuspectedFraud,
	tsp.DeclineKeyUnknown: iso8583.CryptographicFailure, tsp.DeclineKeyExpired: iso8583.CryptographicFailure,
	tsp.DeclineCryptogram: iso8583.CryptographicFailure,
	tsp.DeclineCDCVM:      iso8583.CDCVMMissing, tsp.DeclineCDCVMConflict: iso8583.CDCVMMissing,
	tsp.DeclineChipData: iso8583.FormatError,
}
