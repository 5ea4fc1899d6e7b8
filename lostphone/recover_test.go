package lostphone_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	portalstore "github.com/tapwallet/tapwallet/portal/sqlstore"
	"github.com/tapwallet/tapwallet/sqldb/sqldbtest"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
	"github.com/tapwallet/tapwallet/wallet/wallettest"
)

// fakeTokens is the token service as the switch sees it: each device's
// tokens (live or suspended) and its wallet-off fact; fail makes the next
// DeviceOff or DeviceOn fail as a crash or a lost link would.
type fakeTokens struct {
	mu        sync.Mutex
	live      map[string][]string // device → active tokens
	suspended map[string][]string
	off       map[string]bool
	fail      error
	// hold, when set, stops the next DeviceOff after its work until it is
	// closed (held is closed when it stops): a slow party.
	hold, held chan struct{}
}

func newFakeTokens(device string, tokens ...string) *fakeTokens {
	return &fakeTokens{live: map[string][]string{device: tokens}, suspended: map[string][]string{}, off: map[string]bool{}}
}

func (f *fakeTokens) Cards(context.Context, string) ([]tsp.Token, error) { return nil, nil }

func (f *fakeTokens) DeviceOff(_ context.Context, d tsp.DeviceSwitch) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail; err != nil {
		f.fail = nil
		return nil, err
	}
	hold, held := f.hold, f.held
	f.hold = nil
	if hold != nil { // the call reaches the party late: after what happens meanwhile
		f.mu.Unlock()
		close(held)
		<-hold
		f.mu.Lock()
	}
	f.off[d.DeviceID] = true
	out := f.live[d.DeviceID]
	f.suspended[d.DeviceID] = append(f.suspended[d.DeviceID], out...)
	f.live[d.DeviceID] = nil
	return out, nil
}

func (f *fakeTokens) DeviceOn(_ context.Context, d tsp.DeviceSwitch) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail; err != nil {
		f.fail = nil
		return nil, err
	}
	f.off[d.DeviceID] = false
	var out, keep []string
	for _, t := range f.suspended[d.DeviceID] {
		if slices.Contains(d.Tokens, t) {
			out = append(out, t)
		} else {
			keep = append(keep, t)
		}
	}
	f.suspended[d.DeviceID] = keep
	f.live[d.DeviceID] = append(f.live[d.DeviceID], out...)
	return out, nil
}

// failingWallet fails SetWalletOn once when fail is set.
type failingWallet struct {
	*wallet.Service
	fail error
}

func (w *failingWallet) SetWalletOn(ctx context.Context, phoneID string, on bool) (bool, error) {
	if err := w.fail; err != nil {
		w.fail = nil
		return false, err
	}
	return w.Service.SetWalletOn(ctx, phoneID, on)
}

// crashFixture is an account with one phone on the wallet's Fake, the
// portal's wing on SQLite in dir and the fake token service.
type crashFixture struct {
	dsn    string // "" (SQLite in dir) or the PostgreSQL of TAPWALLET_TEST_POSTGRES
	dir    string
	wallet *wallet.Service
	tokens *fakeTokens
	acc    wallet.Account
	ph     wallet.Phone
}

func newCrashFixture(t *testing.T, dsn string) *crashFixture {
	ws := wallettest.NewFake()
	acc, ph := wallettest.Fixture(t, ws, "crash@example.com")
	return &crashFixture{dsn: dsn, dir: t.TempDir(), wallet: wallet.NewService(ws, nil), tokens: newFakeTokens(ph.ID, "6288010000001239", "6288010000002237"), acc: acc, ph: ph}
}

// start is one run of the process: the switch over the portal's wing
// (opened again each time, as after a restart).
func (f *crashFixture) start(t *testing.T, w lostphone.Wallet) *lostphone.Service {
	st, err := portalstore.Open(context.Background(), f.dsn, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return lostphone.New(st, w, f.tokens, nil)
}

func (f *crashFixture) req() lostphone.Request {
	return lostphone.Request{AccountID: f.acc.ID, PhoneID: f.ph.ID, Actor: "portal:" + f.acc.ID, Source: "192.0.2.7"}
}

// state is what the two parties hold for the phone: the wallet on?, the
// token service's wallet off?, its live tokens.
func (f *crashFixture) state(t *testing.T) (walletOn, tspOff bool, live int) {
	p, err := f.wallet.Phone(context.Background(), f.ph.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens.mu.Lock()
	defer f.tokens.mu.Unlock()
	return p.WalletOn, f.tokens.off[f.ph.ID], len(f.tokens.live[f.ph.ID])
}

// backends runs fn with the portal's wing on SQLite, and on PostgreSQL when
// TAPWALLET_TEST_POSTGRES is set.
func backends(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "") })
	if os.Getenv("TAPWALLET_TEST_POSTGRES") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, sqldbtest.PostgresDSN(t)) })
	}
}

// crashedSwitchOff is a fixture whose switch-off stopped at the token
// service (the wallet is off, the tokens are live), and its switch.
func crashedSwitchOff(t *testing.T, dsn string) (*crashFixture, *lostphone.Service) {
	f := newCrashFixture(t, dsn)
	f.tokens.fail = errCrash
	lp := f.start(t, f.wallet)
	if _, err := lp.SwitchOff(context.Background(), f.req()); !errors.Is(err, errCrash) {
		t.Fatalf("switch-off: got %v, want the crash", err)
	}
	return f, lp
}

var errCrash = fault.E(fault.Unavailable, "crash", "the process died here")

// TestSwitchOffCrashRecovered: a switch-off that stops between the two
// parties — after the record, before the wallet (wallet fails), or after
// the wallet, before the token service — leaves a record that the next
// start finishes (Recover): wallet off, every token suspended, the record
// done, one wipe queued; a second Recover finds nothing.
func TestSwitchOffCrashRecovered(t *testing.T) {
	for _, c := range []struct {
		name              string
		walletErr, tspErr error
		wantWalletOn      bool // right after the crash
	}{
		{"before the wallet", errCrash, nil, true},
		{"between the wallet and the token service", nil, errCrash, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			backends(t, func(t *testing.T, dsn string) {
				ctx := context.Background()
				f := newCrashFixture(t, dsn)
				f.tokens.fail = c.tspErr
				lp := f.start(t, &failingWallet{Service: f.wallet, fail: c.walletErr})
				if _, err := lp.SwitchOff(ctx, f.req()); !errors.Is(err, errCrash) {
					t.Fatalf("switch-off: got %v, want the crash", err)
				}
				on, off, live := f.state(t)
				if on != c.wantWalletOn || off || live != 2 {
					t.Fatalf("after the crash: wallet on %v, token service off %v, %d live; want %v, false, 2 (half switched)", on, off, live, c.wantWalletOn)
				}
				lp = f.start(t, f.wallet) // the restart
				n, err := lp.Recover(ctx)
				if err != nil || n != 1 {
					t.Fatalf("Recover: got %d, %v, want 1 switch finished", n, err)
				}
				if on, off, live := f.state(t); on || !off || live != 0 {
					t.Fatalf("after Recover: wallet on %v, token service off %v, %d live; want off, off, 0", on, off, live)
				}
				sw, err := lp.History(ctx, f.acc.ID, f.ph.ID)
				if err != nil || len(sw) != 1 || sw[0].OffDone.IsZero() || len(sw[0].Tokens) != 2 {
					t.Fatalf("records: got %+v, %v, want one switch, done, 2 tokens", sw, err)
				}
				if cmds, _ := lp.Pending(ctx, f.acc.ID, f.ph.ID); len(cmds) != 1 || cmds[0].Kind != lostphone.CommandWipeKeys {
					t.Fatalf("pending: got %+v, want one wipe", cmds)
				}
				if n, err := lp.Recover(ctx); err != nil || n != 0 {
					t.Fatalf("Recover again: got %d, %v, want nothing left", n, err)
				}
				evs, _ := f.wallet.Store.Events(ctx, f.acc.ID, 10)
				if len(evs) != 1 || evs[0].Kind != wallet.EventWalletOff {
					t.Fatalf("events: got %+v, want one wallet_off", evs)
				}
			})
		})
	}
}

// TestSwitchOffRetried: the owner asking again after a failed switch-off
// finishes it on the same record (no second record, no second wipe).
func TestSwitchOffRetried(t *testing.T) { backends(t, testSwitchOffRetried) }

func testSwitchOffRetried(t *testing.T, dsn string) {
	ctx := context.Background()
	f, lp := crashedSwitchOff(t, dsn)
	res, err := lp.SwitchOff(ctx, f.req())
	if err != nil || len(res.Tokens) != 2 || res.Phone.WalletOn {
		t.Fatalf("retry: got %+v, %v, want 2 tokens suspended, wallet off", res, err)
	}
	if sw, _ := lp.History(ctx, f.acc.ID, f.ph.ID); len(sw) != 1 || sw[0].OffDone.IsZero() {
		t.Fatalf("records: got %+v, want one switch, done", sw)
	}
	if cmds, _ := lp.Pending(ctx, f.acc.ID, f.ph.ID); len(cmds) != 1 {
		t.Fatalf("pending: got %d commands, want one wipe", len(cmds))
	}
}

// TestSwitchOnCrashRecovered: a switch-on that stops after it was recorded
// (the token service unreachable) is finished at the next start: tokens
// resumed, wallet on, the switch closed, fresh keys queued.
func TestSwitchOnCrashRecovered(t *testing.T) { backends(t, testSwitchOnCrashRecovered) }

func testSwitchOnCrashRecovered(t *testing.T, dsn string) {
	ctx := context.Background()
	f := newCrashFixture(t, dsn)
	lp := f.start(t, f.wallet)
	if _, err := lp.SwitchOff(ctx, f.req()); err != nil {
		t.Fatal(err)
	}
	f.tokens.fail = errCrash
	if _, err := lp.SwitchOn(ctx, f.req()); !errors.Is(err, errCrash) {
		t.Fatalf("switch-on: got %v, want the crash", err)
	}
	if on, off, live := f.state(t); on || !off || live != 0 {
		t.Fatalf("after the crash: wallet on %v, token service off %v, %d live; want still off", on, off, live)
	}
	lp = f.start(t, f.wallet)
	if n, err := lp.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("Recover: got %d, %v, want 1", n, err)
	}
	if on, off, live := f.state(t); !on || off || live != 2 {
		t.Fatalf("after Recover: wallet on %v, token service off %v, %d live; want on, on, 2", on, off, live)
	}
	sw, _ := lp.History(ctx, f.acc.ID, f.ph.ID)
	if len(sw) != 1 || sw[0].OnAt.IsZero() || sw[0].OnBy != "portal:"+f.acc.ID {
		t.Fatalf("records: got %+v, want the switch closed by the owner", sw)
	}
	cmds, _ := lp.Pending(ctx, f.acc.ID, f.ph.ID)
	if len(cmds) != 2 || cmds[1].Kind != lostphone.CommandFreshKeys {
		t.Fatalf("pending: got %+v, want the wipe then fresh keys", cmds)
	}
	if _, err := lp.SwitchOn(ctx, f.req()); !fault.Has(err, fault.Conflict, "wallet_on") {
		t.Fatalf("switch-on again: got %v, want wallet_on", err)
	}
}

// TestRecoverRacesSwitchOn: a start finishing a crashed switch-off whose
// token-service call arrives late, after the owner switched the wallet
// back on, does not leave the phone off under a closed record: the later
// request (on) is applied again and wins.
func TestRecoverRacesSwitchOn(t *testing.T) { backends(t, testRecoverRacesSwitchOn) }

func testRecoverRacesSwitchOn(t *testing.T, dsn string) {
	ctx := context.Background()
	f, lp := crashedSwitchOff(t, dsn)
	restarted := f.start(t, f.wallet)
	hold, held := make(chan struct{}), make(chan struct{})
	f.tokens.mu.Lock()
	f.tokens.hold, f.tokens.held = hold, held
	f.tokens.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := restarted.Recover(ctx); done <- err }()
	<-held // Recover's DeviceOff is on its way
	if _, err := lp.SwitchOn(ctx, f.req()); err != nil {
		t.Fatalf("the owner's switch-on: got %v", err)
	}
	close(hold) // ... and arrives after the switch-on
	if err := <-done; err != nil {
		t.Fatalf("Recover: got %v", err)
	}
	if on, off, live := f.state(t); !on || off || live != 2 {
		t.Fatalf("after the race: wallet on %v, token service off %v, %d live; want on, on, 2 (the later request wins)", on, off, live)
	}
	if sw, _ := lp.History(ctx, f.acc.ID, f.ph.ID); len(sw) != 1 || sw[0].OnAt.IsZero() {
		t.Fatalf("records: got %+v, want the one switch closed", sw)
	}
	if n, err := lp.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("Recover again: got %d, %v, want nothing left", n, err)
	}
}
