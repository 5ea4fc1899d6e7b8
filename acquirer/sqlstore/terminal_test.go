package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/fault"
)

// TestTerminalDay: charges are found by RRN or auth code at their
// terminal only; voids, completions and approved refunds are counted in
// the open batch per currency; closing it numbers it 1 and keeps its
// totals, leaves a pre-authorization not completed in the open batch,
// and the next close is 2; a refund of a charge of batch 1 counts in
// batch 2.
func TestTerminalDay(t *testing.T) {
	each(t, func(t *testing.T, open func() *sqlstore.Store) {
		ctx := context.Background()
		s := open()
		const term = "T0000001"
		mk := func(ref, stan string, fen int64, cur int, kind acquirer.Kind, auth string) acquirer.Charge {
			c := charge(ref, term, stan, fen)
			c.Currency, c.Kind, c.AuthCode = cur, kind, auth
			if kind == acquirer.KindPreAuth {
				c.ProcessingCode = acquirer.PreAuthProcessingCode
			}
			return c
		}
		for _, c := range []acquirer.Charge{
			mk("s1", "000001", 1000, 156, acquirer.KindSale, "A00001"),
			mk("s2", "000002", 2000, 156, acquirer.KindSale, "A00002"),
			mk("s3", "000003", 700, 840, acquirer.KindSale, "A00003"),
			mk("p1", "000004", 8000, 156, acquirer.KindPreAuth, "A00004"),
			mk("p2", "000005", 9000, 156, acquirer.KindPreAuth, "A00005"),
			charge("other", "T0000002", "000001", 50),
		} {
			if err := s.SaveCharge(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.FindCharge(ctx, term, "607309000002", ""); err != nil || c.Ref != "s2" {
			t.Errorf("by RRN: got %q, %v; want s2", c.Ref, err)
		}
		if c, err := s.FindCharge(ctx, term, "", "A00003"); err != nil || c.Ref != "s3" {
			t.Errorf("by auth code: got %q, %v; want s3", c.Ref, err)
		}
		notFound := fault.E(fault.NotFound, acquirer.CodeChargeNotFound, "")
		for _, q := range [][2]string{{"999999999999", ""}, {"", "NOPE00"}, {"", ""}} {
			if _, err := s.FindCharge(ctx, term, q[0], q[1]); !errors.Is(err, notFound) {
				t.Errorf("find %v: got %v, want charge_not_found", q, err)
			}
		}
		if _, err := s.FindCharge(ctx, "T0000002", "607309000002", ""); !errors.Is(err, notFound) {
			t.Errorf("another terminal's RRN: got %v, want charge_not_found", err)
		}

		now := time.Date(2026, 3, 14, 18, 0, 0, 0, time.UTC)
		if err := s.MarkVoided(ctx, "s2", now); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkCompleted(ctx, "p1", 6150); err != nil {
			t.Fatal(err)
		}
		parts, err := s.PlanRefund(ctx, "r1", []string{"s1"}, 300, now)
		if err != nil || len(parts) != 1 {
			t.Fatalf("plan: %v %v", parts, err)
		}
		if err := s.AnswerRefund(ctx, "r1", 0, "00", "R00001"); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Refunded(ctx, "s1"); err != nil || n != 300 {
			t.Errorf("refunded: got %d, %v; want 300", n, err)
		}
		// A voided charge has nothing left to refund; a completed
		// pre-authorization its final amount.
		if parts, err := s.PlanRefund(ctx, "r2", []string{"s2"}, 100, now); err != nil || len(parts) != 0 {
			t.Errorf("refund of a voided charge: got %v, %v; want nothing planned", parts, err)
		}
		if parts, err := s.PlanRefund(ctx, "r3", []string{"p1"}, 7000, now); err != nil || len(parts) != 1 || parts[0].Message.Amount != 6150 {
			t.Errorf("refund of a completed pre-authorization: got %v, %v; want 6150 planned", parts, err)
		}
		if err := s.AnswerRefund(ctx, "r3", 0, "05", ""); err != nil {
			t.Fatal(err)
		}

		want := []acquirer.Totals{
			{Currency: 156, Sales: acquirer.Line{Count: 1, Amount: 1000}, Completions: acquirer.Line{Count: 1, Amount: 6150},
				Refunds: acquirer.Line{Count: 1, Amount: 300}, Voids: acquirer.Line{Count: 1, Amount: 2000}, Net: 6850},
			{Currency: 840, Sales: acquirer.Line{Count: 1, Amount: 700}, Net: 700},
		}
		b, err := s.OpenBatch(ctx, term)
		if err != nil || b.Number != 0 || !reflect.DeepEqual(b.Totals, want) {
			t.Fatalf("open batch: got %+v, %v; want %+v", b, err, want)
		}
		closed, err := s.CloseBatch(ctx, term, now)
		if err != nil || closed.Number != 1 || !reflect.DeepEqual(closed.Totals, want) || !closed.ClosedAt.Equal(now) {
			t.Fatalf("close: got %+v, %v; want batch 1 with %+v", closed, err, want)
		}
		if c, _ := s.Charge(ctx, "s1"); c.Batch != 1 {
			t.Errorf("s1 in batch %d, want 1", c.Batch)
		}
		if c, _ := s.Charge(ctx, "p2"); c.Batch != 0 {
			t.Errorf("the pre-authorization not completed went to batch %d, want the open batch", c.Batch)
		}
		if b, err := s.OpenBatch(ctx, term); err != nil || len(b.Totals) != 0 {
			t.Errorf("open batch after the close: got %+v, %v; want empty", b, err)
		}
		if b, err := s.OpenBatch(ctx, "T0000002"); err != nil || len(b.Totals) != 1 || b.Totals[0].Sales.Count != 1 {
			t.Errorf("the other terminal's batch: got %+v, %v; want its sale, untouched", b, err)
		}

		if _, err := s.PlanRefund(ctx, "r4", []string{"s1"}, 200, now); err != nil {
			t.Fatal(err)
		}
		if err := s.AnswerRefund(ctx, "r4", 0, "00", "R00004"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkCompleted(ctx, "p2", 9000); err != nil {
			t.Fatal(err)
		}
		second, err := s.CloseBatch(ctx, term, now.Add(24*time.Hour))
		want2 := []acquirer.Totals{{Currency: 156, Completions: acquirer.Line{Count: 1, Amount: 9000}, Refunds: acquirer.Line{Count: 1, Amount: 200}, Net: 8800}}
		if err != nil || second.Number != 2 || !reflect.DeepEqual(second.Totals, want2) {
			t.Fatalf("second close: got %+v, %v; want batch 2 with %+v", second, err, want2)
		}
		list, err := open().Batches(ctx, term, 10)
		if err != nil || len(list) != 2 || list[0].Number != 2 || list[1].Number != 1 || !reflect.DeepEqual(list[1].Totals, want) {
			t.Errorf("batches: got %+v, %v; want 2 then 1 with their totals", list, err)
		}
	})
}

// TestReversalByID: a reversal recorded is found with its answer; an id
// never recorded is not.
func TestReversalByID(t *testing.T) {
	each(t, func(t *testing.T, open func() *sqlstore.Store) {
		ctx := context.Background()
		s := open()
		if _, ok, err := s.Reversal(ctx, "void|x"); ok || err != nil {
			t.Fatalf("unknown: got %v, %v; want none", ok, err)
		}
		at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
		if err := s.OweReversal(ctx, acquirer.Reversal{ID: "void|x", Message: []byte("0400"), OwedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReversalAnswered(ctx, "void|x", "00", at); err != nil {
			t.Fatal(err)
		}
		r, ok, err := s.Reversal(ctx, "void|x")
		if err != nil || !ok || r.Answered != "00" || string(r.Message) != "0400" || !r.OwedAt.Equal(at) {
			t.Errorf("got %+v, %v, %v; want answered 00", r, ok, err)
		}
	})
}
