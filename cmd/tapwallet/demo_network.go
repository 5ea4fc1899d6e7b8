package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/isolink"
	"github.com/tapwallet/tapwallet/kernel"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/tsp"
)

// networkChapter: the terminal's authorization goes over ISO 8583 to the
// card network, which has the token service check the token and swap it
// for the card number, and the issuing bank approves against its ledger
// with a hold; a card with ¥10 is declined for insufficient funds; a
// replayed cryptogram is declined; at the end of the day clearing posts the
// holds and nets the banks' positions.
func (d *demo) networkChapter() error {
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	net, err := isolink.Dial(ctx, d.p.ISOAddr, isolink.Options{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer net.Close()
	ph := d.alice
	cards, err := ph.Cards(ctx)
	if err != nil || len(cards) == 0 {
		return d.check(false, "Alice's phone has no cards (%v)", err)
	}
	card := cards[0]
	// One terminal for the chapter: its trace numbers (DE11) run on.
	k, err := kernel.New(kernel.DefaultConfig())
	if err != nil {
		return err
	}

	d.say("Alice pays ¥38.50 with her default card; the terminal sends the authorization to the card network")
	req, resp, err := d.payOnline(ctx, k, net, ph, card.Token, money.Fen(3850))
	if err != nil {
		return err
	}
	rc, _ := resp.ResponseCode()
	if err := d.check(rc.Approved(), "the payment got %s, want 00", rc); err != nil {
		return err
	}
	code, _ := resp.String(iso8583.DEAuthID)
	de2, _ := resp.String(iso8583.DEPAN)
	d.ok("ISO 8583 over TCP to %s: 0110 approved, auth code %s", d.p.ISOAddr, code)
	if pd, err := promoAnswer(resp); err == nil && pd != nil {
		d.ok("a promotion applied at the terminal (DE124): %s, ¥%s off — she is charged ¥%s", pd.Name, money.FormatMinor(pd.Discount, 2), money.FormatMinor(pd.Gross-pd.Discount, 2))
	}
	d.ok("the network checked the token, its counter, its limited-use key, the ARQC and the fingerprint, swapped the token for the card number for %s,", card.BankName)
	d.ok("and the answer comes back with the token (ending %s), never the card number, and an ARPC for the phone in DE55 tag 91", last4Of(de2))
	if bal, held, err := d.cardBalance(ctx, card); err == nil {
		d.ok("%s placed a hold: the card ending %s has %s available, %s held", card.BankName, card.PANLast4, bal, held)
	}

	d.say("Someone replays the recorded authorization with a new trace number")
	replay := req.Clone()
	_ = replay.SetSTAN(iso8583.STAN(time.Now().UnixNano()%900000 + 1))
	replay.SetTransmissionTime(time.Now())
	resp, err = net.Send(ctx, replay)
	if err != nil {
		return err
	}
	rc, _ = resp.ResponseCode()
	if err := d.check(rc == iso8583.SuspectedFraud, "the replay got %s, want 59", rc); err != nil {
		return err
	}
	d.ok("declined %s: the counter and the limited-use key were already used; no hold, and a security event for Alice", rc)

	d.say("Bob's card has ¥10 on it; he tries to pay ¥25.00")
	bob, lowCard, err := d.bobWithLowCard(ctx)
	if err != nil {
		return err
	}
	_, resp, err = d.payOnline(ctx, k, net, bob, lowCard.Token, money.Fen(2500))
	if err != nil {
		return err
	}
	rc, _ = resp.ResponseCode()
	if err := d.check(rc == iso8583.InsufficientFunds, "the payment got %s, want 51", rc); err != nil {
		return err
	}
	d.ok("the token checks pass; %s declines: %s", lowCard.BankName, rc)

	d.say("Both phones show the outcome in their payment history")
	for _, who := range []struct {
		name string
		ph   *phone.Phone
	}{{"Alice", ph}, {"Bob", bob}} {
		h, err := who.ph.History(ctx, 5)
		if err != nil {
			return err
		}
		for _, pm := range h {
			d.ok("%s: %s", who.name, pm.Describe())
		}
	}

	d.say("Alice's phone syncs: the token service checks its key log and sends fresh limited-use keys")
	res, err := ph.Sync(ctx)
	if err != nil {
		return err
	}
	for _, c := range res {
		if c.Token != card.Token {
			continue
		}
		if err := d.check(!c.Suspended, "the sync suspended the token: %v", c.Mismatches); err != nil {
			return err
		}
		d.ok("token ending %s: %d limited-use keys → %d keys", c.TokenLast4, c.KeysBefore, c.KeysAfter)
		for _, m := range c.Mismatches {
			if err := d.check(m.Kind == tsp.MismatchUnseenUse, "the sync found %s: %s", m.Kind, m.Detail); err != nil {
				return err
			}
			d.ok("reported as a security event: %s (the first tap of the story never reached the network)", m.Detail)
		}
	}

	d.say("End of the day: clearing")
	date := time.Now().UTC().Format("20060102")
	rep, err := d.p.Clear(ctx, date, filepath.Join(d.dir, "clearing"))
	if err != nil {
		return err
	}
	if err := d.check(len(rep.Flags()) == 0 && len(rep.Banks) >= 1 && rep.Network == 0, "clearing flagged %d presentments", len(rep.Flags())); err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(rep.Text(), "\n"), "\n") {
		fmt.Fprintf(d.out, "    %s\n", line)
	}
	for _, f := range rep.Files {
		d.ok("wrote %s", f)
	}
	again, err := d.p.Clear(ctx, date, "")
	if err != nil {
		return err
	}
	posted := 0
	for _, it := range again.Items {
		if it.Outcome == "posted" {
			posted++
		}
	}
	if err := d.check(posted == 0, "clearing the day again posted %d presentments", posted); err != nil {
		return err
	}
	d.ok("clearing the day again posts nothing twice")
	return nil
}

// payOnline runs a tap at a terminal (fingerprint verified first) and sends
// the terminal's 0100 to the network; it returns the request and the answer.
func (d *demo) payOnline(ctx context.Context, k *kernel.Kernel, net *isolink.Client, ph *phone.Phone, token string, amount money.Amount) (*iso8583.Message, *iso8583.Message, error) {
	l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	type charged struct {
		res *kernel.Result
		err error
	}
	done := make(chan charged, 1)
	go func() {
		res, _, err := k.Charge(ctx, l, kernel.Transaction{Amount: amount}, func(string) {})
		done <- charged{res, err}
	}()
	if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
		return nil, nil, err
	}
	if _, err := ph.Tap(ctx, phone.TapOptions{Reader: l.Addr().String(), Card: token}); err != nil {
		return nil, nil, err
	}
	c := <-done
	if c.err != nil {
		return nil, nil, c.err
	}
	if err := d.check(c.res.Outcome == kernel.Online, "the tap ended %v, want online", c.res.Outcome); err != nil {
		return nil, nil, err
	}
	req, err := k.AuthorizationRequest(c.res, time.Now())
	if err != nil {
		return nil, nil, err
	}
	resp, err := net.Send(ctx, req)
	return req, resp, err
}

// bobWithLowCard makes Bob's phone with the ¥10 test card.
func (d *demo) bobWithLowCard(ctx context.Context) (*phone.Phone, phone.Card, error) {
	var low *bank.Cardholder
	for i := range d.p.Banks.Cards {
		c := &d.p.Banks.Cards[i]
		if c.IDV == bank.Green && c.Product == bank.Debit && c.Funds().Minor == 1000 && c.Expiry.Year >= 2027 {
			low = c
			break
		}
	}
	if low == nil {
		return nil, phone.Card{}, d.check(false, "no ¥10 debit test card in the bank configuration")
	}
	bob, err := phone.Open(filepath.Join(d.dir, "phone-bob"), d.p.URL)
	if err != nil {
		return nil, phone.Card{}, err
	}
	const email, pw = "bob@example.com", "correct horse battery staple"
	if err := bob.SignUp(ctx, email, pw); err != nil {
		return nil, phone.Card{}, err
	}
	if err := bob.LogIn(ctx, email, pw); err != nil {
		return nil, phone.Card{}, err
	}
	if _, err := bob.Register(ctx, "Bob's phone", "Xiaomi Mi 5"); err != nil {
		return nil, phone.Card{}, err
	}
	res, err := bob.AddCard(ctx, low.PAN.Digits(), low.Expiry.MMYY(), low.CVN2.Digits())
	if err != nil {
		return nil, phone.Card{}, err
	}
	if err := bob.EnrollFinger(phone.DefaultFinger); err != nil {
		return nil, phone.Card{}, err
	}
	d.ok("Bob's phone holds the %s debit card ending %s (balance %s)", res.Card.BankName, res.Card.PANLast4, low.Funds())
	return bob, *res.Card, nil
}

// cardBalance reads a card's account at its issuer: available and held.
func (d *demo) cardBalance(ctx context.Context, c phone.Card) (money.Amount, money.Amount, error) {
	h := d.p.Issuers.Hosts[c.Bank]
	if h == nil {
		return money.Amount{}, money.Amount{}, fmt.Errorf("no issuer host for %s", c.Bank)
	}
	for _, ch := range d.p.Banks.CardsOf(c.Bank) {
		if ch.PAN.Last4() != c.PANLast4 {
			continue
		}
		id, ok := h.AccountFor(ch.PAN)
		if !ok {
			break
		}
		as, err := h.Ledger().LookupAccounts(ctx, []string{id})
		if err != nil || len(as) != 1 {
			break
		}
		return money.Fen(as[0].Available()), money.Fen(as[0].DebitsPending), nil
	}
	return money.Amount{}, money.Amount{}, fmt.Errorf("card not found at its bank")
}

func last4Of(s string) string {
	if len(s) < 4 {
		return s
	}
	return s[len(s)-4:]
}
