package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/tsp/sqlstore"
	"github.com/tapwallet/tapwallet/tsp/tsptest"
)

// addCards provisions n cards on one new device of s and returns their
// token numbers.
func addCards(t testing.TB, s *tsp.Service, n int) ([]string, tsp.Device) {
	t.Helper()
	d := tsptest.NewDevice(t)
	var out []string
	for i := range n {
		res, err := s.AddCard(context.Background(), tsp.AddCardRequest{Device: d, PAN: tsptest.PAN("622999", 100+i), Expiry: "1230", CVN2: "123"})
		if err != nil || res.Card == nil {
			t.Fatalf("add card %d: %v", i, err)
		}
		out = append(out, res.Card.Token.Number.Digits())
	}
	return out, d
}

// sameAsSQL checks that the memory store's TokenKey answers, for each
// token and every key index up to its next one (and one never issued),
// exactly what a store reading SQL on the same files answers once the
// journaled key uses are written behind.
func sameAsSQL(t *testing.T, step string, mem, sql *sqlstore.Store, tokens []string) {
	t.Helper()
	ctx := context.Background()
	if err := mem.CaughtUp(); err != nil {
		t.Fatal(err)
	}
	for _, n := range tokens {
		tok, err := sql.Token(ctx, n)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for i := 0; i <= tok.NextKey+1; i++ {
			wt, wk, werr := sql.TokenKey(ctx, n, i)
			gt, gk, gerr := mem.TokenKey(ctx, n, i)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s: token %s key %d: memory %v, SQL %v", step, n, i, gerr, werr)
			}
			if !reflect.DeepEqual(gt, wt) {
				t.Errorf("%s: token %s: memory\n%+v\nSQL\n%+v", step, n, gt, wt)
			}
			if wk != nil {
				wk.UsedARQC = nil // the SQL query leaves it out; memory may have it
			}
			if gk != nil {
				c := *gk
				c.UsedARQC = nil
				gk = &c
			}
			if !reflect.DeepEqual(gk, wk) {
				t.Errorf("%s: token %s key %d: memory %+v, SQL %+v", step, n, i, gk, wk)
			}
		}
	}
}

// TestMemoryKeptExact: with Sole, every write through the store — key
// uses (accepted and declined), a replenishment, a default card, a
// suspension and resumption, a wallet switched off and on, a deletion —
// leaves TokenKey from memory answering exactly what SQL holds.
func TestMemoryKeptExact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mem := openWing(t, "", dir, sqlstore.Sole())
	sql := openWing(t, "", dir) // reads SQL
	s := tsptest.NewService(t, mem)
	tokens, d := addCards(t, s, 3)
	check := func(step string) { t.Helper(); sameAsSQL(t, step, mem, sql, tokens) }
	check("provisioned")
	now := time.Now()
	use := func(tok string, key, atc int) error {
		return mem.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: key, ATC: atc, At: now, Cryptogram: []byte{byte(key), 2, 3, 4, 5, 6, 7, 8}})
	}
	if err := use(tokens[0], 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := use(tokens[0], 1, 2); !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) {
		t.Fatalf("a key used twice: %v", err)
	}
	if err := use(tokens[0], 2, 1); !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
		t.Fatalf("a counter used twice: %v", err)
	}
	if err := use(tokens[0], 99, 5); !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) {
		t.Fatalf("a key never issued: %v", err)
	}
	if err := use(tokens[1], 3, 7); err != nil {
		t.Fatal(err)
	}
	check("key uses")
	if _, err := s.Replenish(ctx, d, []tsp.TokenLog{{Token: tokens[0], ATC: 1, Unused: seq(2, 11)}}); err != nil {
		t.Fatal(err)
	}
	check("replenished")
	if err := mem.SetDefault(ctx, d.ID, tokens[2]); err != nil {
		t.Fatal(err)
	}
	check("default")
	if err := s.Suspend(ctx, tokens[1], "test", "lost"); err != nil {
		t.Fatal(err)
	}
	check("suspended")
	if err := s.Resume(ctx, tokens[1], "test", "found"); err != nil {
		t.Fatal(err)
	}
	check("resumed")
	if _, err := mem.DeviceOff(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Actor: "test", Reason: "lost", At: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	check("wallet off")
	if _, err := mem.DeviceOn(ctx, tsp.DeviceSwitch{DeviceID: d.ID, Tokens: tokens[:2], Actor: "test", Reason: "found", At: now.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	check("wallet on")
	if err := mem.ChangeState(ctx, tokens[0], tsp.Deleted, "test", "removed", now); err != nil {
		t.Fatal(err)
	}
	check("deleted")
}

// TestMemoryKeyWindow: memory keeps at most a window of a token's keys,
// and a phone using its keys in order past the window is still answered
// right (the next window read from SQL), each key once.
func TestMemoryKeyWindow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mem := openWing(t, "", dir, sqlstore.Sole())
	sql := openWing(t, "", dir)
	s := tsptest.NewService(t, mem)
	s.LUKBatch = 100
	tokens, _ := addCards(t, s, 1)
	tok := tokens[0]
	for i := 1; i <= 100; i++ {
		_, k, err := mem.TokenKey(ctx, tok, i)
		if err != nil || k == nil || !k.UsedAt.IsZero() {
			t.Fatalf("key %d before its use: %+v %v", i, k, err)
		}
		if err := mem.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: i, ATC: i, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)}}); err != nil {
			t.Fatalf("use of key %d: %v", i, err)
		}
		if err := mem.CaughtUp(); err != nil {
			t.Fatal(err)
		}
		if n := mem.MemKeys(tok); n < 0 || n > 32 {
			t.Fatalf("after key %d (written behind) memory holds %d keys, want at most 32", i, n)
		}
	}
	if n := mem.KeyReads(); n > 100/32+1 {
		t.Errorf("100 keys used in order: %d reads of keys from SQL, want at most %d", n, 100/32+1)
	}
	sameAsSQL(t, "100 keys used", mem, sql, tokens)
}

// TestMemoryKeyWindowWhileWritingBehind: while the uses wait for the
// write-behind in memory they do not crowd the window out — 100 keys used
// in order before any is in SQL take a read from SQL per window.
func TestMemoryKeyWindowWhileWritingBehind(t *testing.T) {
	ctx := context.Background()
	mem := openWing(t, "", t.TempDir(), sqlstore.Sole())
	s := tsptest.NewService(t, mem)
	s.LUKBatch = 100
	tokens, _ := addCards(t, s, 1)
	mem.PauseWriteBehind()
	for i := 1; i <= 100; i++ {
		if _, k, err := mem.TokenKey(ctx, tokens[0], i); err != nil || k == nil || !k.UsedAt.IsZero() {
			t.Fatalf("key %d before its use: %+v %v", i, k, err)
		}
		if err := mem.UseKey(ctx, tsp.KeyUse{Token: tokens[0], KeyIndex: i, ATC: i, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, byte(i)}}); err != nil {
			t.Fatalf("use of key %d: %v", i, err)
		}
	}
	if n := mem.KeyReads(); n > 100/32+1 {
		t.Errorf("%d reads of keys from SQL, want at most %d", n, 100/32+1)
	}
	for i := 1; i <= 100; i++ {
		if err := mem.UseKey(ctx, tsp.KeyUse{Token: tokens[0], KeyIndex: i, ATC: 200 + i, At: time.Now(), Cryptogram: []byte{9, 2, 3, 4, 5, 6, 7, byte(i)}}); !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) {
			t.Fatalf("key %d again before the write-behind: %v, want luk_used", i, err)
		}
	}
}

// TestMemoryBounded: memory holds at most MaxTokens tokens; those it let
// go are read again when asked.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mem := openWing(t, "", dir, sqlstore.Sole(), sqlstore.MaxTokens(3))
	sql := openWing(t, "", dir)
	s := tsptest.NewService(t, mem)
	tokens, _ := addCards(t, s, 8)
	for round := range 2 {
		for _, tok := range tokens {
			if _, _, err := mem.TokenKey(ctx, tok, 1); err != nil {
				t.Fatal(err)
			}
			if n := mem.MemTokens(); n > 3 {
				t.Fatalf("round %d: memory holds %d tokens, want at most 3", round, n)
			}
		}
	}
	sameAsSQL(t, "evicted", mem, sql, tokens)
}

// TestConcurrentDoubleUse: two goroutines (and then eight) use the same
// key at once — with different counters, and with the same one: exactly
// one wins, the others are declined luk_used or atc_replayed, and a
// TokenKey that starts after the winner returned sees the key used.
func TestConcurrentDoubleUse(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		s := tsptest.NewService(t, st)
		s.LUKBatch = 60
		tokens, _ := addCards(t, s, 1)
		tok := tokens[0]
		for key := 1; key <= 60; key++ {
			racers := 2
			if key%2 == 0 {
				racers = 8
			}
			var won atomic.Int32
			var wg sync.WaitGroup
			errs := make([]error, racers)
			start := make(chan struct{})
			for r := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					atc := 1000 + key*10 + r
					if key%3 == 0 {
						atc = 1000 + key*10 // the same counter
					}
					<-start
					errs[r] = st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: key, ATC: atc, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, byte(r), byte(key)}})
					if errs[r] == nil {
						won.Add(1)
						if _, k, err := st.TokenKey(ctx, tok, key); err != nil || k == nil || k.UsedAt.IsZero() {
							t.Errorf("key %d read after its use returned: %+v %v, want used", key, k, err)
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			if won.Load() != 1 {
				t.Fatalf("key %d: %d of %d uses won, want exactly 1 (%v)", key, won.Load(), racers, errs)
			}
			for r, err := range errs {
				if err != nil && !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) && !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
					t.Errorf("key %d racer %d: %v, want luk_used or atc_replayed", key, r, err)
				}
			}
		}
	})
}

// TestRestartKeepsUse: keys used, the store closed and opened again (with
// Sole) — after the write-behind applied them, and with the write-behind
// stopped first (the uses only in the journal, as a crash leaves them:
// the replay at Open applies them) — the keys read used, in memory and in
// SQL, the counter is the last one, and a second use is declined.
func TestRestartKeepsUse(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("journal only=", crash), func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := sqlstore.Open(ctx, "", dir, sqlstore.Sole())
			if err != nil {
				t.Fatal(err)
			}
			s := tsptest.NewService(t, st)
			tokens, _ := addCards(t, s, 1)
			tok := tokens[0]
			if crash {
				st.PauseWriteBehind()
			}
			for key := 1; key <= 3; key++ {
				if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: key, ATC: key, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, byte(key)}}); err != nil {
					t.Fatal(err)
				}
			}
			sql := openWing(t, "", dir)
			if k, err := sql.LUK(ctx, tok, 3); crash && (err != nil || !k.UsedAt.IsZero()) {
				t.Fatalf("key 3 in SQL before the restart: %+v %v, want unused (only in the journal)", k, err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if crash {
				// A store reading SQL, opened now, applies what the
				// journal holds first.
				plain := openWing(t, "", dir)
				if k, err := plain.LUK(ctx, tok, 3); err != nil || k.UsedAt.IsZero() || k.UsedATC != 3 {
					t.Fatalf("key 3 read by a store reading SQL after the crash: %+v %v, want used", k, err)
				}
				plain.Close()
			}
			st = openWing(t, "", dir, sqlstore.Sole())
			for key := 1; key <= 3; key++ {
				got, k, err := st.TokenKey(ctx, tok, key)
				if err != nil || k == nil || k.UsedAt.IsZero() || k.UsedATC != key || got.LastATC != 3 {
					t.Fatalf("after the restart: token %+v key %+v (%v), want key %d used with counter %d", got, k, err, key, key)
				}
				if k, err := sql.LUK(ctx, tok, key); err != nil || k.UsedAt.IsZero() || k.UsedATC != key || k.UsedARQC[7] != byte(key) {
					t.Errorf("key %d in SQL after the restart: %+v %v, want used", key, k, err)
				}
			}
			if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 1, ATC: 4, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, 9}}); !fault.Has(err, fault.Declined, tsp.DeclineKeyUsed) {
				t.Errorf("a second use after the restart: %v, want luk_used", err)
			}
			if err := st.UseKey(ctx, tsp.KeyUse{Token: tok, KeyIndex: 4, ATC: 3, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, 9}}); !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
				t.Errorf("counter 3 again after the restart: %v, want atc_replayed", err)
			}
		})
	}
}

// TestSoleLock: a second store opened with Sole on the same files is
// refused while the first is open, and opens once it is closed; a store
// reading SQL opens beside it.
func TestSoleLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := sqlstore.Open(ctx, "", dir, sqlstore.Sole())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.Open(ctx, "", dir, sqlstore.Sole()); !fault.Has(err, fault.Conflict, "tsp_store_busy") {
		t.Fatalf("a second sole store: %v, want tsp_store_busy", err)
	}
	openWing(t, "", dir) // reading SQL: no lock
	first.Close()
	openWing(t, "", dir, sqlstore.Sole())
}

// BenchmarkTokenKey: the authorization path's read of a token and one of
// its keys, from memory (Sole) and from SQL, 16 tokens read in turn.
func BenchmarkTokenKey(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts []sqlstore.Option
	}{{"sql", nil}, {"memory", []sqlstore.Option{sqlstore.Sole()}}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			st := openWing(b, "", b.TempDir(), mode.opts...)
			s := tsptest.NewService(b, st)
			tokens, _ := addCards(b, s, 8) // 8 cards a phone
			more, _ := addCards(b, s, 8)
			tokens = append(tokens, more...)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, k, err := st.TokenKey(ctx, tokens[i%len(tokens)], 1+i%10); err != nil || k == nil {
					b.Fatal(fmt.Sprint(k, err))
				}
			}
		})
	}
}

// TestCloseTwice: a sole store closes twice without error, and a read
// after Close fails instead of waiting for a write-behind that stopped.
func TestCloseTwice(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "", t.TempDir(), sqlstore.Sole())
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := addCards(t, tsptest.NewService(t, st), 1)
	st.PauseWriteBehind()
	if err := st.UseKey(ctx, tsp.KeyUse{Token: tokens[0], KeyIndex: 1, ATC: 1, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := st.Token(wait, tokens[0]); err == nil || wait.Err() != nil {
		t.Errorf("a read after Close: %v (waited: %v), want it refused at once", err, wait.Err())
	}
}

// TestSoleIgnoredOnPostgres: on PostgreSQL, where several token service
// processes may share the database, Sole changes nothing: the store keeps
// no memory and reads SQL (a use made by another process's store is seen
// at once).
func TestSoleIgnoredOnPostgres(t *testing.T) {
	if os.Getenv("TAPWALLET_TEST_POSTGRES") == "" {
		t.Skip("TAPWALLET_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	dsn := sqldbtest.PostgresDSN(t)
	a := openWing(t, dsn, "", sqlstore.Sole())
	b := openWing(t, dsn, "", sqlstore.Sole()) // a second process on the same database
	if n := a.MemTokens(); n != -1 {
		t.Fatalf("memory on PostgreSQL: %d tokens, want none", n)
	}
	tokens, _ := addCards(t, tsptest.NewService(t, a), 1)
	if _, _, err := a.TokenKey(ctx, tokens[0], 1); err != nil {
		t.Fatal(err)
	}
	if err := b.UseKey(ctx, tsp.KeyUse{Token: tokens[0], KeyIndex: 1, ATC: 1, At: time.Now(), Cryptogram: []byte{1, 2, 3, 4, 5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	if _, k, err := a.TokenKey(ctx, tokens[0], 1); err != nil || k == nil || k.UsedAt.IsZero() {
		t.Errorf("a key another store used: %+v %v, want used", k, err)
	}
}
