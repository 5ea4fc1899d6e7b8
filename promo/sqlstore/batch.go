package sqlstore

import (
	"context"
	"errors"
	"github.com/tapwallet/tapwallet/fault"

	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
)

// Batch is a promo.Store whose reservations are group-committed: the
// Reserve calls of concurrent authorizations run as one transaction, each
// in its own savepoint, so a refused one (budget, card limit) is rolled
// back alone and the others commit together — one commit for many
// authorizations. Everything else goes straight to the store underneath.
type Batch struct {
	*Store
	b *sqldb.Batcher[promo.Hold, reserved]
}

var _ promo.Store = (*Batch)(nil)

// reserved is one reservation's answer in a batch.
type reserved struct {
	h   promo.Hold
	err error
}

// NewBatch wraps s with one batch worker (every reservation of a campaign
// updates its one row: concurrent batches would only wait on its lock).
// It never fails; Close stops it.
func NewBatch(s *Store) *Batch {
	return &Batch{Store: s, b: sqldb.NewBatcher(1, 500, sqldb.Serialized(s.DB, s.reserveBatch))}
}

// Reserve places h in the next batch; it answers as Store.Reserve, or
// with fault.Unavailable after Close.
func (b *Batch) Reserve(ctx context.Context, h promo.Hold) (promo.Hold, error) {
	if err := checkHold(h); err != nil {
		return promo.Hold{}, err
	}
	r, err := b.b.Do(ctx, h)
	if err != nil {
		return promo.Hold{}, err
	}
	return r.h, r.err
}

// Close stops the batch worker, then closes the store if Open opened it.
func (b *Batch) Close() error {
	b.b.Close()
	return b.Store.Close()
}

// reserveBatch reserves hs in one transaction, each in a savepoint: a
// refusal rolls back to it and is that hold's answer; a storage error
// fails the batch (each caller gets it; nothing was reserved).
func (s *Store) reserveBatch(ctx context.Context, hs []promo.Hold) ([]reserved, error) {
	out := make([]reserved, len(hs))
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		sctx := s.sqliteCtx(ctx)
		for i, h := range hs {
			if _, err := tx.Exec(sctx, `SAVEPOINT promo_hold`); err != nil {
				return err
			}
			got, err := s.reserveIn(ctx, tx, h)
			if err != nil && !refused(err) {
				return err
			}
			if err != nil {
				if _, rerr := tx.Exec(sctx, `ROLLBACK TO SAVEPOINT promo_hold`); rerr != nil {
					return rerr
				}
			}
			if _, rerr := tx.Exec(sctx, `RELEASE SAVEPOINT promo_hold`); rerr != nil {
				return rerr
			}
			out[i] = reserved{got, err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// refused reports whether err is a refusal of the rules, not a storage
// failure.
func refused(err error) bool {
	return errors.Is(err, promo.ErrBudget) || errors.Is(err, promo.ErrCardLimit) ||
		errors.Is(err, promo.ErrNotOpen) || errors.Is(err, promo.ErrHoldConflict)
}

var _ promo.MirrorStore = (*Batch)(nil)

// Restore stores holds a switch decided (promo.Hold.Decided) and named in
// its records, which a stop may have kept from the wing (the switch answers
// once its record names the hold, the wing stores it behind): a hold stored
// already is left as it is (idempotent by id), in transactions of up to
// 500. It returns how many the tables refused (their rules), and fails
// when the storage does.
func (s *Store) Restore(ctx context.Context, hs []promo.Hold) (int, error) {
	refused := 0
	for start := 0; start < len(hs); start += 500 {
		part := hs[start:min(start+500, len(hs))]
		for i := range part {
			part[i].Decided = true
		}
		out, err := s.reserveBatch(ctx, part)
		if err != nil {
			return refused, err
		}
		for _, r := range out {
			if r.err != nil {
				refused++
			}
		}
	}
	return refused, nil
}

var _ promo.DecidedStore = (*Batch)(nil)

// ReserveDecided stores holds a mirror decided (promo.DecidedStore), in
// one transaction and without the rules' checks the mirror made: each
// hold's row (an id held already is returned as it is stored, or its
// error), then each campaign's reserved total once and each card's use
// rows once. The budget's CHECK (reserved + spent ≤ budget) is the last
// guard: a batch it refuses stores nothing and fails as a whole (the
// mirror then stores each hold through Reserve, which answers each). It
// fails with fault.Unavailable when the storage does.
func (s *Store) ReserveDecided(ctx context.Context, hs []promo.Hold) ([]promo.Hold, []error, error) {
	gots, errs := make([]promo.Hold, len(hs)), make([]error, len(hs))
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		sctx := s.sqliteCtx(ctx)
		type key struct{ campaign, card, day string }
		camps := map[string][2]int64{}
		uses := map[key][2]int64{}
		var order []key
		var campOrder []string
		for i, h := range hs {
			if err := checkHold(h); err != nil {
				errs[i] = err
				continue
			}
			h.Status, h.Refunded = promo.HoldPending, 0
			if h.ExpiresAt.IsZero() {
				h.ExpiresAt = h.At.Add(promo.HoldTimeout)
			}
			n, err := exec(sctx, tx, `INSERT INTO promo_holds (id, campaign_id, card, day, amount, at_ms, expires_ms, status, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (id) DO NOTHING`, h.ID, h.Campaign, h.Card, h.Day(), h.Amount,
				sqldb.Millis(h.At), sqldb.Millis(h.ExpiresAt), sqldb.Millis(tx.Now))
			if err != nil {
				return err
			}
			if n == 0 {
				prev, err := scanHold(queryRow(sctx, tx, `SELECT `+holdColumns+` FROM promo_holds WHERE id = ?`, h.ID))
				if err != nil {
					return err
				}
				gots[i] = prev
				if prev.Campaign != h.Campaign || prev.Card != h.Card || prev.Amount != h.Amount {
					errs[i] = fault.E(fault.Conflict, "promo_hold_conflict", "hold %s exists for another campaign, card or amount", h.ID)
				}
				continue
			}
			gots[i] = h
			if _, ok := camps[h.Campaign]; !ok {
				campOrder = append(campOrder, h.Campaign)
			}
			c := camps[h.Campaign]
			camps[h.Campaign] = [2]int64{c[0] + h.Amount, c[1] + 1}
			for _, day := range []string{h.Day(), ""} {
				k := key{h.Campaign, h.Card, day}
				if _, ok := uses[k]; !ok {
					order = append(order, k)
				}
				u := uses[k]
				uses[k] = [2]int64{u[0] + 1, u[1] + h.Amount}
			}
		}
		for _, id := range campOrder {
			c := camps[id]
			if _, err := exec(sctx, tx, `UPDATE promo_campaigns SET reserved = reserved + ?, reserved_count = reserved_count + ?, updated_at = ? WHERE id = ?`,
				c[0], c[1], sqldb.Millis(tx.Now), id); err != nil {
				return err
			}
		}
		for _, k := range order {
			u := uses[k]
			if _, err := exec(sctx, tx, `INSERT INTO promo_card_usage (campaign_id, card, day, reserved_count, reserved_amount) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (campaign_id, card, day) DO UPDATE SET reserved_count = promo_card_usage.reserved_count + excluded.reserved_count,
				reserved_amount = promo_card_usage.reserved_amount + excluded.reserved_amount`, k.campaign, k.card, k.day, u[0], u[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return gots, errs, nil
}
