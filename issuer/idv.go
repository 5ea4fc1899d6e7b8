// Package issuer is the issuing banks: their part in adding a card to a phone
// (finding the bank by BIN, checking the card, ID&V) and, as issuer hosts,
// authorizing payments against their ledgers and posting their clearing.
package issuer

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
)

// IDV answers the token service's ID&V requests (bank.IDV) for the banks
// of a directory whose card holders this process holds: it routes a card
// by BIN through the directory and lets that bank check it against its
// own card holders.
type IDV struct {
	Directory *bank.Directory
	Holders   map[string]*bank.Holders // bank id → its card holders
	Now       func() time.Time         // default time.Now
}

var _ bank.IDV = (*IDV)(nil)

// NewIDV returns the ID&V of every bank of cfg, each with its own card
// holders.
func NewIDV(cfg *bank.Config, now func() time.Time) *IDV {
	d := cfg.Directory()
	hs := map[string]*bank.Holders{}
	for _, id := range d.IDs() {
		hs[id] = cfg.Holders(id)
	}
	return &IDV{Directory: d, Holders: hs, Now: now}
}

// Verify runs the issuing bank's ID&V for a card, naming the card holder
// (Holder) on success: Red with the reason and its *fault.Error (bank's
// Code constants) on failure; fault.Unavailable
// "issuer_unavailable" when the bank's card holders are not in this
// process.
func (d *IDV) Verify(ctx context.Context, req bank.IDVRequest) (bank.IDVVerdict, error) {
	v, err := d.Directory.Route(req.PAN)
	if err != nil {
		return v, err
	}
	b, _ := d.Directory.BankByID(v.BankID)
	h, ok := d.Holders[v.BankID]
	if !ok {
		err := fault.E(fault.Unavailable, "issuer_unavailable", "%s cannot be reached for ID&V", b.Name)
		return bank.IDVVerdict{Decision: bank.Red, Reason: fault.CodeOf(err)}, err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	dec, err := h.Verify(b, req, now())
	if err != nil {
		return bank.IDVVerdict{Decision: bank.Red, Reason: fault.CodeOf(err)}, err
	}
	v.Decision = dec
	if c, ok := h.Lookup(req.PAN); ok {
		v.Holder = c.Name
	}
	return v, nil
}

// Route returns the bank, product and token range of a card without checks
// (see bank.Directory.Route).
func (d *IDV) Route(_ context.Context, pan card.PAN) (bank.IDVVerdict, error) {
	return d.Directory.Route(pan)
}

// Bank returns a bank's display name and card art colour.
func (d *IDV) Bank(id string) (string, string, bool) {
	b, ok := d.Directory.BankByID(id)
	if !ok {
		return "", "", false
	}
	art := "#444444"
	if len(b.Products) > 0 {
		art = b.Products[0].Art
	}
	return b.Name, art, true
}
