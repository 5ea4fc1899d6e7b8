// Package tapwallet_test holds the rules of the house that span the whole
// module: which party may import which (in the manner of tailscale's
// tstest/deptest). A party speaks to another only through the interface
// the other offers; it never imports the other's internals or storage.
package tapwallet_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/tapwallet/tapwallet"

// depRule forbids the packages matched by from (less except) to import
// the packages matched by to (less allow): directly, or — unless direct —
// through any chain of the module's packages. Patterns are module-relative:
// "tsp" is that package, "tsp/..." it and those below it, "..." every
// package of the module, "*/sqlstore" any package named sqlstore; a
// pattern with a dot in its first element is outside the module
// ("github.com/jackc/pgx/...").
type depRule struct {
	name     string
	from     []string
	except   []string
	to       []string
	allow    []string
	direct   bool // only direct imports count (the importer assembles parties that may themselves import it)
	ownParty bool // importing to-packages of the importer's own party (same first path element) is allowed
	why      string
}

// outsideDomain are the packages allowed to know storage: the kernel, the
// wings, the assembly, the program, and the tests that run real processes.
var outsideDomain = []string{"sqldb/...", "*/sqlstore/...", "platform/...", "cmd/...", "scaleout/...", "attack/..."}

// parties are the packages of the payment system's parties (not the
// shared vocabulary: card, money, fault, id, the codecs).
var parties = []string{"wallet/...", "walletapi/...", "portal/...", "lostphone/...", "tsp/...", "netswitch/...", "netmsg/...",
	"clearing/...", "issuer/...", "ledger/...", "acquirer/...", "transit/...", "gate/...", "phone/...", "risk/...", "promo/..."}

// rules is the table of forbidden imports. Each name is what the rule
// protects; each why is the leak it stops.
var rules = []depRule{
	{name: "tsp-not-wallet", from: []string{"tsp/..."}, except: []string{"tsp/sqlstore/..."}, to: []string{"wallet/...", "walletapi/..."},
		why: "the token service knows a device by its own tsp.Device, not the wallet's phone; wallet → tsp only"},
	{name: "tsp-not-issuer", from: []string{"tsp/..."}, to: []string{"issuer/...", "ledger/..."},
		why: "the token service asks the bank's ID&V in types the bank side owns (bank), never the issuer host's internals"},
	// direct: the issuer host reads the network's clearing file with the
	// network's reader, and the network knows the token service's check.
	{name: "issuer-not-tsp", from: []string{"issuer/...", "ledger/...", "bank/..."}, to: []string{"tsp/..."}, direct: true,
		why: "the bank's ID&V speaks bank types; the issuer does not implement the token service's interfaces in tsp's types"},
	{name: "transit-not-tsp", from: []string{"transit/...", "gate/...", "fare/...", "epurse/...", "sam/..."}, except: []string{"transit/sqlstore/..."}, to: []string{"tsp/..."},
		why: "the transit operator is an acquirer of the network: it knows a token number, not the token service's records"},
	{name: "platform-not-iso8583", from: []string{"platform/..."}, to: []string{"iso8583", "isolink"}, direct: true,
		why: "platform assembles parties; building or reading ISO 8583 messages is the acquirer's and the network's business"},
	{name: "platform-not-wire", from: []string{"platform/..."}, to: []string{"emv", "qpboc", "money", "fare"}, direct: true,
		why: "platform holds no business logic: no cryptogram, amount or fare decisions in the assembly"},
	{name: "doors-not-storage", from: []string{"walletapi/...", "portal/..."}, except: []string{"portal/sqlstore/..."}, to: []string{"sqldb/...", "*/sqlstore/..."},
		why: "the doors take interfaces, never a store"},
	{name: "domain-not-storage", from: []string{"..."}, except: outsideDomain, to: []string{"sqldb/...", "*/sqlstore/...", "database/sql", "github.com/jackc/pgx/...", "modernc.org/sqlite/..."},
		why: "domain packages never import the storage kernel or a wing; only the wing, platform and cmd/tapwallet do"},
	{name: "wing-not-other-party", from: []string{"..."}, except: []string{"platform/...", "cmd/...", "scaleout/..."}, to: []string{"*/sqlstore/..."}, ownParty: true, direct: true,
		why: "no party reaches another party's storage wing: no statement, transaction or foreign key spans two parties"},
	{name: "kernel-knows-no-party", from: []string{"sqldb"}, to: []string{"..."}, allow: []string{"fault"},
		why: "the storage kernel (connections, transactions, dialects, migrations, batcher) knows no party's tables or types"},
	{name: "clearing-produces-files", from: []string{"clearing/..."}, to: []string{"issuer/...", "ledger/..."},
		why: "the network's clearing produces files and net positions; each bank posts its own holds from the file it receives"},
	{name: "network-not-bank-internals", from: []string{"netswitch/...", "netmsg/...", "acquirer/..."}, to: []string{"issuer/...", "ledger/...", "wallet/...", "walletapi/...", "portal/...", "transit/..."}, direct: true,
		why: "the card network reaches banks over ISO 8583 and knows them by the directory, never their ledgers or hosts"},
	{name: "walletapi-not-network-admin", from: []string{"walletapi/..."}, to: []string{"netswitch/...", "clearing/..."},
		why: "the network's admin routes are the network's own handlers, mounted by platform, not the wallet API's; the phone's payment history is walletapi.Payments in the wallet's own view type (platform adapts the network's records)"},
	// direct: the wallet API reaches ISO 8583 only through parties it
	// calls (transit's acquirer), never reads a message or a response code.
	{name: "walletapi-not-iso8583", from: []string{"walletapi/..."}, to: []string{"iso8583/..."}, direct: true,
		why: "the wallet API shows the network's answers in its own view (walletapi.Payment), not as ISO 8583 response codes"},
	{name: "phone-not-servers", from: []string{"phone/..."}, to: []string{"wallet", "tsp/...", "netswitch/...", "issuer/...", "ledger/...", "sqldb/...", "*/sqlstore/...", "platform/..."},
		why: "the phone is a device: it speaks the wallet API through the API's client types, never the servers' packages"},
	{name: "codecs-stand-alone", from: []string{"apdu/...", "emv/...", "nfc/...", "qpboc/...", "iso8583/..."}, to: []string{"..."}, allow: []string{"fault", "money", "apdu", "emv"},
		why: "the reusable codecs (APDU, EMV, NFC link, ISO 8583) depend on nothing of the payment system"},
	{name: "vocabulary-knows-no-party", from: []string{"card/...", "money/...", "fault/...", "id/...", "bank/..."}, to: parties,
		why: "the shared vocabulary (card, money, fault, id, the bank directory) sits below every party"},
	{name: "nobody-imports-assembly", from: []string{"..."}, except: []string{"cmd/...", "scaleout/...", "attack/..."}, to: []string{"platform/...", "cmd/..."},
		why: "parties do not know how they are assembled"},
}

// pending names the rules the tree does not meet yet, while the engineers
// of issue 10 move each party out. The test reports their breaches
// instead of failing, and fails when a pending rule is met (take it off).
// The lead empties this list when issue 10 closes.
var pending = map[string]string{}

// graph maps a module-relative package path to the packages it imports
// (module-relative for the module's own, full path for the others).
type graph map[string][]string

type goPackage struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// moduleGraph lists the module's packages and their (non-test) imports
// with go list; broken packages are listed as far as go list can read them.
func moduleGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Logf("go list: %s: %s (checked as far as it reads)", p.ImportPath, p.Error.Err)
		}
		var imps []string
		for _, imp := range p.Imports {
			imps = append(imps, rel(imp))
		}
		g[rel(p.ImportPath)] = imps
	}
	return g
}

func rel(path string) string {
	if path == module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return path
}

// inModule tells a module package (no dot in its first element) from the
// standard library's and the others' (which the graph keys never hold).
func inModule(g graph, pkg string) bool {
	_, ok := g[pkg]
	return ok
}

// match tells whether pkg matches pattern (see depRule).
func match(g graph, pattern, pkg string) bool {
	if pattern == "..." {
		return inModule(g, pkg)
	}
	if rest, ok := strings.CutPrefix(pattern, "*/"); ok {
		if !inModule(g, pkg) {
			return false
		}
		base, sub := strings.CutSuffix(rest, "/...")
		elems := strings.Split(pkg, "/")
		for i, e := range elems {
			if e == base && (sub || i == len(elems)-1) {
				return true
			}
		}
		return false
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchAny(g graph, patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(g, p, pkg) })
}

// sameParty are packages of one party under different roots: a bank is
// its issuer host and its ledger.
var sameParty = map[string]string{"ledger": "issuer"}

func party(pkg string) string {
	p, _, _ := strings.Cut(pkg, "/")
	if q, ok := sameParty[p]; ok {
		return q
	}
	return p
}

// opaque are packages whose own imports the transitive walk does not
// follow: the storage kernel's are kernel-knows-no-party's business, so a
// wing is not charged with what the kernel still imports.
var opaque = []string{"sqldb"}

// breach is one forbidden import: the chain of imports from the importer
// to the forbidden package.
type breach struct {
	rule  string
	chain []string
}

func (b breach) String() string { return b.rule + ": " + strings.Join(b.chain, " → ") }

// check returns the breaches of the rules in g: for each rule and each
// package it governs, the forbidden packages it reaches (the shortest
// chain to each), sorted.
func check(g graph, rules []depRule) []breach {
	var out []breach
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, r := range rules {
		for _, from := range pkgs {
			if !matchAny(g, r.from, from) || matchAny(g, r.except, from) {
				continue
			}
			forbidden := func(to string) bool {
				if to == from || !matchAny(g, r.to, to) || matchAny(g, r.allow, to) {
					return false
				}
				return !r.ownParty || party(to) != party(from)
			}
			// Breadth first over the module's packages, so that each
			// forbidden package is reported with its shortest chain.
			prev := map[string]string{from: ""}
			queue := []string{from}
			for len(queue) > 0 {
				cur := queue[0]
				queue = queue[1:]
				imps := slices.Clone(g[cur])
				sort.Strings(imps)
				for _, imp := range imps {
					if _, seen := prev[imp]; seen {
						continue
					}
					prev[imp] = cur
					if forbidden(imp) {
						var chain []string
						for p := imp; p != ""; p = prev[p] {
							chain = append([]string{p}, chain...)
						}
						out = append(out, breach{rule: r.name, chain: chain})
					}
					if !r.direct && inModule(g, imp) && !slices.Contains(opaque, imp) {
						queue = append(queue, imp)
					}
				}
			}
		}
	}
	return out
}

// TestDependencyRules checks the module's imports against the rules: a
// breach of a rule not pending fails; a pending rule's breaches are
// reported; a pending rule met fails until it is taken off the list.
func TestDependencyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	g := moduleGraph(t)
	if len(g) < 20 {
		t.Fatalf("go list found %d packages, want the module's (≥ 20)", len(g))
	}
	for name := range pending {
		if !slices.ContainsFunc(rules, func(r depRule) bool { return r.name == name }) {
			t.Errorf("pending names rule %q, which is not in the table", name)
		}
	}
	byRule := map[string][]breach{}
	for _, b := range check(g, rules) {
		byRule[b.rule] = append(byRule[b.rule], b)
	}
	for _, r := range rules {
		bs := byRule[r.name]
		owner, isPending := pending[r.name]
		switch {
		case isPending && len(bs) == 0:
			t.Errorf("rule %s is met now: take it off the pending list (%s)", r.name, owner)
		case isPending:
			t.Logf("PENDING %s (%s) — %d breach(es):", r.name, owner, len(bs))
			for _, b := range bs {
				t.Logf("    %s", strings.Join(b.chain, " → "))
			}
		default:
			for _, b := range bs {
				t.Errorf("forbidden import %s\n\twhy: %s", b, r.why)
			}
		}
	}
	t.Logf("%d rules, %d pending, %d packages checked", len(rules), len(pending), len(g))
}

// TestDependencyRulesCatchLeaks feeds the checker synthetic import edges:
// each leak issue 10 names (and each rule of the table) is caught by the
// rule meant for it, and the allowed edges of the target layout are not.
func TestDependencyRulesCatchLeaks(t *testing.T) {
	// base is a clean module in the target layout.
	base := graph{
		"fault": nil, "money": {"fault"}, "card": {"fault"}, "id": nil, "bank": {"card", "money"},
		"apdu": nil, "emv": nil, "qpboc": {"emv"}, "nfc": nil, "iso8583": {"fault", "money"}, "isolink": {"iso8583"},
		"netmsg": {"iso8583", "card", "money"}, "ledger": {"money"}, "ledger/sqlstore": {"ledger", "sqldb"},
		"wallet": {"id"}, "wallet/sqlstore": {"wallet", "sqldb"},
		"tsp": {"id", "bank", "card", "emv"}, "tsp/sqlstore": {"tsp", "sqldb"}, "tsp/tsphttp": {"tsp"},
		"issuer": {"bank", "ledger", "netmsg", "isolink", "clearing"}, "issuer/sqlstore": {"issuer", "sqldb"},
		"netswitch": {"bank", "tsp", "netmsg", "isolink"}, "netswitch/sqlstore": {"netswitch", "sqldb"},
		"clearing": {"netswitch", "bank", "money"}, "acquirer": {"netmsg", "isolink", "card"}, "acquirer/sqlstore": {"acquirer", "sqldb"},
		"transit": {"acquirer", "fare"}, "transit/sqlstore": {"transit", "sqldb"}, "fare": nil,
		"walletapi": {"wallet", "tsp"}, "portal": {"wallet", "tsp", "lostphone"}, "portal/sqlstore": {"portal", "sqldb"},
		"lostphone": {"wallet", "tsp"}, "phone": {"apdu", "emv", "walletapi/client"}, "walletapi/client": nil,
		"sqldb":         {"fault", "database/sql", "github.com/jackc/pgx/v5"},
		"platform":      {"wallet", "wallet/sqlstore", "tsp", "tsp/sqlstore", "tsp/tsphttp", "netswitch", "netswitch/sqlstore", "issuer", "issuer/sqlstore", "acquirer", "transit", "walletapi", "portal", "sqldb"},
		"cmd/tapwallet": {"platform", "iso8583", "sqldb"},
	}
	if bs := check(base, rules); len(bs) > 0 {
		t.Fatalf("the clean layout breaks rules: %v", bs)
	}
	leaks := []struct {
		leak string
		from string
		to   []string // the synthetic edges added from `from`
		rule string
	}{
		{"tsp imports wallet (phone type, id generator)", "tsp", []string{"wallet"}, "tsp-not-wallet"},
		{"tsp reaches wallet through a helper", "tsp", []string{"tsp/helper"}, "tsp-not-wallet"},
		{"tsp imports the issuer host for ID&V", "tsp", []string{"issuer"}, "tsp-not-issuer"},
		{"issuer implements ID&V in tsp's types", "issuer", []string{"tsp"}, "issuer-not-tsp"},
		{"transit uses tsp.Token", "transit", []string{"tsp"}, "transit-not-tsp"},
		{"platform builds ISO 8583 (transit payments calling sw.Handle)", "platform", []string{"iso8583"}, "platform-not-iso8583"},
		{"platform formats amounts (payment joins)", "platform", []string{"money"}, "platform-not-wire"},
		{"walletapi reaches into the store", "walletapi", []string{"sqldb"}, "doors-not-storage"},
		{"portal reaches into a wing", "portal", []string{"wallet/sqlstore"}, "doors-not-storage"},
		{"a domain package imports sqldb", "netswitch", []string{"sqldb"}, "domain-not-storage"},
		{"a domain package imports its own wing", "tsp", []string{"tsp/sqlstore"}, "domain-not-storage"},
		{"a domain package opens a driver", "ledger", []string{"github.com/jackc/pgx/v5"}, "domain-not-storage"},
		{"the tsp wing reads the wallet's phones", "tsp/sqlstore", []string{"wallet/sqlstore"}, "wing-not-other-party"},
		{"the storage kernel implements a party's store", "sqldb", []string{"tsp"}, "kernel-knows-no-party"},
		{"clearing posts into the banks' ledgers (issuer.HoldID, ledger.Post)", "clearing", []string{"issuer", "ledger"}, "clearing-produces-files"},
		{"the switch reads a bank's ledger", "netswitch", []string{"ledger"}, "network-not-bank-internals"},
		{"walletapi hosts the network's admin routes", "walletapi", []string{"netswitch", "clearing"}, "walletapi-not-network-admin"},
		{"walletapi reads the network's records for the payment history", "walletapi", []string{"netswitch"}, "walletapi-not-network-admin"},
		{"walletapi reads the network's response codes", "walletapi", []string{"iso8583"}, "walletapi-not-iso8583"},
		{"the phone copies the server's wallet types", "phone", []string{"wallet"}, "phone-not-servers"},
		{"a codec depends on a party", "iso8583", []string{"netswitch"}, "codecs-stand-alone"},
		{"the bank directory imports a party", "bank", []string{"issuer"}, "vocabulary-knows-no-party"},
		{"a party imports the assembly", "netswitch", []string{"platform"}, "nobody-imports-assembly"},
	}
	covered := map[string]bool{}
	for _, l := range leaks {
		t.Run(l.leak, func(t *testing.T) {
			g := graph{}
			for k, v := range base {
				g[k] = slices.Clone(v)
			}
			g["tsp/helper"] = []string{"wallet"}
			g[l.from] = append(g[l.from], l.to...)
			var got []string
			for _, b := range check(g, rules) {
				got = append(got, b.String())
				if b.rule == l.rule && b.chain[0] == l.from {
					covered[l.rule] = true
				}
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, l.rule+": "+l.from+" → ") }) {
				t.Errorf("edges %s → %v: got breaches %v, want one of rule %s", l.from, l.to, got, l.rule)
			}
		})
	}
	for _, r := range rules {
		if !covered[r.name] {
			t.Errorf("rule %s has no synthetic leak proving it catches one", r.name)
		}
	}
}

// TestDependencyRulesAllowed keeps the rules from forbidding what the
// target layout needs: a wing imports its own party, platform imports
// wings, a party's own sub-package is not "another party".
func TestDependencyRulesAllowed(t *testing.T) {
	g := graph{
		"fault": nil, "sqldb": {"fault"}, "tsp": nil, "tsp/sqlstore": {"tsp", "sqldb"}, "tsp/sqlstore/internal": nil,
		"platform": {"tsp/sqlstore", "sqldb", "tsp"}, "cmd/tapwallet": {"platform", "sqldb", "tsp/sqlstore"},
		// A bank's wing holds its ledger's store beside its own tables.
		"ledger": nil, "ledger/sqlstore": {"ledger", "sqldb"}, "issuer": {"ledger"}, "issuer/sqlstore": {"issuer", "ledger/sqlstore", "sqldb"},
	}
	g["tsp/sqlstore"] = append(g["tsp/sqlstore"], "tsp/sqlstore/internal")
	if bs := check(g, rules); len(bs) > 0 {
		t.Errorf("allowed edges reported: %v", bs)
	}
	for _, tc := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"tsp/...", "tsp", true}, {"tsp/...", "tsp/sqlstore", true}, {"tsp/...", "tspx", false},
		{"*/sqlstore/...", "tsp/sqlstore", true}, {"*/sqlstore/...", "sqlstore", false}, {"*/sqlstore", "tsp/sqlstore/x", false},
		{"...", "tsp", true}, {"...", "database/sql", false}, {"github.com/jackc/pgx/...", "github.com/jackc/pgx/v5", true},
	} {
		if got := match(g, tc.pattern, tc.pkg); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}
