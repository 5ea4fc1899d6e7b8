package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/keystore"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

func init() {
	register("keys", "the platform's keys: keys list|rotate|export (ids and check values, never a key)", runKeys)
}

const keysUsage = `Usage: tapwallet keys list   [--data DIR | --file FILE]
       tapwallet keys rotate --kind master|index|emv-root [--data DIR] [--db DSN] [--no-rewrap]
       tapwallet keys export --role gate|operator --city CITY --out FILE [--data DIR]

The platform's key file is DATA/keys.json (docs/keys.md has the hierarchy).

list    every key by kind, id and key check value (KCV), and which is active;
        never a key. --file lists a party's key file (an export) instead.
rotate  adds a key of a kind and makes it active, online (a running serve
        picks it up within a second); the old keys stay for what they made:
        master    new card numbers are sealed under the new vault master key,
                  and the data keys of the stored ones are re-wrapped under it
                  (their ciphertext stays; --no-rewrap leaves them under the
                  old key, which still opens them: each names its key id);
        index     new card numbers are indexed with the new key; the stored
                  ones are found by the hash under each key;
        emv-root  a new root for token ranges and transit operators that
                  start using it by id ("r2/NAME"); every existing key
                  (named without a root) keeps deriving from r1, so cards,
                  tokens and SAMs in the field keep working.
export  writes a party's own key file (mode 0600, never over a file) with
        only the keys that party uses, for its host:
        gate      its city's purchase and maintenance keys (the SAM's);
        operator  its city's four card master keys (purchase, load, TAC,
                  maintenance).
        Nothing of the vault, the index or the network goes in.
`

func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, keysUsage)
		return nil
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprint(e.stderr, keysUsage, "\nFlags:\n"); fs.PrintDefaults() }
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "the platform's data folder [TAPWALLET_DATA]")
	switch args[0] {
	case "list":
		file := fs.String("file", "", "a party's key file to list instead of the platform's")
		if err := fs.Parse(args[1:]); err != nil {
			return usage("%v", err)
		}
		var list []keystore.Key
		if *file != "" {
			p, err := keystore.OpenParty(*file)
			if err != nil {
				return err
			}
			list = p.List()
		} else {
			f, err := openPlatformKeys(*data)
			if err != nil {
				return err
			}
			list = f.List()
		}
		w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "KIND\tID\tKCV\tACTIVE")
		for _, k := range list {
			act := ""
			if k.Active {
				act = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Kind, k.ID, k.KCV, act)
		}
		return w.Flush()
	case "rotate":
		kind := fs.String("kind", "", "master, index or emv-root")
		dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
		noRewrap := fs.Bool("no-rewrap", false, "master: leave the stored card numbers' data keys under the old key")
		if err := fs.Parse(args[1:]); err != nil {
			return usage("%v", err)
		}
		k := keystore.Kind(*kind)
		if k != keystore.Master && k != keystore.IndexK && k != keystore.EMVRoot {
			return usage("keys rotate needs --kind master, index or emv-root")
		}
		f, err := openPlatformKeys(*data)
		if err != nil {
			return err
		}
		id, err := f.RotateKind(k)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rotated %s: %s is active\n", k, id)
		if k != keystore.Master || *noRewrap {
			return nil
		}
		n, err := rewrapAll(ctx, f, *dsn, *data)
		if err != nil {
			return fmt.Errorf("the new key %s is active; re-wrapping the stored card numbers stopped (run keys rotate again later or leave them: the old key still opens them): %w", id, err)
		}
		fmt.Fprintf(e.stdout, "re-wrapped %d stored card number(s) under %s\n", n, id)
		return nil
	case "export":
		role := fs.String("role", "", "gate or operator")
		cityID := fs.String("city", "", "the party's city: "+joinIDs())
		out := fs.String("out", "", "the key file to write (must not exist)")
		if err := fs.Parse(args[1:]); err != nil {
			return usage("%v", err)
		}
		if *out == "" || *cityID == "" {
			return usage("keys export needs --role, --city and --out")
		}
		city, err := fare.Default().City(*cityID)
		if err != nil {
			return usage("%v", err)
		}
		var names []string
		switch *role {
		case "gate":
			names = transit.GateKeyNames(city.ID)
		case "operator":
			all := epurse.KeyNames(city.ID)
			names = all[:]
		default:
			return usage("--role must be gate or operator")
		}
		f, err := openPlatformKeys(*data)
		if err != nil {
			return err
		}
		list, err := f.Export(*out, *role, city.ID, names)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (mode 0600) for a %s of %s:\n", *out, *role, city.ID)
		for _, k := range list {
			fmt.Fprintf(e.stdout, "  %s kcv %s\n", k.ID, k.KCV)
		}
		return nil
	default:
		fmt.Fprint(e.stderr, keysUsage)
		return usage("unknown keys command %q", args[0])
	}
}

// openPlatformKeys opens DATA/keys.json, which must exist (keys commands
// never make a new platform key file).
func openPlatformKeys(data string) (*keystore.File, error) {
	if err := platformData("--data", data); err != nil {
		return nil, err
	}
	return keystore.OpenFile(filepath.Join(data, "keys.json"))
}

// rewrapAll re-wraps the sealed card numbers in the platform's databases
// (on SQLite each party's file) under the active master key.
func rewrapAll(ctx context.Context, f *keystore.File, dsn, data string) (int, error) {
	db, err := sqldb.Open(ctx, dsn, data)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	dbs := []*sqldb.DB{db}
	if db.Dialect() == sqldb.SQLite {
		for _, name := range []string{"issuers"} {
			p, err := db.Party(ctx, name)
			if err != nil {
				return 0, err
			}
			defer p.Close()
			dbs = append(dbs, p)
		}
	}
	total := 0
	for _, d := range dbs {
		n, err := d.RewrapSealed(ctx, f.Rewrap)
		total += n
		if err != nil {
			return total, err
		}
	}
	// The token service's vault is its own wing.
	tokens, err := tspstore.Open(ctx, dsn, data)
	if err != nil {
		return total, err
	}
	defer tokens.Close()
	n, err := tokens.Rewrap(ctx, f.Rewrap)
	total += n
	if err != nil {
		return total, err
	}
	// The network's records are its own wing.
	records, err := netstore.Open(ctx, dsn, data)
	if err != nil {
		return total, err
	}
	defer records.Close()
	n, err = records.Rewrap(ctx, f.Rewrap)
	return total + n, err
}
