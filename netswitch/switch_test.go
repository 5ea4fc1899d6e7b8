package netswitch_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

func TestApprovedEndToEnd(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ph := e.phone(t, icbcDebit)
		c := ph.Cards[0]
		req := e.auth(t, c, 12345, nettest.Tap{})
		resp := e.send(t, req)
		if got := rcOf(resp); got != "00" {
			t.Fatalf("got response code %s, want 00 (logs: %s)", got, e.logs)
		}
		if got, _ := resp.String(iso8583.DEPAN); got != c.Token {
			t.Errorf("got DE2 %s, want the token", got)
		}
		if code, ok := resp.String(iso8583.DEAuthID); !ok || len(code) != 6 {
			t.Errorf("got auth code %q, want 6 characters", code)
		}
		icc, _ := resp.Bytes(iso8583.DEICC)
		tags, err := netswitch.ChipData(icc)
		if err != nil {
			t.Fatalf("answer's DE55: %v", err)
		}
		arpc := tags[qpboc.TagIssuerAuth]
		if len(arpc) != 10 || !bytes.Equal(arpc[8:], []byte("00")) {
			t.Fatalf("got tag 91 of %d bytes, want ARPC(8) + ARC 00", len(arpc))
		}
		sent, _ := req.Bytes(iso8583.DEICC)
		reqTags, _ := netswitch.ChipData(sent)
		want, _ := emv.ARPCMethod1(emv.TDES, lastKey(t, c), reqTags[qpboc.TagCryptogram], []byte("00"))
		if !bytes.Equal(arpc[:8], want) {
			t.Errorf("got ARPC %X, want %X", arpc[:8], want)
		}
		hold, err := e.holdOf(t, "icbc", req)
		if err != nil {
			t.Fatalf("no hold at the issuer: %v", err)
		}
		if hold.Amount != 12345 || hold.Status != ledger.StatusPending {
			t.Errorf("got hold %d %s, want 12345 pending", hold.Amount, hold.Status)
		}
		rec, err := e.store.Auth(context.Background(), netswitch.AuthID("T0000001", str(req, iso8583.DESTAN), str(req, iso8583.DETransmission)))
		if err != nil {
			t.Fatal(err)
		}
		if rec.ResponseCode != "00" || rec.BankID != "icbc" || rec.PANLast4 != "0007" || rec.Amount != money.Fen(12345) || rec.PhoneID != ph.Device.ID {
			t.Errorf("got record %s %s %s %d %s, want 00 icbc 0007 12345 and the phone", rec.ResponseCode, rec.BankID, rec.PANLast4, rec.Amount, rec.PhoneID)
		}
		if strings.Contains(e.logs.String(), icbcDebit) {
			t.Error("a log line holds the PAN")
		}
	})
}

func str(m *iso8583.Message, de int) string {
	v, _ := m.String(de)
	return v
}

// lastKey derives again the limited-use key the card used last: the
// simulated phone gave its key away, so ask the token service's deriver.
func lastKey(t *testing.T, c *nettest.Card) []byte {
	t.Helper()
	k := c.LastKey()
	if k == nil {
		t.Fatal("the card has used no key")
	}
	return k
}

func TestDeclinesEndToEnd(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		ph := e.phone(t, icbcDebit, ccbLow, bocDebit)
		other := e.phone(t, icbcDebit)
		debit, low, boc := ph.Cards[0], ph.Cards[1], ph.Cards[2]

		// A first payment, so that counters and keys have a history.
		if rc := rcOf(e.send(t, e.auth(t, debit, 100, nettest.Tap{}))); rc != "00" {
			t.Fatalf("got %s for the first payment, want 00", rc)
		}
		replay := e.auth(t, debit, 100, nettest.Tap{})
		if rc := rcOf(e.send(t, replay)); rc != "00" {
			t.Fatalf("got %s for the second payment, want 00", rc)
		}

		tests := []struct {
			name string
			msg  func(t *testing.T) *iso8583.Message
			rc   string
		}{
			{"insufficient funds", func(t *testing.T) *iso8583.Message { return e.auth(t, low, 2000, nettest.Tap{}) }, "51"},
			{"replayed cryptogram", func(t *testing.T) *iso8583.Message {
				m := replay.Clone()
				_ = m.SetSTAN(e.term.STAN.Next())
				m.SetTransmissionTime(time.Now())
				return m
			}, "59"},
			{"reused limited-use key", func(t *testing.T) *iso8583.Message {
				// A genuine second cryptogram with a used key is a cloned
				// phone: the token is suspended (tsp.DeclineCloned), so the
				// card used here is not used again below.
				return e.auth(t, low, 100, nettest.Tap{ReuseLastKey: true})
			}, "59"},
			{"counter far ahead", func(t *testing.T) *iso8583.Message { return e.auth(t, debit, 100, nettest.Tap{ATC: 5000}) }, "59"},
			{"wrong cryptogram", func(t *testing.T) *iso8583.Message { return e.auth(t, boc, 100, nettest.Tap{BadCrypto: true}) }, "88"},
			{"key never issued", func(t *testing.T) *iso8583.Message { return e.auth(t, boc, 100, nettest.Tap{KeyIndex: 999}) }, "88"},
			{"another phone's keys", func(t *testing.T) *iso8583.Message {
				// The other phone's card taps, but names this phone's token.
				now := time.Now()
				tags, err := other.Cards[0].Answer(nettest.TerminalData(100, now), nettest.Tap{KeyIndex: 9, ATC: 0x40})
				if err != nil {
					t.Fatal(err)
				}
				m, err := e.term.Authorization(debit.Token, debit.Expiry, 100, tags, now)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}, "88"},
			{"no fingerprint", func(t *testing.T) *iso8583.Message { return e.auth(t, boc, 100, nettest.Tap{NoCDCVM: true}) }, "55"},
			{"not a contactless tap", func(t *testing.T) *iso8583.Message {
				m := e.auth(t, boc, 100, nettest.Tap{})
				_ = m.SetString(iso8583.DEPOSEntryMode, "051")
				return m
			}, "62"},
			{"amount differs from the chip's", func(t *testing.T) *iso8583.Message {
				m := e.auth(t, boc, 100, nettest.Tap{})
				_ = m.SetNumber(iso8583.DEAmount, 101)
				return m
			}, "13"},
			{"unknown token range", func(t *testing.T) *iso8583.Message {
				m := e.auth(t, boc, 100, nettest.Tap{})
				_ = m.SetString(iso8583.DEPAN, "6288990000000004")
				return m
			}, "14"},
			{"unknown token", func(t *testing.T) *iso8583.Message {
				m := e.auth(t, boc, 100, nettest.Tap{})
				tok := []byte(boc.Token)
				tok[10] = '0' + (tok[10]-'0'+1)%10
				_ = m.SetString(iso8583.DEPAN, string(tok))
				return m
			}, "14"},
			{"refund processing code", func(t *testing.T) *iso8583.Message {
				m := e.auth(t, boc, 100, nettest.Tap{})
				_ = m.SetString(iso8583.DEProcessingCode, "200000")
				return m
			}, "12"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp := e.send(t, tc.msg(t))
				if got := rcOf(resp); got != tc.rc {
					t.Fatalf("got response code %s, want %s", got, tc.rc)
				}
				if resp.Has(iso8583.DEAuthID) {
					t.Error("a decline carries an auth code")
				}
			})
		}

		t.Run("suspended token", func(t *testing.T) {
			if err := e.tokens.Suspend(ctx, boc.Token, "test", "phone lost"); err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, e.auth(t, boc, 100, nettest.Tap{}))); got != "78" {
				t.Fatalf("got %s, want 78", got)
			}
			if err := e.tokens.Resume(ctx, boc.Token, "test", "phone found"); err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, e.auth(t, boc, 100, nettest.Tap{}))); got != "00" {
				t.Fatalf("got %s after resuming, want 00", got)
			}
		})
		t.Run("deleted token", func(t *testing.T) {
			if err := e.tokens.RemoveCard(ctx, ph.Device, low.Token, "test"); err != nil {
				t.Fatal(err)
			}
			if got := rcOf(e.send(t, e.auth(t, low, 100, nettest.Tap{}))); got != "14" {
				t.Fatalf("got %s, want 14", got)
			}
		})
	})
}

func TestDuplicateGetsTheSameAnswer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		c := e.phone(t, ccbDebit).Cards[0]
		req := e.auth(t, c, 500, nettest.Tap{})
		first := e.send(t, req)
		if rcOf(first) != "00" {
			t.Fatalf("got %s, want 00", rcOf(first))
		}
		want, _ := first.Pack()
		t.Run("repeat", func(t *testing.T) {
			again := e.send(t, req)
			if got, _ := again.Pack(); !bytes.Equal(got, want) {
				t.Errorf("got a different answer to the duplicate: %s, want %s", again, first)
			}
		})
		t.Run("0101 repeat", func(t *testing.T) {
			r := req.Clone()
			r.MTI = iso8583.AuthorizationRequestRepeat
			again := e.send(t, r)
			if rcOf(again) != "00" || str(again, iso8583.DEAuthID) != str(first, iso8583.DEAuthID) {
				t.Errorf("got %s, want the first answer", again)
			}
		})
		t.Run("same identity, other amount", func(t *testing.T) {
			r := req.Clone()
			_ = r.SetNumber(iso8583.DEAmount, 501)
			if got := rcOf(e.send(t, r)); got != "94" {
				t.Errorf("got %s, want 94", got)
			}
		})
		t.Run("one hold", func(t *testing.T) {
			ts, err := e.ledger.Transfers(context.Background(), ledger.Filter{Flags: ledger.Pending})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, tr := range ts {
				if strings.HasPrefix(tr.ID, "ccb|") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("got %d holds, want 1", n)
			}
		})
		t.Run("concurrent duplicates", func(t *testing.T) {
			req := e.auth(t, c, 700, nettest.Tap{})
			conns := []*isolink.Client{e.acq, e.dial(t), e.dial(t), e.dial(t)}
			answers := make(chan []byte, len(conns))
			for _, cl := range conns {
				go func() {
					r, err := cl.Send(context.Background(), req)
					if err != nil {
						answers <- nil
						return
					}
					b, _ := r.Pack()
					answers <- b
				}()
			}
			var first []byte
			for range conns {
				b := <-answers
				if b == nil {
					t.Fatal("a duplicate got no answer")
				}
				if first == nil {
					first = b
				} else if !bytes.Equal(b, first) {
					t.Error("concurrent duplicates got different answers")
				}
			}
		})
	})
}

func TestReversals(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c := e.phone(t, icbcCredit).Cards[0]

		t.Run("voids the hold", func(t *testing.T) {
			req := e.auth(t, c, 3000, nettest.Tap{})
			if rc := rcOf(e.send(t, req)); rc != "00" {
				t.Fatalf("got %s, want 00", rc)
			}
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if rc := rcOf(e.send(t, rev)); rc != "00" {
					t.Fatalf("reversal %d: got %s, want 00", i+1, rc)
				}
				_ = rev.SetSTAN(e.term.STAN.Next())
				rev.MTI = iso8583.ReversalRequestRepeat
			}
			hold, err := e.holdOf(t, "icbc", req)
			if err != nil {
				t.Fatal(err)
			}
			if hold.Status != ledger.StatusVoided {
				t.Errorf("got hold %s, want voided", hold.Status)
			}
			rec, _ := e.store.Auth(ctx, netswitch.AuthID("T0000001", str(req, iso8583.DESTAN), str(req, iso8583.DETransmission)))
			if rec.ReversedAt.IsZero() || rec.Captured() {
				t.Error("the record is not marked reversed")
			}
		})
		t.Run("unknown original, then the original", func(t *testing.T) {
			req := e.auth(t, c, 4000, nettest.Tap{})
			rev, err := e.term.Reversal(req, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if rc := rcOf(e.send(t, rev)); rc != "25" {
				t.Fatalf("got %s for a reversal of an unknown original, want 25", rc)
			}
			if rc := rcOf(e.send(t, req)); rc == "00" {
				t.Fatal("a late original was approved after its reversal")
			}
			if _, err := e.holdOf(t, "icbc", req); err == nil {
				t.Error("a hold was placed for a reversed original")
			}
		})
		t.Run("declined original", func(t *testing.T) {
			req := e.auth(t, c, 4000, nettest.Tap{NoCDCVM: true})
			if rc := rcOf(e.send(t, req)); rc != "55" {
				t.Fatalf("got %s, want 55", rc)
			}
			rev, _ := e.term.Reversal(req, time.Now())
			if rc := rcOf(e.send(t, rev)); rc != "00" {
				t.Fatalf("got %s for the reversal of a declined original, want 00", rc)
			}
		})
	})
}

// slowIssuer forwards to a real host but holds authorizations back.
func TestIssuerTimeoutReversesTheHold(t *testing.T) {
	db := sqldbtest.OpenSQLite(t)
	var real string
	delay := 400 * time.Millisecond
	e := newEnv(t, db, func(cfg *netswitch.Config) {
		// Put a slow issuer in front of ICBC's host.
		real = cfg.Issuers["icbc"]
		addr, stop := startSlowIssuer(t, func() string { return real }, delay)
		t.Cleanup(stop)
		cfg.Issuers = copyMap(cfg.Issuers)
		cfg.Issuers["icbc"] = addr
		cfg.IssuerTimeout = 100 * time.Millisecond
	})
	c := e.phone(t, icbcDebit).Cards[0]
	req := e.auth(t, c, 2500, nettest.Tap{})
	if rc := rcOf(e.send(t, req)); rc != "91" {
		t.Fatalf("got %s, want 91", rc)
	}
	// The network reverses at the issuer: no hold stays. The reversal may
	// reach the issuer before the slow original (which is then declined and
	// places no hold) or after it (and voids its hold).
	time.Sleep(2 * delay)
	deadline := time.Now().Add(10 * time.Second)
	for {
		hold, err := e.holdOf(t, "icbc", req)
		if (err == nil && hold.Status == ledger.StatusVoided) || fault.KindOf(err) == fault.NotFound {
			break
		}
		if time.Now().After(deadline) {
			status := "none"
			if err == nil {
				status = string(hold.Status)
			}
			t.Fatalf("got hold %s 10 s after the timeout, want voided (logs: %s)", status, e.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copyMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// startSlowIssuer is a host that forwards everything to the real one,
// authorizations after a delay.
func startSlowIssuer(t *testing.T, real func() string, delay time.Duration) (string, func()) {
	t.Helper()
	var client *isolink.Client
	handler := func(ctx context.Context, req *iso8583.Message) *iso8583.Message {
		if client == nil {
			return nil
		}
		if req.MTI.Class() == '1' {
			time.Sleep(delay)
		}
		resp, err := client.Send(ctx, req)
		if err != nil {
			return nil
		}
		return resp
	}
	c, err := isolink.Dial(context.Background(), real(), isolink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	client = c
	addr, stop := serve(t, handler)
	return addr, func() { stop(); c.Close() }
}

// TestReusedSTANIsNotADuplicate is issue 9 item 14: a second sale from the
// same terminal in the same second, under the STAN and RRN of the first (a
// terminal whose counters restarted), is another tap — another cryptogram
// and counter in DE55 — and gets 94, never the first sale's approval, both
// while the first answer is in memory and once only the store has it; a
// true retransmission still gets the stored answer.
func TestReusedSTANIsNotADuplicate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, func(c *netswitch.Config) { c.MaxRemembered = 1 })
		c := e.phone(t, ccbDebit).Cards[0]
		other := e.phone(t, icbcDebit).Cards[0]
		reuse := func(first, m *iso8583.Message) *iso8583.Message {
			m.Copy(first, iso8583.DESTAN, iso8583.DETransmission, iso8583.DERRN, iso8583.DELocalDate, iso8583.DELocalTime)
			return m
		}
		for _, evicted := range []bool{false, true} {
			t.Run(fmt.Sprintf("evicted from memory %v", evicted), func(t *testing.T) {
				first := e.auth(t, c, 500, nettest.Tap{})
				answer := e.send(t, first)
				if rcOf(answer) != "00" {
					t.Fatalf("first sale: got %s, want 00", rcOf(answer))
				}
				if evicted {
					if got := rcOf(e.send(t, e.auth(t, other, 100, nettest.Tap{}))); got != "00" {
						t.Fatalf("another sale: got %s, want 00", got)
					}
				}
				second := reuse(first, e.auth(t, c, 500, nettest.Tap{}))
				if got := e.send(t, second); rcOf(got) != "94" {
					t.Errorf("a second sale under the first's STAN: got %s (auth code %q), want 94", rcOf(got), str(got, iso8583.DEAuthID))
				}
				hold, err := e.holdOf(t, "ccb", first)
				if err != nil || hold.Amount != 500 {
					t.Errorf("got the first sale's hold %d %v, want 500", hold.Amount, err)
				}
				again := first.Clone()
				again.MTI = iso8583.AuthorizationRequestRepeat
				if got := e.send(t, again); rcOf(got) != "00" || str(got, iso8583.DEAuthID) != str(answer, iso8583.DEAuthID) {
					t.Errorf("a true retransmission: got %s %s, want the stored answer 00 %s", rcOf(got), str(got, iso8583.DEAuthID), str(answer, iso8583.DEAuthID))
				}
			})
		}
	})
}
