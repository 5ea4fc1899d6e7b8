package issuer

// The processing codes (DE3) of an authorization the host answers: a
// purchase (000000) and a pre-authorization (030000), for which it places
// the same hold; the acquirer completes a pre-authorization below the
// amount held by a partial reversal (DE95: the hold is reduced to the
// final amount, which clearing posts). Any other DE3 is declined 12
// (DeclineProcessingCode).
const (
	PurchaseProcessingCode = "000000"
	PreAuthProcessingCode  = "030000"
)

// authorizable reports whether an authorization's DE3 is one the host
// answers.
func authorizable(pc string) bool {
	return pc == PurchaseProcessingCode || pc == PreAuthProcessingCode
}
