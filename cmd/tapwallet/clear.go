package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/platform"
)

func init() {
	register("clear", "end-of-day clearing: clear --date YYYY-MM-DD [--data DIR] [--db DSN] [--out DIR]", runClear)
}

const clearUsage = `Usage: tapwallet clear --date YYYY-MM-DD [flags]

Clears a business day of the card network: writes one clearing file per
issuing bank of every captured authorization of the date (approved, not
reversed) and refund, and hands each bank its file. The bank posts its own
holds from it — after releasing its expired holds — and answers what it
posted or flagged (more than the hold, no hold at all). A bank whose issuer
host runs in another process (serve --roles issuers, tapwallet issuer) gets
its file over HTTP (--issuer-clearing), signed with the network–issuer
shared secret of the key store (the key file, or --keys as the network's
serve); the others are posted here, on each bank's
own ledger wing. The report (text and JSON) and the files go into --out. Clearing a date again
posts nothing twice. Business dates are UTC dates of the network's receipt.
The running platform offers the same as POST /v1/admin/clearing?date=….

Flags:`

func runClear(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("clear", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	date := fs.String("date", "", "business date to clear, YYYY-MM-DD (default: today, UTC)")
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the platform's data folder [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	out := fs.String("out", "", "folder for the report and the clearing files (default: DATA/clearing)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of tables")
	keysURI := fs.String("keys", envDefault(e, "keys", ""), "the network's key store, as serve --keys: empty for the key file DATA/keys.json, or pkcs11:module=LIB;token=LABEL;pin-env=VAR [TAPWALLET_KEYS]")
	at := clearingAt{}
	if v := envDefault(e, "issuer_clearing", ""); v != "" {
		for _, one := range strings.Split(v, ";") {
			if err := at.Set(one); err != nil {
				return usage("TAPWALLET_ISSUER_CLEARING: %v", err)
			}
		}
	}
	fs.Var(at, "issuer-clearing", "banks whose issuer host runs in another process, BANK[,BANK…]=http://HOST:PORT (its serve --http, or tapwallet issuer --clearing-listen): their clearing files are posted there; repeatable [TAPWALLET_ISSUER_CLEARING: …;…]")
	fs.Usage = func() { fmt.Fprintln(e.stderr, clearUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if *date == "" {
		*date = time.Now().UTC().Format("2006-01-02")
	}
	day, err := clearing.ParseDate(*date)
	if err != nil {
		return usage("--date: %v", err)
	}
	if err := platformData("--data", *data); err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(*data, "clearing")
	}
	keyStore, closeKeys, err := openServeKeys(ctx, e, *keysURI, *data)
	if err != nil {
		return err
	}
	defer closeKeys()
	p, err := platform.New(ctx, platform.Config{DataDir: *data, DSN: *dsn, KeyStore: keyStore, ClearingAt: at, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer p.Close()
	rep, err := p.Clear(ctx, day, *out)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprint(e.stdout, rep.Text())
	fmt.Fprintln(e.stdout)
	for _, f := range rep.Files {
		fmt.Fprintf(e.stdout, "wrote %s\n", f)
	}
	return nil
}

// clearingAt is the repeatable flag --issuer-clearing BANK[,BANK…]=URL:
// where the banks hosted by another process take their clearing files.
type clearingAt map[string]string

func (a clearingAt) String() string { return fmt.Sprint(map[string]string(a)) }

func (a clearingAt) Set(v string) error {
	ids, url, ok := strings.Cut(v, "=")
	if !ok || ids == "" || !strings.HasPrefix(url, "http") {
		return fmt.Errorf("want BANK[,BANK…]=http://HOST:PORT, got %q", v)
	}
	for _, id := range strings.Split(ids, ",") {
		if id == "" {
			return fmt.Errorf("an empty bank id in %q", v)
		}
		a[id] = url
	}
	return nil
}
