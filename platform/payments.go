package platform

import (
	"context"
	"strings"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/walletapi"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// phoneRecords is the part of the card network's store the phone's payment
// history reads.
type phoneRecords interface {
	PhoneAuths(ctx context.Context, phoneID string, limit int) ([]netswitch.Auth, error)
	Auth(ctx context.Context, id string) (netswitch.Auth, error)
}

// phonePayments is the wallet API's payment history (walletapi.Payments)
// over the card network's records: the adapter between the network's
// record and the wallet's view of it, so that neither package knows the
// other. Without promotions (promoPayments) a discount is shown under its
// campaign's id and its funders' ids.
type phonePayments struct{ records phoneRecords }

var (
	_ walletapi.Payments      = phonePayments{}
	_ walletapi.PaymentFinder = phonePayments{}
)

// PhonePayments returns a phone's payments, newest first; it fails with
// the network store's error.
func (p phonePayments) PhonePayments(ctx context.Context, phoneID string, limit int) ([]walletapi.Payment, error) {
	return promoPayments{phonePayments: p}.PhonePayments(ctx, phoneID, limit)
}

// Payment returns one payment by its identity, or the store's
// fault.NotFound.
func (p phonePayments) Payment(ctx context.Context, id string) (walletapi.Payment, error) {
	return promoPayments{phonePayments: p}.Payment(ctx, id)
}

// promoPayments is phonePayments that names a discount's campaign (its
// names in the promo store) and its funders (a bank by its short name).
type promoPayments struct {
	phonePayments
	campaigns campaignLister // nil: campaigns by id
	banks     *bank.Directory
}

// campaignLister is the part of the promo store that names campaigns.
type campaignLister interface {
	Campaigns(ctx context.Context) ([]promo.Campaign, error)
}

// PhonePayments returns a phone's payments, newest first; it fails with
// the network store's error (a promo store that fails leaves campaigns
// named by their ids).
func (p promoPayments) PhonePayments(ctx context.Context, phoneID string, limit int) ([]walletapi.Payment, error) {
	auths, err := p.records.PhoneAuths(ctx, phoneID, limit)
	if err != nil {
		return nil, err
	}
	names := p.names(ctx, auths...)
	out := make([]walletapi.Payment, 0, len(auths))
	for _, au := range auths {
		out = append(out, paymentOf(au, names, p.banks))
	}
	return out, nil
}

// Payment returns one payment by its identity, or the store's
// fault.NotFound.
func (p promoPayments) Payment(ctx context.Context, id string) (walletapi.Payment, error) {
	au, err := p.records.Auth(ctx, id)
	if err != nil {
		return walletapi.Payment{}, err
	}
	return paymentOf(au, p.names(ctx, au), p.banks), nil
}

// names returns the names of the campaigns of auths' promotions (none
// when no promotion applied or the promo store fails).
func (p promoPayments) names(ctx context.Context, auths ...netswitch.Auth) map[string]promo.Names {
	if p.campaigns == nil || !hasPromo(auths) {
		return nil
	}
	cs, err := p.campaigns.Campaigns(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]promo.Names, len(cs))
	for _, c := range cs {
		out[c.ID] = c.Name
	}
	return out
}

func hasPromo(auths []netswitch.Auth) bool {
	for _, au := range auths {
		if au.Promo != nil {
			return true
		}
	}
	return false
}

// paymentOf is an authorization record as the wallet shows it: the gross
// asked, what the card holder pays (less an instant discount and what the
// terminal reversed) and the promotion, its campaign named by names (its
// id when unknown) and its funders by banks.
func paymentOf(au netswitch.Auth, names map[string]promo.Names, banks *bank.Directory) walletapi.Payment {
	pm := walletapi.Payment{ID: au.ID, PhoneID: au.PhoneID, PAR: au.PAR, Merchant: au.MerchantName, Amount: au.Amount, Charged: au.ClearAmount,
		CardLast4: au.PANLast4, TokenLast4: au.TokenLast4, Bank: au.BankID, At: au.ReceivedAt, Code: string(au.ResponseCode), AuthCode: au.AuthCode}
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
	if r := au.Promo; r != nil && r.Discount > 0 {
		pm.Discount, pm.Campaign, pm.Fulfilment = r.Discount, r.Campaign, string(r.Fulfilment)
		pm.CampaignName = client.Names{ZH: r.Campaign, EN: r.Campaign}
		if n, ok := names[r.Campaign]; ok {
			pm.CampaignName = client.Names{ZH: n.ZH, EN: n.EN}
		}
		for _, s := range r.Shares {
			pm.Funders = append(pm.Funders, funderName(s, au, banks))
		}
		if r.Fulfilment == promo.FulfilInstant && pm.Charged > 0 {
			pm.Charged = max(pm.Charged-r.Discount, 0)
		}
	}
	return pm
}

// funderName names a share's funder for the card holder: "network", a
// bank's short name ("ICBC"), the merchant's name.
func funderName(s promo.Share, au netswitch.Auth, banks *bank.Directory) string {
	switch s.Kind {
	case promo.FunderNetwork:
		return "network"
	case promo.FunderIssuer:
		return bankName(banks, s.Party)
	case promo.FunderMerchant:
		if s.Party == au.Merchant && au.MerchantName != "" {
			return au.MerchantName
		}
	}
	return s.Party
}

// bankName is a bank's short name ("ICBC"), or its id upper-cased when
// the directory does not know it.
func bankName(banks *bank.Directory, id string) string {
	if banks != nil {
		if b, ok := banks.BankByID(id); ok && b.Short != "" {
			return b.Short
		}
	}
	return strings.ToUpper(id)
}
