package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tapwallet/tapwallet/clearing"
	"github.com/tapwallet/tapwallet/platform"
)

func init() {
	register("clear", "end-of-day clearing: clear --date YYYY-MM-DD [--data DIR] [--db DSN] [--out DIR]", runClear)
}

const clearUsage = `Usage: tapwallet clear --date YYYY-MM-DD [flags]

Clears a business day of the card network: releases the issuers' expired
holds, presents every captured authorization of the date (approved, not
reversed) to its issuer and posts its hold, flags what cannot be posted
(more than the hold, no hold at all), and writes the report (text and JSON)
and one clearing file per issuing bank into --out. Clearing a date again
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
	p, err := platform.New(ctx, platform.Config{DataDir: *data, DSN: *dsn, Log: slog.New(slog.DiscardHandler)})
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
