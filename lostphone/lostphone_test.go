package lostphone_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/lostphone/taptest"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/se"
	"github.com/tapwallet/tapwallet/transit"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/wallet"
)

// fixture is a platform (no HTTP) with one account, its phone with cards,
// and the phone's secure element holding the cards' keys.
type fixture struct {
	p     *platform.Platform
	acc   string
	ph    wallet.Phone
	el    *se.Element
	cards []phone.Card
}

func newFixture(tb testing.TB, nCards int) *fixture {
	tb.Helper()
	ctx := context.Background()
	p, err := platform.New(ctx, platform.Config{DataDir: tb.TempDir(), ArgonTime: 1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	a, err := p.Wallet.SignUp(ctx, "henry@example.com", "password-123", "test")
	if err != nil {
		tb.Fatal(err)
	}
	el, err := se.Open(filepath.Join(tb.TempDir(), "se.json"))
	if err != nil {
		tb.Fatal(err)
	}
	ph, err := p.Wallet.RegisterPhone(ctx, a.ID, "Henry's phone", "Mi 5", el.PublicKey(), "test")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{p: p, acc: a.ID, ph: ph, el: el}
	for i := range p.Banks.Cards {
		c := &p.Banks.Cards[i]
		if len(f.cards) == nCards {
			break
		}
		if c.IDV != bank.Green || c.Expiry.Year < 2027 {
			continue
		}
		dev := tsp.Device{ID: ph.ID, AccountID: ph.AccountID, PublicKey: ph.PublicKey}
		res, err := p.Tokens.AddCard(ctx, tsp.AddCardRequest{Device: dev, PAN: c.PAN.Digits(), Expiry: c.Expiry.MMYY(), CVN2: c.CVN2.Digits()})
		if err != nil {
			tb.Fatal(err)
		}
		t := res.Card.Token
		if _, err := el.InstallKeys(t.Number.Digits(), res.Card.KeyBatch); err != nil {
			tb.Fatal(err)
		}
		f.cards = append(f.cards, phone.Card{Token: t.Number.Digits(), TokenLast4: t.Number.Last4(), AID: t.AID, Expiry: t.Expiry.MMYY(), PSN: t.PSN, BankName: res.Card.BankName})
	}
	return f
}

func (f *fixture) req() lostphone.Request {
	return lostphone.Request{AccountID: f.acc, PhoneID: f.ph.ID, Actor: "portal:" + f.acc, Source: "192.0.2.7"}
}

// pay taps card i and authorizes it: "approved" or the decline code.
func (f *fixture) pay(tb testing.TB, i int) string {
	chip, err := taptest.Tap(f.el, f.cards[i], 990, time.Now())
	if err != nil {
		return "tap: " + fault.CodeOf(err)
	}
	res, err := f.p.Tokens.Authorize(context.Background(), taptest.Request(f.cards[i].Token, chip))
	if err != nil {
		return fault.CodeOf(err)
	}
	res.Forget()
	return "approved"
}

func TestSwitchOffAndOn(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	lp := f.p.Lost
	// The issuer suspended card 2 on its own: switching on must not resume it.
	if err := f.p.Tokens.Suspend(ctx, f.cards[2].Token, "issuer:bank", "fraud review"); err != nil {
		t.Fatal(err)
	}
	off, err := lp.SwitchOff(ctx, f.req())
	if err != nil {
		t.Fatal(err)
	}
	if !off.Changed || len(off.Tokens) != 2 || off.Phone.WalletOn || len(off.Transit) != 0 {
		t.Fatalf("switch-off: got %+v, want 2 tokens suspended, wallet off, no transit card", off)
	}
	for i, want := range []string{tsp.DeclineSuspended, tsp.DeclineSuspended, tsp.DeclineSuspended} {
		if got := f.pay(t, i); got != want {
			t.Fatalf("card %d after switch-off: got %s, want %s", i, got, want)
		}
	}
	again, err := lp.SwitchOff(ctx, f.req())
	if err != nil || again.Changed || len(again.Tokens) != 0 || again.Switch.ID != off.Switch.ID {
		t.Fatalf("switch-off again: got %+v, %v, want nothing changed", again, err)
	}
	on, err := lp.SwitchOn(ctx, f.req())
	if err != nil {
		t.Fatal(err)
	}
	if len(on.Tokens) != 2 || !on.Phone.WalletOn || on.Switch.OnSource != "192.0.2.7" {
		t.Fatalf("switch-on: got %+v, want the 2 tokens of the switch resumed", on)
	}
	states := map[string]tsp.State{}
	toks, _ := f.p.Tokens.Cards(ctx, f.ph.ID)
	for _, tk := range toks {
		states[tk.Number.Digits()] = tk.State
	}
	if states[f.cards[0].Token] != tsp.Active || states[f.cards[1].Token] != tsp.Active || states[f.cards[2].Token] != tsp.Suspended {
		t.Fatalf("states after switch-on: got %v, want the issuer's suspension kept", states)
	}
	if _, err := lp.SwitchOn(ctx, f.req()); !fault.Has(err, fault.Conflict, "wallet_on") {
		t.Fatalf("switch-on twice: got %v, want wallet_on", err)
	}
	// Keys were retired at the switch-off: the old ones no longer pay.
	if got := f.pay(t, 0); got != tsp.DeclineKeyExpired {
		t.Fatalf("old key after switch-on: got %s, want %s", got, tsp.DeclineKeyExpired)
	}
	ci, err := lp.CheckIn(ctx, f.ph, &lostphone.Location{Lat: 22.5431, Lon: 114.0579})
	if err != nil {
		t.Fatal(err)
	}
	if !ci.WalletOn || len(ci.Commands) != 2 || !ci.FreshKeys {
		t.Fatalf("check-in: got %+v, want wipe + fresh keys", ci)
	}
	for _, c := range f.cards {
		f.el.Wipe(c.Token)
	}
	if n := f.sync(t); n != 2 {
		t.Fatalf("sync: got %d key batches, want 2 (the issuer-suspended card gets none)", n)
	}
	if got := f.pay(t, 0); got != "approved" {
		t.Fatalf("fresh key: got %s, want approved", got)
	}
	ph, _ := f.p.Wallet.Store.Phone(ctx, f.ph.ID)
	if ph.Lat == nil || *ph.Lat != 22.5431 {
		t.Fatalf("reported place: got %v, want 22.5431", ph.Lat)
	}
	hist, err := lp.History(ctx, f.acc, f.ph.ID)
	if err != nil || len(hist) != 1 || hist[0].OffBy != "portal:"+f.acc || hist[0].OnAt.IsZero() {
		t.Fatalf("history: got %+v, %v", hist, err)
	}
}

func TestAskAndBadInput(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	lp := f.p.Lost
	other, _ := f.p.Wallet.SignUp(ctx, "ivy@example.com", "password-123", "test")
	tests := []struct {
		name, account, phoneID, kind, msg string
		want                              string
	}{
		{"ring", f.acc, f.ph.ID, lostphone.CommandRing, "", ""},
		{"message", f.acc, f.ph.ID, lostphone.CommandMessage, "Call 555-0100", ""},
		{"empty message", f.acc, f.ph.ID, lostphone.CommandMessage, " ", "bad_command"},
		{"long message", f.acc, f.ph.ID, lostphone.CommandMessage, string(make([]rune, 201)), "bad_command"},
		{"wipe is not asked for", f.acc, f.ph.ID, lostphone.CommandWipeKeys, "", "bad_command"},
		{"another account's phone", other.ID, f.ph.ID, lostphone.CommandRing, "", "phone_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lp.Ask(ctx, lostphone.Request{AccountID: tt.account, PhoneID: tt.phoneID, Actor: "t"}, tt.kind, tt.msg)
			if got := fault.CodeOf(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := lp.SwitchOff(ctx, lostphone.Request{AccountID: other.ID, PhoneID: f.ph.ID}); fault.CodeOf(err) != "phone_not_found" {
		t.Fatalf("switch-off by another account: got %v, want phone_not_found", err)
	}
	if _, err := lp.CheckIn(ctx, f.ph, &lostphone.Location{Lat: 95, Lon: 0}); fault.CodeOf(err) != "bad_location" {
		t.Fatalf("check-in at latitude 95: got %v, want bad_location", err)
	}
	pend, _ := lp.Pending(ctx, f.acc, f.ph.ID)
	if len(pend) != 2 || pend[0].Message != "This phone is lost. Please call its owner." {
		t.Fatalf("pending: got %+v, want the ring (with its default text) and the message", pend)
	}
}

// BenchmarkSwitchOffToDecline measures the time from the start of a
// switch-off to the first authorization of the phone's card declined
// (token_suspended): the switch itself, then the very next authorization.
// The phone holds 8 cards (the most a phone can). Each round switches the
// wallet back on and refills keys outside the timer.
func BenchmarkSwitchOffToDecline(b *testing.B) {
	f := newFixture(b, 8)
	ctx := context.Background()
	lp := f.p.Lost
	for b.Loop() {
		b.StopTimer()
		chip, err := taptest.Tap(f.el, f.cards[0], 990, time.Now())
		if err != nil {
			f.refill(b)
			chip, err = taptest.Tap(f.el, f.cards[0], 990, time.Now())
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := lp.SwitchOff(ctx, f.req()); err != nil {
			b.Fatal(err)
		}
		_, err = f.p.Tokens.Authorize(ctx, taptest.Request(f.cards[0].Token, chip))
		b.StopTimer()
		if fault.CodeOf(err) != tsp.DeclineSuspended {
			b.Fatalf("authorization after switch-off: got %v, want %s", err, tsp.DeclineSuspended)
		}
		if _, err := lp.SwitchOn(ctx, f.req()); err != nil {
			b.Fatal(err)
		}
		f.refill(b)
		b.StartTimer()
	}
}

// refill wipes the phone's keys and syncs for fresh ones.
func (f *fixture) refill(tb testing.TB) {
	for _, c := range f.cards {
		f.el.Wipe(c.Token)
	}
	f.sync(tb)
}

// sync runs the phone's sync with the token service (tsp.Replenish) and
// installs the batches; it returns how many batches came.
func (f *fixture) sync(tb testing.TB) int {
	var logs []tsp.TokenLog
	for _, c := range f.cards {
		atc, unused := f.el.KeyIndexes(c.Token)
		logs = append(logs, tsp.TokenLog{Token: c.Token, ATC: atc, Unused: append([]int{}, unused...)})
	}
	res, err := f.p.Tokens.Replenish(context.Background(), tsp.Device{ID: f.ph.ID, AccountID: f.ph.AccountID, PublicKey: f.ph.PublicKey}, logs)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, r := range res {
		if r.KeyBatch == nil {
			continue
		}
		if _, err := f.el.InstallKeys(r.Token, r.KeyBatch); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return n
}

// TestSwitchOffHotListsTransit issues a Beijing transit card into the
// phone, switches the wallet off (the card goes on Beijing's hot list,
// which the gates fetch) and back on (it comes off).
func TestSwitchOffHotListsTransit(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	if f.p.Transit == nil {
		t.Fatal("the platform has no transit operators")
	}
	iss, err := f.p.Transit.Issue(ctx, transit.Phone{ID: f.ph.ID, AccountID: f.acc, PublicKey: f.ph.PublicKey}, "beijing", f.cards[0].Token, "lost-test-1")
	if err != nil {
		t.Fatal(err)
	}
	onList := func() bool {
		h, err := f.p.Transit.HotList(ctx, "beijing")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h.Cards {
			if c == iss.Card.Number {
				return true
			}
		}
		return false
	}
	off, err := f.p.Lost.SwitchOff(ctx, f.req())
	if err != nil {
		t.Fatal(err)
	}
	if len(off.Transit) != 1 || off.Transit[0] != iss.Card.Number || !onList() {
		t.Fatalf("switch-off: got transit %v, on the hot list %v, want the card blocked", off.Transit, onList())
	}
	cards, err := f.p.Lost.TransitCards(ctx, f.acc, f.ph.ID)
	if err != nil || len(cards) != 1 || cards[0].State != "blocked" {
		t.Fatalf("transit cards while off: got %+v, %v, want the card blocked", cards, err)
	}
	on, err := f.p.Lost.SwitchOn(ctx, f.req())
	if err != nil {
		t.Fatal(err)
	}
	if len(on.Transit) != 1 || onList() {
		t.Fatalf("switch-on: got transit %v, on the hot list %v, want the card unblocked", on.Transit, onList())
	}
}
