package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/reqid"
	"github.com/tapwallet/tapwallet/sqldb"
)

func init() {
	register("serve", "run the platform: wallet API, token service, network, issuers, portal", runServe)
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := fs.String("data", envDefault(e, "data", "./tapwallet-data"), "data folder (SQLite database, key file) [TAPWALLET_DATA]")
	dsn := fs.String("db", envDefault(e, "db", ""), "database: empty for SQLite in the data folder, or postgres://… [TAPWALLET_DB]")
	httpAddr := fs.String("http", envDefault(e, "http", "127.0.0.1:8080"), "HTTP listen address [TAPWALLET_HTTP]")
	portalURL := fs.String("portal-url", envDefault(e, "portal_url", ""), "the lost-phone portal's public address; passkeys are bound to its host (default http://localhost:PORT) [TAPWALLET_PORTAL_URL]")
	isoAddr := fs.String("iso", envDefault(e, "iso", "127.0.0.1:8583"), "card network listen address for acquirers, ISO 8583 over TCP [TAPWALLET_ISO]")
	isoMax := map[string]int{"iso_max_conns": isolink.DefaultMaxConns, "iso_max_conns_per_source": isolink.DefaultMaxConnsPerSource}
	for name := range isoMax {
		if v := envDefault(e, name, ""); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return usage("TAPWALLET_%s must be a whole number, got %q", strings.ToUpper(name), v)
			}
			isoMax[name] = n
		}
	}
	isoMaxConns := fs.Int("iso-max-conns", isoMax["iso_max_conns"], "acquirer connections open at once, in total; beyond, a connection is closed with a log line (-1: no bound) [TAPWALLET_ISO_MAX_CONNS]")
	isoMaxPerSource := fs.Int("iso-max-conns-per-source", isoMax["iso_max_conns_per_source"], "acquirer connections open at once from one IP address (-1: no bound) [TAPWALLET_ISO_MAX_CONNS_PER_SOURCE]")
	operator := envDefault(e, "operator_token", "") // admin API token [TAPWALLET_OPERATOR_TOKEN]; default: the file operator-token in the data folder
	remote := issuerAt{}
	if v := envDefault(e, "issuer_at", ""); v != "" {
		for _, one := range strings.Split(v, ",") {
			if err := remote.Set(strings.TrimSpace(one)); err != nil {
				return usage("TAPWALLET_ISSUER_AT: %v", err)
			}
		}
	}
	fs.Var(remote, "issuer-at", "a bank's issuer host run elsewhere (tapwallet issuer, or serve --roles issuers), BANK=HOST:PORT; repeatable [TAPWALLET_ISSUER_AT: BANK=HOST:PORT,…]")
	idvAt := clearingAt{} // the same BANK[,BANK…]=URL form as clear --issuer-clearing
	if v := envDefault(e, "issuer_idv", ""); v != "" {
		for _, one := range strings.Split(v, ";") {
			if err := idvAt.Set(strings.TrimSpace(one)); err != nil {
				return usage("TAPWALLET_ISSUER_IDV: %v", err)
			}
		}
	}
	fs.Var(idvAt, "issuer-idv", "banks whose issuer host runs in another process, BANK[,BANK…]=http://HOST:PORT (its serve --http): the tsp role asks them for ID&V there and never reads their card holders; repeatable [TAPWALLET_ISSUER_IDV: …;…]")
	roles := fs.String("roles", envDefault(e, "roles", "all"), "the parties this process runs, comma-separated: wallet, tsp, network, issuers, transit, portal (all: every one) [TAPWALLET_ROLES]")
	issuerBanks := fs.String("issuer-banks", envDefault(e, "issuer_banks", ""), "the banks whose issuer hosts the issuers role runs, comma-separated ids (default: every bank) [TAPWALLET_ISSUER_BANKS]")
	issuersListen := fs.String("issuers-listen", envDefault(e, "issuers_listen", "127.0.0.1:0"), "where the issuers role listens: HOST:PORT puts the n-th bank of the directory (from 0) on PORT+n; port 0: free ports [TAPWALLET_ISSUERS_LISTEN]")
	issuersAt := fs.String("issuers-at", envDefault(e, "issuers_at", ""), "where the network finds issuer hosts run in other processes: HOST:PORT as their --issuers-listen (--issuer-at wins for a bank) [TAPWALLET_ISSUERS_AT]")
	tspURL := fs.String("tsp-url", envDefault(e, "tsp_url", ""), "the token service's address when the tsp role runs elsewhere, http://HOST:PORT (its --http); the shared secret comes from TAPWALLET_TSP_SECRET or the data folder's tsp-secret file, never a flag [TAPWALLET_TSP_URL]")
	tspSecret := envDefault(e, "tsp_secret", "") // the token service link's shared secret [TAPWALLET_TSP_SECRET]; default: the file tsp-secret in the data folder
	networkAddr := fs.String("network-addr", envDefault(e, "network_addr", ""), "the card network's acquirer port when the network role runs elsewhere, HOST:PORT (for transit charges) [TAPWALLET_NETWORK_ADDR]")
	banks := fs.String("banks", envDefault(e, "banks", ""), "bank configuration file (default: the shipped 20 banks) [TAPWALLET_BANKS]")
	logLevel := fs.String("log-level", envDefault(e, "log_level", "info"), "log level: debug, info, warn, error [TAPWALLET_LOG_LEVEL]")
	keysURI := fs.String("keys", envDefault(e, "keys", ""), "the token service's key store: empty for the key file DATA/keys.json, or a PKCS#11 token, pkcs11:module=LIB;token=LABEL;pin-env=VAR (the PIN in the environment variable VAR, never here); docs/keys.md [TAPWALLET_KEYS]")
	riskMode := fs.String("risk", envDefault(e, "risk", "on"), "the risk engine at card binding and before the issuer: on, or off (an operator's switch, e.g. while a rule set is investigated; docs/risk.md) [TAPWALLET_RISK]")
	fs.Usage = func() {
		e.stderr.Write([]byte("Usage: tapwallet serve [flags]\n\nRuns the platform, or the parties of it that --roles names, until SIGINT or\nSIGTERM. Several processes may run a role on one PostgreSQL database\n(--db); see docs/operations.md.\n\n"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	rs, err := platform.ParseRoles(*roles)
	if err != nil {
		return usage("--roles: %s", fault.MessageOf(err))
	}
	var banksOf []string
	for _, id := range strings.Split(*issuerBanks, ",") {
		if id = strings.TrimSpace(id); id != "" {
			banksOf = append(banksOf, id)
		}
	}
	if *riskMode != "on" && *riskMode != "off" {
		return usage("--risk must be on or off")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usage("bad --log-level %q", *logLevel)
	}
	if *data != "" {
		// The data folder holds the databases and the key file: refuse one
		// that others on the machine can read (the error says chmod 700).
		if err := sqldb.PrivateFolder(*data); err != nil {
			return err
		}
	}
	// Each log line of an HTTP request carries its request id (reqid).
	log := slog.New(reqid.Handler(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: lvl})))
	keyStore, closeKeys, err := openServeKeys(ctx, e, *keysURI, *data)
	if err != nil {
		return err
	}
	defer closeKeys()
	p, err := platform.Start(ctx, platform.Config{KeyStore: keyStore, DataDir: *data, DSN: *dsn, HTTPAddr: *httpAddr, BankFile: *banks, Log: log, PortalURL: *portalURL,
		ISOAddr: *isoAddr, ISOMaxConns: *isoMaxConns, ISOMaxConnsPerSource: *isoMaxPerSource, OperatorToken: operator, IssuersAt: remote, IDVAt: idvAt,
		Roles: rs, IssuerBanks: banksOf, IssuersListen: *issuersListen, IssuersBase: *issuersAt, TSPURL: *tspURL, TSPSecret: tspSecret, NetworkAddr: *networkAddr, RiskOff: *riskMode == "off"})
	if err != nil {
		return err
	}
	attrs := []any{"url", p.URL, "roles", rs.String()}
	if keyStore != nil {
		attrs = append(attrs, "keys", fmt.Sprint(keyStore)) // the token's label, never the PIN
	}
	if p.ISOAddr != "" {
		attrs = append(attrs, "iso8583", p.ISOAddr)
	}
	if p.Portal != nil {
		attrs = append(attrs, "portal", p.Portal.URL())
	}
	if p.Issuers != nil {
		attrs = append(attrs, "issuers", p.Issuers.Addrs)
	}
	log.Info("tapwallet serving", attrs...)
	<-ctx.Done()
	log.Info("shutting down")
	return p.Close()
}
