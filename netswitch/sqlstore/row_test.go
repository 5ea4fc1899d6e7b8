package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// detailAuth is a record whose values in detail are of every kind: a
// name of several bytes a character, an empty one, a negative amount.
func detailAuth(t *testing.T, id string) netswitch.Auth {
	a := testAuth(t, id)
	a.Acquirer, a.RRN, a.Merchant, a.MerchantName, a.MCC = "48021000", "340751000001", "898310054110001", "Café 上海 ünd: 12:3", "5411"
	a.LocalDate, a.LocalTime, a.PANLast4, a.AccountID, a.BankID = "0314", "090000", "0008", "acc_1", ""
	a.Amount = money.New(-987654321, money.CNY)
	return a
}

// TestDetailWriter: the details a write-behind's chunk writes into one
// buffer are each encodeDetail's, and stay so while the buffer grows past
// the room it was made with; runeCount counts characters as utf8 does.
func TestDetailWriter(t *testing.T) {
	recs := [][]any{authArgs(detailAuth(t, "w1")), authArgs(testAuth(t, "w2")), authArgs(netswitch.Auth{ID: "marker"})}
	var w detailWriter
	w.reset(1)
	var got []string
	for i := range 3 * detailRoom / 16 { // well past one row's room
		got = append(got, w.detail(recs[i%len(recs)]))
	}
	for i, d := range got {
		if want := encodeDetail(recs[i%len(recs)]); d != want {
			t.Fatalf("detail %d %q, want %q", i, d, want)
		}
	}
	for _, s := range []string{"", "5411", "Café 上海 ünd: 12:3", "ascii then é", "\xff\xfe"} {
		if got, want := runeCount(s), utf8.RuneCountInString(s); got != want {
			t.Fatalf("runeCount(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestDetailRoundTrip: the values a record keeps in detail read back as
// they were written, whatever their characters; a detail cut or changed
// anywhere is an error or other values, never a panic.
func TestDetailRoundTrip(t *testing.T) {
	for _, a := range []netswitch.Auth{detailAuth(t, "d1"), testAuth(t, "d2"), {ID: "marker"}} {
		d := encodeDetail(authArgs(a))
		var got netswitch.Auth
		var tv typed
		if err := decodeDetail(d, &got, &tv); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
		_, amount := tv.values()
		if got.Acquirer != a.Acquirer || got.RRN != a.RRN || got.Merchant != a.Merchant || got.MerchantName != a.MerchantName ||
			got.MCC != a.MCC || got.LocalDate != a.LocalDate || got.LocalTime != a.LocalTime || got.TokenLast4 != a.TokenLast4 ||
			got.PANLast4 != a.PANLast4 || got.AccountID != a.AccountID || got.BankID != a.BankID || amount != a.Amount ||
			got.Terminal != a.Terminal || got.STAN != a.STAN || got.Transmission != a.Transmission {
			t.Fatalf("%q read as %+v %v; want %+v", d, got, amount, a)
		}
	}
	d := encodeDetail(authArgs(detailAuth(t, "d3")))
	if !strings.Contains(d, "17:Café 上海 ünd: 12:3") {
		t.Fatalf("detail %q does not give the name's length in characters", d)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		c := []byte(d[:rng.IntN(len(d)+1)])
		for range rng.IntN(3) {
			if len(c) > 0 {
				c[rng.IntN(len(c))] = byte(rng.IntN(256))
			}
		}
		var got netswitch.Auth
		decodeDetail(string(c), &got, &typed{})
	}
	for _, bad := range []string{"", "8:4802100", "x:", "-1:", "1234567890:a", strings.TrimSuffix(d, "10:0314090000")} {
		if err := decodeDetail(bad, &netswitch.Auth{}, &typed{}); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// TestNarrowCarriesRowsOver: migrations 004 and 005 carry the rows of the
// table they find over on SQLite and PostgreSQL — records of every kind
// (answered, with a promotion, reversed, cleared, refunded, still being
// decided, a name of several bytes a character) and a reversal's marker,
// written in the wide table before 004 or in 004's — and the store reads
// each as it was written.
func TestNarrowCarriesRowsOver(t *testing.T) {
	for _, from := range []string{"004", "005"} {
		t.Run("before"+from, func(t *testing.T) { carriesRowsOver(t, from) })
	}
}

// The columns of switch_auths and of its detail after migration 004, in
// order (row004).
const (
	authCols004   = `id, digest, terminal, stan, transmission, token, phone_id, business_date, received_at, response_code, auth_code, reason, answered_at, clear_amount, reversed_at, reversal_rc, cleared_at, clearing_date, par, promo, pan_sealed, answer, detail`
	detailCols004 = `acquirer, rrn, merchant, merchant_name, mcc, local_date, local_time, token_last4, pan_last4, account_id, bank_id, amount, currency`
)

// row004 is the row of a record's values (authArgs) in switch_auths as
// migration 004 left it (authCols004).
func row004(rec []any) []any {
	var row []any
	for _, c := range splitCols(authCols004) {
		if c != "detail" {
			row = append(row, rec[recAt[c]])
			continue
		}
		var d strings.Builder
		for _, dc := range splitCols(detailCols004) {
			v := fmt.Sprint(rec[recAt[dc]])
			fmt.Fprintf(&d, "%d:%s", utf8.RuneCountInString(v), v)
		}
		row = append(row, d.String())
	}
	return row
}

// carriesRowsOver writes records in the table the migrations before from
// make, then opens the store (the migrations from from on) and reads them.
func carriesRowsOver(t *testing.T, from string) {
	ctx := context.Background()
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		old := fstest.MapFS{}
		err := fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path >= "migrations/"+from {
				return err
			}
			b, err := fs.ReadFile(migrations, path)
			old[path] = &fstest.MapFile{Data: b}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		db, err := pl.Open(ctx, sqldb.Wing{Name: Wing.Name, Migrations: old, Dir: "migrations"})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		answered := detailAuth(t, "answered")
		answered.ResponseCode, answered.AuthCode, answered.Answer, answered.AnsweredAt = iso8583.Approved, "A1", []byte{1, 0x10}, at.Add(time.Second)
		answered.PAR, answered.Promo = "PAR1", &promo.Redemption{Campaign: "c1", Gross: 1234, Net: 1000, Discount: 234}
		reversed := testAuth(t, "reversed")
		reversed.ResponseCode, reversed.ReversedAt, reversed.ReversalRC, reversed.ClearAmount = iso8583.Approved, at.Add(time.Minute), "00", 0
		cleared := testAuth(t, "cleared")
		cleared.ResponseCode, cleared.ClearedAt, cleared.ClearingDate, cleared.SealedPAN = iso8583.Approved, at.Add(time.Hour), "20260315", nil
		deciding := testAuth(t, "deciding")
		marker := netswitch.Auth{ID: "marker", RRN: "340751000009", ResponseCode: "05", Reason: netswitch.ReasonReversedBeforeArrival,
			BusinessDate: "20260314", ReceivedAt: at, AnsweredAt: at}
		want := []netswitch.Auth{answered, reversed, cleared, deciding, marker}
		err = db.InTx(ctx, func(tx *sqldb.Tx) error {
			for _, a := range want {
				cols, args := recordCols, authArgs(a)
				if from == "005" {
					cols, args = authCols004, row004(args)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO switch_auths (`+cols+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+`)`,
					args...); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `UPDATE switch_auths SET refunded = 5 WHERE id = 'answered'`)
			return err
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}

		s := openAt(t, pl)
		for _, w := range want {
			got, err := s.Auth(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !sameAuth(got, w) {
				t.Errorf("%s carried over as\n%+v\nwant\n%+v", w.ID, got, w)
			}
		}
		var refunded int64
		if err := s.DB.QueryRow(ctx, `SELECT refunded FROM switch_auths WHERE id = 'answered'`).Scan(&refunded); err != nil || refunded != 5 {
			t.Fatalf("refunded %d, %v; want 5", refunded, err)
		}
		// The records are where their readers look.
		if got, err := s.PhoneAuths(ctx, "ph1", 10); err != nil || len(got) != 4 {
			t.Fatalf("%d phone records, %v; want 4", len(got), err)
		}
		if got, err := s.Deciding(ctx, at.Add(time.Hour), 10); err != nil || len(got) != 1 || got[0].ID != "deciding" {
			t.Fatalf("deciding %+v, %v", got, err)
		}
		if ok, err := s.PurchasedBefore(ctx, "PAR1", "x"); err != nil || !ok {
			t.Fatalf("purchased before: %v, %v", ok, err)
		}
	})
}

// openAt opens the network's store at a place, closed at the test's end.
func openAt(t *testing.T, pl sqldb.Place) *Store {
	t.Helper()
	s, err := Open(context.Background(), pl.DSN, pl.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sameAuth reports whether two records hold the same values (times as
// stored: milliseconds, UTC).
func sameAuth(a, b netswitch.Auth) bool {
	norm := func(a netswitch.Auth) netswitch.Auth {
		a.ReceivedAt, a.AnsweredAt = sqldb.Time(sqldb.Millis(a.ReceivedAt)), sqldb.Time(sqldb.Millis(a.AnsweredAt))
		a.ReversedAt, a.ClearedAt = sqldb.Time(sqldb.Millis(a.ReversedAt)), sqldb.Time(sqldb.Millis(a.ClearedAt))
		if len(a.Answer) == 0 {
			a.Answer = nil
		}
		if len(a.SealedPAN) == 0 {
			a.SealedPAN = nil
		}
		return a
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// TestRowReadAsWritten: a record written by the store (each path: the
// batch, the write-behind fresh and not, a marker, a record over its
// marker) reads back with every value as written.
func TestRowReadAsWritten(t *testing.T) {
	ctx := context.Background()
	sqldbtest.EachPlace(t, func(t *testing.T, pl sqldb.Place) {
		s := openAt(t, pl)
		at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		batch := detailAuth(t, "batch")
		fresh := detailAuth(t, "fresh")
		fresh.PAR, fresh.Promo = "PAR2", &promo.Redemption{Campaign: "c2", Gross: 10, Net: 9, Discount: 1}
		wide := detailAuth(t, "wide")
		wide.ResponseCode, wide.ReversedAt, wide.ReversalRC, wide.ClearAmount = iso8583.Approved, at.Add(time.Minute), "00", 0
		if err := s.SaveAuth(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if _, err := s.applyRecords(ctx, []jrec{{seq: 1, kind: recSave, id: fresh.ID, args: authArgs(fresh)}, {seq: 2, kind: recSave, id: wide.ID, args: authArgs(wide)}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "early", RRN: "340751000009", At: at}); err != nil {
			t.Fatal(err)
		}
		marker, err := s.Auth(ctx, "early")
		if err != nil {
			t.Fatal(err)
		}
		settled := detailAuth(t, "settled")
		settled.ResponseCode, settled.Reason = "05", netswitch.ReasonReversedBeforeArrival
		if err := s.SaveEarlyReversal(ctx, netswitch.Reversal{OriginalID: "settled", RRN: "340751000009", At: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.SettleEarly(ctx, settled); err != nil {
			t.Fatal(err)
		}
		wantMarker := netswitch.Auth{ID: "early", RRN: "340751000009", ResponseCode: "05", Reason: netswitch.ReasonReversedBeforeArrival,
			BusinessDate: "20260314", ReceivedAt: at, AnsweredAt: at}
		for _, w := range []netswitch.Auth{batch, fresh, wide, wantMarker, settled} {
			got := marker
			if w.ID != "early" {
				if got, err = s.Auth(ctx, w.ID); err != nil {
					t.Fatal(err)
				}
			}
			if !sameAuth(got, w) {
				t.Errorf("%s read as\n%+v\nwant\n%+v", w.ID, got, w)
			}
		}
		// An interrupted record's reversal takes its values from detail.
		if err := s.AbandonAuth(ctx, "batch", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		ps, err := s.PendingReversals(ctx)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%d pending reversals, %v", len(ps), err)
		}
		p := ps[0].Auth
		if p.ID != "batch" || p.BankID != batch.BankID || p.Acquirer != batch.Acquirer || p.RRN != batch.RRN || p.Merchant != batch.Merchant ||
			p.LocalDate != batch.LocalDate || p.LocalTime != batch.LocalTime || p.Amount != batch.Amount || p.Token != batch.Token ||
			p.Terminal != batch.Terminal || p.STAN != batch.STAN || p.Transmission != batch.Transmission || string(p.SealedPAN) != string(batch.SealedPAN) {
			t.Fatalf("pending reversal %+v; want of %+v", p, batch)
		}
	})
}
