package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/netswitch/adminapi"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/promo/sqlstore"
)

func init() {
	register("promo", "bank and network promotions: promo add | list | pause | report | token", runPromo)
	registerSubs("promo", func() []string { return sortedKeys(promoHelp) })
}

const promoUsage = `Usage: tapwallet promo add|list|pause|report|token [flags]

The promotions of the card network and the banks (docs/promotions.md):
campaigns with their funders, window, eligibility, mechanic, limits and
budget, kept in the promotions' own database (the promo wing: DATA/promo.db,
or the schema promo with --db postgres://…). With --server URL each
subcommand works on a running platform instead (tapwallet serve with the
network role), over the operator's API (/v1/admin/promotions) with the
operator token: --token, TAPWALLET_OPERATOR_TOKEN, or the file
operator-token of --data; the switch then sees a change at once.

  add     save the campaigns of a file, or the shipped defaults (--defaults)
  list    the campaigns and their budgets
  pause   pause a campaign (--resume resumes it)
  report  each campaign's budget: reserved, spent, remaining, discounts
  token   a bank's operator token: with it (--token) the bank publishes,
          lists, pauses and reports its own campaigns, funded by it alone

'tapwallet promo SUBCOMMAND -h' shows a subcommand's flags.`

// promoWhere is the part of every subcommand's usage that says where it
// works.
const promoWhere = "[--data DIR] [--db DSN | --server URL [--token TOKEN]]"

// promoHelp is the help of each subcommand.
var promoHelp = map[string]string{
	"add": `Usage: tapwallet promo add ` + promoWhere + ` FILE
       tapwallet promo add ` + promoWhere + ` --defaults

Saves the campaigns of FILE (JSON: {"campaigns": [ … ]}, the format of
docs/promotions.md) — all of them or, when one is refused, none: an unknown
field, a negative amount, overlapping tiers or a window that ends before it
starts is named with its campaign and field. A campaign already saved gets
its new version; its budget keeps what was reserved and spent. --defaults
saves the campaigns shipped for the demo (a network "spend ¥100 save ¥50"
for new users, a random discount of ICBC, and more). With --server the file
goes to the platform (POST /v1/admin/promotions), which checks it the same
way and matches with the new campaigns from the next authorization.`,
	"list": `Usage: tapwallet promo list ` + promoWhere + ` [--owner ID] [--json]

Lists the campaigns: id, owner, English name, mechanic, funders,
fulfilment, window, state (running, paused, ended, not started) and what
remains of the budget. --json: {"campaigns": [campaign]} with the fields of
a campaign file plus "paused", "state" and "usage" (the fields of promo
report --json).`,
	"pause": `Usage: tapwallet promo pause ` + promoWhere + ` [--resume] ID

Pauses the campaign ID: it gives no new discount; what it reserved still
posts at clearing or is released. --resume lets it give discounts again.
With --server the platform's switch stops (or resumes) matching it at once.`,
	"report": `Usage: tapwallet promo report ` + promoWhere + ` [--json]

Each campaign's budget: the budget, what pending holds reserve, what was
spent (posted at clearing, less what refunds restored), what remains, and
the discounts pending and spent. --json: {"campaigns": [{"campaign",
"budget", "reserved", "spent", "reserved_count", "spent_count",
"remaining"}]} with amounts in fen.`,
	"token": `Usage: tapwallet promo token [--data DIR] --bank ID

Prints the operator token of the bank ID (the file operator-token-ID of the
data folder, made at the first call, mode 0600). With it as --token (or
TAPWALLET_OPERATOR_TOKEN), promo add|list|pause|report --server works for
that bank's own campaigns only: their owner is the bank and the bank alone
funds them (an issuer funder naming it, or unnamed on a campaign only its
cards can use); another owner's campaign, one the network or another bank
would fund, is refused (promo_not_yours). The network's own token (the file
operator-token) does everything.`,
}

// promoDoor is where the subcommands work: the promo wing of a data
// folder (localPromo) or a running platform (*adminapi.Client).
type promoDoor interface {
	SavePromotions(ctx context.Context, file []byte) (adminapi.Saved, error)
	Promotions(ctx context.Context, owner string) ([]adminapi.Listed, error)
	SetPaused(ctx context.Context, id string, paused bool) error
	BudgetReport(ctx context.Context) ([]adminapi.Budget, error)
}

func runPromo(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, promoUsage)
		if len(args) == 0 {
			return usage("promo: want a subcommand: add, list, pause, report or token")
		}
		return nil
	}
	sub := args[0]
	help, ok := promoHelp[sub]
	if !ok {
		return usage("promo: unknown subcommand %q: want add, list, pause, report or token", sub)
	}
	fs := flag.NewFlagSet("promo "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, help)
	if sub == "token" {
		return promoToken(e, fs, args[1:])
	}
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the data folder holding the promo wing (promo.db), or with --server its operator-token file [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	server := fs.String("server", "", "a running platform's URL (tapwallet serve --http, network role): work there over the operator's API instead of the data folder")
	token := fs.String("token", envDefault(e, "operator_token", ""), "with --server: the operator token (default: the file operator-token of --data) [TAPWALLET_OPERATOR_TOKEN]")
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
	var file []byte
	if sub == "add" { // read and check the file before opening anything
		var err error
		if file, err = readCampaignFile(*defaults, fs.Arg(0)); err != nil {
			return err
		}
	}
	door, done, err := openPromoDoor(ctx, *server, *token, *data, *dsn, file)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "add":
		saved, err := door.SavePromotions(ctx, file)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "saved %d campaigns: %s\n", len(saved.Saved), strings.Join(saved.Saved, ", "))
		return nil
	case "list":
		ls, err := door.Promotions(ctx, *owner)
		if err != nil {
			return err
		}
		return promoList(e.stdout, ls, *asJSON)
	case "pause":
		if err := door.SetPaused(ctx, fs.Arg(0), !*resume); err != nil {
			return err
		}
		state := "paused"
		if *resume {
			state = "resumed"
		}
		fmt.Fprintf(e.stdout, "%s %s\n", fs.Arg(0), state)
		return nil
	}
	bs, err := door.BudgetReport(ctx)
	if err != nil {
		return err
	}
	return promoReport(e.stdout, bs, *asJSON)
}

// promoToken prints a bank's operator token, made when missing.
func promoToken(e *env, fs *flag.FlagSet, args []string) error {
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the platform's data folder [TAPWALLET_DATA]")
	bankID := fs.String("bank", "", "the bank's id (tapwallet banks list)")
	if err := fs.Parse(args); err != nil {
		return usage("promo token: %v", err)
	}
	if fs.NArg() != 0 || *bankID == "" {
		return usage("promo token: want --bank ID and no argument")
	}
	cfg, err := bank.Default()
	if err != nil {
		return err
	}
	if _, ok := cfg.BankByID(*bankID); !ok {
		return usage("promo token: no bank %q (tapwallet banks list)", *bankID)
	}
	if st, err := os.Stat(*data); err != nil || !st.IsDir() {
		return usage("promo token: no data folder %s (the platform's, where tapwallet serve keeps its files)", *data)
	}
	tok, err := platform.BankOperatorToken(*data, *bankID, true)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}

// openPromoDoor returns where the subcommand works: the platform at
// server with the operator token (token, else the data folder's
// operator-token file), or the promo wing of the data folder (dsn) —
// checking a campaign file (not nil) before the wing is opened. done
// closes it.
func openPromoDoor(ctx context.Context, server, token, data, dsn string, file []byte) (door promoDoor, done func(), err error) {
	if server != "" {
		if dsn != "" {
			return nil, nil, usage("--server and --db: not both (the platform at --server uses its own database)")
		}
		if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
			return nil, nil, usage("--server %s: want http://HOST:PORT or https://…", server)
		}
		if token == "" {
			b, err := os.ReadFile(filepath.Join(data, "operator-token"))
			if err != nil {
				return nil, nil, usage("--server: no operator token: give --token, TAPWALLET_OPERATOR_TOKEN, or --data DIR of the platform (its file operator-token; %v)", errors.Unwrap(err))
			}
			token = strings.TrimSpace(string(b))
		}
		return &adminapi.Client{URL: server, Token: strings.TrimSpace(token)}, func() {}, nil
	}
	if dsn == "" {
		if _, err := os.Stat(data); errors.Is(err, os.ErrNotExist) {
			return nil, nil, usage("--data %s: no such folder; give the platform's data folder (the one 'tapwallet serve --data DIR' runs on)", data)
		}
	}
	l := localPromo{}
	if file != nil {
		if l.cs, err = promo.ParseFile(bytes.NewReader(file)); err != nil {
			return nil, nil, err
		}
	}
	if l.st, err = sqlstore.Open(ctx, dsn, data); err != nil {
		return nil, nil, err
	}
	return l, func() { l.st.Close() }, nil
}

// readCampaignFile reads the campaign file at path, or the shipped
// defaults as a file.
func readCampaignFile(defaults bool, path string) ([]byte, error) {
	if !defaults {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usage("promo add: %v", err)
		}
		return b, nil
	}
	cs, err := promo.Defaults()
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Campaigns []promo.Campaign `json:"campaigns"`
	}{cs})
}

// localPromo is the promo wing of a data folder, with the campaign file
// already read (cs).
type localPromo struct {
	st *sqlstore.Store
	cs []promo.Campaign
}

func (l localPromo) SavePromotions(ctx context.Context, _ []byte) (adminapi.Saved, error) {
	if err := l.st.Save(ctx, l.cs); err != nil {
		return adminapi.Saved{}, err
	}
	out := adminapi.Saved{Saved: make([]string, len(l.cs))}
	for i, c := range l.cs {
		out.Saved[i] = c.ID
	}
	return out, nil
}

func (l localPromo) Promotions(ctx context.Context, owner string) ([]adminapi.Listed, error) {
	return adminapi.List(ctx, l.st, owner, l.st.DB.Now())
}

func (l localPromo) SetPaused(ctx context.Context, id string, paused bool) error {
	return l.st.SetPaused(ctx, id, paused)
}

func (l localPromo) BudgetReport(ctx context.Context) ([]adminapi.Budget, error) {
	return adminapi.BudgetReport(ctx, l.st)
}

func promoList(w io.Writer, ls []adminapi.Listed, asJSON bool) error {
	if asJSON {
		return writeJSON(w, adminapi.Campaigns{Campaigns: ls})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tNAME\tMECHANIC\tFUNDED BY\tFULFILMENT\tWINDOW\tSTATE\tREMAINING")
	for _, c := range ls {
		var funders []string
		for _, f := range c.Funders {
			who := string(f.Kind)
			if f.Party != "" && f.Party != who {
				who = f.Party
			}
			funders = append(funders, fmt.Sprintf("%s %d%%", who, f.ShareBP/100))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s..%s\t%s\t%s of %s\n", c.ID, c.Owner, c.Name.EN, c.Mechanic, strings.Join(funders, ", "),
			c.Fulfilment, c.Window.Start.Format("2006-01-02"), c.Window.End.Format("2006-01-02"), c.State,
			promo.Amount(c.Usage.Remaining), promo.Amount(c.Usage.Budget))
	}
	return tw.Flush()
}

func promoReport(w io.Writer, bs []adminapi.Budget, asJSON bool) error {
	if asJSON {
		return writeJSON(w, adminapi.Report{Campaigns: bs})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CAMPAIGN\tBUDGET\tRESERVED\tSPENT\tREMAINING\tPENDING\tSPENT (COUNT)\t")
	for _, u := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", u.Campaign, promo.Amount(u.Budget), promo.Amount(u.Reserved),
			promo.Amount(u.Spent), promo.Amount(u.Remaining), u.ReservedCount, u.SpentCount)
	}
	return tw.Flush()
}
