package sqlstore

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

// shadowStream makes authorizations as bench auth's (32 tokens on 8
// cards, 8 tokens a phone, one merchant, ¥0.01-0.50, 2,560 a second),
// decided by every default rule in shadow and recorded, into batches of
// the write-behind (what 200 ms brings).
type shadowStream struct {
	e    *risk.Engine
	rec  *capture
	n    int
	kept map[int]*risk.KeptRules
}

// capture is the engine's state: a risk.Memory that also queues what is
// recorded in a pending batch, as the store does.
type capture struct {
	*risk.Memory
	p *pending
}

func (c *capture) Add(ctx context.Context, ds []risk.Delta) error {
	for _, d := range ds {
		c.p.addDelta(d)
	}
	return c.Memory.Add(ctx, ds)
}

func (c *capture) SetLast(ctx context.Context, key string, x risk.Sighting) error {
	c.p.setLast(key, x)
	return c.Memory.SetLast(ctx, key, x)
}

// newShadowStream stores the shadow rule set in s (decisions kept short).
func newShadowStream(tb testing.TB, s *Store) *shadowStream {
	ctx := context.Background()
	set := risk.Default()
	set.Version++
	for i := range set.Rules {
		set.Rules[i].Shadow = true
	}
	if err := s.PutRules(ctx, set, t0); err != nil {
		tb.Fatal(err)
	}
	c := &capture{Memory: risk.NewMemory(), p: newPending()}
	e, err := risk.New(set, c)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := s.keptRules(ctx, set.Version)
	if err != nil || k == nil {
		tb.Fatal("the shadow set is not kept", err)
	}
	return &shadowStream{e: e, rec: c, kept: map[int]*risk.KeptRules{set.Version: k}}
}

// next decides and records n authorizations and returns their batch.
func (st *shadowStream) next(tb testing.TB, n int) *pending {
	ctx := context.Background()
	st.rec.p = newPending()
	for range n {
		i := st.n
		st.n++
		t, j := i%32, i/32 // token, its j-th authorization
		a := risk.Auth{ID: fmt.Sprintf("B%07d|%06d|1207%06d", t, j%1000000, j), At: t0.Add(time.Duration(i) * 390 * time.Microsecond),
			Token: fmt.Sprintf("tok_%02d", t), Card: fmt.Sprintf("par_%d", (t/8+t%8)%8), Phone: fmt.Sprintf("ph_%d", t/8),
			Merchant: "898310054110001", Amount: int64(1 + (t+j)%50), City: "BEIJING", Country: "CN", MCC: "5411"}
		d, err := st.e.Authorize(ctx, a)
		if err != nil {
			tb.Fatal(err)
		}
		st.rec.p.saveDecision(d)
		if err := st.e.RecordAuth(ctx, a, true); err != nil {
			tb.Fatal(err)
		}
	}
	return st.rec.p
}

// part is the rows of p one table gets (the others' left out).
func part(p *pending, table string) *pending {
	q := newPending()
	switch table {
	case "counters":
		q.cells = p.cells
	case "sightings":
		q.seen = p.seen
	case "decisions":
		q.decs, q.decAt = p.decs, p.decAt
	default:
		return p
	}
	return q
}

// BenchmarkWriteShadow is the write-behind's work (writeBatch and the
// commit) for one authorization of bench auth's default (shadow) traffic,
// in batches of 512 (200 ms at 2,560 a second) on a wing that holds 20,000
// authorizations already; all, or one table's rows alone. cpu-ns/auth is
// the process's CPU (the commit's included).
func BenchmarkWriteShadow(b *testing.B) {
	for _, table := range []string{"all", "counters", "decisions"} {
		b.Run(table, func(b *testing.B) { benchWriteShadow(b, table) })
	}
}

// openShadow opens a store on a new SQLite wing, closed when the benchmark
// ends, that no other process writes (the refresher idle), with the
// shadow stream's rule set stored.
func openShadow(b *testing.B) (*Store, *shadowStream) {
	s, err := Open(context.Background(), "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s.SetRefresh(time.Hour) // no other process: the refresher's reads are not the batch's
	return s, newShadowStream(b, s)
}

func benchWriteShadow(b *testing.B, table string) {
	const batch = 512
	s, st := openShadow(b)
	for range 20_000 / batch {
		writeTimed(b, s, part(st.next(b, batch), table), st.kept)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		p := part(st.next(b, min(batch, b.N-i)), table)
		runtime.GC() // the stream's garbage is not the batch's
		b.StartTimer()
		cpu += writeTimed(b, s, p, st.kept)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/auth")
}

// writeTimed writes a batch as the flusher does (its transaction and
// commit) and returns the process's CPU time it took. Not inlined:
// valgrind --tool=callgrind --toggle-collect='*sqlstore.writeTimed' counts
// the instructions of the writes alone.
//
//go:noinline
func writeTimed(tb testing.TB, s *Store, p *pending, kept map[int]*risk.KeptRules) time.Duration {
	ctx := context.Background()
	c0 := cpuNow()
	if err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return writeBatch(ctx, tx, p, kept, time.Now().UnixMilli()) }); err != nil {
		tb.Fatal(err)
	}
	return cpuNow() - c0
}

// cpuNow is the process's user and system CPU time so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkShadowPath is the engine's whole work for one authorization
// of bench auth's default (shadow) traffic on the SQLite wing's store, as
// the switch does it: the decision (Authorize, from the mirror), the
// record once answered (RecordAuth: counters and sightings queued and in
// the mirror), the decision kept (SaveDecision), and the flusher's
// writing in the background — every 512 authorizations (what 200 ms
// brings at 2,560 a second) it waits for the batch (Flush). Under
// callgrind (GOMAXPROCS=1) its instructions an op are the figure that
// holds on a busy host: every goroutine's work is counted.
func BenchmarkShadowPath(b *testing.B) {
	const batch = 512
	ctx := context.Background()
	s, st := openShadow(b)
	s.rec.gap = time.Hour // the batches are Flush's: of 512, whatever the timing (callgrind)
	e, err := risk.New(st.e.Rules(), s)
	if err != nil {
		b.Fatal(err)
	}
	const prefill = 10_240             // the wing holds 10,240 authorizations already
	var toks, cards, phones [32]string // as shadowStream's, made once (fmt's work is not the engine's)
	for t := range toks {
		toks[t], cards[t], phones[t] = fmt.Sprintf("tok_%02d", t), fmt.Sprintf("par_%d", (t/8+t%8)%8), fmt.Sprintf("ph_%d", t/8)
	}
	auths := make([]risk.Auth, prefill+b.N)
	var id []byte
	for i := range auths {
		t, j := i%32, i/32
		id = strconv.AppendInt(append(strconv.AppendInt(append(id[:0], 'B'), int64(10_000_000+t), 10), '|'), int64(j), 10)
		auths[i] = risk.Auth{ID: string(id), At: t0.Add(time.Duration(i) * 390 * time.Microsecond),
			Token: toks[t], Card: cards[t], Phone: phones[t],
			Merchant: "898310054110001", Amount: int64(1 + (t+j)%50), City: "BEIJING", Country: "CN", MCC: "5411"}
	}
	run := func(as []risk.Auth) {
		for i := range as {
			d, err := e.Authorize(ctx, as[i])
			if err == nil {
				err = e.RecordAuth(ctx, as[i], d.Outcome != risk.Decline)
			}
			if err == nil {
				err = s.SaveDecision(ctx, d)
			}
			if err == nil && i%batch == batch-1 {
				err = s.Flush(ctx)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	run(auths[:prefill])
	time.Sleep(100 * time.Millisecond) // the statements' texts prepared in the background meanwhile (sqldb's cache), not in the run
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuNow()
	run(auths[prefill:])
	b.ReportMetric(float64((cpuNow()-c0).Nanoseconds())/float64(b.N), "cpu-ns/auth")
	b.ReportMetric(float64(s.Dropped()), "dropped")
}
