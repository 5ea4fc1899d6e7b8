package netswitch_test

import (
	"context"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// slowHost answers after delay: an issuer host in the switch's process
// that takes longer than the switch waits.
type slowHost struct {
	h     netswitch.IssuerHost
	delay time.Duration
}

func (s slowHost) Handle(ctx context.Context, req *iso8583.Message) *iso8583.Message {
	time.Sleep(s.delay)
	return s.h.Handle(context.WithoutCancel(ctx), req)
}

// TestLocalIssuerHost: a switch whose issuer hosts are in its own process
// (Config.Local, no TCP) gets the same answers — approved with the hold at
// the bank, the issuer link checked with an echo test — and a host that
// answers after the timeout is answered 91 and reversed, as over TCP.
func TestLocalIssuerHost(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, sqldbtest.OpenSQLite(t))
	local := func(slow time.Duration) netswitch.Config {
		cfg := e.cfg
		cfg.Issuers, cfg.Local = nil, map[string]netswitch.IssuerHost{}
		for id, h := range e.hosts.Hosts {
			cfg.Local[id] = h
			if slow > 0 {
				cfg.Local[id] = slowHost{h: h, delay: slow}
			}
		}
		return cfg
	}
	send := func(addr string, m *iso8583.Message) *iso8583.Message {
		t.Helper()
		c, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Send(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	sw, addr, stop := startSwitch(t, local(0))
	defer stop()
	for bank, err := range sw.CheckIssuers(ctx) {
		if err != nil {
			t.Errorf("issuer %s in process: %v, want up", bank, err)
		}
	}
	c := e.phone(t, icbcDebit).Cards[0]
	req := e.auth(t, c, 1234, nettest.Tap{})
	if rc := rcOf(send(addr, req)); rc != "00" {
		t.Fatalf("in process: got %s, want 00", rc)
	}
	if hold, err := e.holdOf(t, "icbc", req); err != nil || hold.Amount != 1234 || hold.Status != ledger.StatusPending {
		t.Fatalf("the bank's hold: %+v, %v; want 12.34 pending", hold, err)
	}

	cfg := local(300 * time.Millisecond)
	cfg.IssuerTimeout = 100 * time.Millisecond
	_, slowAddr, stopSlow := startSwitch(t, cfg)
	defer stopSlow()
	req = e.auth(t, c, 2345, nettest.Tap{})
	if rc := rcOf(send(slowAddr, req)); rc != "91" {
		t.Fatalf("a host slower than the timeout: got %s, want 91", rc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hold, err := e.holdOf(t, "icbc", req)
		if err == nil && hold.Status == ledger.StatusVoided {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late hold %+v (%v) 10 s after the 91, want voided by the switch's reversal", hold, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
