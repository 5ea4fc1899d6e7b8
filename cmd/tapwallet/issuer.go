package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/issuer/clearinghttp"
	"github.com/tapwallet/tapwallet/issuer/rewardshttp"
	issuerstore "github.com/tapwallet/tapwallet/issuer/sqlstore"
	"github.com/tapwallet/tapwallet/keystore"
	"github.com/tapwallet/tapwallet/keystore/soft"
	"github.com/tapwallet/tapwallet/platform"
)

func init() {
	register("issuer", "one bank's issuer host alone: issuer --bank ID --listen ADDR [--data DIR] [--db DSN]", runIssuer)
}

const issuerUsage = `Usage: tapwallet issuer --bank ID --listen HOST:PORT [flags]

Runs one bank's issuer host as its own process: it answers the card
network's authorizations (0100) and reversals (0400) over ISO 8583 on TCP
from its own ledger (accounts opened from the bank's test card holders at
the first start), and releases expired holds every hour. Point a platform's
network at it with 'tapwallet serve --issuer-at ID=HOST:PORT'. With
--clearing-listen it takes the bank's clearing file from the network over
HTTP and posts it (tapwallet clear --issuer-clearing ID=http://HOST:PORT;
both need the same key store, whose shared secret signs the file: the same
key file, or with --keys the same PKCS#11 token as the network's serve).

Flags:`

func runIssuer(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("issuer", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	bankID := fs.String("bank", envDefault(e, "bank", ""), "the bank's id, e.g. icbc (tapwallet banks list) [TAPWALLET_BANK]")
	listen := fs.String("listen", envDefault(e, "issuer_listen", ""), "address to listen on for the network, e.g. 127.0.0.1:9001 [TAPWALLET_ISSUER_LISTEN]")
	data := fs.String("data", envDefault(e, "data", "./tapwallet-issuer"), "data folder (SQLite ledger, key file) [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	banksFile := fs.String("banks", envDefault(e, "banks", ""), "bank configuration file (default: the shipped 20 banks) [TAPWALLET_BANKS]")
	clearingListen := fs.String("clearing-listen", envDefault(e, "clearing_listen", ""), "address to take the network's clearing files on (HTTP, POST /clearing/files), e.g. 127.0.0.1:9101; empty: none [TAPWALLET_CLEARING_LISTEN]")
	keysURI := fs.String("keys", envDefault(e, "keys", ""), "the key store the network–issuer secrets come from, as the network's serve --keys: empty for the key file DATA/keys.json, or pkcs11:module=LIB;token=LABEL;pin-env=VAR [TAPWALLET_KEYS]")
	logLevel := fs.String("log-level", envDefault(e, "log_level", "info"), "log level: debug, info, warn, error")
	fs.Usage = func() { fmt.Fprintln(e.stderr, issuerUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	if *bankID == "" || *listen == "" {
		return usage("issuer needs --bank ID and --listen HOST:PORT")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usage("bad --log-level %q", *logLevel)
	}
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	var banks *bank.Config
	var err error
	if *banksFile != "" {
		banks, err = bank.Load(*banksFile)
	} else {
		banks, err = bank.Default()
	}
	if err != nil {
		return err
	}
	b, ok := banks.BankByID(*bankID)
	if !ok {
		return usage("no bank %q (tapwallet banks list)", *bankID)
	}
	// The bank's own wing (issuer_<bankid>): its ledger and its host's tables.
	st, err := issuerstore.Open(ctx, *dsn, *data, b.ID)
	if err != nil {
		return err
	}
	defer st.Close()
	keyStore, closeKeys, err := openServeKeys(ctx, e, *keysURI, *data)
	if err != nil {
		return err
	}
	defer closeKeys()
	if keyStore == nil {
		keys, err := keystore.OpenFile(filepath.Join(*data, "keys.json"))
		if err != nil {
			return err
		}
		keyStore = soft.New(keys)
	}
	hostSecret, clearingSecret, err := platform.LinkSecrets(ctx, keyStore)
	if err != nil {
		return err
	}
	led := st.Ledger
	h, err := issuer.NewHost(ctx, st.HostConfig(issuer.HostConfig{Bank: b, Holders: banks.Holders(b.ID),
		Secret: hostSecret.Reveal(), Log: log}))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "issuer host of %s listening on %s (ledger: %s)\n", h.Bank().Name, ln.Addr(), st.DB.Dialect())
	if *clearingListen != "" {
		cln, err := net.Listen("tcp", *clearingListen)
		if err != nil {
			ln.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle(clearinghttp.Path, clearinghttp.Handler(issuer.ClearingHosts{b.ID: h}, clearingSecret.Reveal()))
		mux.Handle(rewardshttp.Path, rewardshttp.Handler(issuer.RewardsHosts{b.ID: h}, clearingSecret.Reveal(), log))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(e.stdout, "taking clearing files on http://%s%s and points on http://%s%s\n", cln.Addr(), clearinghttp.Path, cln.Addr(), rewardshttp.Path)
		go srv.Serve(cln)
		defer srv.Close()
	}
	go func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := led.ExpirePending(ctx, time.Now()); err == nil && n > 0 {
					log.Info("issuer: expired holds released", "holds", n)
				}
				if n, err := h.ExpirePoints(ctx, time.Now()); err == nil && n > 0 {
					log.Info("issuer: points expired", "points", n)
				}
			}
		}
	}()
	return h.Serve(ctx, ln)
}

// issuerAt is the repeatable flag --issuer-at ID=HOST:PORT: a bank whose
// issuer host runs elsewhere (tapwallet issuer), for the network to dial
// instead of the in-process one.
type issuerAt map[string]string

func (a issuerAt) String() string { return fmt.Sprint(map[string]string(a)) }

func (a issuerAt) Set(v string) error {
	id, addr, ok := strings.Cut(v, "=")
	if !ok || id == "" || addr == "" {
		return fmt.Errorf("want BANK=HOST:PORT, got %q", v)
	}
	a[id] = addr
	return nil
}
