package acquirer_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
)

// TestVoidOwedUntilAnswered: a void the network does not answer stays
// owed (the charge not voided yet); voiding again sends the same 0401 —
// same STAN, naming the sale — and once answered 00 the charge is voided;
// a third void is refused as voided already, and nothing more is sent.
func TestVoidOwedUntilAnswered(t *testing.T) {
	var up atomic.Bool
	n := startNetwork(t, func(req *iso8583.Message) *iso8583.Message {
		if req.MTI == iso8583.AuthorizationRequest || up.Load() {
			return answerWith(iso8583.Approved)(req)
		}
		return nil
	})
	s := openStore(t, filepath.Join(t.TempDir(), "acq"))
	a := newAcquirer(t, n.addr, s, 150*time.Millisecond)
	a.ReversalTries = 1
	ctx := context.Background()
	counters := s.Counters(shop.Terminal)
	req := authorization(t, counters, 2000)
	rrn, _ := req.String(iso8583.DERRN)
	if res, err := a.Charge(ctx, rrn, req, counters); err != nil || !res.Approved() {
		t.Fatalf("charge: %+v %v", res, err)
	}
	c, err := s.FindCharge(ctx, shop.Terminal, rrn, "")
	if err != nil || c.AuthCode != "A1B2C3" || c.Kind != acquirer.KindSale {
		t.Fatalf("the charge kept: %+v %v", c, err)
	}
	if _, err := a.Void(ctx, c, counters); !errors.Is(err, fault.E(fault.Unavailable, acquirer.CodeNoAnswer, "")) {
		t.Fatalf("void unanswered: got %v, want no_answer", err)
	}
	if c, _ = s.Charge(ctx, rrn); !c.VoidedAt.IsZero() {
		t.Fatal("a void not answered marked the charge voided")
	}
	up.Store(true)
	ans, err := a.Void(ctx, c, counters)
	if err != nil || !ans.Code.Approved() {
		t.Fatalf("void again: got %+v, %v; want 00", ans, err)
	}
	if c, _ = s.Charge(ctx, rrn); c.VoidedAt.IsZero() {
		t.Fatal("an answered void left the charge not voided")
	}
	if _, err := a.Void(ctx, c, counters); !errors.Is(err, fault.E(fault.Conflict, acquirer.CodeVoided, "")) {
		t.Errorf("third void: got %v, want charge_voided", err)
	}
	var revs []*iso8583.Message
	for _, m := range n.messages() {
		if m.MTI.Class() == '4' {
			revs = append(revs, m)
		}
	}
	if len(revs) != 2 || revs[0].MTI != iso8583.ReversalRequest || revs[1].MTI != iso8583.ReversalRequestRepeat {
		t.Fatalf("the network got %d reversals, want an 0400 then its 0401", len(revs))
	}
	s0, _ := revs[0].String(iso8583.DESTAN)
	s1, _ := revs[1].String(iso8583.DESTAN)
	de90, _ := revs[1].String(iso8583.DEOriginal)
	if s0 != s1 || !strings.HasPrefix(de90, "0100"+c.STAN+c.Transmission) || revs[1].Has(iso8583.DEReplacement) {
		t.Errorf("the repeat: STAN %s then %s, DE90 %s; want the same STAN, naming the sale, no DE95", s0, s1, de90)
	}
}

// TestCompleteAndRefundRules: a completion below the pre-authorization
// sends a partial reversal carrying the final amount in DE95; at the
// amount held it sends nothing; above it, or of a sale, it is refused
// before anything is sent. A refund above what is left is refused before
// anything is sent; a completed pre-authorization refunds its final
// amount.
func TestCompleteAndRefundRules(t *testing.T) {
	n := startNetwork(t, answerWith(iso8583.Approved))
	s := openStore(t, filepath.Join(t.TempDir(), "acq"))
	a := newAcquirer(t, n.addr, s, 2*time.Second)
	ctx := context.Background()
	counters := s.Counters(shop.Terminal)
	charge := func(fen int64, pc string) acquirer.Charge {
		t.Helper()
		req := authorization(t, counters, fen)
		_ = req.SetString(iso8583.DEProcessingCode, pc)
		rrn, _ := req.String(iso8583.DERRN)
		if res, err := a.Charge(ctx, rrn, req, counters); err != nil || !res.Approved() {
			t.Fatalf("charge: %+v %v", res, err)
		}
		c, err := s.Charge(ctx, rrn)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sent := func() int { return len(n.messages()) }

	pre := charge(8000, acquirer.PreAuthProcessingCode)
	if pre.Kind != acquirer.KindPreAuth {
		t.Fatalf("got kind %s, want preauth", pre.Kind)
	}
	sale := charge(1000, "000000")
	before := sent()
	if _, err := a.Complete(ctx, pre, 8001, counters); !errors.Is(err, fault.E(fault.Invalid, acquirer.CodeCompletionExceeds, "")) {
		t.Errorf("above the hold: got %v, want completion_exceeds_preauth", err)
	}
	if _, err := a.Complete(ctx, sale, 500, counters); !errors.Is(err, fault.E(fault.Invalid, acquirer.CodeNotPreAuth, "")) {
		t.Errorf("a sale: got %v, want not_preauth", err)
	}
	if _, err := a.RefundCharge(ctx, pre, "r0", 100); !errors.Is(err, fault.E(fault.Conflict, acquirer.CodeNotCompleted, "")) {
		t.Errorf("refund of a pre-authorization not completed: got %v, want preauth_not_completed", err)
	}
	if _, err := a.RefundCharge(ctx, sale, "r1", 1001); !errors.Is(err, fault.E(fault.Invalid, acquirer.CodeRefundExceeds, "")) {
		t.Errorf("refund above the sale: got %v, want refund_exceeds_charge", err)
	}
	if got := sent(); got != before {
		t.Fatalf("refused operations sent %d messages, want none", got-before)
	}
	if ans, err := a.Complete(ctx, pre, 6150, counters); err != nil || !ans.Code.Approved() {
		t.Fatalf("completion: %+v %v", ans, err)
	}
	last := n.messages()[sent()-1]
	de95, _ := last.String(iso8583.DEReplacement)
	pc, _ := last.String(iso8583.DEProcessingCode)
	if last.MTI != iso8583.ReversalRequest || !strings.HasPrefix(de95, "000000006150") || pc != acquirer.PreAuthProcessingCode {
		t.Errorf("completion message: got %s DE3 %s DE95 %q, want 0400 DE3 030000 with DE95 000000006150…", last.MTI, pc, de95)
	}
	if pre, _ = s.Charge(ctx, pre.Ref); pre.Completed != 6150 {
		t.Errorf("completed %d, want 6150", pre.Completed)
	}
	if _, err := a.Complete(ctx, pre, 7000, counters); !errors.Is(err, fault.E(fault.Conflict, acquirer.CodeCompleted, "")) {
		t.Errorf("completing again for another amount: got %v, want preauth_completed", err)
	}
	if _, err := a.RefundCharge(ctx, pre, "r2", 6151); !errors.Is(err, fault.E(fault.Invalid, acquirer.CodeRefundExceeds, "")) {
		t.Errorf("refund above the completion: got %v, want refund_exceeds_charge", err)
	}
	if ans, err := a.RefundCharge(ctx, pre, "r3", 6150); err != nil || !ans.Code.Approved() {
		t.Errorf("refund of the completion: got %+v, %v; want 00", ans, err)
	}

	full := charge(3000, acquirer.PreAuthProcessingCode)
	before = sent()
	if ans, err := a.Complete(ctx, full, 3000, counters); err != nil || !ans.Code.Approved() || sent() != before {
		t.Errorf("completion at the hold: got %+v, %v, %d messages; want 00 and nothing sent", ans, err, sent()-before)
	}
}
