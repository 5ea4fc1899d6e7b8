package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/bank"
)

func init() {
	register("banks", "list the issuing banks and their test cards", runBanks)
}

const banksHelp = `Usage: tapwallet banks list [--config FILE]
       tapwallet banks test-cards [--config FILE]

list        a table of the issuing banks: id, name, BINs, products, token range
            and whether the bank steps up with a one-time code.
test-cards  every test card, one per line, and nothing else:
            PAN EXPIRY(MMYY) CVN2 BANK PRODUCT IDV
            e.g. 6222020000000007 1230 123 icbc debit green
            IDV is the ID&V outcome: green (added at once), otp (a
            one-time code is sent) or red (the bank declines: its outcome for
            the card, or the card is blocked or reported lost).

--config FILE  a bank configuration of the operator's own in the format of
               the shipped one (docs/test-cards.md); default: the shipped 20
               banks. Environment: TAPWALLET_BANKS (as for serve --banks).
`

func runBanks(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, banksHelp)
		return usage("banks: want a subcommand: list or test-cards")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(e.stdout, banksHelp)
		return nil
	case "list", "test-cards":
	default:
		fmt.Fprint(e.stderr, banksHelp)
		return usage("banks: unknown subcommand %q: want list or test-cards", args[0])
	}
	fs := flag.NewFlagSet("banks "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", envDefault(e, "banks", ""), "bank configuration file (default: the shipped 20 banks)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.stdout, banksHelp)
			return nil
		}
		fmt.Fprint(e.stderr, banksHelp)
		return usage("banks %s: %v", args[0], err)
	}
	if fs.NArg() > 0 {
		return usage("banks %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	cfg, err := loadBanks(*path)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return listBanks(e.stdout, cfg)
	}
	return listTestCards(e.stdout, cfg)
}

// loadBanks returns the operator's configuration at path, or the shipped one.
func loadBanks(path string) (*bank.Config, error) {
	if path == "" {
		return bank.Default()
	}
	return bank.Load(path)
}

func listBanks(w io.Writer, cfg *bank.Config) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tBINS\tPRODUCTS\tTOKEN RANGE\tSTEP-UP")
	for i := range cfg.Banks {
		b := &cfg.Banks[i]
		kinds := make([]string, len(b.Products))
		for j, p := range b.Products {
			kinds[j] = string(p.Kind)
		}
		stepUp := "no"
		if b.IDV.StepUp != nil {
			stepUp = b.IDV.StepUp.Channel
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Name, strings.Join(b.BINs(), ","),
			strings.Join(kinds, ","), b.TokenPrefix(), stepUp)
	}
	return tw.Flush()
}

// listTestCards prints one card per line: PAN EXPIRY CVN2 BANK PRODUCT IDV.
// These are test cards: printing their numbers is the point.
func listTestCards(w io.Writer, cfg *bank.Config) error {
	var b strings.Builder
	for i := range cfg.Cards {
		h := &cfg.Cards[i]
		idv := h.IDV
		if h.Status != bank.Active {
			idv = bank.Red // ID&V refuses a blocked or lost card
		}
		fmt.Fprintf(&b, "%s %s %s %s %s %s\n", h.PAN.Digits(), h.Expiry.MMYY(), h.CVN2.Digits(), h.Bank, h.Product, idv)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
