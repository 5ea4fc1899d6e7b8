package netswitch_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	netstore "github.com/tapwallet/tapwallet/netswitch/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
)

// secondSwitch starts another switch on the env's database — its own
// store (connections, batcher) on the same SQLite file or PostgreSQL
// schema, as a second network process would hold it — and returns an
// acquirer connection to it.
func (e *env) secondSwitch(t *testing.T, cfg netswitch.Config) *isolink.Client {
	t.Helper()
	st, err := netstore.OpenBeside(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	_, addr, stop := startSwitch(t, cfg)
	t.Cleanup(stop)
	c, err := isolink.Dial(context.Background(), addr, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tokenOf parses a token number of the tests' phones.
func tokenOf(t *testing.T, number string) card.Token {
	t.Helper()
	tok, err := card.ParseToken(number)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// countingTokens counts the token checks a switch asks for.
type countingTokens struct {
	tsp.TokenCheck
	n *atomic.Int64
}

func (c countingTokens) Authorize(ctx context.Context, r tsp.AuthRequest) (tsp.AuthResult, error) {
	c.n.Add(1)
	return c.TokenCheck.Authorize(ctx, r)
}

func sendTo(t *testing.T, c *isolink.Client, m *iso8583.Message) *iso8583.Message {
	t.Helper()
	resp, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send %s: %v", m.MTI, err)
	}
	return resp
}

// TestTwoSwitchesDecideOnce: two switches on one store (one SQLite file;
// one PostgreSQL schema) decide each message once — a reversal reaching
// one declines its original at the other, a retransmission reaching the
// other gets the first answer byte for byte, and a reversal reaching one
// while the other is still asking the issuer reverses what it approves.
func TestTwoSwitchesDecideOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		var asked atomic.Int64 // token checks the second switch asked for
		bcfg := e.cfg
		bcfg.Tokens = countingTokens{e.tokens, &asked}
		b := e.secondSwitch(t, bcfg)
		c := e.phone(t, icbcCredit).Cards[0]

		t.Run("reversal at one, original at the other", func(t *testing.T) {
			req := e.auth(t, c, 4000, nettest.Tap{})
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if rc := rcOf(e.send(t, rev)); rc != "25" {
				t.Fatalf("reversal of an original nobody saw: got %s, want 25", rc)
			}
			if rc := rcOf(sendTo(t, b, req)); rc != "05" {
				t.Fatalf("original at the other switch after its reversal: got %s, want 05 (logs: %s)", rc, e.logs)
			}

			if hold, err := e.holdOf(t, "icbc", req); err == nil && hold.Status == ledger.StatusPending {
				t.Fatalf("the issuer holds %d for an original reversed before it came", hold.Amount)
			}
			// Its retransmission, at either switch, gets the same 05.
			for _, send := range []func() *iso8583.Message{func() *iso8583.Message { return e.send(t, req) }, func() *iso8583.Message { return sendTo(t, b, req) }} {
				if rc := rcOf(send()); rc != "05" {
					t.Fatalf("retransmission: got %s, want 05", rc)
				}
			}
			rec, err := e.store.Auth(context.Background(), netswitch.AuthID(str(req, iso8583.DETerminal), str(req, iso8583.DESTAN), str(req, iso8583.DETransmission)))
			if err != nil || rec.Early() || rec.Reason != netswitch.ReasonReversedBeforeArrival || rec.Amount != money.Fen(4000) {
				t.Fatalf("record: got %+v (%v), want the original's record declined reversed_before_arrival", brief(rec), err)
			}
		})

		t.Run("retransmission at the other", func(t *testing.T) {
			req := e.auth(t, c, 1500, nettest.Tap{})
			first := e.send(t, req)
			if rcOf(first) != "00" {
				t.Fatalf("got %s, want 00", rcOf(first))
			}
			// Sent as a repeat (0101), it is answered from the store without
			// the token service.
			repeat := req.Clone()
			repeat.MTI = iso8583.AuthorizationRequestRepeat
			before := asked.Load()
			again := sendTo(t, b, repeat)
			if n := asked.Load() - before; n != 0 {
				t.Errorf("the repeat at the other switch went to the token service %d times, want 0 (its replayed cryptogram would raise an alert)", n)
			}
			if rcOf(again) != "00" || str(again, iso8583.DEAuthID) != str(first, iso8583.DEAuthID) {
				t.Fatalf("repeat at the other switch: got %s, want the first approval", again.Describe())
			}
			p1, _ := first.Pack()
			again = sendTo(t, b, req)
			if p2, _ := again.Pack(); !bytes.Equal(p1, p2) {
				t.Fatalf("retransmission at the other switch: got %s, want the first answer byte for byte", again.Describe())
			}
			other := req.Clone()
			_ = other.SetNumber(iso8583.DEAmount, 1600)
			if rc := rcOf(sendTo(t, b, other)); rc != "94" {
				t.Fatalf("another message under the same identity at the other switch: got %s, want 94", rc)
			}
			hold, err := e.holdOf(t, "icbc", req)
			if err != nil || hold.Amount != 1500 || hold.Status != ledger.StatusPending {
				t.Fatalf("got hold %+v (%v), want one pending hold of 1500", hold, err)
			}
		})

		t.Run("refunds of one original at both switches", func(t *testing.T) {
			// Two refunds of 700 of a purchase of 1000, one at each switch at
			// the same moment: the network decides what is left of the
			// original once (its store), so one is credited and the other
			// declined 13 by the network itself — not left to the issuer's
			// own limit.
			ctx := context.Background()
			ch := e.phone(t, icbcDebit).Cards[0]
			for round := range 3 {
				purchase := e.auth(t, ch, 1000, nettest.Tap{})
				if rc := rcOf(e.send(t, purchase)); rc != "00" {
					t.Fatalf("purchase: got %s", rc)
				}
				before := e.credits(t, "icbc", icbcDebit)
				ra, rb := e.refundOf(t, purchase, 700), e.refundOf(t, purchase, 700)
				got := make(chan *iso8583.Message, 2)
				go func() { got <- e.send(t, ra) }()
				go func() { got <- sendTo(t, b, rb) }()
				a1, a2 := <-got, <-got
				if codes := rcOf(a1) + rcOf(a2); codes != "0013" && codes != "1300" {
					t.Fatalf("round %d: got %s and %s, want one 00 and one 13", round, rcOf(a1), rcOf(a2))
				}
				declined := a1
				if rcOf(a1) == "00" {
					declined = a2
				}
				id := netswitch.AuthID(str(declined, iso8583.DETerminal), str(declined, iso8583.DESTAN), str(declined, iso8583.DETransmission))
				rec, err := e.store.Refund(ctx, id)
				if err != nil || rec.Reason != netswitch.ReasonExceedsOriginal {
					t.Fatalf("round %d: declined refund's record %+v (%v): want reason %s, decided by the network", round, rec, err, netswitch.ReasonExceedsOriginal)
				}
				if n := e.credits(t, "icbc", icbcDebit) - before; n != 700 {
					t.Fatalf("round %d: the card was credited %d, want 700 once", round, n)
				}
			}
		})

		t.Run("reversal of an original a stopped switch left undecided", func(t *testing.T) {
			// What a switch killed while asking the issuer leaves: a record
			// being decided. A reversal at the other switch waits for it
			// (IssuerTimeout + 1 s), then settles it and answers 00.
			req := e.auth(t, c, 700, nettest.Tap{})
			id := netswitch.AuthID(str(req, iso8583.DETerminal), str(req, iso8583.DESTAN), str(req, iso8583.DETransmission))
			sealed, err := e.keys.Seal([]byte(icbcCredit), []byte("switch:"+id))
			if err != nil {
				t.Fatal(err)
			}
			left := netswitch.Auth{ID: id, Digest: "left", Terminal: str(req, iso8583.DETerminal), STAN: str(req, iso8583.DESTAN),
				Transmission: str(req, iso8583.DETransmission), Token: tokenOf(t, c.Token), BankID: "icbc", Amount: money.Fen(700), ClearAmount: 700,
				SealedPAN: sealed, BusinessDate: time.Now().UTC().Format("20060102"), ReceivedAt: time.Now()}
			if err := e.store.SaveAuth(context.Background(), left); err != nil {
				t.Fatal(err)
			}
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if rc := rcOf(sendTo(t, b, rev)); rc != "00" {
				t.Fatalf("reversal: got %s, want 00", rc)
			}
			if waited := time.Since(start); waited < e.cfg.IssuerTimeout {
				t.Errorf("answered after %v: want it to wait for the other switch first", waited)
			}
			rec, _ := e.store.Auth(context.Background(), id)
			if rec.Reason != netswitch.ReasonInterrupted || rec.Captured() {
				t.Fatalf("record %+v: want settled 96 interrupted, nothing to clear", brief(rec))
			}
			eventually(t, func() (bool, string) {
				q, err := e.store.PendingReversals(context.Background())
				return err == nil && len(q) == 0, "the settled record's reversal is still queued"
			})
		})

		t.Run("reversal at one while the other asks the issuer", func(t *testing.T) {
			// The first switch reaches icbc through a host that answers late.
			slow := e.cfg
			slow.Issuers = map[string]string{}
			for id, addr := range e.issuers {
				slow.Issuers[id] = addr
			}
			real, err := isolink.Dial(context.Background(), e.issuers["icbc"], isolink.Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer real.Close()
			addr, stop := serve(t, func(ctx context.Context, m *iso8583.Message) *iso8583.Message {
				time.Sleep(400 * time.Millisecond)
				resp, err := real.Send(ctx, m)
				if err != nil {
					return nil
				}
				return resp
			})
			defer stop()
			slow.Issuers["icbc"] = addr
			a := e.secondSwitch(t, slow)

			req := e.auth(t, c, 2500, nettest.Tap{})
			answered := make(chan *iso8583.Message, 1)
			go func() { resp, _ := a.Send(context.Background(), req); answered <- resp }()
			time.Sleep(100 * time.Millisecond) // the slow switch has stored it and waits for the issuer
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if rc := rcOf(sendTo(t, b, rev)); rc != "00" {
				t.Fatalf("reversal while the other switch decides: got %s, want 00", rc)
			}
			if resp := <-answered; resp == nil || rcOf(resp) != "00" {
				t.Fatalf("the original: got %v, want its approval (the reversal waited for it)", resp)
			}
			e.waitHold(t, req, ledger.StatusVoided)
			rec, _ := e.store.Auth(context.Background(), netswitch.AuthID(str(req, iso8583.DETerminal), str(req, iso8583.DESTAN), str(req, iso8583.DETransmission)))
			if rec.Captured() {
				t.Fatalf("record %+v still captured after its reversal", brief(rec))
			}
		})
	})
}
