package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// seedKeys makes tokens tokens with keys unused keys each, straight in SQL
// (a store reading SQL over a fresh SQLite wing), and returns the store
// and the token numbers.
func seedKeys(t testing.TB, tokens, keys int) (*Store, []string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var names []string
	err = s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range tokens {
			id, tok := fmt.Sprintf("v%d", i), tsptest.PAN("628800", i)
			names = append(names, tok)
			if _, err := tx.Exec(ctx, `INSERT INTO vault_pans (id, pan_index, pan_sealed, par, bin, last4, created_at) VALUES (?, ?, ?, ?, '622999', '0001', 0)`,
				id, []byte(id), []byte{0}, "par-"+id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tokens (token, pan_id, phone_id, account_id, domain, state, expiry, psn, bank_id, product, aid, created_at, updated_at)
				VALUES (?, ?, 'phone', 'account', 'nfc', 'active', '1230', '00', 'bank', 'debit', 'A000000333010101', 0, 0)`, tok, id); err != nil {
				return err
			}
			for k := 1; k <= keys; k++ {
				if _, err := tx.Exec(ctx, `INSERT INTO luks (token, key_index, issued_at, expires_at) VALUES (?, ?, 0, ?)`, tok, k, int64(1)<<50); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, names
}

// BenchmarkApplyUses: the write-behind's batch — n key uses of 16 tokens
// (each token's keys in order, as phones pay) written to SQL in one
// transaction; ns/use is the time of one use, cpu-ns/use the process's
// CPU (getrusage: the machine's other load inflates it less). The keys
// are made unused again between batches (not timed).
func BenchmarkApplyUses(b *testing.B) {
	for _, n := range []int{16, 512, 3072} {
		b.Run(fmt.Sprint("batch=", n), func(b *testing.B) {
			ctx := context.Background()
			s, tokens := seedKeys(b, 16, n/16)
			arqc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			batch := make([]pendingUse, 0, n)
			for i := range n {
				tok := tokens[i%len(tokens)]
				k := 1 + i/len(tokens)
				batch = append(batch, pendingUse{seq: uint64(i + 1), use: tsp.KeyUse{Token: tok, KeyIndex: k, ATC: k, At: time.Now(), Cryptogram: arqc}})
			}
			reset := func() {
				if _, err := s.DB.SQL().ExecContext(ctx, `UPDATE luks SET used_at = 0, used_atc = 0, used_arqc = ''`); err != nil {
					b.Fatal(err)
				}
				if _, err := s.DB.SQL().ExecContext(ctx, `UPDATE tokens SET last_atc = 0`); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				reset()
				cpu += applyTimed(b, s, batch)
			}
			b.StopTimer()
			reportUses(b, n, cpu)
			var used int
			if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM luks WHERE used_at <> 0`).Scan(&used); err != nil || used != n {
				b.Fatalf("%d keys used (%v), want %d", used, err, n)
			}
		})
	}
}

// BenchmarkApplyUsesFresh is BenchmarkApplyUses as bench auth pays it:
// each batch uses keys never used before (their rows grow by the use, as
// in the running store, where BenchmarkApplyUses' reset leaves rows that
// grew once), of 32 tokens with thousands of keys each (the table of a
// run, not one batch's).
func BenchmarkApplyUsesFresh(b *testing.B) {
	const tokens, n = 32, 4096
	arqc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	b.ReportAllocs()
	var s *Store
	var names []string
	next, have := 1, 0 // each token's next unused key, keys a token has
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		if next+n/tokens > have+1 {
			b.StopTimer()
			have = max(2048, (b.N-i)*n/tokens)
			s, names = seedKeys(b, tokens, have)
			next = 1
			b.StartTimer()
		}
		b.StopTimer()
		batch := make([]pendingUse, 0, n)
		for j := range n {
			k := next + j/tokens
			batch = append(batch, pendingUse{seq: uint64(j + 1), use: tsp.KeyUse{Token: names[j%tokens], KeyIndex: k, ATC: k, At: time.Now(), Cryptogram: arqc}})
		}
		next += n / tokens
		cpu += applyTimed(b, s, batch)
	}
	b.StopTimer()
	reportUses(b, n, cpu)
}

// applyTimed applies batch with the benchmark's timer running (it was
// stopped) and returns the process's CPU time it took — with a context
// that can end, as the write-behind's (startWriteBehind), for SQLite's
// driver watches such a one.
func applyTimed(b *testing.B, s *Store, batch []pendingUse) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.StartTimer()
	start := cpuNow()
	if err := s.applyUses(ctx, batch); err != nil {
		b.Fatal(err)
	}
	return cpuNow() - start
}

// reportUses reports the time and the CPU of one use, of batches of n.
func reportUses(b *testing.B, n int, cpu time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/use")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/use")
}

// cpuNow is the process's user and system CPU time so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestApplyUses: a batch of 203 uses of 3 tokens (statements of 128, 64,
// 8, 2 and 1 rows) marks each key used with its own counter, time and
// cryptogram and moves each counter to its token's highest; a key used
// before (or twice in the batch) keeps its first use, and a counter never
// moves back, when the same or older uses are applied again (a replay).
func TestApplyUses(t *testing.T) {
	ctx := context.Background()
	s, tokens := seedKeys(t, 3, 70)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	var batch []pendingUse
	for i := range 203 {
		tok, k := tokens[i%3], 1+i/3
		batch = append(batch, pendingUse{seq: uint64(i + 1), use: tsp.KeyUse{Token: tok, KeyIndex: k, ATC: 10 + k, At: at.Add(time.Duration(i) * time.Millisecond), Cryptogram: []byte{1, 2, 3, 4, 5, 6, byte(i >> 8), byte(i)}}})
	}
	// A second use of key 1 of the first token in the same batch loses.
	batch = append(batch, pendingUse{seq: 999, use: tsp.KeyUse{Token: tokens[0], KeyIndex: 1, ATC: 500, At: at, Cryptogram: []byte{9, 9, 9, 9, 9, 9, 9, 9}}})
	if err := s.applyUses(ctx, batch); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		for i, p := range batch[:len(batch)-1] {
			u := p.use
			k, err := s.LUK(ctx, u.Token, u.KeyIndex)
			if err != nil || !k.UsedAt.Equal(u.At) || k.UsedATC != u.ATC || !bytes.Equal(k.UsedARQC, u.Cryptogram) {
				t.Fatalf("%s: use %d: key %+v (%v), want used at %v with counter %d", step, i, k, err, u.At, u.ATC)
			}
		}
		for i, tok := range tokens {
			want := 10 + 1 + (202-(202-i)%3)/3 // the token's last key in the batch
			got, err := s.Token(ctx, tok)
			if err != nil || got.LastATC != want {
				t.Fatalf("%s: token %s counter %d (%v), want %d", step, tok, got.LastATC, err, want)
			}
		}
		for _, idx := range []int{69, 70} {
			if k, err := s.LUK(ctx, tokens[0], idx); err != nil || !k.UsedAt.IsZero() {
				t.Fatalf("%s: key %d never used reads %+v (%v)", step, idx, k, err)
			}
		}
	}
	check("applied")
	// Applied again with other values and lower counters: nothing moves.
	again := make([]pendingUse, len(batch))
	for i, p := range batch {
		p.use.ATC, p.use.At, p.use.Cryptogram = 1, at.Add(time.Hour), []byte{7, 7, 7, 7, 7, 7, 7, 7}
		again[i] = p
	}
	if err := s.applyUses(ctx, again); err != nil {
		t.Fatal(err)
	}
	check("applied again")
}

// TestApplyPlan: each statement of a batch finds its rows by primary key
// (a scan of luks per batch would grow with the table).
func TestApplyPlan(t *testing.T) {
	s, _ := seedKeys(t, 2, 2)
	for q, want := range map[string]string{
		chunkSQL(sqldb.SQLite, useLUKs, 2):  "SEARCH luks USING INDEX sqlite_autoindex_luks_1 (token=? AND key_index=?)",
		chunkSQL(sqldb.SQLite, moveATCs, 2): "SEARCH tokens USING INDEX sqlite_autoindex_tokens_1 (token=?)",
	} {
		if plan := sqldbtest.QueryPlan(t, s.DB, q, make([]any, strings.Count(q, "?"))...); !slices.Contains(strings.Split(plan, "; "), want) {
			t.Errorf("plan of %.40q…: %q, want %q", q, plan, want)
		}
		// The VALUES read as they come: the one temporary table is the
		// update's own (CASTs in the rows made SQLite copy them into a
		// second one first).
		if n := countOps(sqldbtest.Program(t, s.DB, q), "OpenEphemeral"); n != 1 {
			t.Errorf("%.40q… opens %d temporary tables, want 1", q, n)
		}
	}
}

// countOps counts op among a program's opcodes.
func countOps(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}
