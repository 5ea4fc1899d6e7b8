package netswitch_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// FuzzSwitchHandle hands the switch every message that unpacks: it must
// answer each request (never panic, never hang) with an answer that packs.
// Messages that do not unpack are isolink's (answered 30 or the connection
// closed; see TestBadMessages and isolink's own fuzz tests). The seed corpus
// is in testdata/fuzz/FuzzSwitchHandle and below.
func FuzzSwitchHandle(f *testing.F) {
	e := newEnv(f, sqldbtest.OpenSQLite(f))
	c := e.phone(f, bocDebit).Cards[0]
	good := e.auth(f, c, 100, nettest.Tap{})
	paid := e.auth(f, c, 200, nettest.Tap{})
	if rc := rcOf(e.sw.Handle(context.Background(), paid)); rc != "00" {
		f.Fatalf("got %s for the refund seeds' purchase, want 00", rc)
	}
	for _, m := range []*iso8583.Message{good, mustReversal(f, e, good), e.refundOf(f, paid, 50), e.refundOf(f, good, 50)} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append([]byte("0101"), b[4:]...))
		f.Add(append([]byte("0200"), b[4:]...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := iso8583.Unpack(b)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp := e.sw.Handle(ctx, m)
		if !m.MTI.IsRequest() {
			return
		}
		if resp == nil {
			t.Fatalf("no answer to a %s", m.MTI)
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("the answer does not pack: %v", err)
		}
		if want, _ := m.MTI.Response(); resp.MTI != want {
			t.Fatalf("got answer MTI %s, want %s", resp.MTI, want)
		}
	})
}

func mustReversal(t testing.TB, e *env, orig *iso8583.Message) *iso8583.Message {
	m, err := e.term.Reversal(orig, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
