package main

import (
	"context"
	"fmt"
	"strings"
)

func init() {
	registerPhone("points", "the points of this phone's cards at their banks ([--json]), or pay a purchase with them: points pay PAYMENT [--points N] (PAYMENT: its id in phone history)", phonePoints)
	phoneArgs["points"] = "[pay PAYMENT [--points N]]"
}

// phonePoints shows the points of the phone's cards, or pays a purchase
// with points (pay PAYMENT [--points N]).
func phonePoints(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "points")
	asJSON := fs.Bool("json", false, `print {"banks": [{"bank", "bank_name", "balance", "value" (fen), "value_display"}], "cards": [{"bank", "bank_name", "token_last4", "pan_last4", "product", "balance", "fen_per_point", "value", "value_display", "expiring", "expires_at"}]}; with pay: {"payment", "bank", "points", "credit" (fen), "credit_display", "balance", "again"}`)
	points := fs.Int64("points", 0, "with pay: use at most this many points (0: as many as the purchase takes)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	var payment string
	switch {
	case len(rest) == 0:
	case rest[0] != "pay":
		return usage("phone points: unexpected %q (to pay: points pay PAYMENT [--points N])", rest[0])
	case len(rest) < 2:
		return usage("phone points pay: a payment is needed (its id in tapwallet phone history)")
	default:
		payment = rest[1]
		// Flags may follow the payment: points pay ID --points 500.
		if err := parse(fs, rest[2:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usage("phone points pay: unexpected %q", strings.Join(fs.Args(), " "))
		}
	}
	if *points < 0 {
		return usage("--points must be 0 or more")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if payment != "" {
		paid, err := p.PayWithPoints(ctx, payment, *points)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, paid)
		}
		if paid.Again {
			fmt.Fprintf(e.stdout, "already paid with points: %d points, %s credited to the card (nothing more); %d points left\n", paid.Points, paid.CreditDisplay, paid.Balance)
			return nil
		}
		fmt.Fprintf(e.stdout, "paid with %d points: %s credited to the card; %d points left\n", paid.Points, paid.CreditDisplay, paid.Balance)
		return nil
	}
	pts, err := p.Points(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, pts)
	}
	if len(pts.Cards) == 0 {
		fmt.Fprintln(e.stdout, "no cards on this phone (tapwallet phone add-card)")
		return nil
	}
	for _, b := range pts.Banks {
		fmt.Fprintf(e.stdout, "%-6s %8d points  worth %s\n", b.BankName, b.Balance, b.ValueDisplay)
		for _, c := range pts.Cards {
			if c.Bank != b.Bank {
				continue
			}
			line := fmt.Sprintf("  %s card ending %s: %d points (%s)", c.Product, c.PANLast4, c.Balance, c.ValueDisplay)
			if c.Expiring > 0 && !c.ExpiresAt.IsZero() {
				line += fmt.Sprintf(", %d expire on %s", c.Expiring, c.ExpiresAt.Format("2006-01-02"))
			}
			fmt.Fprintln(e.stdout, line)
		}
	}
	return nil
}
