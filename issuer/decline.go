package issuer

import "log/slog"

// Decline is why an issuer host declined an authorization (0100) or a
// refund (0200): the reason it logs beside the response code. It is an
// error, so a caller may hold it as one and test it with errors.Is; other
// packages compare these constants, never the words.
type Decline string

func (d Decline) Error() string { return "issuer declined: " + string(d) }

// LogValue logs the reason alone.
func (d Decline) LogValue() slog.Value { return slog.StringValue(string(d)) }

// The issuer's decline reasons, with the response code each goes with.
const (
	DeclineReversedBeforeArrival Decline = "reversed_before_arrival" // 05: its reversal came first
	DeclineBadPAN                Decline = "bad_pan"                 // 14: DE2 is not a card number
	DeclineCardNotFound          Decline = "card_not_found"          // 14: not a card of this bank
	DeclineCardLost              Decline = "card_lost"               // 41: reported lost by its holder
	DeclineCardBlocked           Decline = "card_blocked"            // 57: blocked by the bank
	DeclineCardExpired           Decline = "card_expired"            // 54
	DeclineProcessingCode        Decline = "processing_code"         // 12: not a purchase (a refund's: not 200000)
	DeclineAmount                Decline = "amount"                  // 13: no amount, or not above zero
	DeclineCurrency              Decline = "currency"                // 13: not the card's currency
	DeclinePerTransactionLimit   Decline = "per_transaction_limit"   // 61
	DeclineInsufficientFunds     Decline = "insufficient_funds"      // 51: the hold does not fit
	DeclineIdentityReused        Decline = "identity_reused"         // 94: the identity names another message
	DeclineLedger                Decline = "ledger"                  // 96: the ledger failed
	DeclineRefundStore           Decline = "refund_store"            // 96: the refund store failed
	DeclineOriginalUnknown       Decline = "original_unknown"        // 25: a refund of nothing this card holds
	DeclineOriginalMismatch      Decline = "original_mismatch"       // 25: the original is another card's
	DeclineExceedsOriginal       Decline = "exceeds_original"        // 13: refunds beyond what the original holds
	DeclineRepeat                Decline = "repeat"                  // a repeated message: the first answer again
	DeclinePromotionData         Decline = "promotion_data"          // 30: DE124 does not read, or its gross is not DE4 + the shares
)
