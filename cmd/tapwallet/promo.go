package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/sqlstore"
)

func init() {
	register("promo", "bank and network promotions: promo add | list | pause | report", runPromo)
	registerSubs("promo", func() []string { return sortedKeys(promoHelp) })
}

const promoUsage = `Usage: tapwallet promo add|list|pause|report [flags]

The promotions of the card network and the banks (docs/promotions.md):
campaigns with their funders, window, eligibility, mechanic, limits and
budget, kept in the promotions' own database (the promo wing: DATA/promo.db,
or the schema promo with --db postgres://…).

  add     save the campaigns of a file, or the shipped defaults (--defaults)
  list    the campaigns
  pause   pause a campaign (--resume resumes it)
  report  each campaign's budget: reserved, spent, remaining, discounts

'tapwallet promo SUBCOMMAND -h' shows a subcommand's flags.`

// promoHelp is the help of each subcommand.
var promoHelp = map[string]string{
	"add": `Usage: tapwallet promo add [--data DIR] [--db DSN] FILE
       tapwallet promo add [--data DIR] [--db DSN] --defaults

Saves the campaigns of FILE (JSON: {"campaigns": [ … ]}, the format of
docs/promotions.md) — all of them or, when one is refused, none: an unknown
field, a negative amount, overlapping tiers or a window that ends before it
starts is named with its campaign and field. A campaign already saved gets
its new version; its budget keeps what was reserved and spent. --defaults
saves the campaigns shipped for the demo (a network "spend ¥100 save ¥50"
for new users, a random discount of ICBC, and more).`,
	"list": `Usage: tapwallet promo list [--data DIR] [--db DSN] [--owner ID] [--json]

Lists the campaigns: id, owner, English name, mechanic, funders,
fulfilment, window and state (running, paused, ended, not started).
--json: {"campaigns": [campaign]} with the fields of a campaign file plus
"paused".`,
	"pause": `Usage: tapwallet promo pause [--data DIR] [--db DSN] [--resume] ID

Pauses the campaign ID: it gives no new discount; what it reserved still
posts at clearing or is released. --resume lets it give discounts again.`,
	"report": `Usage: tapwallet promo report [--data DIR] [--db DSN] [--json]

Each campaign's budget: the budget, what pending holds reserve, what was
spent (posted at clearing, less what refunds restored), what remains, and
the discounts pending and spent. --json: {"campaigns": [{"campaign",
"budget", "reserved", "spent", "reserved_count", "spent_count",
"remaining"}]} with amounts in fen.`,
}

func runPromo(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, promoUsage)
		if len(args) == 0 {
			return usage("promo: want a subcommand: add, list, pause or report")
		}
		return nil
	}
	sub := args[0]
	help, ok := promoHelp[sub]
	if !ok {
		return usage("promo: unknown subcommand %q: want add, list, pause or report", sub)
	}
	fs := flag.NewFlagSet("promo "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, help)
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the data folder holding the promo wing (promo.db) [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	var defaults, asJSON, resume *bool
	var owner *string
	switch sub {
	case "add":
		defaults = fs.Bool("defaults", false, "save the shipped default campaigns instead of a file")
	case "list":
		owner = fs.String("owner", "", "only the campaigns of this owner (network or a bank id)")
		asJSON = fs.Bool("json", false, "print one JSON object (fields above)")
	case "pause":
		resume = fs.Bool("resume", false, "resume the campaign instead")
	case "report":
		asJSON = fs.Bool("json", false, "print one JSON object (fields above)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return usage("promo %s: %v", sub, err)
	}
	want := 0
	if sub == "pause" || (sub == "add" && !*defaults) {
		want = 1
	}
	if fs.NArg() != want {
		return usage("promo %s: want %d argument(s), got %d (see tapwallet promo %s -h)", sub, want, fs.NArg(), sub)
	}
	if *dsn == "" {
		if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
			return usage("--data %s: no such folder; give the platform's data folder (the one 'tapwallet serve --data DIR' runs on)", *data)
		}
	}
	var cs []promo.Campaign
	if sub == "add" { // read and check the file before opening anything
		var err error
		if cs, err = readCampaigns(*defaults, fs.Arg(0)); err != nil {
			return err
		}
	}
	st, err := sqlstore.Open(ctx, *dsn, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		if err := st.Save(ctx, cs); err != nil {
			return err
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		fmt.Fprintf(e.stdout, "saved %d campaigns: %s\n", len(cs), strings.Join(ids, ", "))
		return nil
	case "list":
		return promoList(ctx, e.stdout, st, *owner, *asJSON)
	case "pause":
		if err := st.SetPaused(ctx, fs.Arg(0), !*resume); err != nil {
			return err
		}
		state := "paused"
		if *resume {
			state = "resumed"
		}
		fmt.Fprintf(e.stdout, "%s %s\n", fs.Arg(0), state)
		return nil
	}
	return promoReport(ctx, e.stdout, st, *asJSON)
}

// readCampaigns reads the campaign file at path, or the shipped defaults.
func readCampaigns(defaults bool, path string) ([]promo.Campaign, error) {
	if defaults {
		return promo.Defaults()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usage("promo add: %v", err)
	}
	defer f.Close()
	return promo.ParseFile(f)
}

// promoCampaignJSON is one campaign of `promo list --json`.
type promoCampaignJSON struct {
	promo.Campaign
	Paused bool `json:"paused"`
}

func promoList(ctx context.Context, w io.Writer, st *sqlstore.Store, owner string, asJSON bool) error {
	all, err := st.Campaigns(ctx)
	if err != nil {
		return err
	}
	out := []promoCampaignJSON{}
	for _, c := range all {
		if owner == "" || c.Owner == owner {
			out = append(out, promoCampaignJSON{c, c.Paused})
		}
	}
	if asJSON {
		return writeJSON(w, struct {
			Campaigns []promoCampaignJSON `json:"campaigns"`
		}{out})
	}
	now := st.DB.Now()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tNAME\tMECHANIC\tFUNDED BY\tFULFILMENT\tWINDOW\tSTATE")
	for _, c := range out {
		var funders []string
		for _, f := range c.Funders {
			who := string(f.Kind)
			if f.Party != "" && f.Party != who {
				who = f.Party
			}
			funders = append(funders, fmt.Sprintf("%s %d%%", who, f.ShareBP/100))
		}
		state := "running"
		switch {
		case c.Paused:
			state = "paused"
		case now.Before(c.Window.Start):
			state = "not started"
		case !now.Before(c.Window.End):
			state = "ended"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s..%s\t%s\n", c.ID, c.Owner, c.Name.EN, c.Mechanic, strings.Join(funders, ", "),
			c.Fulfilment, c.Window.Start.Format("2006-01-02"), c.Window.End.Format("2006-01-02"), state)
	}
	return tw.Flush()
}

// promoUsageJSON is one campaign of `promo report --json`.
type promoUsageJSON struct {
	promo.Usage
	Remaining int64 `json:"remaining"`
}

func promoReport(ctx context.Context, w io.Writer, st *sqlstore.Store, asJSON bool) error {
	us, err := st.Usages(ctx)
	if err != nil {
		return err
	}
	out := []promoUsageJSON{}
	for _, u := range us {
		out = append(out, promoUsageJSON{u, u.Remaining()})
	}
	if asJSON {
		return writeJSON(w, struct {
			Campaigns []promoUsageJSON `json:"campaigns"`
		}{out})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CAMPAIGN\tBUDGET\tRESERVED\tSPENT\tREMAINING\tPENDING\tSPENT (COUNT)\t")
	for _, u := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", u.Campaign, promo.Amount(u.Budget), promo.Amount(u.Reserved),
			promo.Amount(u.Spent), promo.Amount(u.Remaining), u.ReservedCount, u.SpentCount)
	}
	return tw.Flush()
}
