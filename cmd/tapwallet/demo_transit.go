package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/tapwallet/tapwallet/epurse"
	"github.com/tapwallet/tapwallet/fare"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/phone"
	"github.com/tapwallet/tapwallet/sam"
	"github.com/tapwallet/tapwallet/transit"
)

// transitChapter: Alice adds a Shanghai transit card, tops it up with
// ¥50 from her bank card, rides the metro through two offline gates in
// express mode (no fingerprint), changes to a bus with the transfer
// discount, and sees her balance and history; the gates upload their
// records and the operator clears them.
func (d *demo) transitChapter() error {
	ph := d.alice
	ctx, cancel := context.WithTimeout(d.ctx, 60*time.Second)
	defer cancel()

	d.say("Alice adds a Shanghai Public Transportation Card to her phone, paying with her fingerprint")
	if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
		return err
	}
	tc, err := ph.TransitAdd(ctx, "shanghai", "")
	if err != nil {
		return err
	}
	city, _ := fare.Default().City("shanghai")
	d.ok("card %s personalised into the secure element by %s (keys diversified for this card, sealed to the phone)", tc.Number, city.Operator)
	d.ok("paid from her default bank card over the card network (an in-app cryptogram, the operator as merchant): issue fee %s + refundable deposit %s",
		money.Fen(city.Product.IssueFee), money.Fen(city.Product.Deposit))

	d.say("She tops it up with ¥50: a payment, then a signed load (card MAC1 → operator → MAC2 → card TAC)")
	if err := ph.VerifyFinger(phone.DefaultFinger); err != nil {
		return err
	}
	t, err := ph.TransitTopUp(ctx, "shanghai", 5000, "")
	if err != nil {
		return err
	}
	if err := d.check(t.Balance == 5000, "balance after the top-up is %d fen, want 5000", t.Balance); err != nil {
		return err
	}
	d.ok("load %s confirmed by the card's TAC; balance %s", t.LoadID, money.Fen(t.Balance))

	mk, err := transit.MasterKeys(d.p.Keys, city.ID)
	if err != nil {
		return err
	}
	type station struct{ line, station string }
	gates := map[string]*gate.Gate{}
	for name, at := range map[string]station{"in": {"L2", "peoples-square"}, "out": {"L2", "lujiazui"}, "bus": {"B71", "b71-bund"}} {
		l, err := city.Line(at.line)
		if err != nil {
			return err
		}
		s, err := l.Station(at.station)
		if err != nil {
			return err
		}
		j, err := gate.OpenJournal(filepath.Join(d.dir, "gate-"+name))
		if err != nil {
			return err
		}
		defer j.Close()
		sm, err := sam.New(epurse.Alg(city), epurse.MasterKeys{Purchase: mk.Purchase, Maintenance: mk.Maintenance}, gate.TerminalOf(l, s, 1), j)
		if err != nil {
			return err
		}
		gates[name], err = gate.New(gate.Config{City: city, Line: l, Station: s, Device: 1, SAM: sm, Journal: j})
		if err != nil {
			return err
		}
	}
	tap := func(g *gate.Gate) (gate.Outcome, error) {
		l, err := nfc.Listen("127.0.0.1:0", nfc.Config{})
		if err != nil {
			return gate.Outcome{}, err
		}
		defer l.Close()
		type result struct {
			o   gate.Outcome
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := l.Accept(ctx)
			if err != nil {
				done <- result{err: err}
				return
			}
			o, err := g.Tap(ctx, r)
			r.Close()
			done <- result{o, err}
		}()
		if _, err := ph.Tap(ctx, phone.TapOptions{Reader: l.Addr().String()}); err != nil {
			return gate.Outcome{}, err
		}
		res := <-done
		return res.o, res.err
	}

	d.say("At People's Square she holds the locked phone to the Line 2 entry gate — no fingerprint")
	o, err := tap(gates["in"])
	if err != nil {
		return err
	}
	if err := d.check(o.Result == gate.Entered, "the entry gate says %s (%s), want entered", o.Result, o.Message); err != nil {
		return err
	}
	d.ok("gate opens: %s — %d APDUs, %d bytes, tap %.2f ms, estimated air time %.1f ms (a gate allows 300 ms)", o.Message, o.Exchanges, o.Bytes, ms(o.Elapsed), ms(o.Air))

	d.say("She rides to Lujiazui and taps out: the gate prices the ride from the entry record and debits it")
	o, err = tap(gates["out"])
	if err != nil {
		return err
	}
	if err := d.check(o.Result == gate.Exited && o.Charged == 300, "the exit gate says %s charged %d, want exited 300", o.Result, o.Charged); err != nil {
		return err
	}
	d.ok("%.1f km from %s: %s — trip record and debit written together (compound purchase), TAC kept for clearing", float64(o.Fare.Metres)/1000, o.Entry, o.Message)

	d.say("She changes to the number 71 bus on Yan'an Road within two hours")
	o, err = tap(gates["bus"])
	if err != nil {
		return err
	}
	if err := d.check(o.Result == gate.Boarded && o.Charged == 100 && o.Fare.TransferOff == 100, "the bus says %s charged %d (transfer -%d), want boarded 100 after ¥1 off", o.Result, o.Charged, o.Fare.TransferOff); err != nil {
		return err
	}
	d.ok("fare %s, metro-to-bus transfer discount %s: %s", money.Fen(o.Fare.Base), money.Fen(o.Fare.TransferOff), o.Message)

	d.say("The gates upload their records; the operator verifies every TAC and clears them")
	op := &gate.Operator{URL: d.p.URL, City: city.ID}
	for _, name := range []string{"in", "out", "bus"} {
		_, rcs, err := gates[name].Upload(ctx, op, 100)
		if err != nil {
			return err
		}
		for _, rc := range rcs {
			if err := d.check(rc.Accepted == rc.Records && rc.Forged+rc.Replayed+rc.Gaps == 0, "clearing file %s: %+v", rc.FileID, rc); err != nil {
				return err
			}
			d.ok("file %s: %d record(s) accepted, %s", rc.FileID, rc.Accepted, money.Fen(rc.Amount))
		}
	}

	d.say("Her balance and history on the phone")
	cards, err := ph.TransitCards()
	if err != nil {
		return err
	}
	if err := d.check(len(cards) == 1 && cards[0].Balance == 4600, "the card holds %v, want ¥46.00", cards); err != nil {
		return err
	}
	view, err := ph.TransitOperatorView(ctx, "shanghai")
	if err != nil {
		return err
	}
	if err := d.check(view.Balance == 4600, "the operator believes %d fen, want 4600", view.Balance); err != nil {
		return err
	}
	d.ok("balance %s on the card, %s cleared by the operator", money.Fen(cards[0].Balance), money.Fen(view.Balance))
	rides, err := ph.TransitHistory("shanghai")
	if err != nil {
		return err
	}
	for _, r := range rides {
		where := r.Station
		if r.Line != "" {
			where += ", " + r.Line
		}
		d.ok("%-5s %-40s %s", r.Kind, where, money.Fen(r.Fen))
	}
	return nil
}
