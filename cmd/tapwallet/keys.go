package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/pkcs11"
	"github.com/tapwallet/tapwallet/keystore/soft"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
	tspstore "github.com/tapwallet/tapwallet/tsp/sqlstore"
)

func init() {
	register("keys", "the platform's keys: keys init|list|kcv|rotate|import|export (ids and check values, never a key)", runKeys)
}

const keysUsage = `Usage: tapwallet keys init   [--keys URI] [--data DIR]
       tapwallet keys list   [--keys URI] [--data DIR | --file FILE]
       tapwallet keys kcv    ID [--keys URI] [--data DIR]
       tapwallet keys kcv    --stdin          (a key or component typed in, hex)
       tapwallet keys rotate --kind master|index|emv-root [--keys URI] [--data DIR] [--db DSN] [--no-rewrap]
       tapwallet keys import --kind imk --name NAME --components N [--keys URI] [--data DIR]
       tapwallet keys import --kind KIND --name ID --from-file FILE [--keys URI] [--data DIR]
       tapwallet keys export --role gate|operator --city CITY --out FILE [--data DIR]

The platform's keys are in its key store: the key file DATA/keys.json (the
default), or a PKCS#11 token named by --keys (TAPWALLET_KEYS):
  pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=LABEL;pin-env=VAR
with the user PIN in the environment variable VAR — never on a command line.
docs/keys.md has the hierarchy and what runs inside the token.

init    makes the store's first keys (k1, i1, r1) where it has none: the
        key file, or the token's (generated in the token, non-extractable).
list    every key by kind, id and key check value (KCV), and which is active;
        never a key. --file lists a party's key file (an export) instead.
kcv     the check value of one key by id (k1, i2, r1, or an imported issuer
        master key's name); with --stdin, of a key or key component typed
        in as hex (to check a component against its paper's KCV).
rotate  adds a key of a kind and makes it active, online (a running serve
        picks it up within a second); the old keys stay for what they made:
        master    new card numbers are sealed under the new vault master key,
                  and the data keys of the stored ones are re-wrapped under it
                  (their ciphertext stays; --no-rewrap leaves them under the
                  old key, which still opens them: each names its key id);
        index     new card numbers are indexed with the new key; the stored
                  ones are found by the hash under each key;
        emv-root  a new root: tokens made from now on derive their keys from
                  it (each token records its root); older tokens, transit
                  cards and SAMs keep theirs.
import  a key ceremony: --components N reads N key components (hex, one a
        line) from standard input, shows each component's KCV and the
        combined key's (XOR), and stores the key — an issuer master key
        (--kind imk) under a range name such as token-range-628801;
        --from-file copies a key from a key file into the store (a token
        range's issuer master key by name, or k1/i1/r1… by id), to move a
        key file's keys into a token.
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
	keysURI := fs.String("keys", envDefault(e, "keys", ""), "the key store: empty for the key file DATA/keys.json, or pkcs11:module=…;token=…;pin-env=… [TAPWALLET_KEYS]")
	switch args[0] {
	case "init":
		if err := fs.Parse(args[1:]); err != nil {
			return usage("%v", err)
		}
		return keysInit(ctx, e, *keysURI, *data)
	case "kcv":
		stdin := fs.Bool("stdin", false, "read a key or component (hex) from standard input instead of naming a key")
		// Key ids and flags in any order: keys kcv k1 r1 --keys URI.
		var ids []string
		for rest := args[1:]; ; {
			if err := fs.Parse(rest); err != nil {
				return usage("%v", err)
			}
			if rest = fs.Args(); len(rest) == 0 {
				break
			}
			ids, rest = append(ids, rest[0]), rest[1:]
		}
		return keysKCV(ctx, e, *keysURI, *data, *stdin, ids)
	case "import":
		kind := fs.String("kind", "imk", "imk (an issuer master key by range name), or master, index, emv-root (by id)")
		name := fs.String("name", "", "the range name (imk) or key id (k2, i2, r2)")
		comps := fs.Int("components", 0, "read this many key components (hex, one a line) from standard input")
		from := fs.String("from-file", "", "copy the key from this key file instead")
		if err := fs.Parse(args[1:]); err != nil {
			return usage("%v", err)
		}
		return keysImport(ctx, e, *keysURI, *data, keystore.Kind(*kind), *name, *comps, *from)
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
			st, _, done, err := openStore(ctx, e, *keysURI, *data, false, false)
			if err != nil {
				return err
			}
			defer done()
			if list, err = st.List(ctx); err != nil {
				return err
			}
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
		st, _, done, err := openStore(ctx, e, *keysURI, *data, false, false)
		if err != nil {
			return err
		}
		defer done()
		id, err := st.Rotate(ctx, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "rotated %s: %s is active\n", k, id)
		if k != keystore.Master || *noRewrap {
			return nil
		}
		n, err := rewrapAll(ctx, st, *dsn, *data)
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

// sealedWing is a party's storage wing holding sealed card numbers; it
// knows its own sealed columns and re-wraps them (sqldb.DB.RewrapColumns).
type sealedWing interface {
	Rewrap(ctx context.Context, rewrap func([]byte) ([]byte, bool, error)) (int, error)
	Close() error
}

// sealedWings open, at a place, each wing that holds sealed card numbers:
// the token service's vault and bindings, the network's records. Each
// party seals with the key store (--keys), so one store re-wraps them all.
var sealedWings = []func(context.Context, sqldb.Place) (sealedWing, error){
	func(ctx context.Context, pl sqldb.Place) (sealedWing, error) {
		return tspstore.Open(ctx, pl.DSN, pl.Dir)
	},
	func(ctx context.Context, pl sqldb.Place) (sealedWing, error) {
		return netstore.Open(ctx, pl.DSN, pl.Dir)
	},
}

// rewrapAll re-wraps the sealed card numbers of every wing that holds
// some (sealedWings) under the key store's active master key, wing by
// wing, and returns how many changed.
func rewrapAll(ctx context.Context, st keystore.Store, dsn, data string) (int, error) {
	pl, err := sqldb.NewPlace(dsn, data)
	if err != nil {
		return 0, err
	}
	rewrap := func(b []byte) ([]byte, bool, error) { return st.Rewrap(ctx, b) }
	total := 0
	for _, open := range sealedWings {
		w, err := open(ctx, pl)
		if err != nil {
			return total, err
		}
		n, err := w.Rewrap(ctx, rewrap)
		w.Close()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// openStore opens the platform's key store: the key file DATA/keys.json
// (uri ""), or the PKCS#11 token uri names, with the key file beside it for
// what stays soft (SM4, transit keys). The key file must exist unless
// create; a token without keys opens only with create or emptyToken (init,
// import). done releases the store.
func openStore(ctx context.Context, e *env, uri, data string, create, emptyToken bool) (keystore.Store, *keystore.File, func(), error) {
	path := filepath.Join(data, "keys.json")
	if !create {
		if err := platformData("--data", data); err != nil {
			return nil, nil, nil, err
		}
	} else if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, nil, nil, err
	}
	f, err := keystore.OpenFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if uri == "" || uri == "file" {
		return soft.New(f), f, func() {}, nil
	}
	st, err := pkcs11.OpenURI(ctx, uri, pkcs11.Options{SM4: soft.New(f), Init: emptyToken, Getenv: e.getenv})
	if err != nil {
		return nil, nil, nil, err
	}
	return st, f, func() { st.Close() }, nil
}

// openServeKeys is serve's --keys: nil for the key file (the platform opens
// it), or the PKCS#11 store (close it after the platform).
func openServeKeys(ctx context.Context, e *env, uri, data string) (keystore.Store, func(), error) {
	if uri == "" || uri == "file" {
		return nil, func() {}, nil
	}
	st, _, done, err := openStore(ctx, e, uri, data, true, false)
	if err != nil {
		return nil, nil, err
	}
	return st, done, nil
}

func keysInit(ctx context.Context, e *env, uri, data string) error {
	st, _, done, err := openStore(ctx, e, uri, data, true, true)
	if err != nil {
		return err
	}
	defer done()
	if p, ok := st.(*pkcs11.Store); ok {
		made, err := p.Init(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "made %d key(s) in the token\n", len(made))
	}
	list, err := st.List(ctx)
	if err != nil {
		return err
	}
	for _, k := range list {
		fmt.Fprintln(e.stdout, k)
	}
	return nil
}

func keysKCV(ctx context.Context, e *env, uri, data string, stdin bool, ids []string) error {
	if stdin {
		comps, err := readComponents(e, 1)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "kcv %s\n", keystore.KCV(comps[0].Reveal()))
		return nil
	}
	if len(ids) == 0 {
		return usage("keys kcv needs a key id (or --stdin)")
	}
	st, _, done, err := openStore(ctx, e, uri, data, false, false)
	if err != nil {
		return err
	}
	defer done()
	for _, id := range ids {
		kcv, err := st.KCV(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s kcv %s\n", id, kcv)
	}
	return nil
}

// readComponents reads n hex keys of 16 or 32 bytes, one a line, from
// standard input (never from arguments: a command line is visible to every
// user of the machine).
func readComponents(e *env, n int) ([]keystore.Secret, error) {
	sc := bufio.NewScanner(e.stdin)
	var out []keystore.Secret
	for len(out) < n {
		if !sc.Scan() {
			return nil, usage("expected %d key component(s) on standard input, got %d", n, len(out))
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || (len(b) != 16 && len(b) != 32) {
			return nil, usage("component %d is not 16 or 32 bytes of hex", len(out)+1)
		}
		out = append(out, keystore.NewSecret(b))
		clear(b)
	}
	return out, nil
}

func keysImport(ctx context.Context, e *env, uri, data string, kind keystore.Kind, name string, comps int, from string) error {
	if name == "" || (comps == 0) == (from == "") {
		return usage("keys import needs --name and either --components N or --from-file FILE")
	}
	var key keystore.Secret
	switch {
	case from != "":
		src, err := keystore.OpenFile(from)
		if err != nil {
			return err
		}
		if key, err = src.KeyOf(kind, name); err != nil {
			return err
		}
	case comps < 2 || comps > 9:
		return usage("--components must be 2 to 9 (a key is never given whole)")
	default:
		parts, err := readComponents(e, comps)
		if err != nil {
			return err
		}
		combined := make([]byte, parts[0].Len())
		for i, p := range parts {
			if p.Len() != len(combined) {
				return usage("the components differ in length")
			}
			fmt.Fprintf(e.stdout, "component %d kcv %s\n", i+1, keystore.KCV(p.Reveal()))
			for j, b := range p.Reveal() {
				combined[j] ^= b
			}
			p.Wipe()
		}
		key = keystore.NewSecret(combined)
		clear(combined)
	}
	defer key.Wipe()
	st, _, done, err := openStore(ctx, e, uri, data, false, true)
	if err != nil {
		return err
	}
	defer done()
	k, err := st.Import(ctx, kind, name, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s %s kcv %s\n", k.Kind, k.ID, k.KCV)
	return nil
}
