package sqlstore

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// TestApplyRecordsChunks: a batch of the write-behind goes in by chunks of
// every size (64, 16, 4, 1) on SQLite and PostgreSQL — each record with
// the answer merged into it, a record reversed already (not fresh: every
// column) among them, an answer whose record was applied in an earlier
// batch, and the replay of a record SQL holds still being decided, in a
// chunk of 64 (the chunk's insert skips it: its answer goes as an update).
// Every row is as the switch wrote it; the same batch again changes
// nothing.
func TestApplyRecordsChunks(t *testing.T) {
	ctx := context.Background()
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		s, err := Open(ctx, pl.DSN, pl.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		answered := func(a netswitch.Auth, i int) netswitch.Auth {
			a.ResponseCode, a.AuthCode, a.Answer = iso8583.Approved, fmt.Sprintf("A%05d", i), []byte{0x01, 0x10, byte(i)}
			a.AnsweredAt = a.ReceivedAt.Add(time.Duration(i+1) * time.Millisecond)
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
				if g := got[i]; g.ResponseCode != w.ResponseCode || g.AuthCode != w.AuthCode || !reflect.DeepEqual(g.Answer, w.Answer) ||
					!g.AnsweredAt.Equal(w.AnsweredAt) || !g.ReceivedAt.Equal(w.ReceivedAt) || !g.ReversedAt.Equal(w.ReversedAt) ||
					g.ReversalRC != w.ReversalRC || g.ClearAmount != w.ClearAmount || g.Digest != w.Digest || g.Token != w.Token ||
					!reflect.DeepEqual(g.SealedPAN, w.SealedPAN) {
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

// TestFreshColumns: a record's arguments for the write-behind's insert
// (freshCols) are authArgs without the columns left at their defaults, in
// order.
func TestFreshColumns(t *testing.T) {
	a := testAuth(t, "f")
	args := authArgs(a)
	got := appendFresh(nil, args)
	if len(got) != len(args)-4 || !fresh(args) {
		t.Fatalf("%d fresh arguments of %d (fresh %v)", len(got), len(args), fresh(args))
	}
	want := map[string]any{}
	for i, c := range splitCols(authCols) {
		want[c] = args[i]
	}
	for i, c := range splitCols(freshCols) {
		if !reflect.DeepEqual(got[i], want[c]) {
			t.Fatalf("%s: %v, want %v", c, got[i], want[c])
		}
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

func splitCols(cols string) []string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}
