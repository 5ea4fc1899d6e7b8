package phone

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tapwallet/tapwallet/walletapi/client"
)

// Payment is one payment in the phone's history, as the card network
// recorded it (the notification of a tap's outcome).
type Payment struct{ client.Payment }

// History returns the phone's payments, newest first (at most limit; 0 for
// the server's default). It fails like the wallet API.
func (p *Phone) History(ctx context.Context, limit int) ([]Payment, error) {
	path := "/v1/phones/" + p.Profile.PhoneID + "/payments"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out client.Payments
	if _, err := p.call(ctx, "GET", path, nil, &out, false); err != nil {
		return nil, err
	}
	pms := make([]Payment, 0, len(out.Payments))
	for _, pm := range out.Payments {
		pms = append(pms, Payment{pm})
	}
	return pms, nil
}

// Describe is a one-line description of a payment.
func (pm Payment) Describe() string {
	s := fmt.Sprintf("%s  %-25s %12s  %s card ending %s  %s", pm.At.Local().Format("2006-01-02 15:04:05"), pm.Merchant, pm.Display,
		pm.Bank, pm.CardLast4, pm.Status)
	switch {
	case pm.Status == "reversed":
		s += " (" + pm.Reason + ")"
	case pm.Status == "approved" && pm.AuthCode != "":
		s += " (auth code " + pm.AuthCode + ")"
	case pm.Reason != "":
		s += ": " + pm.ResponseCode + " " + pm.Reason
	}
	return s
}
