package platform

import (
	"context"

	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/walletapi"
)

// phoneRecords is the part of the card network's store the phone's payment
// history reads.
type phoneRecords interface {
	PhoneAuths(ctx context.Context, phoneID string, limit int) ([]netswitch.Auth, error)
}

// phonePayments is the wallet API's payment history (walletapi.Payments)
// over the card network's records: the adapter between the network's
// record and the wallet's view of it, so that neither package knows the
// other.
type phonePayments struct{ records phoneRecords }

var _ walletapi.Payments = phonePayments{}

// PhonePayments returns a phone's payments, newest first; it fails with
// the network store's error.
func (p phonePayments) PhonePayments(ctx context.Context, phoneID string, limit int) ([]walletapi.Payment, error) {
	auths, err := p.records.PhoneAuths(ctx, phoneID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]walletapi.Payment, 0, len(auths))
	for _, au := range auths {
		out = append(out, paymentOf(au))
	}
	return out, nil
}

// paymentOf is an authorization record as the wallet shows it.
func paymentOf(au netswitch.Auth) walletapi.Payment {
	pm := walletapi.Payment{Merchant: au.MerchantName, Amount: au.Amount, Charged: au.ClearAmount, CardLast4: au.PANLast4,
		TokenLast4: au.TokenLast4, Bank: au.BankID, At: au.ReceivedAt, Code: string(au.ResponseCode), AuthCode: au.AuthCode}
	switch {
	case au.PartiallyReversed():
		pm.Status = walletapi.PaymentPartiallyReversed
	case au.Reversed():
		pm.Status = walletapi.PaymentReversed
	case au.Approved():
		pm.Status = walletapi.PaymentApproved
	default:
		pm.Status, pm.Declined = walletapi.PaymentDeclined, au.Why()
	}
	return pm
}
