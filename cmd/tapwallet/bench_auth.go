package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/metrics"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/risk"
	risksqlstore "github.com/tapwallet/tapwallet/risk/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
)

func init() {
	registerBench("auth", "authorizations end to end (network → token service → issuer ledger): [--duration 30s | --count N] [--conns C] [--db DSN] [--baseline] [--json]", benchAuth)
}

const benchAuthUsage = `Usage: tapwallet bench auth [--duration 30s | --count N] [flags]

Starts the platform on a temporary data folder (SQLite, or a fresh schema of
the PostgreSQL database given with --db), provisions --tokens tokens on
simulated phones (8 cards each) straight through the token service, with one
limited-use key per authorization, pre-computes every cryptogram (each a
fresh counter and key), then drives 0100s over --conns acquirer connections
to the switch, end to end: the token service checks and swaps each token,
the issuer host places a durable hold in its ledger (committed and
fdatasync'd before the answer), the switch stores its record (the same).
Each token's authorizations go in order; all tokens at once. It prints a
table (approved, declined, errors, throughput, latency p50/p90/p99/max),
the fdatasyncs per authorization, and with --json one JSON object on the
last line. It exits non-zero if a durable SQLite run made no fdatasync. --baseline also runs the same client against an ISO 8583 echo
server (same codec and framing, no business logic) in the same run.

Flags:`

// authFigures is the last line of `bench auth --json`.
type authFigures struct {
	Approved int     `json:"approved"`
	Declined int     `json:"declined"`
	Errors   int     `json:"errors"`
	TPS      float64 `json:"tps"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	DB       string  `json:"db"`
	// Fdatasyncs is the storage kernel's fdatasync(2)s per authorization
	// over the run (sqldb.Syncs; 0 on PostgreSQL, where the server syncs).
	Fdatasyncs  float64 `json:"fdatasyncs_per_auth"`
	BaselineTPS float64 `json:"baseline_tps,omitempty"`
	BaselineP50 float64 `json:"baseline_p50_ms,omitempty"`
	BaselineP99 float64 `json:"baseline_p99_ms,omitempty"`
	// Means are the run's hop times (ms) and batch sizes (calls) from
	// the platform's metrics, by series.
	Means map[string]float64 `json:"means,omitempty"`
}

// runFigures is what one run measured.
type runFigures struct {
	approved, declined, errors int
	elapsed                    time.Duration
	lat                        []time.Duration
}

func (r runFigures) total() int { return r.approved + r.declined + r.errors }

func (r runFigures) tps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.total()) / r.elapsed.Seconds()
}

func (r runFigures) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)-1))
	return float64(r.lat[i].Microseconds()) / 1000
}

func benchAuth(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench auth", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	duration := fs.Duration("duration", 0, "run for this long (default 30s unless --count is given)")
	count := fs.Int("count", 0, "run this many authorizations")
	conns := fs.Int("conns", 8, "acquirer connections to the switch")
	tokens := fs.Int("tokens", 200, "tokens (8 per simulated phone); each token's authorizations go in order, all tokens at once")
	dsn := fs.String("db", envDefault(e, "bench_db", ""), "database: empty for SQLite in a temporary folder, or postgres://… (a fresh schema, dropped after) [TAPWALLET_BENCH_DB]")
	baseline := fs.Bool("baseline", false, "also run the same client against a bare ISO 8583 echo server")
	asJSON := fs.Bool("json", false, "end with one JSON object on the last line")
	rate := fs.Int("max-rate", 8000, "with --duration: pre-compute cryptograms for at most this many authorizations per second")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	blockProfile := fs.String("blockprofile", "", "write a profile of where goroutines waited during the run to this file")
	memProfile := fs.String("memprofile", "", "write a profile of what the run allocated to this file (and of what came before to FILE.base)")
	keysURI := fs.String("keys", envDefault(e, "keys", ""), "the token service's key store: empty for a fresh key file, or pkcs11:module=…;token=…;pin-env=… (a token made with tapwallet keys init) [TAPWALLET_KEYS]")
	syncMode := fs.String("sqlite-sync", "full", "SQLite's synchronous level: full (the default: every approved hold, key use and switch record is on disk before its answer) or normal (NOT durable against a power cut: only to measure what durability costs)")
	riskOn := fs.String("risk", "off", "the network's risk engine before the issuer: off (the default: the payment path alone, comparable with the figures in docs/performance.md), shadow (every default rule evaluated and recorded, none enforced: the engine's whole cost on the same traffic) or on (the default rules enforced: the bench's thousands of ¥0.01–0.50 payments a second are card testing to them, so most are declined 59 before the issuer — another workload); run shadow and off back to back to see the engine's cost")
	fs.Usage = func() { fmt.Fprintln(e.stderr, benchAuthUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return usage("%v", err)
	}
	switch {
	case *count < 0 || *duration < 0:
		return usage("--count and --duration must be positive")
	case *count > 0 && *duration > 0:
		return usage("give --duration or --count, not both")
	case *count == 0 && *duration == 0:
		*duration = 30 * time.Second
	}
	if *riskOn != "on" && *riskOn != "shadow" && *riskOn != "off" {
		return usage("--risk must be on, shadow or off")
	}
	if *conns < 1 || *conns > 1024 {
		return usage("--conns must be 1 to 1024")
	}
	if *tokens < 1 || *tokens > 4000 {
		return usage("--tokens must be 1 to 4000")
	}
	total := *count
	if total == 0 {
		total = int(duration.Seconds() * float64(*rate))
	}
	perToken := (total + *tokens - 1) / *tokens
	if perToken > 60000 {
		return usage("%d authorizations per token is too many (at most 60000): give more --tokens", perToken)
	}
	if total < *tokens {
		*tokens = total
	}

	dir, err := os.MkdirTemp("", "tapwallet-bench-auth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	switch *syncMode {
	case "full":
	case "normal":
		// The one place the kernel's opt-out is taken (sqldb.SetSQLiteSyncNormal).
		sqldb.SetSQLiteSyncNormal(true)
		defer sqldb.SetSQLiteSyncNormal(false)
	default:
		return usage("--sqlite-sync must be full or normal")
	}
	dbDSN, dbName, cleanup, err := benchDatabase(ctx, *dsn)
	if err != nil {
		return err
	}
	defer cleanup()
	if *dsn == "" && *syncMode == "normal" {
		dbName = "SQLite (WAL, synchronous=NORMAL: NOT durable — a power cut can lose approved holds)"
	}

	keyStore, closeKeys, err := openServeKeys(ctx, e, *keysURI, dir)
	if err != nil {
		return err
	}
	defer closeKeys()

	if *riskOn == "shadow" {
		if err := benchShadowRules(ctx, dbDSN, dir); err != nil {
			return err
		}
	}
	progress := newProgress(e.stderr)
	p, err := platform.Start(ctx, platform.Config{KeyStore: keyStore, DataDir: dir, DSN: dbDSN, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Log: slog.New(slog.DiscardHandler), RiskOff: *riskOn == "off"})
	if err != nil {
		return err
	}
	defer p.Close()
	p.Wallet.ArgonMemoryKiB = 64
	p.Tokens.LUKBatch = perToken
	p.Tokens.LUKTTL = 24 * time.Hour

	fmt.Fprintf(e.stdout, "bench auth: risk engine %s\n", *riskOn)
	fmt.Fprintf(e.stdout, "bench auth: %d tokens on %d simulated phones, %d keys each, %d connections, %s\n",
		*tokens, (*tokens+7)/8, perToken, *conns, dbName)
	start := time.Now()
	streams, err := provision(ctx, p, *tokens, perToken, total, func(done int) {
		progress.show("provisioning tokens and cryptograms: %d/%d", done, *tokens)
	})
	if err != nil {
		return err
	}
	progress.clear()
	fmt.Fprintf(e.stdout, "provisioned %d tokens and pre-computed %d cryptograms in %s\n", len(streams), total, time.Since(start).Round(100*time.Millisecond))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(time.Microsecond))
	}
	if *memProfile != "" {
		// The profile holds what the run allocated: what came before is
		// in MEMPROFILE.base (go tool pprof -diff_base MEMPROFILE.base MEMPROFILE).
		f, err := os.Create(*memProfile + ".base")
		if err != nil {
			return err
		}
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	before := readMetrics(p)
	syncsBefore := sqldb.Syncs()
	path, err := drive(ctx, e, "network path", p.ISOAddr, *conns, streams, *duration)
	if err != nil {
		return err
	}
	seen := readMetrics(p).Since(before)
	syncs := sqldb.Syncs() - syncsBefore
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(0)
		f, err := os.Create(*blockProfile)
		if err != nil {
			return err
		}
		pprof.Lookup("block").WriteTo(f, 0)
		f.Close()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	holds := 0 // each bank's pending holds, in its own ledger
	for _, h := range p.Issuers.Hosts {
		ts, err := h.Ledger().Transfers(ctx, ledger.Filter{Status: ledger.StatusPending})
		if err != nil {
			holds = -1
			break
		}
		holds += len(ts)
	}

	var echo runFigures
	if *baseline {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ectx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { (&isolink.Server{Handler: isolink.EchoHandler}).Serve(ectx, ln); close(done) }()
		for _, s := range streams {
			s.next = 0
		}
		echo, err = drive(ctx, e, "echo baseline", ln.Addr().String(), *conns, streams, *duration)
		cancel()
		<-done
		if err != nil {
			return err
		}
	}

	w := e.stdout
	fmt.Fprintf(w, "\n%-14s %9s %9s %9s %7s %9s %8s %8s %8s %8s\n", "", "auths", "approved", "declined", "errors", "auth/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	row := func(name string, r runFigures) {
		fmt.Fprintf(w, "%-14s %9d %9d %9d %7d %9.0f %8.2f %8.2f %8.2f %8.2f\n", name, r.total(), r.approved, r.declined, r.errors,
			r.tps(), r.pct(0.50), r.pct(0.90), r.pct(0.99), r.pct(1))
	}
	row("network path", path)
	if *baseline {
		row("echo baseline", echo)
		if echo.tps() > 0 && echo.pct(0.5) > 0 {
			fmt.Fprintf(w, "the full path runs at %.2f× the echo's throughput, with %.1f× its median latency\n",
				path.tps()/echo.tps(), path.pct(0.5)/echo.pct(0.5))
		}
	}
	perAuth := 0.0
	if path.total() > 0 {
		perAuth = float64(syncs) / float64(path.total())
	}
	fmt.Fprintf(w, "fdatasyncs: %d, %.3f per authorization (%s)\n", syncs, perAuth, dbName)
	if len(seen.Hops)+len(seen.BatchSizes) > 0 {
		fmt.Fprintf(w, "\nwhere the time went (the platform's metrics over the run; /metrics on a serve):\n")
		seen.Print(w)
	}
	if holds >= 0 {
		check := "= approved"
		if holds != path.approved {
			check = fmt.Sprintf("≠ %d approved", path.approved)
		}
		fmt.Fprintf(w, "issuer ledgers: %d holds pending %s\n", holds, check)
	}
	if *asJSON {
		f := authFigures{Approved: path.approved, Declined: path.declined, Errors: path.errors, TPS: round2(path.tps()),
			P50: path.pct(0.5), P90: path.pct(0.9), P99: path.pct(0.99), Max: path.pct(1), DB: dbName,
			Fdatasyncs: round3(perAuth)}
		if *baseline {
			f.BaselineTPS, f.BaselineP50, f.BaselineP99 = round2(echo.tps()), echo.pct(0.5), echo.pct(0.99)
		}
		f.Means = map[string]float64{}
		for _, m := range seen.Hops {
			f.Means[m.Series] = round2(m.Mean * 1000) // ms
		}
		for _, m := range seen.BatchSizes {
			f.Means[m.Series] = round2(m.Mean) // calls
		}
		b, _ := json.Marshal(f)
		fmt.Fprintln(w, string(b))
	}
	return durableRun(*dsn == "" && *syncMode == "full", path.approved, syncs)
}

// durableRun fails a run that was to be durable on SQLite (sqlite) and
// approved authorizations with no fdatasync at all.
func durableRun(sqlite bool, approved int, syncs uint64) error {
	if sqlite && approved > 0 && syncs == 0 {
		return fmt.Errorf("bench: NOT DURABLE — %d authorizations approved on SQLite with synchronous=FULL and not one fdatasync: approved holds were not on disk before their answers", approved)
	}
	return nil
}

// readMetrics reads the platform's metrics registry in process (nothing
// when it cannot be read: the figures stay).
func readMetrics(p *platform.Platform) metrics.Summary {
	fams, err := p.Metrics().Gather()
	if err != nil {
		return metrics.Summary{}
	}
	return metrics.Summarize(fams)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// benchDatabase returns the DSN to run on: "" (SQLite in the data folder)
// or a fresh schema of the given PostgreSQL database, dropped by cleanup.
func benchDatabase(ctx context.Context, dsn string) (string, string, func(), error) {
	if dsn == "" {
		return "", "SQLite (WAL, synchronous=FULL: every approved hold, key use and switch record fdatasync'd before its answer)", func() {}, nil
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return "", "", nil, usage("--db must be a postgres:// DSN (SQLite is the default)")
	}
	var rb [4]byte
	rand.Read(rb[:])
	schema := "bench_" + hex.EncodeToString(rb[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", "", nil, fmt.Errorf("bench: cannot create a schema in the database: %w", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		admin.Close()
		return "", "", nil, usage("--db: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cleanup := func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	}
	return u.String(), "PostgreSQL (schema " + schema + ", dropped after)", cleanup, nil
}

// stream is one token's authorizations, in counter order.
type stream struct {
	msgs []*iso8583.Message
	next int
}

// provision makes the tokens on simulated phones and pre-computes each
// token's authorizations, total in all.
func provision(ctx context.Context, p *platform.Platform, tokens, perToken, total int, report func(int)) ([]*stream, error) {
	// 8 cards a phone in seconds is what the binding rules refuse (more
	// than 5 cards tried on a phone in 24 h): the bench measures
	// authorizations, so binding is not screened while it provisions.
	if r := p.Tokens.Risk; r != nil {
		p.Tokens.Risk = nil
		defer func() { p.Tokens.Risk = r }()
	}
	var cards []*bank.Cardholder
	for i := range p.Banks.Cards {
		c := &p.Banks.Cards[i]
		if c.IDV == bank.Green && c.Expiry.Year >= 2027 && c.Funds().Minor >= 500_000 {
			cards = append(cards, c)
		}
	}
	if len(cards) < 8 {
		return nil, fmt.Errorf("bench: the bank configuration has fewer than 8 green cards with ¥5,000")
	}
	var rb [4]byte
	rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	var streams []*stream
	var ph *nettest.Phone
	for i := 0; i < tokens; i++ {
		if i%8 == 0 {
			var err error
			ph, err = nettest.NewPhone(ctx, p.RegisterSimulatedPhone, fmt.Sprintf("bench-%s-%d@example.com", run, i/8))
			if err != nil {
				return nil, err
			}
		}
		c := cards[(i/8+i%8)%len(cards)]
		card, err := ph.AddCard(ctx, p.Tokens, c)
		if err != nil {
			return nil, err
		}
		term := nettest.NewTerminal(fmt.Sprintf("B%07d", i), "898310054110001", "TAPWALLET BENCH")
		n := total / tokens
		if i < total%tokens {
			n++
		}
		n = min(n, perToken)
		s := &stream{msgs: make([]*iso8583.Message, 0, n)}
		now := time.Now()
		for j := 0; j < n; j++ {
			amount := int64(1 + (i+j)%50)
			tags, err := card.Answer(nettest.TerminalData(amount, now), nettest.Tap{})
			if err != nil {
				return nil, err
			}
			m, err := term.Authorization(card.Token, card.Expiry, amount, tags, now)
			if err != nil {
				return nil, err
			}
			s.msgs = append(s.msgs, m)
		}
		streams = append(streams, s)
		report(i + 1)
	}
	return streams, nil
}

// drive sends every stream's messages over conns connections to addr,
// each stream in order and all streams at once, for duration (0: until the
// messages run out), showing progress on stderr when it is a terminal.
func drive(ctx context.Context, e *env, name, addr string, conns int, streams []*stream, duration time.Duration) (runFigures, error) {
	clients := make([]*isolink.Client, conns)
	for i := range clients {
		c, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: 30 * time.Second})
		if err != nil {
			return runFigures{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	var approved, declined, errs atomic.Int64
	lats := make([][]time.Duration, len(streams))
	var stop atomic.Bool
	var wg sync.WaitGroup
	progress := newProgress(e.stderr)
	start := time.Now()
	for i, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i%len(clients)]
			lat := make([]time.Duration, 0, len(s.msgs))
			for s.next < len(s.msgs) && !stop.Load() {
				m := s.msgs[s.next]
				s.next++
				t0 := time.Now()
				resp, err := c.Send(ctx, m)
				lat = append(lat, time.Since(t0))
				switch {
				case err != nil:
					errs.Add(1)
				case resp.MTI.IsResponse() && rcApproved(resp):
					approved.Add(1)
				default:
					declined.Add(1)
				}
			}
			lats[i] = lat
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var deadline <-chan time.Time
	if duration > 0 {
		deadline = time.After(duration)
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-deadline:
			stop.Store(true)
		case <-ctx.Done():
			stop.Store(true)
		case <-tick.C:
			n := approved.Load() + declined.Load() + errs.Load()
			el := time.Since(start).Seconds()
			progress.show("%s: %5.1fs  %8d auths  %7.0f/s  approved %d  declined %d  errors %d",
				name, el, n, float64(n)/el, approved.Load(), declined.Load(), errs.Load())
		}
	}
	elapsed := time.Since(start)
	progress.clear()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return runFigures{approved: int(approved.Load()), declined: int(declined.Load()), errors: int(errs.Load()), elapsed: elapsed, lat: all}, nil
}

func rcApproved(m *iso8583.Message) bool {
	rc, _ := m.ResponseCode()
	return rc.Approved()
}

// benchShadowRules stores, as the risk wing's latest version, the default
// rule set with every rule in shadow: the platform then evaluates and
// records every rule on every authorization and enforces none.
func benchShadowRules(ctx context.Context, dsn, dir string) error {
	st, err := risksqlstore.Open(ctx, dsn, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	set := risk.Default()
	set.Version++
	set.Note = "bench auth --risk shadow: the default rules, every one in shadow"
	for i := range set.Rules {
		set.Rules[i].Shadow = true
	}
	return risk.Activate(ctx, st, set, time.Now())
}
