package acquirer

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// RefundProcessingCode is DE3 of a refund: transaction type 20 (returns,
// a credit to the card holder), default accounts.
const RefundProcessingCode = "200000"

// Charge is what an acquirer keeps of an authorization the network
// approved, so that a refund can name it later: the elements of the 0100
// that identify it (DE41, DE11, DE7, DE32, DE37), the token it was paid
// with, the merchant and the amount. Never the PAN: the acquirer never had
// it.
type Charge struct {
	Ref          string // the merchant's own reference of the payment
	Token        string // DE2 of the 0100
	Acquirer     string // DE32
	Terminal     string // DE41
	STAN         string // DE11
	Transmission string // DE7
	RRN          string // DE37
	Merchant     string // DE42
	MerchantName string // DE43, the full 40 characters
	MCC          string // DE18
	Amount       int64  // DE4, minor units
	Currency     int    // DE49
	At           time.Time

	// The store terminal's view (terminal.go): a sale or a
	// pre-authorization (Kind, from DE3), the auth code (DE38 of the
	// answer), when it was voided (zero: not voided), the final amount
	// of a completed pre-authorization (0: not completed) and the batch
	// it was settled in (0: the open batch).
	Kind           Kind
	ProcessingCode string // DE3
	AuthCode       string
	VoidedAt       time.Time
	Completed      int64
	Batch          int64
}

// AuthID returns the network's identity of the charge's authorization
// (DE41|DE11|DE7); it never fails.
func (c Charge) AuthID() string { return c.Terminal + "|" + c.STAN + "|" + c.Transmission }

// ChargeOf returns what an acquirer keeps of an approved 0100 it sent. It
// fails with fault.Invalid CodeBadCharge when the message lacks an element
// a refund needs (DE2, 4, 7, 11, 32, 37, 41, 42, 49).
func ChargeOf(ref string, req *iso8583.Message, at time.Time) (Charge, error) {
	for _, de := range []int{iso8583.DEPAN, iso8583.DEAmount, iso8583.DETransmission, iso8583.DESTAN, iso8583.DEAcquirer,
		iso8583.DERRN, iso8583.DETerminal, iso8583.DEMerchant, iso8583.DECurrency} {
		if !req.Has(de) {
			return Charge{}, fault.E(fault.Invalid, CodeBadCharge, "the authorization lacks DE%d, which a refund names", de)
		}
	}
	str := func(de int) string { s, _ := req.String(de); return s }
	c := Charge{Ref: ref, Token: str(iso8583.DEPAN), Acquirer: str(iso8583.DEAcquirer), Terminal: str(iso8583.DETerminal),
		STAN: str(iso8583.DESTAN), Transmission: str(iso8583.DETransmission), RRN: str(iso8583.DERRN),
		Merchant: str(iso8583.DEMerchant), MerchantName: str(iso8583.DEMerchantName), MCC: str(iso8583.DEMCC), At: at,
		ProcessingCode: str(iso8583.DEProcessingCode), Kind: KindSale}
	if c.ProcessingCode == PreAuthProcessingCode {
		c.Kind = KindPreAuth
	}
	amt, err := req.Amount()
	if err != nil {
		return Charge{}, fault.Wrap(err, fault.Invalid, CodeBadCharge, "the authorization's amount")
	}
	c.Amount, c.Currency = amt.Minor, int(amt.Currency)
	return c, nil
}

// RefundMessage is one refund of (part of) a charge as the acquirer sends
// it, with its own STAN, transmission time and local date and time, kept
// so that sending it again is the same message.
type RefundMessage struct {
	Amount       int64  // minor units
	STAN         string // DE11 of the refund
	Transmission string // DE7 of the refund, MMDDhhmmss UTC
	LocalDate    string // DE13, MMDD
	LocalTime    string // DE12, hhmmss
}

// RefundPart is one refund message an acquirer sent (or will send) for a
// refund of its own (Ref): a refund larger than one charge is given back
// in parts, one message per charge it names.
type RefundPart struct {
	Ref          string // the acquirer's reference of the whole refund
	Part         int    // 0, 1, …
	ChargeRef    string // the charge (Charge.Ref) this part gives back
	Message      RefundMessage
	ResponseCode string // the network's answer; "" until answered
	AuthCode     string
}

// RefundRequest builds the 0200 an acquirer sends to give amount of a
// charge back to the card (docs/iso8583.md, "Refunds"): processing code
// 200000, the charge's token in DE2, the refund's own DE7 and DE11, the
// charge's terminal, merchant, acquirer and RRN (DE37), DE90 naming the
// original 0100, and no chip data (no cryptogram: the merchant gives the
// money back, the card holder does not authorize anything). It fails with
// the codec's fault.Invalid error for an element that does not fit.
func RefundRequest(c Charge, r RefundMessage) (*iso8583.Message, error) {
	return build(iso8583.FinancialRequest, r.Amount, c.Currency, []field{
		{iso8583.DEPAN, c.Token}, {iso8583.DEProcessingCode, RefundProcessingCode}, {iso8583.DETransmission, r.Transmission},
		{iso8583.DESTAN, r.STAN}, {iso8583.DELocalTime, r.LocalTime}, {iso8583.DELocalDate, r.LocalDate}, {iso8583.DEMCC, c.MCC},
		{iso8583.DEPOSCondition, "00"}, {iso8583.DEAcquirer, c.Acquirer}, {iso8583.DERRN, c.RRN}, {iso8583.DETerminal, c.Terminal},
		{iso8583.DEMerchant, c.Merchant}, {iso8583.DEMerchantName, c.MerchantName},
		{iso8583.DEOriginal, OriginalData(c.STAN, c.Transmission, c.Acquirer)},
	})
}

// field is one element of a message build sets (skipped when empty).
type field struct {
	de int
	v  string
}

// build returns a message of type mti with the fields that are not
// empty, amount in DE4 and currency in DE49; it fails with the codec's
// fault.Invalid error for an element that does not fit.
func build(mti iso8583.MTI, amount int64, currency int, fields []field) (*iso8583.Message, error) {
	m := iso8583.New(mti)
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		if err := m.SetString(f.de, f.v); err != nil {
			return m, err
		}
	}
	if err := m.SetNumber(iso8583.DEAmount, amount); err != nil {
		return m, err
	}
	return m, m.SetNumber(iso8583.DECurrency, int64(currency))
}

// NewRefundMessage returns a refund message of amount with the given STAN,
// made at now (DE7 in UTC, DE12/13 local to now's location); it never
// fails (RefundRequest checks the values).
func NewRefundMessage(amount int64, stan iso8583.STAN, now time.Time) RefundMessage {
	return RefundMessage{Amount: amount, STAN: stan.String(), Transmission: now.UTC().Format("0102150405"),
		LocalDate: now.Format("0102"), LocalTime: now.Format("150405")}
}

// Refund gives amount back to the cards of the charges named, in order,
// over the network: one refund (0200, processing code 200000) per charge
// it gives back, naming the charge's authorization (DE37, DE90), each at
// most what the charge has left. The messages are planned once and kept
// (Store.PlanRefund), so that a refund tried again — after a 91, a crash —
// sends the same messages and the network answers them as the first
// time. It returns what the parts cover (less than amount when the
// charges have less left). It fails with fault.Declined
// CodeRefundDeclined when the network declines a part, fault.Unavailable
// CodeRefundUnanswered when it gives no final answer (try again), and
// with the store's error.
func (a *Acquirer) Refund(ctx context.Context, ref string, charges []string, amount int64) (covered int64, err error) {
	parts, err := a.Store.PlanRefund(ctx, ref, charges, amount, a.now())
	if err != nil {
		return 0, err
	}
	for _, part := range parts {
		covered += part.Message.Amount
	}
	for _, part := range parts {
		if part.ResponseCode == string(iso8583.Approved) {
			continue
		}
		c, err := a.Store.Charge(ctx, part.ChargeRef)
		if err != nil {
			return covered, err
		}
		m, err := RefundRequest(c, part.Message)
		if err != nil {
			return covered, err
		}
		sctx, cancel := context.WithTimeout(ctx, a.timeout())
		resp, err := a.Link.Send(sctx, m)
		cancel()
		if err != nil {
			return covered, fault.Wrap(err, fault.Unavailable, CodeRefundUnanswered, "the card network gave no answer to the refund: try again")
		}
		rc, _ := resp.ResponseCode()
		switch rc {
		case iso8583.IssuerInoperative, iso8583.SystemMalfunction, "":
			return covered, fault.E(fault.Unavailable, CodeRefundUnanswered, "the card network gave no answer to the refund (%s): try again", rc)
		}
		code, _ := resp.String(iso8583.DEAuthID)
		if err := a.Store.AnswerRefund(ctx, ref, part.Part, string(rc), code); err != nil {
			return covered, err
		}
		if !rc.Approved() {
			return covered, fault.E(fault.Declined, CodeRefundDeclined, "the card network declined the refund (%s)", rc)
		}
	}
	return covered, nil
}
