package issuer

import (
	"context"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/promo/points"
)

// PointsCard is one card's points at its bank as a PointsStore keeps
// them: named by the card's payment account reference (PAR), never its
// number.
type PointsCard struct {
	PAR string
	// Account is the card's money account in the bank's ledger, bound
	// when the first purchase of the card posts ("" before).
	Account string
	// Lots are the card's lots, oldest first, with the purchase each
	// came from.
	Lots []PointsLot
	// Applied is every points operation applied (its points.Book id, such
	// as "accrue:<purchase>") → the points it moved.
	Applied map[string]int64
	// Open are ledger accounts an update needs created before its
	// transfers (the card's points account, with its first purchase);
	// those that exist stay.
	Open []ledger.Account
}

// PointsLot is a lot of points and the purchase that earned it: what
// clearing posted of it and what refunds of it already took points back
// for, so that partial refunds take back exactly what they should
// (points.TakenBack).
type PointsLot struct {
	points.Lot
	Amount   int64 // fen posted
	Refunded int64 // fen refunded and taken back for
}

// clone returns a deep copy of c.
func (c PointsCard) clone() PointsCard {
	c.Lots = append([]PointsLot(nil), c.Lots...)
	c.Applied = maps.Clone(c.Applied)
	c.Open = nil
	if c.Applied == nil {
		c.Applied = map[string]int64{}
	}
	return c
}

// Live returns the points left in lots that have not expired at now, and
// the oldest such lot (ok false when none). It never fails.
func (c PointsCard) Live(now time.Time) (balance int64, oldest PointsLot, ok bool) {
	for _, l := range c.Lots {
		if l.Left > 0 && l.Expires.After(now) {
			balance += l.Left
			if !ok {
				oldest, ok = l, true
			}
		}
	}
	return balance, oldest, ok
}

// lot returns the lot of a purchase, nil when it has none.
func (c *PointsCard) lot(id string) *PointsLot {
	for i := range c.Lots {
		if c.Lots[i].ID == id {
			return &c.Lots[i]
		}
	}
	return nil
}

// book returns the card's points.Book under program p.
func (c *PointsCard) book(p *points.Program) *points.Book {
	lots := make([]points.Lot, len(c.Lots))
	for i, l := range c.Lots {
		lots[i] = l.Lot
	}
	return points.RestoreBook(p, c.PAR, lots, c.Applied)
}

// keep takes back what b did: its lots (new ones get amount) and its
// applied operations.
func (c *PointsCard) keep(b *points.Book, newAmount map[string]int64) {
	old := map[string]PointsLot{}
	for _, l := range c.Lots {
		old[l.ID] = l
	}
	c.Lots = c.Lots[:0]
	for _, l := range b.Lots {
		pl, ok := old[l.ID]
		if !ok {
			pl.Amount = newAmount[l.ID]
		}
		pl.Lot = l
		c.Lots = append(c.Lots, pl)
	}
	c.Applied = b.Applied()
}

// PointsStore keeps the points of a bank's cards (issuer/sqlstore: the
// table points_lots of the bank's wing) and applies each points operation
// together with the ledger transfers that record it.
type PointsStore interface {
	// UpdatePoints runs fn on the card par of bankID (an empty card when
	// it has none yet), alone: concurrent updates of one card, in any
	// number of processes, run one after the other. What fn leaves in the
	// card and the transfers it returns are kept together, in the bank's
	// ledger and the store, or neither: when fn fails, or a transfer is
	// refused by the ledger (an error of the result's kind), nothing is
	// kept. It fails with fn's error, the ledger's, or the store's.
	UpdatePoints(ctx context.Context, bankID, par string, fn func(c *PointsCard) ([]ledger.Transfer, error)) error
	// PointsCard returns a card's points (an empty card, no error, when it
	// has none).
	PointsCard(ctx context.Context, bankID, par string) (PointsCard, error)
	// PointsDue returns the PARs of the cards with points left in a lot
	// that expires at or before now.
	PointsDue(ctx context.Context, bankID string, now time.Time) ([]string, error)
	// LotOwner returns the PAR of the card holding the lot of a purchase
	// (its hold id); false when no card has one.
	LotOwner(ctx context.Context, bankID, lotID string) (string, bool, error)
}

// MemPoints is a PointsStore in memory, applying the transfers in Ledger.
type MemPoints struct {
	Ledger ledger.Store
	mu     sync.Mutex
	cards  map[string]PointsCard
}

// UpdatePoints runs fn on a copy of the card and keeps it when the ledger
// applied every transfer (the transfers are linked: all or none).
func (m *MemPoints) UpdatePoints(ctx context.Context, bankID, par string, fn func(c *PointsCard) ([]ledger.Transfer, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cards == nil {
		m.cards = map[string]PointsCard{}
	}
	key := bankID + "\x00" + par
	c, ok := m.cards[key]
	if !ok {
		c = PointsCard{PAR: par}
	}
	c = c.clone()
	ts, err := fn(&c)
	if err != nil {
		return err
	}
	if len(c.Open) > 0 {
		if err := ApplyAccounts(ctx, m.Ledger, c.Open); err != nil {
			return err
		}
		c.Open = nil
	}
	if err := ApplyTransfers(ctx, m.Ledger, ts); err != nil {
		return err
	}
	m.cards[key] = c
	return nil
}

// ApplyTransfers applies a points operation's transfers in a ledger and
// fails with the first refusal's error (ledger.Result.Err) when one is not
// applied, or with the ledger's error.
func ApplyTransfers(ctx context.Context, l ledger.Store, ts []ledger.Transfer) error {
	if len(ts) == 0 {
		return nil
	}
	rs, err := l.CreateTransfers(ctx, ts)
	if err != nil {
		return err
	}
	return Refused(ts, rs)
}

// Refused returns the error of the first transfer of ts whose result is
// neither ok nor exists (the one that broke a linked chain, not the
// others' linked_event_failed), or nil.
func Refused(ts []ledger.Transfer, rs []ledger.Result) error {
	first := -1
	for i, r := range rs {
		if r.Applied() {
			continue
		}
		if r != ledger.LinkedEventFailed {
			return fault.Wrap(r.Err(), fault.KindOf(r.Err()), fault.CodeOf(r.Err()), "points transfer %s refused: %s", ts[i].ID, r)
		}
		if first < 0 {
			first = i
		}
	}
	if first >= 0 {
		return fault.E(fault.Conflict, "points_ledger", "points transfer %s refused: %s", ts[first].ID, rs[first])
	}
	return nil
}

// PointsCard returns a copy of the card; it never fails.
func (m *MemPoints) PointsCard(_ context.Context, bankID, par string) (PointsCard, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cards[bankID+"\x00"+par]
	if !ok {
		return PointsCard{PAR: par, Applied: map[string]int64{}}, nil
	}
	return c.clone(), nil
}

// PointsDue returns the cards with a lot due; it never fails.
func (m *MemPoints) PointsDue(_ context.Context, bankID string, now time.Time) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for key, c := range m.cards {
		if !strings.HasPrefix(key, bankID+"\x00") {
			continue
		}
		for _, l := range c.Lots {
			if l.Left > 0 && !l.Expires.After(now) {
				out = append(out, c.PAR)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// LotOwner finds the card of a lot; it never fails.
func (m *MemPoints) LotOwner(_ context.Context, bankID, lotID string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, c := range m.cards {
		if !strings.HasPrefix(key, bankID+"\x00") {
			continue
		}
		if c.lot(lotID) != nil {
			return c.PAR, true, nil
		}
	}
	return "", false, nil
}
