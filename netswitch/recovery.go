package netswitch

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// Recovery. The switch stores each authorization before it asks the
// issuer (intend), so a hold the issuer places always has a record at the
// network, whatever stops the switch afterwards. A record still waiting
// for its answer after RecoverAfter was left by a switch that stopped (a
// kill -9, a crash, a lost machine): the sweep settles it as never
// answered (96: the terminal got no approval and reverses or retries) and
// reverses it at the issuer through the queue of reversals, which is
// itself kept in the store and sent again after every restart until each
// issuer answers.

// recoverBatch bounds the records one sweep settles.
const recoverBatch = 1000

// recoverOnce settles the records left waiting before now−RecoverAfter
// and sends every queued reversal not already being sent. It fails with
// the store's error.
func (s *Switch) recoverOnce(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	left, err := s.cfg.Store.Deciding(ctx, now.Add(-s.cfg.RecoverAfter), recoverBatch)
	if err != nil {
		return err
	}
	settled := 0
	for _, a := range left {
		s.mu.Lock()
		_, mine := s.inflight[a.ID]
		s.mu.Unlock()
		if mine {
			continue // this switch is still deciding it
		}
		err := s.cfg.Store.AbandonAuth(ctx, a.ID, now)
		switch {
		case err == nil:
			settled++
			s.voidHold(ctx, &a) // no answer, no discount: the budget hold goes back, whether the row names it or not
		case fault.Has(err, fault.Conflict, "auth_settled"):
			// Its answer was stored meanwhile.
		default:
			return err
		}
	}
	if settled > 0 {
		s.cfg.Log.Warn("netswitch: settled authorizations a stopped switch left undecided; reversing them at their issuers", "records", settled)
	}
	queued, err := s.cfg.Store.PendingReversals(ctx)
	if err != nil {
		return err
	}
	for _, p := range queued {
		s.sendReversal(p, true)
	}
	return nil
}

// recoverLoop runs the sweep every RecoverAfter/2 until the switch closes.
func (s *Switch) recoverLoop() {
	defer s.bg.Done()
	t := time.NewTicker(max(s.cfg.RecoverAfter/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.recoverOnce(s.ctx); err != nil && s.ctx.Err() == nil {
				s.cfg.Log.Error("netswitch: recovery sweep failed", "err", fault.MessageOf(err))
			}
		}
	}
}
