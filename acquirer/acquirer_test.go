package acquirer_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/acquirer/sqlstore"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/money"
)

// network is a card network's acquirer port on loopback TCP that answers
// with answer (nil: no answer) and keeps what it got.
type network struct {
	addr string
	mu   sync.Mutex
	got  []*iso8583.Message
}

func startNetwork(t *testing.T, answer func(req *iso8583.Message) *iso8583.Message) *network {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &network{addr: ln.Addr().String()}
	srv := &isolink.Server{ShutdownGrace: time.Millisecond, Handler: func(_ context.Context, req *iso8583.Message) *iso8583.Message {
		n.mu.Lock()
		n.got = append(n.got, req)
		n.mu.Unlock()
		return answer(req)
	}}
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func (n *network) messages() []*iso8583.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*iso8583.Message(nil), n.got...)
}

func answerWith(rc iso8583.ResponseCode) func(*iso8583.Message) *iso8583.Message {
	return func(req *iso8583.Message) *iso8583.Message {
		resp, _ := iso8583.NewResponse(req, rc)
		if rc.Approved() && req.MTI == iso8583.AuthorizationRequest {
			_ = resp.SetString(iso8583.DEAuthID, "A1B2C3")
		}
		return resp
	}
}

var shop = acquirer.Merchant{Acquirer: "48021000", Terminal: "T0000001", ID: "898310054110001", Name: "TAPWALLET MART", City: "SHANGHAI",
	Country: "CN", MCC: "5411"}

// authorization is a kernel's 0100, stamped with the shop's profile and
// the next numbers of counters.
func authorization(t *testing.T, counters acquirer.Counters, fen int64) *iso8583.Message {
	t.Helper()
	m := iso8583.New(iso8583.AuthorizationRequest)
	now := time.Now()
	if err := errors.Join(m.SetString(iso8583.DEPAN, "6288010000000004"), m.SetString(iso8583.DEProcessingCode, "000000"),
		m.SetAmount(money.Fen(fen))); err != nil {
		t.Fatal(err)
	}
	m.SetLocalTime(now)
	stan, rrn, err := counters.Next(context.Background(), now, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := shop.Stamp(m, stan, rrn, now); err != nil {
		t.Fatal(err)
	}
	return m
}

func openStore(t *testing.T, dir string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newAcquirer(t *testing.T, addr string, s acquirer.Store, timeout time.Duration) *acquirer.Acquirer {
	t.Helper()
	link := acquirer.DialerTo(addr, timeout)
	t.Cleanup(func() { link.Close() })
	a, err := acquirer.New(context.Background(), link, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Timeout, a.ReversalTimeout, a.RetryWait = timeout, timeout, 10*time.Millisecond
	return a
}

func TestAuthorizeApproved(t *testing.T) {
	n := startNetwork(t, answerWith(iso8583.Approved))
	s := openStore(t, t.TempDir())
	a := newAcquirer(t, n.addr, s, 2*time.Second)
	req := authorization(t, s.Counters(shop.Terminal), 1234)
	res, err := a.Charge(context.Background(), "sale-1", req, s.Counters(shop.Terminal))
	if err != nil || !res.Approved() || res.AuthCode != "A1B2C3" {
		t.Fatalf("got %+v, %v; want approved with auth code A1B2C3", res, err)
	}
	c, err := s.Charge(context.Background(), "sale-1")
	if err != nil || c.Amount != 1234 || c.Terminal != "T0000001" || c.MCC != "5411" || c.MerchantName != shop.DE43() {
		t.Errorf("charge kept: got %+v, %v", c, err)
	}
	if owed, _ := s.OwedReversals(context.Background(), 10); len(owed) != 0 {
		t.Errorf("got %d reversals owed after an answer, want none", len(owed))
	}
}

// TestReversalOnTimeout: the network does not answer the 0100 in time;
// the acquirer reverses it (0400 naming it in DE90, with the terminal's
// next STAN), the network answers the reversal, nothing stays owed.
func TestReversalOnTimeout(t *testing.T) {
	n := startNetwork(t, func(req *iso8583.Message) *iso8583.Message {
		if req.MTI == iso8583.AuthorizationRequest {
			return nil // lost in the network
		}
		return answerWith(iso8583.Approved)(req)
	})
	s := openStore(t, t.TempDir())
	a := newAcquirer(t, n.addr, s, 300*time.Millisecond)
	counters := s.Counters(shop.Terminal)
	req := authorization(t, counters, 1234)
	res, err := a.Charge(context.Background(), "sale-1", req, counters)
	if !errors.Is(err, acquirer.ErrNoAnswer) || !errors.Is(err, isolink.ErrTimeout) || res.ReversalCode != iso8583.Approved {
		t.Fatalf("got %+v, %v; want no answer (timeout) and the reversal answered 00", res, err)
	}
	got := n.messages()
	if len(got) != 2 {
		t.Fatalf("the network got %d messages, want the 0100 and one 0400", len(got))
	}
	rev := got[1]
	stan, _ := rev.STAN()
	de90, _ := rev.String(iso8583.DEOriginal)
	origSTAN, _ := req.String(iso8583.DESTAN)
	if rev.MTI != iso8583.ReversalRequest || stan != 2 || !strings.HasPrefix(de90, "0100"+origSTAN) {
		t.Errorf("reversal: got %s STAN %v DE90 %s, want 0400 STAN 000002 naming 0100 %s", rev.MTI, stan, de90, origSTAN)
	}
	if owed, _ := s.OwedReversals(context.Background(), 10); len(owed) != 0 {
		t.Errorf("got %d reversals owed after the network answered, want none", len(owed))
	}
	if _, err := s.Charge(context.Background(), "sale-1"); err == nil {
		t.Error("an unanswered charge was kept as approved")
	}
}

// TestReversalOwedSurvivesRestart: neither the 0100 nor its reversal is
// answered (the network is gone); the reversal stays owed in the store.
// A new acquirer on the reopened store (a restart) sends it — as 0401,
// the same STAN and DE90 — before its next authorization, and it is owed
// no more.
func TestReversalOwedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	silent := startNetwork(t, func(*iso8583.Message) *iso8583.Message { return nil })
	s1, err := sqlstore.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	a1 := newAcquirer(t, silent.addr, s1, 200*time.Millisecond)
	a1.ReversalTries = 2
	req := authorization(t, s1.Counters(shop.Terminal), 500)
	res, err := a1.Authorize(context.Background(), req, s1.Counters(shop.Terminal))
	if !errors.Is(err, acquirer.ErrNoAnswer) || res.ReversalErr == nil {
		t.Fatalf("got %+v, %v; want no answer and the reversal unanswered", res, err)
	}
	first := silent.messages()
	if len(first) != 3 || first[1].MTI != iso8583.ReversalRequest || first[2].MTI != iso8583.ReversalRequestRepeat {
		t.Fatalf("the silent network got %d messages, want 0100, 0400, 0401", len(first))
	}
	s1.Close() // the process stops

	n := startNetwork(t, answerWith(iso8583.Approved))
	s2 := openStore(t, dir)
	owed, err := s2.OwedReversals(context.Background(), 10)
	if err != nil || len(owed) != 1 || owed[0].Tries != 2 {
		t.Fatalf("after the restart: got %+v, %v; want one reversal owed, tried twice", owed, err)
	}
	a2 := newAcquirer(t, n.addr, s2, 2*time.Second)
	next := authorization(t, s2.Counters(shop.Terminal), 700)
	if res, err := a2.Authorize(context.Background(), next, s2.Counters(shop.Terminal)); err != nil || !res.Approved() {
		t.Fatalf("next authorization: got %+v, %v", res, err)
	}
	got := n.messages()
	if len(got) != 2 || got[0].MTI != iso8583.ReversalRequestRepeat || got[1].MTI != iso8583.AuthorizationRequest {
		t.Fatalf("the network got %v, want the 0401 owed, then the 0100", mtis(got))
	}
	want, _ := first[1].String(iso8583.DEOriginal)
	de90, _ := got[0].String(iso8583.DEOriginal)
	s0, _ := first[1].STAN()
	sr, _ := got[0].STAN()
	if de90 != want || sr != s0 {
		t.Errorf("the reversal sent after the restart: DE90 %s STAN %v, want the one owed: %s STAN %v", de90, sr, want, s0)
	}
	if owed, _ := s2.OwedReversals(context.Background(), 10); len(owed) != 0 {
		t.Errorf("got %d reversals owed after the network answered, want none", len(owed))
	}
}

func mtis(ms []*iso8583.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.MTI))
	}
	return out
}

// TestNetworkDownSendsNothing: when the network cannot be reached nothing
// was sent, so nothing is reversed.
func TestNetworkDownSendsNothing(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	s := openStore(t, t.TempDir())
	a := newAcquirer(t, addr, s, time.Second)
	_, err := a.Authorize(context.Background(), authorization(t, s.Counters(shop.Terminal), 100), s.Counters(shop.Terminal))
	if !errors.Is(err, acquirer.ErrNetworkDown) {
		t.Fatalf("got %v, want ErrNetworkDown", err)
	}
	if owed, _ := s.OwedReversals(context.Background(), 10); len(owed) != 0 {
		t.Errorf("got %d reversals owed for a message never sent, want none", len(owed))
	}
}

// TestRefund: a refund spread over two charges sends one 0200 per charge
// (processing code 200000, DE90 naming the charge); a 91 leaves it to try
// again, and the second try sends the same messages (same STAN and DE7),
// not new ones; a refund beyond what is left covers only what is left.
func TestRefund(t *testing.T) {
	var mu sync.Mutex
	busy := true
	n := startNetwork(t, func(req *iso8583.Message) *iso8583.Message {
		mu.Lock()
		defer mu.Unlock()
		if req.MTI == iso8583.FinancialRequest && busy {
			busy = false
			return answerWith(iso8583.IssuerInoperative)(req)
		}
		return answerWith(iso8583.Approved)(req)
	})
	s := openStore(t, filepath.Join(t.TempDir(), "acq"))
	a := newAcquirer(t, n.addr, s, 2*time.Second)
	ctx := context.Background()
	counters := s.Counters(shop.Terminal)
	for i, fen := range []int64{300, 500} {
		if res, err := a.Charge(ctx, []string{"c1", "c2"}[i], authorization(t, counters, fen), counters); err != nil || !res.Approved() {
			t.Fatalf("charge: %+v %v", res, err)
		}
	}
	covered, err := a.Refund(ctx, "r1", []string{"c2", "c1"}, 600)
	if !errors.Is(err, fault.E(fault.Unavailable, acquirer.CodeRefundUnanswered, "")) || covered != 600 {
		t.Fatalf("first try: got %d, %v; want 600 planned and refund_unanswered (91)", covered, err)
	}
	if covered, err := a.Refund(ctx, "r1", []string{"c2", "c1"}, 600); err != nil || covered != 600 {
		t.Fatalf("second try: got %d, %v; want 600 given back", covered, err)
	}
	var refunds []*iso8583.Message
	for _, m := range n.messages() {
		if m.MTI == iso8583.FinancialRequest {
			refunds = append(refunds, m)
		}
	}
	if len(refunds) != 3 {
		t.Fatalf("the network got %d refunds, want 3 (c2 twice, c1 once)", len(refunds))
	}
	same := func(a, b *iso8583.Message, de int) bool { x, _ := a.String(de); y, _ := b.String(de); return x == y }
	if !same(refunds[0], refunds[1], iso8583.DESTAN) || !same(refunds[0], refunds[1], iso8583.DETransmission) {
		t.Error("the refund tried again is not the same message (STAN, DE7)")
	}
	pc, _ := refunds[0].String(iso8583.DEProcessingCode)
	amt0, _ := refunds[0].Number(iso8583.DEAmount)
	amt2, _ := refunds[2].Number(iso8583.DEAmount)
	if pc != acquirer.RefundProcessingCode || amt0 != 500 || amt2 != 100 {
		t.Errorf("refunds: got processing code %s, amounts %d and %d; want 200000, 500 of c2 then 100 of c1", pc, amt0, amt2)
	}
	c1, _ := s.Charge(ctx, "c1")
	if de90, _ := refunds[2].String(iso8583.DEOriginal); !strings.HasPrefix(de90, "0100"+c1.STAN+c1.Transmission) {
		t.Errorf("DE90 %s does not name c1 (%s %s)", de90, c1.STAN, c1.Transmission)
	}
	// c1 has 200 left, c2 nothing.
	if covered, err := a.Refund(ctx, "r2", []string{"c2", "c1"}, 1000); err != nil || covered != 200 {
		t.Errorf("refund beyond what is left: got %d, %v; want 200 covered", covered, err)
	}
}
