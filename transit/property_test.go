package transit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/applet"
	"github.com/tapwallet/tapwallet/gate"
	"github.com/tapwallet/tapwallet/nfc"
	"github.com/tapwallet/tapwallet/transit"
)

// rapidTB lets a rapid run use the world: temporary folders come from the
// outer test, clean-ups run when the run ends.
type rapidTB struct {
	*rapid.T
	outer    *testing.T
	cleanups []func()
}

func (r *rapidTB) TempDir() string   { return r.outer.TempDir() }
func (r *rapidTB) Cleanup(f func())  { r.cleanups = append(r.cleanups, f) }
func (r *rapidTB) Fatal(args ...any) { r.T.Fatal(args...) }

// dropOnce loses the answer to the first DEBIT: the card debits, the gate
// never hears it (a phone pulled away).
type dropOnce struct {
	card    nfc.Card
	dropped bool
}

func (d *dropOnce) Exchange(ctx context.Context, cmd []byte) (nfc.Exchange, error) {
	if !d.dropped && len(cmd) > 1 && cmd[1] == apdu.InsDebitForPurchase {
		d.dropped = true
		d.card.Process(cmd)
		return nfc.Exchange{}, errors.New("link dropped")
	}
	return gate.Direct(d.card).Exchange(ctx, cmd)
}

// TestNoMoneyAppearsOrVanishes: after any sequence of loads (completed,
// or paid and refunded), rides (some pulled away), clearing, refunds and
// moves, the operator's float equals the balances it has cleared plus the
// loads pending; and once every gate has uploaded, each live card's
// cleared balance is what the card itself holds.
func TestNoMoneyAppearsOrVanishes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := &rapidTB{T: rt, outer: t}
		defer func() {
			for i := len(r.cleanups) - 1; i >= 0; i-- {
				r.cleanups[i]()
			}
		}()
		w := newWorld(r, openWing(r, "", r.TempDir()))
		phones := []*phone{w.phone("ph1", "acc1"), w.phone("ph2", "acc1")}
		w.issue(phones[0], "shanghai", "issue-1")
		live := map[*phone]bool{phones[0]: true}
		gates := []*gate.Gate{w.gate("shanghai", "L2", "peoples-square"), w.gate("shanghai", "L2", "pudong-airport"),
			w.gate("shanghai", "B71", "b71-bund"), w.gate("shanghai", "L1", "xujiahui")}
		refs := 0
		ref := func() string { refs++; return fmt.Sprintf("r%d", refs) }
		pick := func(label string) *phone {
			var ps []*phone
			for _, p := range phones {
				if live[p] {
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				return nil
			}
			return ps[rapid.IntRange(0, len(ps)-1).Draw(rt, label)]
		}
		files := 0
		clearGate := func(g *gate.Gate) {
			ids, recs := g.Config().Journal.Unsent(0)
			if len(ids) == 0 {
				return
			}
			files++
			w.clear(transit.File{ID: fmt.Sprintf("f%d", files), City: "shanghai", Terminal: g.Config().SAM.Terminal(), Created: w.now, Records: recs})
			if err := g.Config().Journal.MarkSent(ids); err != nil {
				rt.Fatal(err)
			}
		}
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			w.now = w.now.Add(time.Duration(rapid.IntRange(1, 90).Draw(rt, "minutes")) * time.Minute)
			switch rapid.SampledFrom([]string{"load", "load", "lost-load", "ride", "ride", "ride", "pulled", "clear", "refund", "move"}).Draw(rt, "action") {
			case "load":
				if p := pick("phone"); p != nil {
					info, _ := p.purse.Info()
					c := w.card(p.card)
					room := min(100000-info.Balance, 100000-c.Balance)
					if room > 0 {
						w.load(p, rapid.Int64Range(1, min(room, 20000)).Draw(rt, "amount"), ref())
					}
				}
			case "lost-load":
				if p := pick("phone"); p != nil {
					l, err := w.svc.StartLoad(w.ctx, p.ph, p.card, 1000, "tok", ref())
					if err != nil {
						if transit.CardActive == w.card(p.card).State {
							continue // over the cap the operator knows
						}
						rt.Fatal(err)
					}
					var in *transit.InitLoad
					if rapid.Bool().Draw(rt, "signed") {
						if _, _, err := w.svc.SignLoad(w.ctx, p.ph, l.ID, w.initLoad(p, 1000)); err != nil {
							rt.Fatal(err)
						}
						fresh := w.initLoad(p, 1000)
						in = &fresh
					}
					if _, err := w.svc.RefundLoad(w.ctx, p.ph, l.ID, in); err != nil {
						rt.Fatal(err)
					}
				}
			case "ride", "pulled":
				if p := pick("phone"); p != nil {
					g := gates[rapid.IntRange(0, len(gates)-1).Draw(rt, "gate")]
					var link gate.Link = gate.Direct(applet.NewDispatcher(p.purse))
					if rapid.Bool().Draw(rt, "pull") {
						link = &dropOnce{card: applet.NewDispatcher(p.purse)}
					}
					if _, err := g.Tap(w.ctx, link); err != nil {
						rt.Fatal(err)
					}
				}
			case "clear":
				clearGate(gates[rapid.IntRange(0, len(gates)-1).Draw(rt, "gate")])
			case "refund":
				if p := pick("phone"); p != nil && rapid.IntRange(0, 3).Draw(rt, "rarely") == 0 {
					ch, err := w.svc.StartClose(w.ctx, p.ph, p.card)
					if err != nil {
						rt.Fatal(err)
					}
					cl, err := p.purse.Close(ch)
					if err != nil {
						rt.Fatal(err)
					}
					if _, err := w.svc.Refund(w.ctx, p.ph, p.card, cl); err != nil {
						rt.Fatal(err)
					}
					delete(live, p)
				}
			case "move":
				if p := pick("phone"); p != nil {
					to := phones[0]
					if to == p {
						to = phones[1]
					}
					if live[to] {
						continue
					}
					ch, err := w.svc.StartClose(w.ctx, p.ph, p.card)
					if err != nil {
						rt.Fatal(err)
					}
					cl, err := p.purse.Close(ch)
					if err != nil {
						rt.Fatal(err)
					}
					info, _ := p.purse.Info()
					var log [][]byte
					for _, l := range info.Log {
						log = append(log, l.Marshal())
					}
					m, err := w.svc.Move(w.ctx, p.ph, to.ph, p.card, cl, info.Trip.Marshal(), log)
					if err != nil {
						rt.Fatal(err)
					}
					to.el.SetAppletData("transit-shanghai", nil)
					w.install(to, "shanghai", m.Card.Number, m.Sealed)
					if err := w.svc.ConfirmMove(w.ctx, to.ph, m.Card.Number); err != nil {
						rt.Fatal(err)
					}
					delete(live, p)
					live[to] = true
				}
			}
			w.checkFloat("shanghai")
		}
		// Every gate uploads; a pulled tap never recovered stays grey (not
		// charged): the card then holds less than the operator believes
		// only by those grey amounts.
		for _, g := range gates {
			if _, err := g.Sweep(0); err != nil {
				rt.Fatal(err)
			}
			clearGate(g)
		}
		w.checkFloat("shanghai")
		for p := range live {
			info, _ := p.purse.Info()
			c := w.card(p.card)
			grey := greyAmount(w, p.card)
			if c.Balance-grey != info.Balance {
				for _, g := range gates {
					rt.Logf("gate %x pending %d", g.Config().SAM.Terminal(), len(g.Config().Journal.Pending()))
				}
				w.svc.Store.InTx(w.ctx, func(tx transit.Tx) error {
					for atc := 0; atc < 40; atc++ {
						if r, err := tx.Ride(p.card, atc); err == nil {
							rt.Logf("ride %d %s %d", atc, r.Status, r.Record.Amount)
						}
					}
					return nil
				})
				for _, l := range info.Log {
					rt.Logf("log %d type %x amount %d", l.ATC, l.Type, l.Amount)
				}
				rt.Fatalf("card %s: operator believes %d (grey %d), the card holds %d", p.card, c.Balance, grey, info.Balance)
			}
		}
	})
}

// greyAmount sums the grey records of a card that no final record
// replaced.
func greyAmount(w *world, card string) int64 {
	var sum int64
	w.svc.Store.InTx(w.ctx, func(tx transit.Tx) error {
		sum = 0
		for atc := 0; atc < 200; atc++ {
			r, err := tx.Ride(card, atc)
			if err == nil && r.Status == transit.StatusGrey {
				sum += r.Record.Amount
			}
		}
		return nil
	})
	return sum
}
