package netswitch_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/netswitch/nettest"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
)

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// eventually waits up to 10 s for done to report true, failing with what
// it last said otherwise.
func eventually(t *testing.T, done func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, what := done()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHold waits up to 10 s for an authorization's hold to reach status.
func (e *env) waitHold(t *testing.T, req *iso8583.Message, status ledger.PendingStatus) {
	t.Helper()
	eventually(t, func() (bool, string) {
		hold, err := e.holdOf(t, "icbc", req)
		return err == nil && hold.Status == status, fmt.Sprintf("got hold %s (%v), want %s (logs: %s)", hold.Status, err, status, e.logs)
	})
}

// TestQueuedReversalSurvivesRestart: a terminal's reversal that the issuer
// does not answer is answered 00 (store and forward) and queued in the
// store; the switch stops before the issuer is back; a new switch on the
// same store sends it at start, and the hold is voided.
func TestQueuedReversalSurvivesRestart(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]
		req := e.auth(t, c, 2100, nettest.Tap{})
		if rc := rcOf(e.send(t, req)); rc != "00" {
			t.Fatalf("got %s, want 00", rc)
		}

		cut := e.cfg
		cut.Issuers = copyMap(cut.Issuers)
		cut.Issuers["icbc"] = deadAddr(t)
		_, addr, stop := startSwitch(t, cut)
		acq, err := isolink.Dial(ctx, addr, isolink.Options{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		rev, _ := e.term.Reversal(req, time.Now())
		resp, err := acq.Send(ctx, rev)
		if err != nil || rcOf(resp) != "00" {
			t.Fatalf("reversal with the issuer down: got %v %v, want 00 (store and forward)", resp, err)
		}
		acq.Close()
		stop()
		queued, err := e.store.PendingReversals(ctx)
		if err != nil || len(queued) != 1 || queued[0].Auth.ID != netswitch.AuthID("T0000001", str(req, iso8583.DESTAN), str(req, iso8583.DETransmission)) {
			t.Fatalf("got %d queued reversals (%v), want the one of the purchase", len(queued), err)
		}
		e.waitHold(t, req, ledger.StatusPending)

		_, _, stop = startSwitch(t, e.cfg) // the issuer is reachable again
		defer stop()
		e.waitHold(t, req, ledger.StatusVoided)
		eventually(t, func() (bool, string) {
			queued, err := e.store.PendingReversals(ctx)
			return err == nil && len(queued) == 0, fmt.Sprintf("got %d reversals still queued after the issuer answered (%v), want 0", len(queued), err)
		})
	})
}

// TestReversalOfUnknownOriginalReachesTheIssuer: an issuer holds an
// authorization the switch has no record of (the switch lost it); the
// terminal's reversal reaches the issuer all the same, which voids the
// hold (00). A reversal of an original neither knows is still 25 and
// the original, should it come, is declined.
func TestReversalOfUnknownOriginalReachesTheIssuer(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		c := e.phone(t, icbcDebit).Cards[0]
		req := e.auth(t, c, 1800, nettest.Tap{})

		// The issuer gets the 0100 straight, as from a switch that died
		// before it stored anything.
		fwd := req.Clone()
		_ = fwd.SetString(iso8583.DEPAN, icbcDebit)
		fwd.Unset(iso8583.DEICC)
		resp := e.hosts.Hosts["icbc"].Handle(ctx, fwd)
		if rcOf(resp) != "00" {
			t.Fatalf("issuer: got %s, want 00", rcOf(resp))
		}
		e.waitHold(t, req, ledger.StatusPending)

		rev, _ := e.term.Reversal(req, time.Now())
		if rc := rcOf(e.send(t, rev)); rc != "00" {
			t.Fatalf("reversal of an original only the issuer knows: got %s, want 00", rc)
		}
		e.waitHold(t, req, ledger.StatusVoided)
	})
}
