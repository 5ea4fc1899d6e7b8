// Package issuer is the issuing banks: their part in adding a card to a phone
// (finding the bank by BIN, checking the card, ID&V) and, as issuer hosts,
// authorizing payments against their ledgers.
package issuer

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
)

// Directory answers the token service's ID&V requests for the banks of a
// configuration.
type Directory struct {
	Config *bank.Config
	Now    func() time.Time
}

var _ tsp.Issuers = (*Directory)(nil)

// Verify runs the bank's ID&V for a card (see bank.Verify for the errors).
func (d *Directory) Verify(ctx context.Context, pan card.PAN, exp card.Expiry, cvn2 string) (tsp.Verdict, error) {
	dec, err := bank.Verify(d.Config, pan, exp, cvn2, d.Now())
	if err != nil {
		return tsp.Verdict{Decision: tsp.Red}, err
	}
	v, err := d.Route(ctx, pan)
	if err != nil {
		return v, err
	}
	switch dec {
	case bank.Green:
		v.Decision = tsp.Green
	case bank.StepUp:
		v.Decision = tsp.StepUp
	default:
		v.Decision = tsp.Red
	}
	return v, nil
}

// Route returns the bank, product and token range of a card without checks.
func (d *Directory) Route(ctx context.Context, pan card.PAN) (tsp.Verdict, error) {
	b, ok := d.Config.BankForBIN(pan)
	if !ok {
		return tsp.Verdict{Decision: tsp.Red}, fault.E(fault.NotFound, "unknown_bin", "no bank on the network issues cards with BIN %s", pan.BIN())
	}
	p, ok := b.Product(pan)
	if !ok {
		return tsp.Verdict{Decision: tsp.Red}, fault.E(fault.NotFound, "unknown_bin", "%s has no product for BIN %s", b.Name, pan.BIN())
	}
	return tsp.Verdict{BankID: b.ID, BankName: b.Name, Product: string(p.Kind), TokenRange: b.TokenRange, CardArt: p.Art}, nil
}

// Bank returns a bank's display name and card art colour.
func (d *Directory) Bank(id string) (string, string, bool) {
	b, ok := d.Config.BankByID(id)
	if !ok {
		return "", "", false
	}
	art := "#444444"
	if len(b.Products) > 0 {
		art = b.Products[0].Art
	}
	return b.Name, art, true
}
