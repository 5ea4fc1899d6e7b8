package netswitch_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/acquirer"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/issuer"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// refundOf builds the 0200 refund of amount against an approved 0100.
func (e *env) refundOf(t testing.TB, orig *iso8583.Message, amount int64) *iso8583.Message {
	t.Helper()
	c, err := acquirer.ChargeOf("test", orig, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := acquirer.RefundRequest(c, acquirer.NewRefundMessage(amount, e.term.STAN.Next(), time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// credits returns a card account's posted credits at its issuer.
func (e *env) credits(t testing.TB, bankID, pan string) int64 {
	t.Helper()
	id, ok := e.hosts.Hosts[bankID].AccountFor(e.cardholder(t, pan).PAN)
	if !ok {
		t.Fatalf("no account for the card ending %s", pan[len(pan)-4:])
	}
	as, err := e.ledger.LookupAccounts(context.Background(), []string{id})
	if err != nil || len(as) != 1 {
		t.Fatalf("lookup account: %v", err)
	}
	return as[0].CreditsPosted
}

// TestRefundEndToEnd: a purchase, a partial refund credited to the card,
// the same refund sent again answered byte for byte with one credit, a
// refund beyond what is left declined 13, one of an unknown original 25,
// the rest refunded, then nothing more — over TCP, through the token
// service and the issuer's ledger, on SQLite and PostgreSQL.
func TestRefundEndToEnd(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		ph := e.phone(t, icbcDebit)
		c := ph.Cards[0]
		purchase := e.auth(t, c, 10000, nettest.Tap{})
		if got := rcOf(e.send(t, purchase)); got != "00" {
			t.Fatalf("purchase: got %s, want 00 (logs: %s)", got, e.logs)
		}
		before := e.credits(t, "icbc", icbcDebit)
		origID := netswitch.AuthID("T0000001", str(purchase, iso8583.DESTAN), str(purchase, iso8583.DETransmission))

		partial := e.refundOf(t, purchase, 3000)
		first := e.send(t, partial)
		if got := rcOf(first); got != "00" {
			t.Fatalf("partial refund: got %s, want 00 (logs: %s)", got, e.logs)
		}
		if got, _ := first.String(iso8583.DEPAN); got != c.Token {
			t.Errorf("got DE2 %s in the answer, want the token", got)
		}
		if code, ok := first.String(iso8583.DEAuthID); !ok || len(code) != 6 {
			t.Errorf("got auth code %q, want 6 characters", code)
		}
		if got := e.credits(t, "icbc", icbcDebit) - before; got != 3000 {
			t.Fatalf("card credited %d, want 3000", got)
		}

		t.Run("a duplicate gets the same answer and no second credit", func(t *testing.T) {
			again := e.send(t, partial)
			a, _ := first.Pack()
			b, _ := again.Pack()
			if !bytes.Equal(a, b) {
				t.Errorf("got answer %s, want the first one %s", again.Describe(), first.Describe())
			}
			repeat := partial.Clone()
			repeat.MTI = iso8583.FinancialRequestRepeat
			if got := rcOf(e.send(t, repeat)); got != "00" {
				t.Errorf("got %s for the 0201 repeat, want 00", got)
			}
			if got := e.credits(t, "icbc", icbcDebit) - before; got != 3000 {
				t.Errorf("card credited %d in all, want 3000 once", got)
			}
		})
		t.Run("the same identity asking for more is 94", func(t *testing.T) {
			clash := partial.Clone()
			_ = clash.SetNumber(iso8583.DEAmount, 3001)
			if got := rcOf(e.send(t, clash)); got != "94" {
				t.Errorf("got %s, want 94", got)
			}
		})
		t.Run("beyond what is left is 13", func(t *testing.T) {
			if got := rcOf(e.send(t, e.refundOf(t, purchase, 7001))); got != "13" {
				t.Errorf("got %s, want 13", got)
			}
			if got := e.credits(t, "icbc", icbcDebit) - before; got != 3000 {
				t.Errorf("card credited %d in all, want 3000", got)
			}
		})
		t.Run("an unknown original is 25", func(t *testing.T) {
			unknown := e.refundOf(t, purchase, 100)
			_ = unknown.SetString(iso8583.DEOriginal, netswitch.OriginalData("999999", str(purchase, iso8583.DETransmission), "48021000"))
			if got := rcOf(e.send(t, unknown)); got != "25" {
				t.Errorf("got %s, want 25", got)
			}
		})
		t.Run("another RRN is 25", func(t *testing.T) {
			other := e.refundOf(t, purchase, 100)
			_ = other.SetString(iso8583.DERRN, "000000000001")
			if got := rcOf(e.send(t, other)); got != "25" {
				t.Errorf("got %s, want 25", got)
			}
		})
		t.Run("the rest, then nothing more", func(t *testing.T) {
			if got := rcOf(e.send(t, e.refundOf(t, purchase, 7000))); got != "00" {
				t.Fatalf("got %s for the rest, want 00", got)
			}
			if got := rcOf(e.send(t, e.refundOf(t, purchase, 1))); got != "13" {
				t.Errorf("got %s for one fen more, want 13", got)
			}
			if got := e.credits(t, "icbc", icbcDebit) - before; got != 10000 {
				t.Errorf("card credited %d in all, want 10000", got)
			}
			total, err := e.store.Refunded(ctx, origID)
			if err != nil || total != 10000 {
				t.Errorf("got refunded total %d %v, want 10000", total, err)
			}
		})
		t.Run("the switch's record", func(t *testing.T) {
			rec, err := e.store.Refund(ctx, netswitch.AuthID("T0000001", str(partial, iso8583.DESTAN), str(partial, iso8583.DETransmission)))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Kind() != "refund" || rec.ResponseCode != "00" || rec.OriginalID != origID || rec.Amount != money.Fen(3000) || rec.PANLast4 != "0007" ||
				rec.BankID != "icbc" || rec.PhoneID != ph.Device.ID {
				t.Errorf("got record %s %s %s %d %s %s, want refund 00 of the purchase, 3000, 0007, icbc", rec.Kind(), rec.ResponseCode,
					rec.OriginalID, rec.Amount, rec.PANLast4, rec.BankID)
			}
			tr, err := e.ledger.LookupTransfer(ctx, issuer.RefundID(issuer.HoldID("icbc", rec.Transmission, rec.STAN, rec.Terminal)))
			if err != nil || tr.Amount != 3000 || tr.DebitAccountID != "settlement:icbc" || tr.Flags != 0 {
				t.Errorf("got issuer transfer %+v %v, want a posted credit of 3000 from settlement:icbc", tr, err)
			}
		})
	})
}

// TestRefundDeclines: what the switch refuses before the issuer, and a
// suspended token that still gets its money back.
func TestRefundDeclines(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		ph := e.phone(t, icbcDebit, ccbLow)
		purchase := e.auth(t, ph.Cards[0], 5000, nettest.Tap{})
		if got := rcOf(e.send(t, purchase)); got != "00" {
			t.Fatalf("purchase: got %s, want 00", got)
		}
		declined := e.auth(t, ph.Cards[1], 5000, nettest.Tap{})
		if got := rcOf(e.send(t, declined)); got != "51" {
			t.Fatalf("purchase over the balance: got %s, want 51", got)
		}
		tests := []struct {
			name string
			msg  func() *iso8583.Message
			want string
		}{
			{"processing code", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				_ = m.SetString(iso8583.DEProcessingCode, "000000")
				return m
			}, "12"},
			{"zero amount", func() *iso8583.Message { return e.refundOf(t, purchase, 0) }, "13"},
			{"other currency", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				_ = m.SetNumber(iso8583.DECurrency, 840)
				return m
			}, "13"},
			{"no DE90", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				m.Unset(iso8583.DEOriginal)
				return m
			}, "30"},
			{"DE90 of a reversal", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				v, _ := m.String(iso8583.DEOriginal)
				_ = m.SetString(iso8583.DEOriginal, "0800"+v[4:])
				return m
			}, "30"},
			{"another token", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				_ = m.SetString(iso8583.DEPAN, ph.Cards[1].Token)
				return m
			}, "25"},
			{"a declined original", func() *iso8583.Message { return e.refundOf(t, declined, 100) }, "25"},
			{"not a token", func() *iso8583.Message {
				m := e.refundOf(t, purchase, 100)
				_ = m.SetString(iso8583.DEPAN, icbcDebit)
				return m
			}, "14"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := rcOf(e.send(t, tt.msg())); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			})
		}
		t.Run("a suspended token is credited", func(t *testing.T) {
			before := e.credits(t, "icbc", icbcDebit)
			if err := e.tokens.Suspend(ctx, ph.Cards[0].Token, "test", "phone lost"); err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, e.auth(t, ph.Cards[0], 100, nettest.Tap{}))); got != "78" {
				t.Fatalf("a payment with the suspended token: got %s, want 78", got)
			}
			if got := rcOf(e.send(t, e.refundOf(t, purchase, 1200))); got != "00" {
				t.Fatalf("got %s, want 00 (logs: %s)", got, e.logs)
			}
			if got := e.credits(t, "icbc", icbcDebit) - before; got != 1200 {
				t.Errorf("card credited %d, want 1200", got)
			}
		})
		t.Run("a reversed original has nothing to refund", func(t *testing.T) {
			p := e.auth(t, ph.Cards[1], 500, nettest.Tap{})
			if got := rcOf(e.send(t, p)); got != "00" {
				t.Fatalf("purchase: got %s, want 00", got)
			}
			rev, err := e.term.Reversal(p, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, rev)); got != "00" {
				t.Fatalf("reversal: got %s, want 00", got)
			}
			if got := rcOf(e.send(t, e.refundOf(t, p, 100))); got != "13" {
				t.Errorf("got %s, want 13", got)
			}
		})
		t.Run("no PAN in the logs", func(t *testing.T) {
			if bytes.Contains([]byte(e.logs.String()), []byte(icbcDebit)) {
				t.Error("a log line holds the PAN")
			}
		})
	})
}

// TestIssuerRefundLimitHoldsWithoutTheSwitch: the issuer counts refunds
// against the original itself, so a refund the switch let through (two
// switches, a lost record) still cannot credit more than the purchase.
func TestIssuerRefundLimitHoldsWithoutTheSwitch(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		ph := e.phone(t, icbcDebit)
		purchase := e.auth(t, ph.Cards[0], 2000, nettest.Tap{})
		if got := rcOf(e.send(t, purchase)); got != "00" {
			t.Fatalf("purchase: got %s, want 00", got)
		}
		host := e.hosts.Hosts["icbc"]
		toIssuer := func(amount int64) *iso8583.Message {
			m := e.refundOf(t, purchase, amount)
			_ = m.SetString(iso8583.DEPAN, icbcDebit)
			return m
		}
		for _, tt := range []struct {
			name   string
			amount int64
			want   string
		}{
			{"first", 1500, "00"},
			{"too much", 501, "13"},
			{"the rest", 500, "00"},
			{"more", 1, "13"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := rcOf(host.Handle(ctx, toIssuer(tt.amount))); got != tt.want {
					t.Errorf("got %s, want %s", got, tt.want)
				}
			})
		}
		hold, err := e.holdOf(t, "icbc", purchase)
		if err != nil || hold.Status != ledger.StatusPending {
			t.Errorf("got the purchase's hold %s %v, want still pending (refunds do not touch it)", hold.Status, err)
		}
	})
}

// TestRefundIssuerTimeout: an issuer that answers a refund too late gets
// it credited once all the same; the acquirer hears 91, the switch asks
// the issuer again, records its answer, and the acquirer's repeat gets it.
func TestRefundIssuerTimeout(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	delay := 400 * time.Millisecond
	var slowed atomic.Int32
	e := newEnv(t, db, func(cfg *netswitch.Config) {
		real := cfg.Issuers["icbc"]
		c, err := isolink.Dial(context.Background(), real, isolink.Options{})
		if err != nil {
			t.Fatal(err)
		}
		addr, stop := serve(t, func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
			if req.MTI == iso8583.FinancialRequest && slowed.Add(1) == 1 {
				time.Sleep(delay)
			}
			resp, err := c.Send(ctx, req)
			if err != nil {
				return nil
			}
			return resp
		})
		t.Cleanup(func() { stop(); c.Close() })
		cfg.Issuers = copyMap(cfg.Issuers)
		cfg.Issuers["icbc"] = addr
		cfg.IssuerTimeout = 100 * time.Millisecond
	})
	ctx := context.Background()
	ph := e.phone(t, icbcDebit)
	purchase := e.auth(t, ph.Cards[0], 4000, nettest.Tap{})
	if got := rcOf(e.send(t, purchase)); got != "00" {
		t.Fatalf("purchase: got %s, want 00 (logs: %s)", got, e.logs)
	}
	before := e.credits(t, "icbc", icbcDebit)
	refund := e.refundOf(t, purchase, 1500)
	if got := rcOf(e.send(t, refund)); got != "91" {
		t.Fatalf("got %s, want 91 from a slow issuer", got)
	}
	id := netswitch.AuthID("T0000001", str(refund, iso8583.DESTAN), str(refund, iso8583.DETransmission))
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := e.store.Refund(ctx, id)
		if err == nil {
			if rec.ResponseCode != "00" {
				t.Fatalf("got the recorded answer %s, want 00", rec.ResponseCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record of the refund 10 s after the timeout (logs: %s)", e.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := rcOf(e.send(t, refund)); got != "00" {
		t.Errorf("got %s for the acquirer's repeat, want 00", got)
	}
	if got := e.credits(t, "icbc", icbcDebit) - before; got != 1500 {
		t.Errorf("card credited %d, want 1500 once", got)
	}
}

// BenchmarkRefund measures refunds end to end over TCP, one after another:
// the switch's checks and record, the token service's credit check, the
// issuer's count and ledger credit. Each refunds 1 fen of one purchase.
func BenchmarkRefund(b *testing.B) {
	e := newEnv(b, sqldbtest.OpenSQLite(b))
	ph := e.phone(b, bocDebit)
	purchase := e.auth(b, ph.Cards[0], 1_000_000, nettest.Tap{})
	if got := rcOf(e.send(b, purchase)); got != "00" {
		b.Fatalf("purchase: got %s, want 00", got)
	}
	msgs := make([]*iso8583.Message, b.N)
	for i := range msgs {
		msgs[i] = e.refundOf(b, purchase, 1)
	}
	b.ResetTimer()
	for i := range b.N {
		if got := rcOf(e.send(b, msgs[i])); got != "00" {
			b.Fatalf("refund %d: got %s", i, got)
		}
	}
}
