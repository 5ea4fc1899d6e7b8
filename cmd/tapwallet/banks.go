package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/bank"
)

func init() {
	register("banks", "list the issuing banks and their test cards", runBanks)
	registerSubs("banks", func() []string { return []string{"list", "test-cards"} })
}

const banksHelp = `Usage: tapwallet banks list [--config FILE] [--json]
       tapwallet banks test-cards [--config FILE] [--json]

The issuing banks of the platform and their test cards.

list        a table of the issuing banks: id, name, BINs, products, token range
            and whether the bank steps up with a one-time code.
            --json: {"banks": [{"id", "name", "bins": [string], "products":
            [string], "token_range", "step_up" (the one-time code's channel,
            "" for none)}]}
test-cards  every test card, one per line, and nothing else:
            PAN EXPIRY(MMYY) CVN2 BANK PRODUCT IDV
            e.g. 6222020000000007 1230 123 icbc debit green
            IDV is the ID&V outcome: green (added at once), otp (a
            one-time code is sent) or red (the bank declines: its outcome for
            the card, or the card is blocked or reported lost).
            --json: {"cards": [{"pan", "expiry" (MMYY), "cvn2", "bank",
            "product", "idv"}]}

--config FILE  a bank configuration of the operator's own in the format of
               the shipped one (docs/test-cards.md); default: the shipped 20
               banks. Environment: TAPWALLET_BANKS (as for serve --banks).

Flags:`

func runBanks(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("banks", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", envDefault(e, "banks", ""), "bank configuration file (default: the shipped 20 banks) [TAPWALLET_BANKS]")
	asJSON := fs.Bool("json", false, "print one JSON object (fields above) instead of the table or lines")
	fs.Usage = func() { fmt.Fprintln(e.stderr, banksHelp); fs.PrintDefaults() }
	if len(args) == 0 {
		fs.Usage()
		return usage("banks: want a subcommand: list or test-cards")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fs.SetOutput(e.stdout)
		fmt.Fprintln(e.stdout, banksHelp)
		fs.PrintDefaults()
		return nil
	case "list", "test-cards":
	default:
		fs.Usage()
		return usage("banks: unknown subcommand %q: want list or test-cards", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usage("banks %s: %v", args[0], err)
	}
	if fs.NArg() > 0 {
		return usage("banks %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	cfg, err := loadBanks(*path)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "list" && *asJSON:
		return writeJSON(e.stdout, struct {
			Banks []bankJSON `json:"banks"`
		}{banks(cfg)})
	case args[0] == "list":
		return listBanks(e.stdout, cfg)
	case *asJSON:
		return writeJSON(e.stdout, struct {
			Cards []testCardJSON `json:"cards"`
		}{testCards(cfg)})
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

// bankJSON is one bank of `banks list --json`.
type bankJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	BINs       []string `json:"bins"`
	Products   []string `json:"products"`
	TokenRange string   `json:"token_range"`
	StepUp     string   `json:"step_up"`
}

// banks returns the banks of cfg as `banks list` shows them.
func banks(cfg *bank.Config) []bankJSON {
	out := []bankJSON{}
	for i := range cfg.Banks {
		b := &cfg.Banks[i]
		kinds := make([]string, len(b.Products))
		for j, p := range b.Products {
			kinds[j] = string(p.Kind)
		}
		stepUp := ""
		if b.IDV.StepUp != nil {
			stepUp = b.IDV.StepUp.Channel
		}
		out = append(out, bankJSON{b.ID, b.Name, append([]string{}, b.BINs()...), kinds, b.TokenPrefix(), stepUp})
	}
	return out
}

func listBanks(w io.Writer, cfg *bank.Config) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tBINS\tPRODUCTS\tTOKEN RANGE\tSTEP-UP")
	for _, b := range banks(cfg) {
		stepUp := b.StepUp
		if stepUp == "" {
			stepUp = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Name, strings.Join(b.BINs, ","),
			strings.Join(b.Products, ","), b.TokenRange, stepUp)
	}
	return tw.Flush()
}

// testCardJSON is one card of `banks test-cards --json`.
type testCardJSON struct {
	PAN     string `json:"pan"`
	Expiry  string `json:"expiry"`
	CVN2    string `json:"cvn2"`
	Bank    string `json:"bank"`
	Product string `json:"product"`
	IDV     string `json:"idv"`
}

// testCards returns the test cards with the ID&V outcome each gets. These
// are test cards: printing their numbers is the point.
func testCards(cfg *bank.Config) []testCardJSON {
	out := []testCardJSON{}
	for i := range cfg.Cards {
		h := &cfg.Cards[i]
		idv := h.IDV
		if h.Status != bank.Active {
			idv = bank.Red // ID&V refuses a blocked or lost card
		}
		out = append(out, testCardJSON{h.PAN.Digits(), h.Expiry.MMYY(), h.CVN2.Digits(), h.Bank, string(h.Product), string(idv)})
	}
	return out
}

// listTestCards prints one card per line: PAN EXPIRY CVN2 BANK PRODUCT IDV.
func listTestCards(w io.Writer, cfg *bank.Config) error {
	var b strings.Builder
	for _, c := range testCards(cfg) {
		fmt.Fprintf(&b, "%s %s %s %s %s %s\n", c.PAN, c.Expiry, c.CVN2, c.Bank, c.Product, c.IDV)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
