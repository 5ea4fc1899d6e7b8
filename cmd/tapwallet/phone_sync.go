package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

func init() {
	registerPhone("sync", "check in ([--lat DEG --lon DEG]: report the place; take rings, messages, a key wipe) and send the card keys' log to the token service for fresh limited-use keys", phoneSync)
	registerPhone("history", "the payments made with this phone, newest first: [--limit N] [--json]", phoneHistory)
}

func phoneSync(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "sync")
	lat := fs.String("lat", "", "latitude in degrees (with --lon): report where the phone is (find my phone)")
	lon := fs.String("lon", "", "longitude in degrees")
	if err := parse(fs, args); err != nil {
		return err
	}
	loc, err := parseLocation(*lat, *lon)
	if err != nil {
		return err
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	// The lost-phone check-in first (phone_lostphone.go): the place, and
	// what waits — a key wipe if the wallet was switched off, rings, messages.
	ci, err := p.CheckIn(ctx, loc)
	if err != nil {
		return err
	}
	printCheckIn(e.stdout, ci, loc)
	res, err := p.Sync(ctx)
	if err != nil {
		return err
	}
	// The offers the next tap shows (tapPreview) are those of the last
	// sync; a server without them leaves the tap showing the card only.
	if _, err := p.Offers(ctx); err != nil && fault.KindOf(err) != fault.NotFound {
		fmt.Fprintf(e.stderr, "offers not refreshed: %s\n", fault.MessageOf(err))
	}
	if len(res) == 0 {
		fmt.Fprintln(e.stdout, "no cards to sync (tapwallet phone cards)")
		return nil
	}
	suspended := 0
	for _, c := range res {
		fmt.Fprintf(e.stdout, "token ending %s: %s, counter %d, %d keys → %d keys (%d new)\n",
			c.TokenLast4, c.State, c.ATC, c.KeysBefore, c.KeysAfter, c.NewKeys)
		for _, m := range c.Mismatches {
			fmt.Fprintf(e.stdout, "  ! %s: %s\n", m.Kind, m.Detail)
		}
		if c.Suspended {
			suspended++
			fmt.Fprintln(e.stdout, "  ! suspended by the token service: the network saw this card used where this phone did not")
		}
	}
	if suspended > 0 {
		return &exitError{code: 1, err: fault.E(fault.Declined, "sync_suspended", "%d card(s) suspended at sync", suspended)}
	}
	return nil
}

func phoneHistory(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "history")
	limit := fs.Int("limit", 20, "how many payments to show (1-500)")
	asJSON := fs.Bool("json", false, `print {"payments": [{"merchant", "amount" (integer minor units), "currency", "display" (the amount as text), "card_last4", "token_last4", "bank", "at" (RFC 3339), "status" (approved, declined or reversed), "response_code", "reason", "auth_code"}]}, newest first`)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 500 {
		return usage("--limit must be 1 to 500")
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	h, err := p.History(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		// The script's contract: every field always present ("" when
		// none), whatever the wire form of the wallet API leaves out.
		type paymentJSON struct {
			Merchant     string    `json:"merchant"`
			Amount       int64     `json:"amount"`
			Currency     string    `json:"currency"`
			Display      string    `json:"display"`
			CardLast4    string    `json:"card_last4"`
			TokenLast4   string    `json:"token_last4"`
			Bank         string    `json:"bank"`
			At           time.Time `json:"at"`
			Status       string    `json:"status"`
			ResponseCode string    `json:"response_code"`
			Reason       string    `json:"reason"`
			AuthCode     string    `json:"auth_code"`
		}
		out := struct {
			Payments []paymentJSON `json:"payments"`
		}{Payments: []paymentJSON{}}
		for _, pm := range h {
			out.Payments = append(out.Payments, paymentJSON{pm.Merchant, pm.Amount, pm.Currency, pm.Display, pm.CardLast4,
				pm.TokenLast4, pm.Bank, pm.At, pm.Status, pm.ResponseCode, pm.Reason, pm.AuthCode})
		}
		return writeJSON(e.stdout, out)
	}
	if len(h) == 0 {
		fmt.Fprintln(e.stdout, "no payments yet")
		return nil
	}
	for _, pm := range h {
		fmt.Fprintln(e.stdout, pm.Describe())
		if pm.Promotion != "" {
			fmt.Fprintf(e.stdout, "    %s%s; charged %s\n", pm.Promotion, campaignOf(pm.CampaignName), pm.ChargedDisplay)
		}
		if pm.ID != "" && pm.Status == "approved" {
			fmt.Fprintf(e.stdout, "    payment id %s (tapwallet phone points pay '%s')\n", pm.ID, pm.ID)
		}
	}
	return nil
}

// campaignOf names a campaign after a promotion: " — New users (新用户…)".
func campaignOf(n *client.Names) string {
	if n == nil || n.EN == "" {
		return ""
	}
	if n.ZH == "" || n.ZH == n.EN {
		return " — " + n.EN
	}
	return " — " + n.EN + " (" + n.ZH + ")"
}
