package phone_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/phone/phonetest"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/qpboc"
	"github.com/tapwallet/tapwallet/tsp"
)

const password = "password-123"

// world is a platform on port 0 and a logged-in, registered phone with one
// card added through the wallet service and the token service.
type world struct {
	p     *platform.Platform
	ph    *phone.Phone
	card  *bank.Cardholder
	token string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	p, err := platform.Start(ctx, platform.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", ArgonTime: 1, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ph := phonetest.Registered(t, filepath.Join(t.TempDir(), "phone"), p.URL, "tapper@example.com", password, "test phone")
	var green *bank.Cardholder
	for i := range p.Banks.Cards {
		c := &p.Banks.Cards[i]
		if c.IDV == bank.Green && c.Expiry.Year >= 2028 {
			green = c
			break
		}
	}
	if green == nil {
		t.Fatal("no green test card")
	}
	res, err := ph.AddCard(ctx, green.PAN.Digits(), green.Expiry.MMYY(), green.CVN2.Digits())
	if err != nil || res.Card == nil {
		t.Fatalf("add card: %v %+v", err, res)
	}
	return &world{p: p, ph: ph, card: green, token: res.Card.Token}
}

// pos runs one charge on a terminal listening on loopback; it returns the
// listener's address and a channel with the outcome.
type chargeOut struct {
	res *kernel.Result
	see []*kernel.Result
	err error
}

func pos(t *testing.T, k *kernel.Kernel, amount money.Amount) (string, <-chan chargeOut) {
	return posWith(t, k, amount, nil)
}

func posWith(t *testing.T, k *kernel.Kernel, amount money.Amount, online kernel.GoOnline) (string, <-chan chargeOut) {
	t.Helper()
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out := make(chan chargeOut, 1)
	go func() {
		defer cancel()
		defer l.Close()
		res, see, err := k.ChargeOnline(ctx, l, kernel.Transaction{Amount: amount}, nil, online)
		out <- chargeOut{res, see, err}
	}()
	return l.Addr().String(), out
}

// chipFromRequest packs the 0100, unpacks it as the network would and
// returns the token and DE55 tags.
func chipFromRequest(t *testing.T, k *kernel.Kernel, res *kernel.Result) (string, map[emv.Tag][]byte) {
	t.Helper()
	req, err := k.AuthorizationRequest(res, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := req.Pack()
	if err != nil {
		t.Fatal(err)
	}
	m, err := iso8583.Unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	de2, _ := m.String(iso8583.DEPAN)
	de55, _ := m.Bytes(iso8583.DEICC)
	objs, err := emv.Decode(de55)
	if err != nil {
		t.Fatal(err)
	}
	chip := map[emv.Tag][]byte{}
	for _, o := range objs {
		chip[o.Tag] = o.Value
	}
	return de2, chip
}

// enrolledWorld is newWorld with the right thumb enrolled, and a terminal.
func enrolledWorld(t *testing.T) (*world, *kernel.Kernel) {
	t.Helper()
	w := newWorld(t)
	if err := w.ph.EnrollFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(kernel.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return w, k
}

// TestTapAuthorizes is the whole tap with a phone provisioned by the token
// service: without a fingerprint the terminal gets "see phone"; with one,
// the ARQC made by the phone verifies at the token service with keys
// derived again from the issuer master key; a replay and an altered amount
// are declined.
func TestTapAuthorizes(t *testing.T) {
	w, k := enrolledWorld(t)
	ctx := context.Background()
	addr, done := pos(t, k, money.Fen(1234))

	rep, err := w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := rep.Last(); !ok || ev.Kind != applet.SeePhone {
		t.Fatalf("first tap without fingerprint: got %+v, want see phone", rep.Events)
	}
	if err := w.ph.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	rep, err = w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := rep.Last()
	if ev.Kind != applet.Paid || ev.Amount != 1234 || ev.Merchant != "TAPWALLET MART" {
		t.Fatalf("second tap: got %+v, want paid 1234 at TAPWALLET MART", ev)
	}
	if want := "sent 12.34 CNY at TAPWALLET MART with card ending " + w.card.PAN.Last4(); !strings.HasPrefix(rep.Summary(), want) {
		t.Errorf("summary: got %q, want it to start %q", rep.Summary(), want)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.res.Outcome != kernel.Online || len(o.see) != 1 {
		t.Fatalf("terminal: got %v after %d see-phone taps, want online after 1", o.res.Outcome, len(o.see))
	}

	token, chip := chipFromRequest(t, k, o.res)
	if token != w.token {
		t.Fatalf("DE2: got another token than the phone's")
	}
	got, err := w.p.Tokens.Authorize(ctx, tsp.AuthRequest{Token: token, Contactless: true, Chip: chip})
	if err != nil {
		t.Fatalf("authorize the phone's cryptogram: got %v, want success", err)
	}
	if !got.PAN.Equal(w.card.PAN) || got.ATC != ev.ATC || got.KeyIndex != ev.KeyIndex {
		t.Errorf("authorized PAN %v ATC %d key %d; want the card's PAN, ATC %d, key %d", got.PAN, got.ATC, got.KeyIndex, ev.ATC, ev.KeyIndex)
	}
	got.Forget()

	t.Run("replayed", func(t *testing.T) {
		_, err := w.p.Tokens.Authorize(ctx, tsp.AuthRequest{Token: token, Contactless: true, Chip: chip})
		if !fault.Has(err, fault.Declined, tsp.DeclineATCReplay) {
			t.Errorf("replay: got %v, want declined %s", err, tsp.DeclineATCReplay)
		}
	})

	t.Run("altered amount", func(t *testing.T) {
		if err := w.ph.VerifyFinger("right-thumb"); err != nil {
			t.Fatal(err)
		}
		addr, done := pos(t, k, money.Fen(5000))
		if _, err := w.ph.Tap(ctx, phone.TapOptions{Reader: addr}); err != nil {
			t.Fatal(err)
		}
		o := <-done
		if o.err != nil || o.res.Outcome != kernel.Online {
			t.Fatalf("tap: %v %v", o.err, o.res)
		}
		token, chip := chipFromRequest(t, k, o.res)
		altered := map[emv.Tag][]byte{}
		for tag, v := range chip {
			altered[tag] = v
		}
		amt := append([]byte(nil), chip[0x9F02]...)
		amt[5] ^= 0x01
		altered[0x9F02] = amt
		_, err := w.p.Tokens.Authorize(ctx, tsp.AuthRequest{Token: token, Contactless: true, Chip: altered})
		if !fault.Has(err, fault.Declined, tsp.DeclineCryptogram) {
			t.Errorf("altered amount: got %v, want declined %s", err, tsp.DeclineCryptogram)
		}
		// Nothing was consumed: the genuine data still authorizes.
		r, err := w.p.Tokens.Authorize(ctx, tsp.AuthRequest{Token: token, Contactless: true, Chip: chip})
		if err != nil {
			t.Errorf("genuine data after the altered one: got %v, want success", err)
		}
		r.Forget()
	})
}

// TestTapWrongFingersLock: five wrong fingers lock payments; taps get "see
// phone" even with the right finger until the account password unlocks.
func TestTapWrongFingersLock(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.ph.EnrollFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < phone.MaxFingerFailures; i++ {
		_ = w.ph.VerifyFinger("left-thumb")
	}
	if err := w.ph.VerifyFinger("right-thumb"); fault.CodeOf(err) != "payments_locked" {
		t.Fatalf("right finger after 5 wrong: got %v, want payments_locked", err)
	}
	k, err := kernel.New(kernel.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	addr, done := pos(t, k, money.Fen(100))
	rep, err := w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := rep.Last(); !ok || ev.Kind != applet.SeePhone {
		t.Errorf("tap while locked: got %+v, want see phone", rep.Events)
	}
	if err := w.ph.Unlock(ctx, "wrong password"); err == nil {
		t.Errorf("unlock with a wrong password: got nil, want an error")
	}
	if st, _ := w.ph.Fingers(); !st.Locked {
		t.Errorf("after a wrong password: unlocked, want still locked")
	}
	if err := w.ph.Unlock(ctx, password); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if err := w.ph.VerifyFinger("right-thumb"); err != nil {
		t.Fatalf("right finger after unlock: %v", err)
	}
	rep, err = w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := rep.Last(); !ok || ev.Kind != applet.Paid {
		t.Errorf("tap after unlock: got %+v, want paid", rep.Events)
	}
	if o := <-done; o.err != nil || o.res.Outcome != kernel.Online {
		t.Errorf("terminal: got %v %v, want online", o.err, o.res)
	}
}

func TestPaymentCardsOrder(t *testing.T) {
	p, err := phone.Open(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	p.Profile.Cards = []phone.Card{
		{Token: "6288010000001239", TokenLast4: "1239", PANLast4: "0004", Bank: "icbc", AID: "A000000333010101", Expiry: "1230", PSN: "00", State: "active"},
		{Token: "6288020000004562", TokenLast4: "4562", PANLast4: "0012", Bank: "cmb", AID: "A000000333010102", Expiry: "1230", PSN: "01", State: "active", Default: true},
		{Token: "6288030000000000", TokenLast4: "0000", Bank: "boc", AID: "A000000333010101", Expiry: "1230", State: "suspended"},
	}
	tests := []struct {
		name, ref string
		want      []string
		code      string
	}{
		{"default first", "", []string{"6288020000004562", "6288010000001239"}, ""},
		{"chosen card first", "0004", []string{"6288010000001239", "6288020000004562"}, ""},
		{"unknown card", "9999", nil, "card_not_found"},
		{"suspended card", "0000", nil, "card_inactive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cards, err := p.PaymentCards(tc.ref)
			if fault.CodeOf(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("got error %v, want %q", err, tc.code)
			}
			var got []string
			for _, c := range cards {
				got = append(got, c.Token)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("card %d: got %s, want %s", i, got[i], tc.want[i])
				}
			}
		})
	}
	cards, _ := p.PaymentCards("")
	if cards[0].Label != "CMB 4562" || cards[0].PSN != 1 {
		t.Errorf("default card: got label %q PSN %d, want CMB 4562 and 1", cards[0].Label, cards[0].PSN)
	}
}

// posOnline is pos with a terminal that goes online while the phone stays
// on the link and tells it the answer.
func posOnline(t *testing.T, k *kernel.Kernel, amount money.Amount, answer qpboc.Outcome) (string, <-chan chargeOut) {
	return posWith(t, k, amount, func(context.Context, *kernel.Result) *qpboc.Outcome { return &answer })
}

// Issue 9 item 13: the phone learns the bank's answer from the terminal
// and says it; a decline is an error.
func TestTapLearnsOutcome(t *testing.T) {
	w, k := enrolledWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		answer  qpboc.Outcome
		summary string // the start of the summary
		err     bool
	}{
		{"approved", qpboc.Outcome{ARC: "00", Message: "APPROVED"}, "paid 12.34 CNY at TAPWALLET MART with card ending " + w.card.PAN.Last4(), false},
		{"declined 51", qpboc.Outcome{ARC: "51", Message: "DECLINED"}, "declined: 51 insufficient funds (12.34 CNY at TAPWALLET MART", true},
		{"no answer", qpboc.Outcome{ARC: qpboc.ARCUnableOnline}, "not paid: the terminal could not reach the bank", true},
		{"terminal error", qpboc.Outcome{Message: "printer jam"}, "the terminal reported an error: printer jam", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := w.ph.VerifyFinger("right-thumb"); err != nil {
				t.Fatal(err)
			}
			addr, done := posOnline(t, k, money.Fen(1234), tc.answer)
			rep, err := w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Summary(); !strings.HasPrefix(got, tc.summary) {
				t.Errorf("summary: got %q, want it to start %q", got, tc.summary)
			}
			if err := rep.Err(); (err != nil) != tc.err || (err != nil && !strings.HasPrefix(fault.MessageOf(err), tc.summary)) {
				t.Errorf("Err: got %v, want error %v saying %q", err, tc.err, tc.summary)
			}
			o := <-done
			if o.err != nil || o.res.Answer == nil || o.res.Answer.ARC != tc.answer.ARC {
				t.Errorf("terminal: got %v answer %+v, want the answer told", o.err, o.res)
			}
		})
	}
}

// Issue 9 item 9: a fingerprint given after the phone showed 12.34 CNY
// pays 12.34 CNY only: a 0.00 EUR read in the window gets "see phone" and
// spends no key; the phone shows the EUR request in letters.
func TestTapConsentCoversShownAmount(t *testing.T) {
	w, k := enrolledWorld(t)
	ctx := context.Background()
	addr, done := pos(t, k, money.Fen(1234))
	rep, err := w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	if want := "see phone: the terminal asks 12.34 CNY at TAPWALLET MART"; !strings.HasPrefix(rep.Summary(), want) {
		t.Fatalf("first tap: got %q, want %q", rep.Summary(), want)
	}
	if err := w.ph.VerifyFinger("right-thumb"); err != nil {
		t.Fatal(err)
	}
	if st, _ := w.ph.Fingers(); st.For == nil || st.For.Amount != 1234 || st.For.Currency != 156 {
		t.Fatalf("consent: got %+v, want for 12.34 CNY", st.For)
	}
	keys := w.ph.SE.KeysLeft(w.token)

	// A reader asking 0.00 EUR in the window.
	cfg := kernel.DefaultConfig()
	cfg.MerchantName = "CARDPEEK"
	reader, err := kernel.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raddr, rdone := pos(t, reader, money.New(0, 978))
	rep, err = w.ph.Tap(ctx, phone.TapOptions{Reader: raddr})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := rep.Last(); ev.Kind != applet.SeePhone {
		t.Fatalf("0.00 EUR in the window: got %+v, want see phone", rep.Events)
	}
	if want := "see phone: the terminal asks 0.00 EUR at CARDPEEK"; !strings.HasPrefix(rep.Summary(), want) {
		t.Errorf("summary: got %q, want %q", rep.Summary(), want)
	}
	if got := w.ph.SE.KeysLeft(w.token); got != keys {
		t.Errorf("keys after the 0.00 EUR read: got %d, want %d (none spent)", got, keys)
	}
	// The store terminal, still waiting, is paid on the next tap.
	rep, err = w.ph.Tap(ctx, phone.TapOptions{Reader: addr})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := rep.Last(); ev.Kind != applet.Paid || ev.Amount != 1234 {
		t.Errorf("store tap: got %+v, want paid 1234", rep.Events)
	}
	if o := <-done; o.err != nil || o.res.Outcome != kernel.Online {
		t.Errorf("store terminal: got %v %v, want online", o.err, o.res)
	}
	_ = rdone // the reader waits for a paying tap until its time runs out
}
