package netswitch

import "strings"

// RefundProcessingCode is DE3 of a refund: transaction type 20 (returns,
// a credit to the card holder), default accounts. (The acquirer's side of
// refunds — charges kept, refund messages planned and sent — is package
// acquirer.)
const RefundProcessingCode = "200000"

// trimRRN compares RRNs without their space padding.
func trimRRN(s string) string { return strings.TrimSpace(s) }
