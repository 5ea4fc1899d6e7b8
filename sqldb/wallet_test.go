package sqldb_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/wallet"
)

// TestWalletStoreLoginAttemptsRace: 30 attempts counted at once pass the
// lock no more than wallet.MaxFailedLogins times; the attempt reaching it
// sets the lock; a locked account is not counted; a reset ends the lock.
func TestWalletStoreLoginAttemptsRace(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ws := &sqldb.WalletStore{DB: db}
		a, _ := portalFixture(t, db, "race@example.com")
		now := time.Now().UTC().Truncate(time.Millisecond)
		var mu sync.Mutex
		allowed, locks := 0, 0
		var wg sync.WaitGroup
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				att, err := ws.CountLoginAttempt(ctx, a.ID, now, wallet.MaxFailedLogins)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if att.Allowed {
					allowed++
					if !att.LockedUntil.IsZero() {
						locks++
					}
				}
			}()
		}
		wg.Wait()
		if allowed != wallet.MaxFailedLogins || locks != 1 {
			t.Fatalf("30 concurrent attempts: %d allowed (%d set the lock), want %d allowed, 1 lock", allowed, locks, wallet.MaxFailedLogins)
		}
		acc, err := ws.AccountByEmail(ctx, "race@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if acc.FailedLogins != wallet.MaxFailedLogins || !acc.LockedUntil.Equal(now.Add(wallet.LockTime(wallet.MaxFailedLogins))) {
			t.Fatalf("account: %d attempts, locked until %v; want %d, %v", acc.FailedLogins, acc.LockedUntil, wallet.MaxFailedLogins, now.Add(time.Minute))
		}
		// When the lock ends, one more attempt passes and sets a longer one.
		later := acc.LockedUntil
		att, err := ws.CountLoginAttempt(ctx, a.ID, later, wallet.MaxFailedLogins)
		if err != nil || !att.Allowed || att.N != 6 || !att.LockedUntil.Equal(later.Add(2*time.Minute)) {
			t.Fatalf("after the lock: got %+v, %v; want allowed, 6, locked 2 minutes", att, err)
		}
		if err := ws.ResetLoginFailures(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if att, _ := ws.CountLoginAttempt(ctx, a.ID, later, wallet.MaxFailedLogins); !att.Allowed || att.N != 1 {
			t.Fatalf("after a reset: got %+v, want allowed, 1", att)
		}
	})
}

// TestWalletStoreSessions: kinds kept, a phone's sessions and an account's
// portal sessions end together (but the one kept), binding happens once.
func TestWalletStoreSessions(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ws := &sqldb.WalletStore{DB: db}
		a, ph := portalFixture(t, db, "s@example.com")
		exp := time.Now().Add(time.Hour)
		mk := func(tok, kind string) []byte {
			h := bytes.Repeat([]byte(tok), 32)[:32]
			if err := ws.CreateSession(ctx, h, wallet.Session{AccountID: a.ID, Kind: kind, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		api, api2, portal1, portal2 := mk("a", wallet.SessionAPI), mk("b", wallet.SessionAPI), mk("c", wallet.SessionPortal), mk("d", wallet.SessionPortal)
		if err := ws.BindSession(ctx, api, ph.ID); err != nil {
			t.Fatal(err)
		}
		if err := ws.BindSession(ctx, api, "ph_other"); err != nil { // bound once
			t.Fatal(err)
		}
		if s, err := ws.SessionByToken(ctx, api, time.Now()); err != nil || s.Kind != wallet.SessionAPI || s.PhoneID != ph.ID || s.AccountID != a.ID {
			t.Fatalf("api session: got %+v, %v", s, err)
		}
		if n, err := ws.RevokePhoneSessions(ctx, ph.ID, time.Now()); err != nil || n != 1 {
			t.Fatalf("phone's sessions ended: got %d, %v, want 1", n, err)
		}
		if n, err := ws.RevokeSessions(ctx, a.ID, wallet.SessionPortal, portal2, time.Now()); err != nil || n != 1 {
			t.Fatalf("portal sessions ended: got %d, %v, want 1 (one kept)", n, err)
		}
		for _, c := range []struct {
			name string
			h    []byte
			live bool
		}{{"the phone's", api, false}, {"another API", api2, true}, {"a portal", portal1, false}, {"the kept portal", portal2, true}} {
			_, err := ws.SessionByToken(ctx, c.h, time.Now())
			if (err == nil) != c.live || (err != nil && !fault.Has(err, fault.Unauthorized, "bad_session")) {
				t.Errorf("%s session: got %v, want live=%v", c.name, err, c.live)
			}
		}
		if n, _ := ws.RevokeSessions(ctx, a.ID, "", nil, time.Now()); n != 2 {
			t.Fatalf("every session ended: got %d, want 2", n)
		}
	})
}

// TestWalletStoreEventFolding: repeats within the window fold into one row
// with a count and the first and last times; a finding is recorded once.
func TestWalletStoreEventFolding(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ws := &sqldb.WalletStore{DB: db}
		a, ph := portalFixture(t, db, "e@example.com")
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		for i := range 100 {
			at := t0.Add(time.Duration(i) * time.Second)
			src := "10.0.0.1"
			if i%10 == 9 {
				src = "10.0.0.2"
			}
			e := wallet.Event{ID: wallet.NewID("ev"), AccountID: a.ID, Kind: wallet.EventLoginThrottled, Source: src, At: at, FirstAt: at, Times: 1}
			if err := ws.FoldEvent(ctx, e, at.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := ws.Events(ctx, a.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]wallet.Event{}
		for _, e := range evs {
			got[e.Source] = e
		}
		if len(evs) != 2 || got["10.0.0.1"].Times != 90 || got["10.0.0.2"].Times != 10 {
			t.Fatalf("100 throttled attempts from 2 sources: got %d rows %+v, want 2 rows of 90 and 10", len(evs), got)
		}
		if e := got["10.0.0.1"]; !e.FirstAt.Equal(t0) || !e.At.Equal(t0.Add(98*time.Second)) {
			t.Fatalf("first/last: got %v / %v, want %v / %v", e.FirstAt, e.At, t0, t0.Add(98*time.Second))
		}
		// Past the window a new row starts.
		late := t0.Add(3 * time.Hour)
		if err := ws.FoldEvent(ctx, wallet.Event{ID: wallet.NewID("ev"), AccountID: a.ID, Kind: wallet.EventLoginThrottled, Source: "10.0.0.1", At: late, FirstAt: late, Times: 1}, late.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if evs, _ := ws.Events(ctx, a.ID, 100); len(evs) != 3 {
			t.Fatalf("after the window: got %d rows, want 3", len(evs))
		}
		f := wallet.Event{AccountID: a.ID, PhoneID: ph.ID, Kind: "sync_mismatch", Detail: "token ending 1234: unknown key 7", At: t0, FirstAt: t0, Times: 1}
		for i := range 3 {
			f.ID = wallet.NewID("ev")
			added, err := ws.AddFinding(ctx, f)
			if err != nil || added != (i == 0) {
				t.Fatalf("finding %d: added=%v, %v; want added only the first time", i, added, err)
			}
		}
	})
}
