package kernel

import (
	"context"
	"errors"

	"github.com/tapwallet/tapwallet/apdu"
	"github.com/tapwallet/tapwallet/qpboc"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/nfc"
)

// Display is where the terminal shows its messages to the person paying.
type Display func(message string)

// Charge waits on l for phones to tap until one gives an outcome other
// than SeePhone: after "see phone" it shows MessageSeePhone and waits for
// the next tap; after a tap that fails (link dropped, bad answer) it shows
// "card read error: tap again" and waits too. Each tap's link is closed
// when the tap ends; before that, a tap declined by the terminal or
// failed on the card's answer is told to the phone (Tell). It returns the
// final tap's result (Online, Declined or NeedsSync), with the SeePhone
// taps before it in seePhone; or, when ctx ends first, fault.Unavailable
// "no_tap" (wrapping the last tap's error, if any).
func (k *Kernel) Charge(ctx context.Context, l *nfc.Listener, tx Transaction, show Display) (res *Result, seePhone []*Result, err error) {
	return k.ChargeOnline(ctx, l, tx, show, nil)
}

// GoOnline sends the authorization of an Online tap (the phone is still on
// the link) and returns what the terminal tells the phone of it: the
// issuer's response code and authentication data (Answer), or
// qpboc.ARCUnableOnline when no answer came; nil tells the phone nothing
// (a terminal that only prints its request). It must not take longer than
// the phone waits (phone tap --timeout, 30 s by default).
type GoOnline func(ctx context.Context, res *Result) *qpboc.Outcome

// ChargeOnline is Charge for a terminal that keeps the phone's link open
// while it goes online: after the tap that ends Online it calls online and
// tells the phone the outcome (Tell) before it closes the link, so the
// phone shows "declined: 51 insufficient funds" and not a payment. The
// outcome is in the Result's Answer. A nil online is Charge.
func (k *Kernel) ChargeOnline(ctx context.Context, l *nfc.Listener, tx Transaction, show Display, online GoOnline) (res *Result, seePhone []*Result, err error) {
	if show == nil {
		show = func(string) {}
	}
	show("present phone: " + tx.Amount.String())
	var last error
	for {
		r, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				if last != nil {
					return nil, seePhone, fault.Wrap(last, fault.Unavailable, "no_tap", "no successful tap before the time ran out")
				}
				return nil, seePhone, fault.E(fault.Unavailable, "no_tap", "no tap before the time ran out")
			}
			return nil, seePhone, fault.Wrap(err, fault.Unavailable, "no_tap", "the terminal stopped listening")
		}
		res, err := k.Run(ctx, r, tx)
		switch {
		case err != nil && errors.Is(err, ErrCardAnswer):
			k.Tell(ctx, r, res, qpboc.Outcome{Message: "card read error: tap again"})
		case err == nil && res.Outcome == Declined:
			k.Tell(ctx, r, res, qpboc.Outcome{ARC: qpboc.ARCOfflineDeclined, Message: MessageDeclined + ": " + res.Reason})
		case err == nil && res.Outcome == Online && online != nil:
			show(res.Message)
			if o := online(ctx, res); o != nil {
				k.Tell(ctx, r, res, *o)
			}
		}
		_ = r.PowerOff(ctx)
		_ = r.Close()
		if err != nil {
			if errors.Is(err, ErrNoApplication) {
				show("no supported card: use another card")
			} else {
				show("card read error: tap again")
			}
			last = err
			continue
		}
		if res.Outcome == SeePhone {
			show(MessageSeePhone)
			seePhone = append(seePhone, res)
			continue
		}
		if online == nil || res.Outcome != Online {
			show(res.Message)
		}
		return res, seePhone, nil
	}
}

// Tell sends the terminal's outcome to the phone on the link (PUT DATA
// FF71, see qpboc.Outcome) and records it in res.Answer and the trace. It
// returns the link's error, or fault.Invalid "card_answer" when the phone
// does not take it (an outside card that does not know the command
// answers 6D00; that is no fault of the payment).
func (k *Kernel) Tell(ctx context.Context, r *nfc.Reader, res *Result, o qpboc.Outcome) error {
	if res == nil {
		return nil
	}
	res.Answer = &o
	t := &tap{k: k, r: r, res: res}
	resp, err := t.exchange(ctx, "PUT DATA (outcome)", apdu.Command{CLA: 0x80, INS: apdu.InsPutData,
		P1: byte(qpboc.TagOutcome >> 8), P2: byte(qpboc.TagOutcome & 0xFF), Data: o.Bytes()})
	if err != nil {
		return err
	}
	if resp.SW != apdu.SWSuccess {
		return cardError("the phone did not take the outcome (%04X)", uint16(resp.SW))
	}
	return nil
}
