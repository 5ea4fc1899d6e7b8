package netswitch

// The processing codes (DE3) of an authorization the switch routes: a
// purchase (000000) and a pre-authorization (030000, transaction type 03
// as China UnionPay numbers it), which the issuer holds like a purchase
// and the acquirer completes later for its final amount — at the amount
// held by leaving it as it stands, below it by a partial reversal (0400
// with DE95), so clearing presents the final amount (docs/iso8583.md,
// "The store terminal"). Any other DE3 is answered 12.
const (
	PurchaseProcessingCode = "000000"
	PreAuthProcessingCode  = "030000"
)

// authorizable reports whether an authorization's DE3 is one the switch
// routes.
func authorizable(pc string) bool {
	return pc == PurchaseProcessingCode || pc == PreAuthProcessingCode
}
