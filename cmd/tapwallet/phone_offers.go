package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

func init() {
	registerPhone("offers", "the promotions this phone's cards may use ([--json]), or add one to a card: offers add CAMPAIGN CARD (an add-to-card offer; CARD: token or card last 4)", phoneOffers)
	phoneArgs["offers"] = "[add CAMPAIGN CARD]"
}

// phoneOffers lists the offers of the phone's cards (and keeps them for
// the next tap), or adds one to a card.
func phoneOffers(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	fs := subFlags(e, pf, "offers")
	asJSON := fs.Bool("json", false, `print {"cards": [{"card", "phone", "token_last4", "pan_last4", "bank", "bank_name", "product", "offers": [{"campaign", "name": {"zh", "en"}, "owner", "mechanic", "fulfilment", "benefit", "funders": [{"kind", "party", "name", "share"}], "funded_by", "enrolment" (auto, add_to_card), "added", "conditions": [..], "ends"}]}]}; with add: {"status", "campaign", "token_last4", "offer": {..}}`)
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	switch {
	case len(rest) == 0:
	case rest[0] != "add":
		return usage("phone offers: unexpected %q (to add one: offers add CAMPAIGN CARD)", rest[0])
	case len(rest) != 3:
		return usage("phone offers add: want CAMPAIGN CARD, got %q", strings.Join(rest[1:], " "))
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	if len(rest) == 3 {
		added, err := p.AddOffer(ctx, rest[1], rest[2])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, added)
		}
		fmt.Fprintf(e.stdout, "added %q to the card with token ending %s: %s\n", added.Offer.Name.EN, added.TokenLast4, added.Offer.Benefit)
		// Refresh what the next tap shows.
		_, _ = p.Offers(ctx)
		return nil
	}
	cards, err := p.Offers(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if cards == nil {
			cards = []client.CardOffers{}
		}
		return writeJSON(e.stdout, client.Offers{Cards: cards})
	}
	if len(cards) == 0 {
		fmt.Fprintln(e.stdout, "no cards on this phone (tapwallet phone add-card)")
		return nil
	}
	for _, c := range cards {
		fmt.Fprintf(e.stdout, "%s %s card ending %s (token ending %s)\n", c.BankName, c.Product, c.PANLast4, c.TokenLast4)
		if len(c.Offers) == 0 {
			fmt.Fprintln(e.stdout, "  no offers now")
		}
		for _, o := range c.Offers {
			printOffer(e.stdout, o, c.TokenLast4)
		}
	}
	return nil
}

// printOffer writes an offer in three lines: its names, its benefit and
// funders, its conditions (and how to add it, if it needs adding).
func printOffer(w io.Writer, o client.Offer, tokenLast4 string) {
	mark := "✓"
	if !o.Added {
		mark = "+"
	}
	fmt.Fprintf(w, "  %s %s  %s\n", mark, o.Name.EN, o.Name.ZH)
	fmt.Fprintf(w, "      %s; funded by %s; until %s\n", o.Benefit, o.FundedBy, o.Ends.Format("2006-01-02"))
	if len(o.Conditions) > 0 {
		fmt.Fprintf(w, "      %s\n", strings.Join(o.Conditions, "; "))
	}
	if !o.Added {
		fmt.Fprintf(w, "      not added yet: tapwallet phone offers add %s %s\n", o.Campaign, tokenLast4)
	}
}

// tapPreview is what the phone shows when it meets a terminal, before it
// pays ("bank card details pop up"): the card that will pay and the store
// offers that may apply to it, from the offers the phone last fetched
// (phone offers, phone sync) — nothing is asked of the server at the tap.
// "" when the phone has no card to pay with.
func tapPreview(p *phone.Phone, ref string) string {
	c, err := p.PayingCard(ref)
	if err != nil {
		return ""
	}
	s := fmt.Sprintf("paying with %s %s card ending %s (token ending %s)", c.BankName, c.Product, c.PANLast4, c.TokenLast4)
	var may []string
	for _, o := range phone.OffersFor(p.CachedOffers(), c.Token) {
		if o.Added && slices.Contains(o.Channels, "nfc") {
			may = append(may, o.Name.EN+" ("+o.Mechanic+")")
		}
	}
	if len(may) > 0 {
		s += "; offers that may apply: " + strings.Join(may, ", ")
	}
	return s
}
