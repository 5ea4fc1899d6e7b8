package sqldb_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/wallet"
)

// portalFixture makes an account with one phone.
func portalFixture(t *testing.T, db *sqldb.DB, email string) (wallet.Account, wallet.Phone) {
	t.Helper()
	ctx := context.Background()
	ws := &sqldb.WalletStore{DB: db}
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := wallet.Account{ID: wallet.NewID("acc"), Email: email, PasswordHash: "x", CreatedAt: now}
	if err := ws.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	ph := wallet.Phone{ID: wallet.NewID("ph"), AccountID: a.ID, Name: "p", Model: "m", PublicKey: der, WalletOn: true, CreatedAt: now, LastSeen: now}
	if err := ws.CreatePhone(ctx, ph); err != nil {
		t.Fatal(err)
	}
	return a, ph
}

func TestPortalStorePasskeys(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st := &sqldb.PortalStore{DB: db}
		a, _ := portalFixture(t, db, "a@example.com")
		b, _ := portalFixture(t, db, "b@example.com")

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
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st := &sqldb.PortalStore{DB: db}
		a, ph := portalFixture(t, db, "a@example.com")
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
		if err := st.SendCode(ctx, a.ID, wallet.NewID("otp"), "code 123456", now); err != nil {
			t.Fatal(err)
		}
		var msg string
		if err := db.QueryRow(ctx, `SELECT message FROM otp_outbox WHERE account_id = ?`, a.ID).Scan(&msg); err != nil || msg != "code 123456" {
			t.Fatalf("outbox: got %q, %v, want the code message", msg, err)
		}
	})
}

func TestLostPhoneStore(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st := &sqldb.LostPhoneStore{DB: db}
		ws := &sqldb.WalletStore{DB: db}
		a, ph := portalFixture(t, db, "a@example.com")
		_, other := portalFixture(t, db, "b@example.com")
		now := time.Now().UTC().Truncate(time.Millisecond)
		cmd := func(kind string, at time.Time) lostphone.Command {
			return lostphone.Command{ID: wallet.NewID("cmd"), PhoneID: ph.ID, AccountID: a.ID, Kind: kind, Actor: "portal:" + a.ID, Source: "127.0.0.1", CreatedAt: at}
		}
		sw := lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph.ID, AccountID: a.ID, Reason: "lost", OffAt: now, OffBy: "portal:" + a.ID, OffSource: "10.0.0.1", Tokens: []string{"6288010000001239"}}
		open, switched, err := st.SwitchOff(ctx, sw, cmd(lostphone.CommandWipeKeys, now))
		if err != nil || !switched || open.ID != sw.ID {
			t.Fatalf("first switch-off: got %+v, %v, %v, want switched", open, switched, err)
		}
		again, switched, err := st.SwitchOff(ctx, lostphone.Switch{ID: wallet.NewID("sw"), PhoneID: ph.ID, AccountID: a.ID, OffAt: now}, cmd(lostphone.CommandWipeKeys, now))
		if err != nil || switched || again.ID != sw.ID || len(again.Tokens) != 1 {
			t.Fatalf("second switch-off: got %+v, %v, %v, want the open switch unchanged", again, switched, err)
		}
		p, _ := ws.Phone(ctx, ph.ID)
		if p.WalletOn {
			t.Fatalf("wallet_on after switch-off: got true, want false")
		}
		if p2, _ := ws.Phone(ctx, other.ID); !p2.WalletOn {
			t.Fatalf("another account's phone: got wallet off, want untouched")
		}
		open.Transit = []string{"BJ-0001"}
		if err := st.UpdateSwitch(ctx, open); err != nil {
			t.Fatal(err)
		}
		pending, err := st.PendingCommands(ctx, ph.ID)
		if err != nil || len(pending) != 1 || pending[0].Kind != lostphone.CommandWipeKeys {
			t.Fatalf("pending after switch-off: got %+v, %v, want one wipe (the second switch-off queues nothing)", pending, err)
		}
		closed, err := st.SwitchOn(ctx, ph.ID, now.Add(time.Minute), "portal:"+a.ID, "10.0.0.2", cmd(lostphone.CommandFreshKeys, now.Add(time.Minute)))
		if err != nil || closed.ID != sw.ID || closed.OnSource != "10.0.0.2" || len(closed.Transit) != 1 {
			t.Fatalf("switch-on: got %+v, %v, want the switch closed", closed, err)
		}
		if _, err := st.SwitchOn(ctx, ph.ID, now, "x", "y", cmd(lostphone.CommandFreshKeys, now)); !fault.Has(err, fault.Conflict, "wallet_on") {
			t.Fatalf("switch-on twice: got %v, want wallet_on conflict", err)
		}
		if _, err := st.OpenSwitch(ctx, ph.ID); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("open switch after switch-on: got %v, want not found", err)
		}
		hist, err := st.Switches(ctx, ph.ID, 10)
		if err != nil || len(hist) != 1 || hist[0].OnAt.IsZero() || hist[0].OffSource != "10.0.0.1" {
			t.Fatalf("history: got %+v, %v", hist, err)
		}
		took, err := st.TakeCommands(ctx, ph.ID, now.Add(2*time.Minute))
		if err != nil || len(took) != 2 || took[0].Kind != lostphone.CommandWipeKeys || took[1].Kind != lostphone.CommandFreshKeys {
			t.Fatalf("take: got %+v, %v, want wipe then fresh keys", took, err)
		}
		if took, _ := st.TakeCommands(ctx, ph.ID, now.Add(3*time.Minute)); len(took) != 0 {
			t.Fatalf("take again: got %d commands, want 0 (each is delivered once)", len(took))
		}
		if err := ws.SetPhoneLocation(ctx, ph.ID, 39.9042, 116.4074, now); err != nil {
			t.Fatal(err)
		}
		p, _ = ws.Phone(ctx, ph.ID)
		if p.Lat == nil || *p.Lat != 39.9042 || *p.Lon != 116.4074 || !p.LocatedAt.Equal(now) || !p.LastSeen.Equal(now) {
			t.Fatalf("location: got %v,%v at %v, want 39.9042,116.4074 at %v", p.Lat, p.Lon, p.LocatedAt, now)
		}
		if err := ws.SetPhoneLocation(ctx, "ph_nope", 1, 1, now); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("location of an unknown phone: got %v, want not found", err)
		}
		if got, err := ws.AccountByID(ctx, a.ID); err != nil || got.Email != "a@example.com" {
			t.Fatalf("AccountByID: got %+v, %v", got, err)
		}
	})
}
