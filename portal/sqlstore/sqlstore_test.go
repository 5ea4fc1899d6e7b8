package sqlstore_test

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/portal/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/wallet"
)

// each runs fn on a fresh portal store in its own wing: on SQLite always,
// on PostgreSQL when TAPWALLET_TEST_POSTGRES is set.
func each(t *testing.T, fn func(t *testing.T, st *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openWing(t, "", t.TempDir())) })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, openWing(t, sqldbtest.PostgresDSN(t), "")) })
	}
}

func openWing(t *testing.T, dsn, dir string) *sqlstore.Store {
	st, err := sqlstore.Open(context.Background(), dsn, dir)
	if err != nil {
		t.Fatalf("open the portal wing: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPortalStorePasskeys(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		a := wallet.Account{ID: wallet.NewID("acc")}
		b := wallet.Account{ID: wallet.NewID("acc")}

		h1, err := st.WebAuthnHandle(ctx, a.ID, []byte("handle-one"))
		if err != nil {
			t.Fatal(err)
		}
		h2, err := st.WebAuthnHandle(ctx, a.ID, []byte("handle-two"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h1, []byte("handle-one")) || !bytes.Equal(h2, h1) {
			t.Fatalf("handles: got %q then %q, want the first one kept", h1, h2)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		pk := portal.Passkey{ID: []byte{1, 2, 3}, AccountID: a.ID, Name: "laptop", Record: []byte(`{"id":"AQID"}`), SignCount: 1, CreatedAt: now}
		if err := st.AddPasskey(ctx, pk); err != nil {
			t.Fatal(err)
		}
		if err := st.AddPasskey(ctx, pk); !fault.Has(err, fault.Conflict, "passkey_taken") {
			t.Fatalf("second add: got %v, want passkey_taken", err)
		}
		if has, err := st.HasPasskey(ctx, a.ID); err != nil || !has {
			t.Fatalf("HasPasskey(a): got %v, %v, want true", has, err)
		}
		if has, err := st.HasPasskey(ctx, b.ID); err != nil || has {
			t.Fatalf("HasPasskey(b): got %v, %v, want false", has, err)
		}
		tests := []struct {
			name    string
			account string
			want    fault.Kind
		}{
			{"own passkey", a.ID, ""},
			{"another account's passkey", b.ID, fault.NotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := st.UsePasskey(ctx, tt.account, pk.ID, 7, []byte(`{"n":7}`), now)
				if tt.want == "" && err != nil || tt.want != "" && fault.KindOf(err) != tt.want {
					t.Fatalf("UsePasskey: got %v, want kind %q", err, tt.want)
				}
			})
		}
		keys, err := st.Passkeys(ctx, a.ID)
		if err != nil || len(keys) != 1 || keys[0].SignCount != 7 || string(keys[0].Record) != `{"n":7}` || !keys[0].LastUsedAt.Equal(now) {
			t.Fatalf("Passkeys: got %+v, %v, want one with count 7", keys, err)
		}
		if err := st.RemovePasskey(ctx, b.ID, pk.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("remove by another account: got %v, want not found", err)
		}
		if err := st.RemovePasskey(ctx, a.ID, pk.ID); err != nil {
			t.Fatal(err)
		}
		if keys, _ := st.Passkeys(ctx, a.ID); len(keys) != 0 {
			t.Fatalf("after remove: got %d passkeys, want 0", len(keys))
		}
	})
}

func TestPortalStoreCeremonies(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		a, ph := wallet.Account{ID: wallet.NewID("acc")}, wallet.Phone{ID: wallet.NewID("ph")}
		now := time.Now().UTC().Truncate(time.Millisecond)
		live := portal.Ceremony{IDHash: []byte("live"), AccountID: a.ID, Kind: portal.CeremonyWalletOn, PhoneID: ph.ID, Data: []byte("data"), ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		old := portal.Ceremony{IDHash: []byte("old"), AccountID: a.ID, Kind: portal.CeremonyLogin, Data: []byte("{}"), ExpiresAt: now.Add(time.Second), CreatedAt: now}
		for _, c := range []portal.Ceremony{live, old} {
			if err := st.PutCeremony(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		// Another account, kind or phone: refused and left in place.
		for _, want := range []portal.Ceremony{
			{AccountID: "acc_other", Kind: portal.CeremonyWalletOn, PhoneID: ph.ID},
			{AccountID: a.ID, Kind: portal.CeremonyRegister, PhoneID: ph.ID},
			{AccountID: a.ID, Kind: portal.CeremonyWalletOn, PhoneID: "ph_other"},
		} {
			if _, err := st.TakeCeremony(ctx, live.IDHash, want, now); fault.CodeOf(err) != "ceremony_not_found" {
				t.Fatalf("take as %+v: got %v, want ceremony_not_found", want, err)
			}
		}
		// Racing takes: exactly one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := st.TakeCeremony(ctx, live.IDHash, portal.Ceremony{AccountID: a.ID, Kind: portal.CeremonyWalletOn, PhoneID: ph.ID}, now)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
					if c.PhoneID != ph.ID || string(c.Data) != "data" || c.Kind != portal.CeremonyWalletOn {
						t.Errorf("taken ceremony: got %+v, want the stored one", c)
					}
				} else if fault.CodeOf(err) != "ceremony_not_found" {
					t.Errorf("losing take: got %v, want ceremony_not_found", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("racing takes: got %d winners, want 1", wins)
		}
		if _, err := st.TakeCeremony(ctx, old.IDHash, portal.Ceremony{Kind: portal.CeremonyLogin}, now.Add(2*time.Second)); fault.CodeOf(err) != "ceremony_not_found" {
			t.Fatalf("expired ceremony: got %v, want ceremony_not_found", err)
		}
		if _, err := st.TakeCeremony(ctx, old.IDHash, portal.Ceremony{Kind: portal.CeremonyLogin}, now); fault.CodeOf(err) != "ceremony_not_found" {
			t.Fatalf("expired ceremony taken again: got %v, want it deleted", err)
		}
	})
}

// TestLostPhoneStore: a switch is recorded before the parties are told and
// marked done after; a phone has one open switch (a second switch-off
// finds it, cancelling a switch-on asked and not done); the unfinished
// ones are listed for recovery; commands are delivered once.
func TestLostPhoneStore(t *testing.T) {
	each(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		acc, ph, other := wallet.NewID("acc"), wallet.NewID("ph"), wallet.NewID("ph")
		now := time.Now().UTC().Truncate(time.Millisecond)
		cmd := func(phone, kind string, at time.Time) lostphone.Command {
			return lostphone.Command{ID: wallet.NewID("cmd"), PhoneID: phone, AccountID: acc, Kind: kind, Actor: "portal:" + acc, Source: "127.0.0.1", CreatedAt: at}
		}
		sw := lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph, AccountID: acc, Reason: "lost", OffAt: now, OffBy: "portal:" + acc, OffSource: "10.0.0.1", Tokens: []string{"6288010000001239"}}
		open, opened, err := st.BeginSwitchOff(ctx, sw, cmd(ph, lostphone.CommandWipeKeys, now))
		if err != nil || !opened || open.ID != sw.ID || !open.OffDone.IsZero() {
			t.Fatalf("first switch-off: got %+v, %v, %v, want opened, not done", open, opened, err)
		}
		if list, err := st.Unfinished(ctx, 10); err != nil || len(list) != 1 || list[0].ID != sw.ID {
			t.Fatalf("unfinished after the record: got %+v, %v, want the switch", list, err)
		}
		// Racing switch-offs of another phone: one record.
		var wg sync.WaitGroup
		var mu sync.Mutex
		opens := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: other, AccountID: acc, OffAt: now, OffBy: "x"}
				_, opened, err := st.BeginSwitchOff(ctx, o, cmd(other, lostphone.CommandWipeKeys, now))
				if err != nil {
					t.Errorf("racing switch-off: %v", err)
				}
				if opened {
					mu.Lock()
					opens++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if hist, _ := st.Switches(ctx, other, 10); opens != 1 || len(hist) != 1 {
			t.Fatalf("4 racing switch-offs: %d opened, %d records; want 1 and 1", opens, len(hist))
		}
		open.Transit = []string{"BJ-0001"}
		if latest, err := st.FinishSwitchOff(ctx, open, now.Add(time.Second)); err != nil || !latest {
			t.Fatalf("finish the switch-off: got %v, %v, want it the latest", latest, err)
		}
		again, opened, err := st.BeginSwitchOff(ctx, lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph, AccountID: acc, OffAt: now}, cmd(ph, lostphone.CommandWipeKeys, now))
		if err != nil || opened || again.ID != sw.ID || len(again.Tokens) != 1 || len(again.Transit) != 1 || !again.OffDone.Equal(now.Add(time.Second)) {
			t.Fatalf("second switch-off: got %+v, %v, %v, want the open switch, done", again, opened, err)
		}
		pending, err := st.PendingCommands(ctx, ph)
		if err != nil || len(pending) != 1 || pending[0].Kind != lostphone.CommandWipeKeys {
			t.Fatalf("pending after switch-off: got %+v, %v, want one wipe (the second switch-off queues nothing)", pending, err)
		}
		// A switch-on asked, then a switch-off again: the later wins.
		first, err := st.BeginSwitchOn(ctx, ph, now.Add(time.Minute), "portal:"+acc, "10.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		if latest, err := st.FinishSwitchOff(ctx, open, now.Add(time.Hour)); err != nil || latest {
			t.Fatalf("finishing the switch-off after a switch-on was asked: got %v, %v, want not the latest", latest, err)
		}
		if list, _ := st.Unfinished(ctx, 10); len(list) != 2 {
			t.Fatalf("unfinished with a switch-on asked: got %d, want 2 (it and the other phone's)", len(list))
		}
		if again, _, err := st.BeginSwitchOff(ctx, lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph, AccountID: acc, OffAt: now}, cmd(ph, lostphone.CommandWipeKeys, now)); err != nil || !again.OnAsked.IsZero() {
			t.Fatalf("switch-off over an asked switch-on: got %+v, %v, want the switch-on cancelled", again, err)
		}
		if list, _ := st.Unfinished(ctx, 10); len(list) != 1 || list[0].PhoneID != other {
			t.Fatalf("unfinished after the cancel: got %+v, want only the other phone's", list)
		}
		if _, err := st.FinishSwitchOn(ctx, first.ID, now, cmd(ph, lostphone.CommandFreshKeys, now)); !fault.Has(err, fault.Conflict, "switch_superseded") {
			t.Fatalf("finishing the cancelled switch-on: got %v, want switch_superseded", err)
		}
		asked, err := st.BeginSwitchOn(ctx, ph, now.Add(time.Minute), "portal:"+acc, "10.0.0.2")
		if err != nil || asked.OnBy != "portal:"+acc || !asked.OnAsked.Equal(now.Add(time.Minute)) {
			t.Fatalf("switch-on asked: got %+v, %v", asked, err)
		}
		closed, err := st.FinishSwitchOn(ctx, asked.ID, now.Add(2*time.Minute), cmd(ph, lostphone.CommandFreshKeys, now.Add(time.Minute)))
		if err != nil || closed.ID != sw.ID || closed.OnSource != "10.0.0.2" || len(closed.Transit) != 1 || !closed.OnAt.Equal(now.Add(2*time.Minute)) {
			t.Fatalf("switch-on: got %+v, %v, want the switch closed", closed, err)
		}
		if _, err := st.FinishSwitchOn(ctx, asked.ID, now, cmd(ph, lostphone.CommandFreshKeys, now)); !fault.Has(err, fault.NotFound, "no_switch") {
			t.Fatalf("switch-on twice: got %v, want no_switch", err)
		}
		if _, err := st.BeginSwitchOn(ctx, ph, now, "x", "y"); !fault.Has(err, fault.NotFound, "no_switch") {
			t.Fatalf("switch-on of a wallet on: got %v, want no_switch", err)
		}
		if _, err := st.OpenSwitch(ctx, ph); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("open switch after switch-on: got %v, want not found", err)
		}
		hist, err := st.Switches(ctx, ph, 10)
		if err != nil || len(hist) != 1 || hist[0].OnAt.IsZero() || hist[0].OffSource != "10.0.0.1" {
			t.Fatalf("history: got %+v, %v", hist, err)
		}
		took, err := st.TakeCommands(ctx, ph, now.Add(2*time.Minute))
		if err != nil || len(took) != 2 || took[0].Kind != lostphone.CommandWipeKeys || took[1].Kind != lostphone.CommandFreshKeys {
			t.Fatalf("take: got %+v, %v, want wipe then fresh keys", took, err)
		}
		if took, _ := st.TakeCommands(ctx, ph, now.Add(3*time.Minute)); len(took) != 0 {
			t.Fatalf("take again: got %d commands, want 0 (each is delivered once)", len(took))
		}
		// A new switch-off after the switch-on opens a new record.
		if _, opened, err := st.BeginSwitchOff(ctx, lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph, AccountID: acc, OffAt: now.Add(time.Hour), OffBy: "x"}, cmd(ph, lostphone.CommandWipeKeys, now)); err != nil || !opened {
			t.Fatalf("switch-off after the switch-on: got %v, %v, want a new record", opened, err)
		}
	})
}
