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
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/risk/sqlstore"
)

func init() {
	register("risk", "the risk engine's rules: risk rules | versions | activate | backtest", runRisk)
	registerSubs("risk", func() []string { return []string{"activate", "backtest", "rules", "versions"} })
}

const riskHelp = `Usage: tapwallet risk rules [--rules FILE | --data DIR [--db DSN]] [--json]
       tapwallet risk versions --data DIR [--db DSN] [--json]
       tapwallet risk activate --rules FILE --data DIR [--db DSN]
       tapwallet risk backtest --rules FILE --facts FILE [--from TIME] [--to TIME] [--json]

The risk engine's rule sets (docs/risk.md): rules are data, a JSON document
read strictly, versioned; a stored version is never overwritten.

rules     lists the rules of a rule set: FILE, else the latest version stored
          in the data folder's risk wing, else the default set built in.
          --json: the rule set itself.
versions  lists the versions stored in the data folder (version, digest,
          rules, when, note).
activate  checks FILE and stores it as a new version; its number must be
          above every stored one.
backtest  replays stored authorizations through the rule set FILE and
          prints what would change: decisions that flip and how often each
          rule fires.`

func runRisk(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprintln(e.stderr, riskHelp)
			return usage("risk: want a subcommand: rules, versions, activate or backtest")
		}
		fmt.Fprintln(e.stdout, riskHelp)
		return nil
	}
	switch args[0] {
	case "rules":
		return runRiskRules(ctx, e, args[1:])
	case "versions":
		return runRiskVersions(ctx, e, args[1:])
	case "activate":
		return runRiskActivate(ctx, e, args[1:])
	case "backtest":
		return runRiskBacktest(ctx, e, args[1:])
	}
	fmt.Fprintln(e.stderr, riskHelp)
	return usage("risk: unknown subcommand %q: want rules, versions, activate or backtest", args[0])
}

// riskFlags makes a subcommand's flag set with its help text.
func riskFlags(e *env, name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("risk "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = helpUsage(e, fs, help)
	return fs
}

// riskWing opens the risk wing of a platform's data folder.
func riskWing(ctx context.Context, data, dsn string) (*sqlstore.Store, error) {
	if dsn == "" {
		if err := platformData("--data", data); err != nil {
			return nil, err
		}
	}
	return sqlstore.Open(ctx, dsn, data)
}

// readRules reads a rule set file strictly.
func readRules(path string) (*risk.RuleSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--rules: %w", err)
	}
	defer f.Close()
	set, err := risk.DecodeRules(f)
	if err != nil {
		return nil, fmt.Errorf("--rules %s: %w", path, err)
	}
	return set, nil
}

func parseRisk(fs *flag.FlagSet, name string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usage("risk %s: %v", name, err)
	}
	if fs.NArg() > 0 {
		return usage("risk %s: unexpected argument %q", name, fs.Arg(0))
	}
	return nil
}

func runRiskRules(ctx context.Context, e *env, args []string) error {
	fs := riskFlags(e, "rules", `Usage: tapwallet risk rules [--rules FILE | --data DIR [--db DSN]] [--json]

Lists the rules of a rule set, one a line: id, point, effect (score and
outcome, or bands), shadow, reason. The set is FILE (--rules), else the
latest version stored in the data folder's risk wing (--data), else the
default set built into tapwallet. --json prints the rule set as JSON (the
format 'risk activate' and 'risk backtest' read).`)
	file := fs.String("rules", "", "a rule set file (JSON)")
	data := fs.String("data", envDefault(e, "data", ""), "a platform's data folder: list its active version [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	asJSON := fs.Bool("json", false, "print the rule set as JSON")
	if err := parseRisk(fs, "rules", args); err != nil {
		return err
	}
	set, from := risk.Default(), "the default rules"
	switch {
	case *file != "":
		s, err := readRules(*file)
		if err != nil {
			return err
		}
		set, from = s, *file
	case *data != "" || *dsn != "":
		st, err := riskWing(ctx, *data, *dsn)
		if err != nil {
			return err
		}
		defer st.Close()
		s, err := risk.Latest(ctx, st)
		switch {
		case err == nil:
			set, from = s, "the active version"
		case errors.Is(err, fault.E(fault.NotFound, risk.CodeNoVersion, "")):
			from = "the default rules (no version stored)"
		default:
			return err
		}
	}
	if *asJSON {
		_, err := e.stdout.Write(set.JSON())
		return err
	}
	fmt.Fprintf(e.stdout, "rule set version %d (%s), digest %s, thresholds review %d decline %d\n", set.Version, from, set.Digest(), set.Thresholds.Review, set.Thresholds.Decline)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPOINT\tEFFECT\tSHADOW\tREASON")
	for _, r := range set.Rules {
		effect := fmt.Sprintf("%d %s", r.Score, r.Outcome)
		if r.Bands != nil {
			var steps []string
			for _, b := range r.Bands.Steps {
				steps = append(steps, fmt.Sprintf("≥%g:%d %s", b.Min, b.Score, b.Outcome))
			}
			effect = r.Bands.Attr + " " + strings.Join(steps, ",")
		}
		shadow := ""
		if r.Shadow {
			shadow = "shadow"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Point, effect, shadow, r.Reason)
	}
	return tw.Flush()
}

func runRiskVersions(ctx context.Context, e *env, args []string) error {
	fs := riskFlags(e, "versions", `Usage: tapwallet risk versions --data DIR [--db DSN] [--json]

Lists the rule set versions stored in the data folder's risk wing, oldest
first: version, digest, number of rules, when stored, note. A version is
never overwritten. --json: {"versions": [{"version", "digest", "rules",
"note", "at"}]}`)
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the platform's data folder [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseRisk(fs, "versions", args); err != nil {
		return err
	}
	st, err := riskWing(ctx, *data, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	vs, err := st.RuleVersions(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, struct {
			Versions []risk.VersionInfo `json:"versions"`
		}{vs})
	}
	if len(vs) == 0 {
		fmt.Fprintln(e.stdout, "no version stored: the engine uses the default rules")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tDIGEST\tRULES\tSTORED\tNOTE")
	for _, v := range vs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", v.Version, v.Digest, v.Rules, v.At.Format(time.RFC3339), v.Note)
	}
	return tw.Flush()
}

func runRiskActivate(ctx context.Context, e *env, args []string) error {
	fs := riskFlags(e, "activate", `Usage: tapwallet risk activate --rules FILE --data DIR [--db DSN]

Checks the rule set FILE (strictly: an unknown field, attribute or
operator is refused) and stores it in the data folder's risk wing as a new
version, the one the engine uses from then on. Its version number must be
above every stored one: a stored version is never overwritten. Backtest it
first ('tapwallet risk backtest').`)
	file := fs.String("rules", "", "the rule set file (JSON)")
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the platform's data folder [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	if err := parseRisk(fs, "activate", args); err != nil {
		return err
	}
	if *file == "" {
		return usage("risk activate: --rules FILE is needed")
	}
	set, err := readRules(*file)
	if err != nil {
		return err
	}
	st, err := riskWing(ctx, *data, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := risk.Activate(ctx, st, set, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rule set version %d stored (digest %s, %d rules)\n", set.Version, set.Digest(), len(set.Rules))
	return nil
}

const backtestHelp = `Usage: tapwallet risk backtest --rules FILE --facts FILE [--from TIME] [--to TIME] [--json]

Replays stored authorizations through the rule set FILE, in time order, on
a fresh state (counters, amounts, last taps), as the live engine would
have seen them, and compares each decision with the one recorded then:
decisions that flip (approve/review/decline before → after) and how often
each rule fires. Authorizations before --from are replayed to warm the
state up (give 30 days before it for the amount history) but not compared.
An authorization the recorded decision declined has no issuer answer: the
replay takes it as approved and counts it (answer unknown).

The authorizations come from --facts, a JSON Lines file of authorization
facts, one {"auth": {...}, "answer": "00", "decision": {"outcome",
"version", "reasons"}} a line (docs/risk.md). The network's records do not
carry everything the engine reads yet (the card's reference, DE43's city
and country, the token's age, the phone's reported place): until they do,
backtests read a facts file.

TIME is RFC 3339 (2026-03-14T00:00:00Z) or a date (2026-03-14, UTC).
--json prints the report as one JSON object: {"version", "digest",
"replayed", "compared", "before", "after", "flips": [{"id", "at",
"before", "after", "reasons"}], "rules": [{"rule", "hits", "enforced",
"shadow"}], "answer_unknown"}.`

func runRiskBacktest(ctx context.Context, e *env, args []string) error {
	fs := riskFlags(e, "backtest", backtestHelp)
	file := fs.String("rules", "", "the proposed rule set (JSON)")
	facts := fs.String("facts", "", "stored authorizations, JSON Lines")
	fromS := fs.String("from", "", "compare from this time (default: the first)")
	toS := fs.String("to", "", "compare before this time (default: to the end)")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	flips := fs.Int("flips", 20, "how many flips to list (the count is always shown)")
	if err := parseRisk(fs, "backtest", args); err != nil {
		return err
	}
	if *file == "" || *facts == "" {
		return usage("risk backtest: --rules FILE and --facts FILE are needed")
	}
	from, err := parseWhen(*fromS)
	if err != nil {
		return usage("risk backtest: --from: %v", err)
	}
	to, err := parseWhen(*toS)
	if err != nil {
		return usage("risk backtest: --to: %v", err)
	}
	set, err := readRules(*file)
	if err != nil {
		return err
	}
	f, err := os.Open(*facts)
	if err != nil {
		return fmt.Errorf("--facts: %w", err)
	}
	defer f.Close()
	stored, err := risk.ReadFacts(f)
	if err != nil {
		return fmt.Errorf("--facts %s: %w", *facts, err)
	}
	rep, err := risk.Backtest(ctx, set, stored, from, to)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	return printBacktest(e.stdout, rep, *flips)
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD", s)
	}
	return t, nil
}

func printBacktest(w io.Writer, rep risk.Report, most int) error {
	fmt.Fprintf(w, "rule set version %d (digest %s): %d authorizations replayed, %d compared, %d flip(s)",
		rep.Version, rep.Digest, rep.Replayed, rep.Compared, len(rep.Flips))
	if rep.AnswerUnknown > 0 {
		fmt.Fprintf(w, ", %d with the issuer's answer unknown (taken as approved)", rep.AnswerUnknown)
	}
	fmt.Fprintln(w)
	var outcomes, rules, flips [][]string
	for _, o := range []risk.Outcome{risk.Approve, risk.Review, risk.Decline} {
		outcomes = append(outcomes, []string{o.String(), fmt.Sprint(rep.Before[o.String()]), fmt.Sprint(rep.After[o.String()])})
	}
	for _, r := range rep.Rules {
		name := r.Rule
		if r.Shadow {
			name += " (shadow)"
		}
		rules = append(rules, []string{name, fmt.Sprint(r.Hits), fmt.Sprint(r.Enforced)})
	}
	for i, f := range rep.Flips {
		if i == most {
			flips = append(flips, []string{fmt.Sprintf("… %d more", len(rep.Flips)-most)})
			break
		}
		flips = append(flips, []string{f.ID, f.At.UTC().Format(time.RFC3339), f.Before.String() + " → " + f.After.String(), strings.Join(f.Reasons, ",")})
	}
	table(w, []string{"OUTCOME", "BEFORE", "AFTER"}, outcomes)
	table(w, []string{"RULE", "HITS", "ENFORCED"}, rules)
	if len(flips) > 0 {
		table(w, []string{"FLIP", "AT", "BEFORE → AFTER", "RULES"}, flips)
	}
	return nil
}

// table prints a blank line and a table with its head.
func table(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
