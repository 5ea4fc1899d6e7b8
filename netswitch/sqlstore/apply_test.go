package sqlstore

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"modernc.org/sqlite"
)

// TestApplyRecordsChunks: a batch of the write-behind goes in by chunks of
// every size (64, 16, 4, 1) on SQLite and PostgreSQL — each record with
// the answer merged into it (approved, declined with a reason, with a
// promotion), a record reversed already (not fresh: every column) among
// them, an answer whose record was applied in an earlier batch, and the
// replay of a record SQL holds still being decided, in a chunk of 64 (the
// chunk's insert skips it: its answer goes as an update). Every row is as
// the switch wrote it, every value; the same batch again changes nothing.
func TestApplyRecordsChunks(t *testing.T) {
	ctx := context.Background()
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		s := openAt(t, pl)
		answered := func(a netswitch.Auth, i int) netswitch.Auth {
			a.ResponseCode, a.AuthCode, a.Answer = iso8583.Approved, fmt.Sprintf("A%05d", i), []byte{0x01, 0x10, byte(i)}
			a.AnsweredAt = a.ReceivedAt.Add(time.Duration(i+1) * time.Millisecond)
			switch i % 4 {
			case 1: // declined: a reason
				a.ResponseCode, a.AuthCode, a.Reason = "05", "", netswitch.ReasonIssuerDeclined
			case 3: // a promotion
				a.Promo = &promo.Redemption{Campaign: "c1", Gross: 1234, Net: 1000, Discount: 234}
			}
			return a
		}
		// Applied in an earlier batch, still being decided: "before" (its
		// answer comes alone) and "replayed" (its record comes again).
		before, replayed := testAuth(t, "before"), testAuth(t, "replayed")
		if _, err := s.applyRecords(ctx, []jrec{{seq: 1, kind: recSave, id: before.ID, args: authArgs(before)},
			{seq: 2, kind: recSave, id: replayed.ID, args: authArgs(replayed)}}); err != nil {
			t.Fatal(err)
		}
		var rs []jrec
		var want []netswitch.Auth
		seq := uint64(10)
		add := func(r jrec) {
			seq++
			r.seq = seq
			rs = append(rs, r)
		}
		const n = 64 + 16 + 4 + 3 // every chunk size, and 1 three times
		for i := range n {
			a := testAuth(t, fmt.Sprintf("c%03d", i))
			a.ReceivedAt = a.ReceivedAt.Add(time.Duration(i) * time.Second)
			switch i {
			case 10: // a replay in the first chunk of 64
				a = replayed
			case 70: // reversed already: inserted alone, every column
				a.ReversedAt, a.ReversalRC, a.ClearAmount = a.ReceivedAt.Add(time.Minute), "00", 0
			}
			add(jrec{kind: recSave, id: a.ID, args: authArgs(a)})
			a = answered(a, i)
			add(jrec{kind: recFinish, id: a.ID, args: finishArgs(a)})
			want = append(want, a)
		}
		b := answered(before, 999)
		add(jrec{kind: recFinish, id: b.ID, args: finishArgs(b)})
		want = append(want, b)
		if got := len(mergeAnswers(rs)); got != n+1 {
			t.Fatalf("merged batch of %d writes; want %d", got, n+1)
		}
		read := func() []netswitch.Auth {
			var got []netswitch.Auth
			for _, w := range want {
				a, err := s.Auth(ctx, w.ID)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, a)
			}
			return got
		}
		for range 2 {
			if _, err := s.applyRecords(ctx, rs); err != nil {
				t.Fatal(err)
			}
			got := read()
			for i, w := range want {
				if g := got[i]; !sameAuth(g, w) {
					t.Fatalf("%s stored as\n%+v\nwant\n%+v", w.ID, g, w)
				}
			}
		}
		var rows int
		if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM switch_auths`).Scan(&rows); err != nil || rows != n+1 {
			t.Fatalf("%d rows, %v; want %d", rows, err, n+1)
		}
	})
}

// TestApplyRecordsNoSpill: a batch of 4,096 records — ~900 pages
// changed, more than SQLite's default cache holds — goes to the log at
// its commit only (spillPages): none of its pages is written ahead of it
// (431 were without the pragma). Every record is stored.
func TestApplyRecordsNoSpill(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, sqldb.Place{Dir: t.TempDir()})
	s.DB.SQL().SetMaxOpenConns(1) // the status read below is the batch's connection's
	batch := benchBatches(t, 4096, 4096)[0]
	if _, err := s.applyRecords(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c, err := s.DB.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var spilled, written int
	if err := c.Raw(func(dc any) error {
		st := dc.(sqlite.DBStatus)
		var err error
		if spilled, _, err = st.Status(sqlite.DBStatusCacheSpill, false); err != nil {
			return err
		}
		written, _, err = st.Status(sqlite.DBStatusCacheWrite, false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if spilled != 0 || written < 700 {
		t.Errorf("the batch spilled %d pages, wrote %d; want none spilled of more than 700 (the default cache holds ~500)", spilled, written)
	}
	var n int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM switch_auths`).Scan(&n); err != nil || n != 4096 {
		t.Errorf("%d records stored (%v), want 4096", n, err)
	}
}

// TestFreshColumns: a record's row for the write-behind's insert
// (freshCols) is its row (authCols) without the columns left at their
// defaults, in order; a record reversed or cleared is not fresh.
func TestFreshColumns(t *testing.T) {
	a := testAuth(t, "f")
	args := authArgs(a)
	got := appendRow(nil, args, nil, freshAt)
	if len(got) != len(rowAt)-4 || !fresh(args) {
		t.Fatalf("%d fresh arguments of %d (fresh %v)", len(got), len(rowAt), fresh(args))
	}
	if want := freshOf(rowArgs(a)); !reflect.DeepEqual(got, want) {
		t.Fatalf("fresh row\n%v\nwant\n%v", got, want)
	}
	for _, change := range []func(*netswitch.Auth){
		func(a *netswitch.Auth) { a.ReversedAt = time.Now() },
		func(a *netswitch.Auth) { a.ReversalRC = "00" },
		func(a *netswitch.Auth) { a.ClearedAt = time.Now() },
		func(a *netswitch.Auth) { a.ClearingDate = "20260315" },
	} {
		b := a
		change(&b)
		if fresh(authArgs(b)) {
			t.Fatalf("%+v taken as fresh", b)
		}
	}
}

// freshOf returns the values of freshCols in a row of authCols.
func freshOf(row []any) []any {
	at := map[string]any{}
	for i, c := range splitCols(authCols) {
		at[c] = row[i]
	}
	var out []any
	for _, c := range splitCols(freshCols) {
		out = append(out, at[c])
	}
	return out
}

// BenchmarkApplyRecords: the write-behind's CPU per authorization on
// SQLite (synchronous=FULL) — a record and its answer, folded into one
// insert, but for the last tenth of a batch's answers, which come in the
// next batch (their records were applied before) — in batches of 80
// authorizations (~20 ms of bench auth at 4,000 a second), 340 (~100 ms),
// 1,024 (the cut of a gathering before behindBatch was behindMax: 80 ms at
// 13,000 a second) and 1,300 (the whole 100 ms at 13,000), with rows like
// bench auth's (16 terminals, 2 phones, 16 tokens, 9 PARs; a 145-byte
// answer, a 111-byte sealed PAN). The batches are made before the clock
// starts. Besides CPU µs it reports the KB the process caused to be
// written to storage (write_bytes of /proc/self/io: the log's frames, and
// the checkpoints' pages into the file) per authorization.
//
//	go test -run '^$' -bench ApplyRecords -benchtime 20000x ./netswitch/sqlstore/
func BenchmarkApplyRecords(b *testing.B) {
	for _, per := range []int{80, 340, 1024, 1300, 4096} {
		b.Run(fmt.Sprintf("batch%d", per), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, "", b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			apply := sqldb.Serialized(s.DB, s.applyRecords)
			batches := benchBatches(b, b.N, per)
			cpu0, written0 := cpuTime(), writeBytes()
			b.ResetTimer()
			for _, batch := range batches {
				if _, err := apply(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/auth")
			b.ReportMetric(float64(writeBytes()-written0)/1024/float64(b.N), "disk-KB/auth")
		})
	}
}

// benchBatches are the write-behind's batches of n authorizations, per a
// batch.
func benchBatches(tb testing.TB, n, per int) [][]jrec {
	toks := make([]card.Token, 16)
	for i := range toks {
		body := fmt.Sprintf("628804967954%03d", i)
		var err error
		if toks[i], err = card.ParseToken(body + string(card.LuhnDigit(body))); err != nil {
			tb.Fatal(err)
		}
	}
	var out [][]jrec
	var cur, next []jrec
	for i := range n {
		term := fmt.Sprintf("B%07d", i%16)
		a := netswitch.Auth{ID: fmt.Sprintf("%s|%06d|1206182847", term, i/16), Digest: "a26d60db2ae728df76184ca0", Acquirer: "48021000", Terminal: term,
			STAN: fmt.Sprintf("%06d", i/16), Transmission: "1206182847", RRN: "340751000001", Merchant: "898310054110001", MerchantName: "TAPWALLET BENCH",
			MCC: "5411", LocalDate: "1206", LocalTime: "182847", Token: toks[i%16], TokenLast4: "3378", PANLast4: "0008", SealedPAN: make([]byte, 111),
			PhoneID: fmt.Sprintf("ph_661fb47b11d5dnd5rpr9qcgygcg6%d", i%2), AccountID: "acc_661fb47b11a03jpnhccxi7kvpee2f", BankID: "boc",
			Amount: money.New(11, money.CNY), ClearAmount: 11, BusinessDate: "20261206", ReceivedAt: time.UnixMilli(1796581728049 + int64(i)),
			PAR: fmt.Sprintf("U001QQ7K9ZKUWJVYTDEQAYTBD28K%d", i%9)}
		cur = append(cur, jrec{seq: uint64(2 * i), kind: recSave, id: a.ID, args: authArgs(a)})
		a.ResponseCode, a.AuthCode, a.Answer, a.AnsweredAt = iso8583.Approved, "5RGQGT", make([]byte, 145), a.ReceivedAt.Add(2*time.Millisecond)
		f := jrec{seq: uint64(2*i + 1), kind: recFinish, id: a.ID, args: finishArgs(a)}
		if i%per >= per*9/10 {
			next = append(next, f)
		} else {
			cur = append(cur, f)
		}
		if i%per == per-1 || i == n-1 {
			out = append(out, cur)
			cur, next = next, nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// writeBytes is write_bytes of /proc/self/io: the bytes the process has
// caused to be written to storage (0 where it cannot be read).
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
