package issuer

import (
	"context"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/tsp"
)

// Directory answers the token service's ID&V in tsp's own types.
//
// Deprecated: a bridge while tsp.Issuers moves to bank.IDV (engineer B);
// use IDV. It goes, with this file and issuer's import of tsp, once tsp
// takes a bank.IDV.
type Directory struct {
	Config *bank.Config
	Now    func() time.Time
	once   sync.Once
	idv    *IDV
}

var _ tsp.Issuers = (*Directory)(nil)

func (d *Directory) get() *IDV {
	d.once.Do(func() { d.idv = NewIDV(d.Config, d.Now) })
	return d.idv
}

func toTSP(v bank.IDVVerdict, err error) (tsp.Verdict, error) {
	out := tsp.Verdict{Decision: tsp.Red, BankID: v.BankID, BankName: v.BankName, Product: string(v.Product), TokenRange: v.TokenRange, CardArt: v.CardArt}
	switch {
	case err != nil:
		out.Decision = tsp.Red
	case v.Decision == bank.Green:
		out.Decision = tsp.Green
	case v.Decision == bank.StepUp:
		out.Decision = tsp.StepUp
	}
	return out, err
}

// Verify runs the bank's ID&V (IDV.Verify).
func (d *Directory) Verify(ctx context.Context, pan card.PAN, exp card.Expiry, cvn2 string) (tsp.Verdict, error) {
	return toTSP(d.get().Verify(ctx, bank.IDVRequest{PAN: pan, Expiry: exp, CVN2: cvn2}))
}

// Route returns the bank, product and token range of a card (IDV.Route).
func (d *Directory) Route(ctx context.Context, pan card.PAN) (tsp.Verdict, error) {
	return toTSP(d.get().Route(ctx, pan))
}

// Bank returns a bank's display name and card art colour.
func (d *Directory) Bank(id string) (string, string, bool) { return d.get().Bank(id) }
