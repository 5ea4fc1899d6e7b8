package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/phone"
)

func init() {
	registerPhone("transit", "transit cards: transit add|list|topup|balance|history|refund|move|express|resolve (tapwallet phone transit -h)", phoneTransit)
	registerSubs("phone transit", func() []string { return transitCommands })
}

const transitUsage = `Usage: tapwallet phone [--profile DIR] transit COMMAND [flags]

Commands:
  add --city CITY [--pay CARD] --finger F  add a city's card; fee and deposit paid from a bank card
  list                                    the transit cards on this phone
  topup --card CITY|NUMBER --amount 50 --finger F
                                          top up from a bank card (--pay CARD): a payment, then a signed load
  balance [--card CITY|NUMBER]            the card's balance (and what the operator has cleared)
  history [--card CITY|NUMBER]            rides and loads, newest first
  refund --card CITY|NUMBER               balance and deposit back (after the last rides clear)
  move --card CITY|NUMBER --to-profile DIR  move the card to another phone of the account
  express on|off --card CITY|NUMBER       gates without a fingerprint (on) or only when unlocked
  resolve [--refund]                      finish (or refund) top-ups that paid but did not arrive

Cities: ` + "beijing, shanghai, guangzhou, shenzhen, wuhan, chongqing"

// transitCommands are the subcommands of phone transit.
var transitCommands = []string{"add", "list", "topup", "balance", "history", "refund", "move", "express", "resolve"}

// transitSummary returns the lines of transitUsage that describe sub.
func transitSummary(sub string) string {
	var out []string
	for _, l := range strings.Split(transitUsage, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == sub || strings.HasPrefix(t, sub+" "):
			out = append(out, t)
		case len(out) > 0 && strings.HasPrefix(l, "     "): // its continuation
			out = append(out, t)
		case len(out) > 0:
			return strings.Join(out, "\n")
		}
	}
	return strings.Join(out, "\n")
}

func phoneTransit(ctx context.Context, e *env, pf *phoneFlags, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, transitUsage)
		if len(args) == 0 {
			return usage("phone transit: a command is needed")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := subFlags(e, pf, "transit "+sub)
	city := fs.String("city", "", "the city: "+strings.Join(fare.Default().IDs(), ", "))
	cardRef := fs.String("card", "", "the transit card: its city or number (or last 4 digits)")
	pay := fs.String("pay", "", "the bank card that pays (token or card last 4; default: the default card)")
	amountS := fs.String("amount", "", "amount in yuan, e.g. 50 or 12.50")
	toProfile := fs.String("to-profile", "", "the new phone's profile folder")
	refund := fs.Bool("refund", false, "refund unfinished top-ups instead of finishing them")
	finger := fs.String("finger", "", "verify this finger first: add and topup pay with the phone's payment applet")
	var onOff string
	if sub == "express" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		onOff, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usage("phone transit %s: unexpected %q", sub, fs.Arg(0))
	}
	p, err := pf.open()
	if err != nil {
		return err
	}
	out := e.stdout
	if *finger != "" && (sub == "add" || sub == "topup") {
		if err := p.VerifyFinger(*finger); err != nil {
			return err
		}
	}
	switch sub {
	case "add":
		if *city == "" {
			return usage("transit add needs --city (%s)", strings.Join(fare.Default().IDs(), ", "))
		}
		c, err := fare.Default().City(*city)
		if err != nil {
			return usage("%v", err)
		}
		tc, err := p.TransitAdd(ctx, c.ID, *pay)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "added %s %s, paid %s (issue fee %s + refundable deposit %s)\n", tc.Name, tc.Number,
			money.Fen(c.Product.IssueFee+c.Product.Deposit), money.Fen(c.Product.IssueFee), money.Fen(c.Product.Deposit))
		fmt.Fprintf(out, "balance %s; express mode on: hold the phone to a gate, no fingerprint needed\n", money.Fen(tc.Balance))
	case "list":
		cards, err := p.TransitCards()
		if err != nil {
			return err
		}
		if len(cards) == 0 {
			fmt.Fprintln(out, "no transit cards (tapwallet phone transit add --city CITY)")
		}
		for _, c := range cards {
			fmt.Fprintf(out, "%-10s %s  %-36s %12s%s\n", c.City, c.Number, c.Name, money.Fen(c.Balance), flags(c))
		}
	case "topup":
		if *amountS == "" {
			return usage("transit topup needs --amount (yuan)")
		}
		amt, err := money.Parse(*amountS, money.CNY)
		if err != nil || amt.Minor <= 0 {
			return usage("--amount must be a positive amount of yuan, e.g. 50")
		}
		ref := *cardRef
		if ref == "" {
			ref = *city
		}
		t, err := p.TransitTopUp(ctx, ref, amt.Minor, *pay)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "topped up %s (load %s); balance %s\n", money.Fen(t.Amount), t.LoadID, money.Fen(t.Balance))
	case "balance":
		c, err := p.TransitCity(firstOf(*cardRef, *city))
		if err != nil {
			return err
		}
		cards, err := p.TransitCards()
		if err != nil {
			return err
		}
		for _, tc := range cards {
			if tc.City != c {
				continue
			}
			fmt.Fprintf(out, "%s %s: balance %s%s\n", tc.Name, tc.Number, money.Fen(tc.Balance), flags(tc))
			if tc.Info.Trip.State == 1 {
				name := "a station"
				if fc, err := fare.Default().City(c); err == nil {
					if s := fc.StationByCode(tc.Info.Trip.Station); s != nil {
						name = s.Name
					}
				}
				fmt.Fprintf(out, "on a journey since %s from %s\n", tc.Info.Trip.EntryAt.Format("15:04"), name)
			}
			if v, err := p.TransitOperatorView(ctx, c); err == nil {
				fmt.Fprintf(out, "the operator has cleared rides down to %s (rides taken offline clear later)\n", money.Fen(v.Balance))
			}
		}
	case "history":
		rides, err := p.TransitHistory(firstOf(*cardRef, *city))
		if err != nil {
			return err
		}
		if len(rides) == 0 {
			fmt.Fprintln(out, "no transactions yet")
		}
		for _, r := range rides {
			where := r.Station
			if r.Line != "" {
				where += " (" + r.Line + ")"
			}
			sign := "-"
			switch {
			case r.Fen == 0:
				sign = " "
			case r.Kind == "load":
				sign = "+"
			}
			fmt.Fprintf(out, "%s  %-5s  %-45s %s%s\n", r.At.Format("2006-01-02 15:04"), r.Kind, where, sign, money.Fen(r.Fen))
		}
	case "refund":
		r, err := p.TransitRefund(ctx, firstOf(*cardRef, *city))
		if err != nil {
			return err
		}
		if r.Refunded {
			fmt.Fprintf(out, "refunded %s (balance and deposit) to the bank card; the card is gone from this phone\n", money.Fen(r.Amount))
		} else {
			fmt.Fprintf(out, "the card is closed; %s comes back once %d offline ride(s) have cleared — run this again later\n", money.Fen(r.Amount), r.Waiting)
		}
	case "move":
		if *toProfile == "" {
			return usage("transit move needs --to-profile DIR (the new phone's profile)")
		}
		to, err := phone.Load(*toProfile, p.Profile.Server)
		if err != nil {
			return err
		}
		tc, err := p.TransitMove(ctx, firstOf(*cardRef, *city), to)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "moved %s %s to the phone in %s with balance %s; this phone's copy is closed and deleted\n", tc.Name, tc.Number, *toProfile, money.Fen(tc.Balance))
	case "express":
		if onOff != "on" && onOff != "off" {
			return usage("transit express needs on or off")
		}
		if err := p.TransitExpress(firstOf(*cardRef, *city), onOff == "on"); err != nil {
			return err
		}
		fmt.Fprintf(out, "express mode %s\n", onOff)
	case "resolve":
		res, err := p.ResolveLoads(ctx, !*refund)
		if err != nil {
			return err
		}
		if len(res) == 0 {
			fmt.Fprintln(out, "no unfinished top-ups")
		}
		for _, r := range res {
			fmt.Fprintf(out, "load %s of %s: %s\n", r.LoadID, money.Fen(r.Amount), r.Action)
		}
	default:
		fmt.Fprintln(e.stderr, transitUsage)
		return usage("phone transit: unknown command %q", sub)
	}
	return nil
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func flags(c phone.TransitCard) string {
	var f []string
	if !c.Info.Express {
		f = append(f, "express off")
	}
	if c.Info.Blocked {
		f = append(f, "blocked")
	}
	if c.Info.Closed {
		f = append(f, "closed")
	}
	sort.Strings(f)
	if len(f) == 0 {
		return ""
	}
	return " [" + strings.Join(f, ", ") + "]"
}
