package kernel

import (
	"context"
	"errors"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/nfc"
)

// Display is where the terminal shows its messages to the person paying.
type Display func(message string)

// Charge waits on l for phones to tap until one gives an outcome other
// than SeePhone: after "see phone" it shows MessageSeePhone and waits for
// the next tap; after a tap that fails (link dropped, bad answer) it shows
// "card read error: tap again" and waits too. Each tap's link is closed
// when the tap ends. It returns the final tap's result (Online, Declined
// or NeedsSync), with the SeePhone taps before it in seePhone; or, when ctx
// ends first, fault.Unavailable "no_tap" (wrapping the last tap's error,
// if any).
func (k *Kernel) Charge(ctx context.Context, l *nfc.Listener, tx Transaction, show Display) (res *Result, seePhone []*Result, err error) {
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
		show(res.Message)
		return res, seePhone, nil
	}
}
