package scaleout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/phone"
)

// benchHow says how to run TestScaleOutBench.
const benchHow = "TAPWALLET_SCALEOUT_BENCH=1 TAPWALLET_TEST_POSTGRES=postgres://… go test -run TestScaleOutBench -v -timeout 60m ./scaleout/"

// TestScaleOutBench measures the scale-out layout of TestScaleOut: the
// token service, the wallet, two card network processes and two issuer
// processes, each an OS process of the built binary, on one PostgreSQL
// database. It is a measurement, minutes long, and runs only when asked
// (TAPWALLET_SCALEOUT_BENCH=1; see benchHow); it is skipped otherwise.
//
// It provisions TAPWALLET_SCALEOUT_BENCH_TOKENS tokens (default 128) on
// phones of 8 cards each through the wallet process, gives each token
// enough limited-use keys by syncing the phones, pre-computes every
// cryptogram and encodes every 0100, then, for each concurrency of
// TAPWALLET_SCALEOUT_BENCH_INFLIGHT (default 16,32,64; a list such as
// 16,32,64,16,32,64 runs the points again), drives
// TAPWALLET_SCALEOUT_BENCH_COUNT authorizations (default 3000) with that
// many in flight, each sent to the two network processes in turn. A
// worker in flight owns a share of the tokens and sends each token's
// authorizations in order (its counter moves forward), waiting for each
// answer. It reports per point: authorizations/s, p50/p99 latency, the
// answers, and the CPU per authorization (utime+stime of /proc/PID/stat
// over the run) of each process, of the PostgreSQL server's backends that
// serve the platform's connections, of the server's own background
// processes, and of the load generator (this test's process). Every
// authorization must be approved (00): a decline or an error fails it.
func TestScaleOutBench(t *testing.T) {
	if os.Getenv("TAPWALLET_SCALEOUT_BENCH") == "" {
		t.Skip("a measurement, minutes long, run only when asked: " + benchHow)
	}
	if os.Getenv("TAPWALLET_TEST_POSTGRES") == "" {
		t.Fatal("TAPWALLET_SCALEOUT_BENCH is set but TAPWALLET_TEST_POSTGRES (a PostgreSQL DSN) is not: " + benchHow)
	}
	points := envInts(t, "TAPWALLET_SCALEOUT_BENCH_INFLIGHT", []int{16, 32, 64})
	count := envInts(t, "TAPWALLET_SCALEOUT_BENCH_COUNT", []int{3000})[0]
	ntokens := envInts(t, "TAPWALLET_SCALEOUT_BENCH_TOKENS", []int{128})[0]
	for _, c := range points {
		if c > ntokens {
			t.Fatalf("%d in flight needs at least %d tokens (TAPWALLET_SCALEOUT_BENCH_TOKENS is %d)", c, c, ntokens)
		}
	}
	const warm = 256 // authorizations before the first point, not measured
	total := warm + count*len(points)
	// Each token's share, with room for the workers' uneven pace, in
	// batches of the token service's 10 keys.
	perToken := (total*13/10/ntokens + 10 + 9) / 10 * 10

	ctx := context.Background()
	l := startLayout(t)
	start := time.Now()
	streams := provisionStreams(t, l, ntokens, perToken)
	t.Logf("provisioned %d tokens on %d phones through the wallet process and pre-computed %d cryptograms (%d a token) in %s",
		ntokens, (ntokens+7)/8, ntokens*perToken, perToken, time.Since(start).Round(100*time.Millisecond))

	var links [2][connsPerNet]*isolink.Client
	for n := range links {
		for i := range links[n] {
			c, err := isolink.Dial(ctx, l.isoAddrs[n], isolink.Options{Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			links[n][i] = c
		}
	}
	drive := func(inflight, n int) benchRun {
		return driveStreams(ctx, l, &links, streams, inflight, n)
	}

	w := drive(min(64, ntokens), warm)
	t.Logf("warm-up: %d authorizations, %d approved, %v declined, %d errors", w.sent(), w.approved, w.declined, w.errors)
	for _, c := range points {
		r := drive(c, count)
		t.Log(r.report(l))
		b, _ := json.Marshal(r.figures(l))
		t.Logf("json: %s", b)
		if r.sent() < count {
			t.Errorf("%d in flight: sent %d of %d: the tokens' cryptograms ran out", c, r.sent(), count)
		}
		if r.errors > 0 || len(r.declined) > 0 {
			t.Errorf("%d in flight: %d declined %v, %d errors: every authorization must be approved", c, r.sent()-r.approved-r.errors, r.declined, r.errors)
		}
	}
}

// envInts reads a comma-separated list of positive integers from the
// environment variable name, def when it is not set.
func envInts(t *testing.T, name string, def []int) []int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want positive integers separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}

// connsPerNet is how many connections the load generator opens to each
// network process: worker w sends its k-th authorization to network
// (w+k)%2 on connection w/2%connsPerNet.
const connsPerNet = 4

// benchStream is one token's pre-encoded authorizations, in counter order,
// and how many were sent.
type benchStream struct {
	msgs []*iso8583.Message
	next int
}

// provisionStreams makes phones of 8 cards each through the wallet
// process (cards of the shipped banks whose ID&V is green, valid until
// 2027 or later, with ¥5,000 or more), until there are ntokens tokens,
// syncs each phone until every token holds perToken limited-use keys
// (10 a sync), and pre-computes perToken authorizations of ¥0.01–0.50 per
// token, each at its own terminal, encoded once.
func provisionStreams(t *testing.T, l *layout, ntokens, perToken int) []*benchStream {
	t.Helper()
	ctx := context.Background()
	cfg, err := bank.Default()
	if err != nil {
		t.Fatal(err)
	}
	funded := map[string]bool{}
	for i := range cfg.Cards {
		if c := &cfg.Cards[i]; c.Funds().Minor >= 500_000 {
			funded[c.PAN.Digits()] = true
		}
	}
	var cards []testCard
	for _, c := range l.greenCards(t) {
		if funded[c.PAN] {
			cards = append(cards, c)
		}
	}
	if len(cards) < 8 {
		t.Fatalf("the shipped banks have %d green cards with ¥5,000 (want 8)", len(cards))
	}
	phones := (ntokens + 7) / 8
	streams := make([]*benchStream, ntokens)
	var wg sync.WaitGroup
	errs := make(chan error, phones)
	for p := 0; p < phones; p++ {
		var mine []testCard
		for j := 0; j < 8 && p*8+j < ntokens; j++ {
			mine = append(mine, cards[(p+j)%len(cards)])
		}
		ph, wc := l.openPhone(t, fmt.Sprintf("bench-phone%d", p), fmt.Sprintf("bench%d@example.com", p), mine)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fillPhone(ctx, ph, wc, streams[p*8:p*8+len(wc)], p, perToken)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return streams
}

// fillPhone syncs ph until each of its cards holds perToken keys, then
// fills out with each card's perToken authorizations.
func fillPhone(ctx context.Context, ph *phone.Phone, cards []wcard, out []*benchStream, p, perToken int) error {
	for keys := 10; keys < perToken; keys += 10 {
		if _, err := ph.Sync(ctx); err != nil {
			return fmt.Errorf("sync of phone %d: %v", p, err)
		}
	}
	now := time.Now()
	for j, c := range cards {
		i := p*8 + j
		term := nettest.NewTerminal(fmt.Sprintf("B%07d", i), "898310054110001", "SCALE OUT BENCH")
		s := &benchStream{msgs: make([]*iso8583.Message, 0, perToken)}
		for k := 0; k < perToken; k++ {
			amount := int64(1 + (i+k)%50)
			tags, err := nettest.AnswerSE(ph.SE, c.Token, c.AID, nettest.TerminalData(amount, now), true)
			if err != nil {
				return fmt.Errorf("cryptogram %d of token %d: %v", k, i, err)
			}
			m, err := term.Authorization(c.Token, "", amount, tags, now)
			if err != nil {
				return err
			}
			if _, err := m.PackOnce(); err != nil {
				return err
			}
			s.msgs = append(s.msgs, m)
		}
		out[j] = s
	}
	return nil
}

// benchRun is what one point of the measurement saw.
type benchRun struct {
	inflight int
	approved int
	errors   int            // no answer (the link failed or timed out)
	declined map[string]int // by response code
	lat      []time.Duration
	elapsed  time.Duration
	load     [2]string // /proc/loadavg's first three figures, before and after
	cpu      cpuUse
}

func (r benchRun) sent() int {
	n := r.approved + r.errors
	for _, c := range r.declined {
		n += c
	}
	return n
}

func (r benchRun) pct(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
}

// driveStreams sends n authorizations with inflight workers: worker w
// owns the streams i with i%inflight == w and sends their next messages
// in turn, each after the answer to the one before.
func driveStreams(ctx context.Context, l *layout, links *[2][connsPerNet]*isolink.Client, streams []*benchStream, inflight, n int) benchRun {
	r := benchRun{inflight: inflight, declined: map[string]int{}}
	var left atomic.Int64
	left.Store(int64(n))
	var mu sync.Mutex
	var wg sync.WaitGroup
	r.load[0] = loadAvg()
	meter := startCPUMeter(l)
	start := time.Now()
	for w := 0; w < inflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*benchStream
			for i := w; i < len(streams); i += inflight {
				mine = append(mine, streams[i])
			}
			var lat []time.Duration
			approved, errs := 0, 0
			declined := map[string]int{}
			for k := 0; len(mine) > 0; k++ {
				s := mine[k%len(mine)]
				if s.next == len(s.msgs) {
					mine = append(mine[:k%len(mine)], mine[k%len(mine)+1:]...)
					continue
				}
				if left.Add(-1) < 0 {
					break
				}
				m := s.msgs[s.next]
				s.next++
				c := links[(w+k)%2][w/2%connsPerNet]
				t0 := time.Now()
				resp, err := c.Send(ctx, m)
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs++
					continue
				}
				rc, _ := resp.ResponseCode()
				if string(rc) == string(iso8583.Approved) {
					approved++
				} else {
					declined[string(rc)]++
				}
			}
			mu.Lock()
			r.lat = append(r.lat, lat...)
			r.approved += approved
			r.errors += errs
			for rc, c := range declined {
				r.declined[rc] += c
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.cpu = meter.stop()
	r.load[1] = loadAvg()
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r
}

// benchFigures is one point of the measurement, as the JSON line of its
// report.
type benchFigures struct {
	Inflight  int            `json:"inflight"`
	Auths     int            `json:"auths"`
	Approved  int            `json:"approved"`
	Declined  map[string]int `json:"declined,omitempty"`
	Errors    int            `json:"errors"`
	TPS       float64        `json:"tps"`
	P50       float64        `json:"p50_ms"`
	P99       float64        `json:"p99_ms"`
	Max       float64        `json:"max_ms"`
	LoadStart string         `json:"load_start"`
	LoadEnd   string         `json:"load_end"`
	// CPU is the CPU µs per authorization of each process and of each
	// sum (see cpuUse).
	CPU   map[string]float64 `json:"cpu_us_per_auth"`
	Cores float64            `json:"cpu_cores"`
	// Backends is how many backends of the platform's connections the
	// run saw; NewBackends, how many of them began during the run.
	Backends    int `json:"pg_backends"`
	NewBackends int `json:"pg_backends_started"`
}

func (r benchRun) figures(l *layout) benchFigures {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	f := benchFigures{Inflight: r.inflight, Auths: r.sent(), Approved: r.approved, Declined: r.declined, Errors: r.errors,
		TPS: float64(r.sent()) / r.elapsed.Seconds(), P50: ms(r.pct(0.50)), P99: ms(r.pct(0.99)), Max: ms(r.pct(1)),
		LoadStart: r.load[0], LoadEnd: r.load[1], CPU: map[string]float64{}, Backends: r.cpu.backends, NewBackends: r.cpu.born}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(r.sent(), 1)) }
	for _, p := range l.procs() {
		f.CPU[p.name] = per(r.cpu.procs[p.name])
	}
	for k, d := range r.cpu.sums() {
		f.CPU[k] = per(d)
	}
	f.CPU["meter"] = per(r.cpu.meter)
	f.Cores = r.cpu.sums()["total"].Seconds() / r.elapsed.Seconds()
	return f
}

func (r benchRun) report(l *layout) string {
	f := r.figures(l)
	var b strings.Builder
	fmt.Fprintf(&b, "%d in flight: %d authorizations in %.1fs: %.0f/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms; approved %d, declined %v, errors %d; load %s -> %s\n",
		f.Inflight, f.Auths, r.elapsed.Seconds(), f.TPS, f.P50, f.P99, f.Max, f.Approved, f.Declined, f.Errors, f.LoadStart, f.LoadEnd)
	fmt.Fprintf(&b, "  CPU µs per authorization:")
	for _, p := range l.procs() {
		fmt.Fprintf(&b, " %s %.0f,", p.name, f.CPU[p.name])
	}
	fmt.Fprintf(&b, " = platform processes %.0f\n", f.CPU["platform"])
	fmt.Fprintf(&b, "  + PostgreSQL backends of the platform's connections %.0f (%d backends, %d of them started during the run: a new connection each), server background processes %.0f = with the database %.0f\n",
		f.CPU["pg_backends"], r.cpu.backends, r.cpu.born, f.CPU["pg_server"], f.CPU["platform+db"])
	fmt.Fprintf(&b, "  + load generator (this test process, of which ~%.0f the meter's sampling of /proc) %.0f = total %.0f (%.2f cores)\n",
		f.CPU["meter"], f.CPU["load_generator"], f.CPU["total"], f.Cores)
	fmt.Fprintf(&b, "  not counted: other clients' backends on the same server %.0f; backends that ended between samples (whose not known; the platform's connections the pools closed are among them) %.0f\n",
		f.CPU["pg_other_clients"], f.CPU["pg_ended_unattributed"])
	fmt.Fprintf(&b, "  the whole PostgreSQL server (every process, every client) %.0f; platform processes + whole server + load generator %.0f",
		f.CPU["pg_whole_server"], f.CPU["platform"]+f.CPU["pg_whole_server"]+f.CPU["load_generator"])
	return b.String()
}

// loadAvg returns the first three figures of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuUse is the CPU (user+system) used over a run: by each process of the
// layout, by the PostgreSQL server's processes in three classes, and by
// this process.
type cpuUse struct {
	procs map[string]time.Duration
	// pgBackends: the backends whose client is a connection of one of the
	// layout's processes; pgServer: the server's processes that serve no
	// client connection (the postmaster, WAL writer, checkpointer,
	// background writer, autovacuum, …), which work for every client;
	// pgOther: the backends of other clients (other engineers' tests on
	// the same server), not counted in the sums.
	pgBackends, pgServer, pgOther time.Duration
	// pgEnded: the CPU of the server's processes that ended during the
	// run (connections closed) not in the others: what they used after
	// their last sample, or all of it if no sample saw them; whose they
	// were is not known (-1: the postmaster's figures could not be read).
	pgEnded  time.Duration
	backends int // how many backends pgBackends counts
	born     int // of those, how many began during the run (a new connection each)
	self     time.Duration
	meter    time.Duration // of self: the meter's sampling of /proc (its thread's CPU)
}

// sums returns the sums the report gives: platform (the layout's
// processes), pg_backends, pg_server, platform+db (the three),
// load_generator, total (all of them), and beside them pg_other_clients,
// pg_ended_unattributed and pg_whole_server (every server process).
func (u cpuUse) sums() map[string]time.Duration {
	var platform time.Duration
	for _, d := range u.procs {
		platform += d
	}
	db := platform + u.pgBackends + u.pgServer
	return map[string]time.Duration{"platform": platform, "pg_backends": u.pgBackends, "pg_server": u.pgServer,
		"platform+db": db, "load_generator": u.self, "total": db + u.self, "pg_other_clients": u.pgOther, "pg_ended_unattributed": u.pgEnded,
		"pg_whole_server": u.pgBackends + u.pgServer + u.pgOther + max(u.pgEnded, 0)}
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTick = 10 * time.Millisecond

// procStat reads utime+stime and the start time (both in clock ticks) of
// /proc/PID/stat.
func procStat(pid int) (cpu, started int64, ok bool) {
	return statFile(fmt.Sprintf("/proc/%d/stat", pid))
}

// taskCPU reads utime+stime (clock ticks) of a thread's stat file.
func taskCPU(path string) (int64, bool) {
	cpu, _, ok := statFile(path)
	return cpu, ok
}

func statFile(path string) (cpu, started int64, ok bool) {
	cpu, _, started, ok = statFields(path)
	return cpu, started, ok
}

// statFields reads utime+stime, cutime+cstime (the CPU of the children
// it waited for) and the start time of a stat file, in clock ticks.
func statFields(path string) (cpu, children, started int64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return 0, 0, 0, false
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	// utime, stime, cutime, cstime are fields 14-17; starttime 22.
	return n(11) + n(12), n(13) + n(14), n(19), true
}

// pgProc is a PostgreSQL server process as the meter follows it.
type pgProc struct {
	base, last int64 // CPU ticks at the run's start (0 if it began during the run) and at the last sample
	ours       bool  // a backend of a connection of the layout's processes
	client     bool  // a backend of a client connection
	checked    bool  // ours and client are known
	born       bool  // it began during the run
	gen        int   // the last sample that saw it
}

// cpuMeter samples the CPU of the layout's processes, this process and
// the PostgreSQL server's processes over a run. The server's processes
// are found by name in /proc and sampled every 250 ms (a backend that ends
// during the run counts its CPU up to its last sample), and a backend is
// the platform's when its client port (its title, e.g.
// "postgres: … 127.0.0.1(43210) idle") is a local port of a TCP socket
// of one of the layout's processes.
type cpuMeter struct {
	l          *layout
	startTick  int64 // the run's start, in clock ticks since boot
	postmaster int   // the server's first process, once found
	reaped     int64 // the postmaster's cutime+cstime at the start (-1: unknown)
	gen        int   // the samples taken
	base       map[string]int64
	self       int64
	mu         sync.Mutex
	pg         map[int]*pgProc
	done       chan struct{}
	stopped    chan struct{}
	spent      time.Duration // the CPU of the samples' thread, which counts in this process's
}

func startCPUMeter(l *layout) *cpuMeter {
	m := &cpuMeter{l: l, base: map[string]int64{}, pg: map[int]*pgProc{}, done: make(chan struct{}), stopped: make(chan struct{})}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			m.startTick = int64(up * float64(time.Second/clockTick))
		}
	}
	for _, p := range l.procs() {
		m.base[p.name], _, _ = procStat(p.cmd.Process.Pid)
	}
	m.self, _, _ = procStat(os.Getpid())
	ready := make(chan struct{})
	go func() {
		defer close(m.stopped)
		// The samples run on a thread of their own, whose CPU
		// (/proc/self/task/TID/stat) is the meter's.
		runtime.LockOSThread()
		task := fmt.Sprintf("/proc/self/task/%d/stat", syscall.Gettid())
		cpu0, _ := taskCPU(task)
		m.sample(true)
		close(ready)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.done:
				m.sample(false)
				cpu, _ := taskCPU(task)
				m.spent = time.Duration(cpu-cpu0) * clockTick
				return
			case <-tick.C:
				m.sample(false)
			}
		}
	}()
	<-ready
	return m
}

// titlePort is the client port in a backend's title.
var titlePort = regexp.MustCompile(`\((\d+)\)`)

// sample reads every PostgreSQL process's CPU: the postmaster's children
// (/proc/PID/task/PID/children) once the postmaster is known, every
// process named postgres in /proc otherwise.
func (m *cpuMeter) sample(first bool) {
	var pids []int
	if m.postmaster > 0 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", m.postmaster, m.postmaster))
		if err == nil {
			pids = append(pids, m.postmaster)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
		}
	}
	if pids == nil {
		pids = pgProcesses()
		m.postmaster = postmasterOf(pids)
	}
	if first {
		m.reaped = -1
		if _, c, _, ok := statFields(fmt.Sprintf("/proc/%d/stat", m.postmaster)); ok && m.postmaster > 0 {
			m.reaped = c
		}
	}
	m.gen++
	var ports map[int]bool
	for _, pid := range pids {
		cpu, started, ok := procStat(pid)
		if !ok {
			continue
		}
		m.mu.Lock()
		p := m.pg[pid]
		if p == nil {
			p = &pgProc{base: cpu}
			if !first && started > m.startTick {
				p.base, p.born = 0, true // began during the run: all its CPU is the run's
			}
			m.pg[pid] = p
		}
		p.last, p.gen = cpu, m.gen
		if !p.checked {
			// Once: a backend's client connected before the server
			// started it, and keeps its port.
			p.checked = true
			title, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(title), "[local]") {
				p.client = true // over a Unix socket: not the platform's (it connects over TCP)
			} else if sm := titlePort.FindSubmatch(title); sm != nil {
				p.client = true
				if ports == nil {
					ports = m.layoutPorts()
				}
				port, _ := strconv.Atoi(string(sm[1]))
				p.ours = ports[port]
			}
		}
		m.mu.Unlock()
	}
}

// pgProcesses returns the processes named postgres.
func pgProcesses() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// postmasterOf returns the one of pids whose parent is none of them (the
// postmaster), 0 when there is not exactly one.
func postmasterOf(pids []int) int {
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	pm := 0
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); !in[ppid] {
			if pm != 0 {
				return 0
			}
			pm = p
		}
	}
	return pm
}

// layoutPorts returns the local ports of the layout's processes' TCP
// sockets (from /proc/PID/fd and /proc/net/tcp{,6}).
func (m *cpuMeter) layoutPorts() map[int]bool {
	inodes := map[string]bool{}
	for _, p := range m.l.procs() {
		dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if s, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(s, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(s, "socket:["), "]")] = true
			}
		}
	}
	ports := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || !inodes[fs[9]] {
				continue
			}
			local := fs[1]
			if i := strings.LastIndexByte(local, ':'); i >= 0 {
				if port, err := strconv.ParseInt(local[i+1:], 16, 32); err == nil {
					ports[int(port)] = true
				}
			}
		}
	}
	return ports
}

// stop ends the sampling and returns the CPU used since the start.
func (m *cpuMeter) stop() cpuUse {
	close(m.done)
	<-m.stopped
	u := cpuUse{procs: map[string]time.Duration{}}
	for _, p := range m.l.procs() {
		now, _, _ := procStat(p.cmd.Process.Pid)
		u.procs[p.name] = time.Duration(now-m.base[p.name]) * clockTick
	}
	self, _, _ := procStat(os.Getpid())
	u.self = time.Duration(self-m.self) * clockTick
	u.meter = m.spent
	m.mu.Lock()
	defer m.mu.Unlock()
	var endedLast int64 // the last samples of the processes that ended
	for _, p := range m.pg {
		if p.gen != m.gen {
			endedLast += p.last
		}
		d := time.Duration(p.last-p.base) * clockTick
		switch {
		case p.ours:
			u.pgBackends += d
			u.backends++
			if p.born {
				u.born++
			}
		case p.client:
			u.pgOther += d
		default:
			u.pgServer += d
		}
	}
	// The postmaster adds the CPU of each child that ended to its own
	// cutime+cstime: less the last samples of those the meter saw, it is
	// what they used after it and what the ones it never saw used.
	u.pgEnded = -1
	if _, c, _, ok := statFields(fmt.Sprintf("/proc/%d/stat", m.postmaster)); ok && m.postmaster > 0 && m.reaped >= 0 {
		u.pgEnded = time.Duration(c-m.reaped-endedLast) * clockTick
	}
	return u
}
