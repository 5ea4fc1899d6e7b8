package switchtest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/netswitch"
)

// Memory is a netswitch.Store and RefundStore in memory, for tests of the
// switch's users (clearing, the payment history) that need no database;
// every method is safe for concurrent use and answers like the SQL store.
type Memory struct {
	mu       sync.Mutex
	auths    map[string]netswitch.Auth
	early    map[string]netswitch.Reversal
	pending  map[string]netswitch.PendingReversal
	refunds  map[string]netswitch.Refund
	claims   map[string]claim // refund id → its claim on an original
	refunded map[string]int64 // original id → what its refunds claim
	received []string         // auth ids in arrival order
}

type claim struct {
	original string
	amount   int64
}

var (
	_ netswitch.Store       = (*Memory)(nil)
	_ netswitch.RefundStore = (*Memory)(nil)
)

// NewMemory returns an empty store; it never fails.
func NewMemory() *Memory {
	return &Memory{auths: map[string]netswitch.Auth{}, early: map[string]netswitch.Reversal{},
		pending: map[string]netswitch.PendingReversal{}, refunds: map[string]netswitch.Refund{},
		claims: map[string]claim{}, refunded: map[string]int64{}}
}

func exists() error {
	return fault.E(fault.Conflict, netswitch.CodeAuthExists, "an authorization with this identity is already stored")
}

func settled() error {
	return fault.E(fault.Conflict, netswitch.CodeAuthSettled, "the authorization is no longer being decided")
}

func notFound() error {
	return fault.E(fault.NotFound, netswitch.CodeAuthNotFound, "no such authorization")
}

func clone(a netswitch.Auth) netswitch.Auth {
	a.SealedPAN, a.Answer = slices.Clone(a.SealedPAN), slices.Clone(a.Answer)
	return a
}

// SaveAuth stores a new record; see netswitch.Store.
func (m *Memory) SaveAuth(_ context.Context, a netswitch.Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.auths[a.ID]; ok {
		return exists()
	}
	m.auths[a.ID] = clone(a)
	m.received = append(m.received, a.ID)
	return nil
}

// FinishAuth stores the answer of a record being decided.
func (m *Memory) FinishAuth(_ context.Context, a netswitch.Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.auths[a.ID]
	if !ok || !r.Deciding() {
		return settled()
	}
	r.ResponseCode, r.Reason, r.AuthCode, r.Answer, r.AnsweredAt = a.ResponseCode, a.Reason, a.AuthCode, slices.Clone(a.Answer), a.AnsweredAt
	m.auths[a.ID] = r
	return nil
}

// Deciding returns records being decided received before t, oldest first.
func (m *Memory) Deciding(_ context.Context, before time.Time, limit int) ([]netswitch.Auth, error) {
	return m.list(func(a netswitch.Auth) bool { return a.Deciding() && a.ReceivedAt.Before(before) }, false, limit), nil
}

// AbandonAuth settles a record being decided as 96 interrupted and queues
// its reversal.
func (m *Memory) AbandonAuth(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.auths[id]
	if !ok || !a.Deciding() {
		return settled()
	}
	a.ResponseCode, a.Reason, a.AnsweredAt, a.ReversedAt, a.ReversalRC, a.ClearAmount = iso8583.SystemMalfunction, netswitch.ReasonInterrupted, at, at, "SF", 0
	m.auths[id] = a
	if a.SealedPAN != nil {
		m.pending[id] = netswitch.PendingReversal{Auth: clone(a), QueuedAt: at}
	}
	return nil
}

// QueueReversal keeps a reversal, replacing one for the same original.
func (m *Memory) QueueReversal(_ context.Context, p netswitch.PendingReversal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.Auth = clone(p.Auth)
	m.pending[p.Auth.ID] = p
	return nil
}

// DoneReversal forgets a queued reversal of that remaining amount.
func (m *Memory) DoneReversal(_ context.Context, originalID string, remaining int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pending[originalID]; ok && p.Remaining == remaining {
		delete(m.pending, originalID)
	}
	return nil
}

// PendingReversals returns the queued reversals, oldest first.
func (m *Memory) PendingReversals(context.Context) ([]netswitch.PendingReversal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netswitch.PendingReversal
	for _, p := range m.pending {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].QueuedAt.Equal(out[j].QueuedAt) {
			return out[i].QueuedAt.Before(out[j].QueuedAt)
		}
		return out[i].Auth.ID < out[j].Auth.ID
	})
	return out, nil
}

// Auth returns a record or a marker by identity.
func (m *Memory) Auth(_ context.Context, id string) (netswitch.Auth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.auths[id]
	if !ok {
		return a, notFound()
	}
	return clone(a), nil
}

// MarkReversed records a reversal lowering what remains to clear.
func (m *Memory) MarkReversed(_ context.Context, id string, at time.Time, rc string, remaining int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.auths[id]
	if !ok || a.Early() {
		return notFound()
	}
	if a.ReversedAt.IsZero() || a.ClearAmount > remaining {
		a.ReversedAt, a.ReversalRC, a.ClearAmount = at, rc, remaining
		m.auths[id] = a
	}
	return nil
}

// SaveEarlyReversal claims an unknown original's identity with a marker.
func (m *Memory) SaveEarlyReversal(_ context.Context, r netswitch.Reversal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.auths[r.OriginalID]; ok && !a.Early() {
		return exists()
	} else if !ok {
		at := r.At.UTC()
		m.auths[r.OriginalID] = netswitch.Auth{ID: r.OriginalID, RRN: r.RRN, ResponseCode: iso8583.DoNotHonour,
			Reason: netswitch.ReasonReversedBeforeArrival, BusinessDate: at.Format("20060102"), ReceivedAt: at, AnsweredAt: at}
	}
	if _, ok := m.early[r.OriginalID]; !ok {
		m.early[r.OriginalID] = r
	}
	return nil
}

// SettleEarly stores an original's record over its reversal's marker.
func (m *Memory) SettleEarly(_ context.Context, a netswitch.Auth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.auths[a.ID]; !ok || r.Digest != "" {
		return exists()
	}
	m.auths[a.ID] = clone(a)
	m.received = append(m.received, a.ID)
	return nil
}

// ReversalFor returns the remembered reversal of an original.
func (m *Memory) ReversalFor(_ context.Context, originalID string) (netswitch.Reversal, error) {
	return lookup(m, m.early, originalID, "reversal_not_found", "no reversal remembered for this authorization")
}

// lookup returns recs[id] under m's lock, or fault.NotFound code.
func lookup[T any](m *Memory, recs map[string]T, id, code, msg string) (T, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := recs[id]
	if !ok {
		return r, fault.E(fault.NotFound, code, "%s", msg)
	}
	return r, nil
}

// list returns the records (never markers) that keep says, by arrival,
// newest first when newest, at most limit (0: all).
func (m *Memory) list(keep func(netswitch.Auth) bool, newest bool, limit int) []netswitch.Auth {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netswitch.Auth
	for _, id := range m.received {
		if a := m.auths[id]; a.Digest != "" && keep(a) {
			out = append(out, clone(a))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	if newest {
		slices.Reverse(out)
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// PhoneAuths returns a phone's records, newest first.
func (m *Memory) PhoneAuths(_ context.Context, phoneID string, limit int) ([]netswitch.Auth, error) {
	return m.list(func(a netswitch.Auth) bool { return a.PhoneID == phoneID }, true, orFifty(limit)), nil
}

// TokenAuths returns the records of the tokens, newest first.
func (m *Memory) TokenAuths(_ context.Context, tokens []string, limit int) ([]netswitch.Auth, error) {
	return m.list(func(a netswitch.Auth) bool { return slices.Contains(tokens, a.Token.Digits()) }, true, orFifty(limit)), nil
}

// orFifty is a listing's limit: 50 unless given.
func orFifty(limit int) int {
	if limit <= 0 {
		return 50
	}
	return limit
}

// DayAuths returns the records of a business date, oldest first.
func (m *Memory) DayAuths(_ context.Context, businessDate string) ([]netswitch.Auth, error) {
	return m.list(func(a netswitch.Auth) bool { return a.BusinessDate == businessDate }, false, 0), nil
}

// MarkCleared records the first clearing of records.
func (m *Memory) MarkCleared(_ context.Context, ids []string, clearingDate string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	update(m.auths, ids, func(a *netswitch.Auth) {
		a.ClearedAt, a.ClearingDate = first(a.ClearedAt, at, a.ClearingDate, clearingDate)
	})
	return nil
}

// update applies fn to the records of ids that exist.
func update[T any](recs map[string]T, ids []string, fn func(*T)) {
	for _, id := range ids {
		if r, ok := recs[id]; ok {
			fn(&r)
			recs[id] = r
		}
	}
}

// first keeps a clearing already recorded, else takes the new one.
func first(was, at time.Time, wasDate, date string) (time.Time, string) {
	if !was.IsZero() {
		return was, wasDate
	}
	return at, date
}

// ClaimRefund claims amount of what is left of an approved original; see
// netswitch.RefundStore.
func (m *Memory) ClaimRefund(_ context.Context, refundID, originalID string, amount int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[refundID]; ok {
		if c != (claim{originalID, amount}) {
			return fault.E(fault.Conflict, netswitch.CodeRefundExists, "a refund with this identity claimed another original or amount")
		}
		return nil
	}
	a, ok := m.auths[originalID]
	if !ok || !a.Approved() {
		return fault.E(fault.NotFound, "original_not_found", "the refund's original is not an approved authorization")
	}
	if m.refunded[originalID]+amount > a.ClearAmount {
		return fault.E(fault.Conflict, netswitch.CodeRefundExceeds, "the refund exceeds what is left of its original")
	}
	m.refunded[originalID] += amount
	m.claims[refundID] = claim{originalID, amount}
	return nil
}

// SaveRefund stores a new refund record, giving back the claim of one not
// approved.
func (m *Memory) SaveRefund(_ context.Context, r netswitch.Refund) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.refunds[r.ID]; ok {
		return fault.E(fault.Conflict, netswitch.CodeRefundExists, "a refund with this identity is already stored")
	}
	r.Answer = slices.Clone(r.Answer)
	m.refunds[r.ID] = r
	if c, ok := m.claims[r.ID]; ok && !r.Approved() {
		m.refunded[c.original] -= c.amount
		delete(m.claims, r.ID)
	}
	return nil
}

// Refund returns a refund record by identity.
func (m *Memory) Refund(_ context.Context, id string) (netswitch.Refund, error) {
	return lookup(m, m.refunds, id, "refund_not_found", "no such refund")
}

// Refunded sums the approved refunds of an original.
func (m *Memory) Refunded(_ context.Context, originalID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, r := range m.refunds {
		if r.OriginalID == originalID && r.Approved() {
			n += r.Amount.Minor
		}
	}
	return n, nil
}

// DayRefunds returns the refunds of a business date, oldest first.
func (m *Memory) DayRefunds(_ context.Context, businessDate string) ([]netswitch.Refund, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netswitch.Refund
	for _, r := range m.refunds {
		if r.BusinessDate == businessDate {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ReceivedAt.Equal(out[j].ReceivedAt) {
			return out[i].ReceivedAt.Before(out[j].ReceivedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// MarkRefundsCleared records the first clearing of refunds.
func (m *Memory) MarkRefundsCleared(_ context.Context, ids []string, clearingDate string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	update(m.refunds, ids, func(r *netswitch.Refund) {
		r.ClearedAt, r.ClearingDate = first(r.ClearedAt, at, r.ClearingDate, clearingDate)
	})
	return nil
}
