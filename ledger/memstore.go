package ledger

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// MemStore is a Store in memory: the same rules, one mutex for atomicity,
// nothing kept when the process ends. It serves tests and anyone who wants a
// fast ledger without a database.
type MemStore struct {
	mu        sync.Mutex
	now       func() time.Time
	accounts  map[string]Account
	transfers map[string]Transfer // with Status for pending transfers
	order     []string            // transfer ids in creation order
	open      map[string]bool     // pending transfers with a timeout, still pending
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty ledger in memory whose transactions take their
// time from now (time.Now when nil). It never fails.
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, accounts: map[string]Account{}, transfers: map[string]Transfer{}, open: map[string]bool{}}
}

// CreateAccounts creates accounts, returning one Result per account. It fails
// only for a batch over MaxBatch or a cancelled ctx.
func (s *MemStore) CreateAccounts(ctx context.Context, accounts []Account) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return CreateAccountsIn(ctx, memTx{s}, accounts)
}

// LookupAccounts returns the accounts that exist among ids, in the order
// asked. It fails only for a cancelled ctx.
func (s *MemStore) LookupAccounts(ctx context.Context, ids []string) ([]Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Account
	for _, id := range ids {
		if a, ok := s.accounts[id]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// CreateTransfer applies one transfer. It fails only for a cancelled ctx.
func (s *MemStore) CreateTransfer(ctx context.Context, t Transfer) (Result, error) {
	rs, err := s.CreateTransfers(ctx, []Transfer{t})
	if err != nil {
		return "", err
	}
	return rs[0], nil
}

// CreateTransfers applies a batch atomically. It fails only for a batch over
// MaxBatch or a cancelled ctx.
func (s *MemStore) CreateTransfers(ctx context.Context, ts []Transfer) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return CreateTransfersIn(ctx, memTx{s}, ts)
}

// LookupTransfer returns a transfer with its current Status, or a
// fault.NotFound error.
func (s *MemStore) LookupTransfer(ctx context.Context, id string) (Transfer, error) {
	if err := ctx.Err(); err != nil {
		return Transfer{}, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.transfers[id]
	if !ok {
		return Transfer{}, fault.E(fault.NotFound, "transfer_not_found", "no such transfer")
	}
	return t, nil
}

// ExpirePending releases every pending transfer whose ExpiresAt is at or
// before now and returns how many. It fails only for a cancelled ctx.
func (s *MemStore) ExpirePending(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ExpirePendingIn(ctx, memTx{s}, now, len(s.open)+1)
}

// Transfers returns the transfers matching f, oldest first. It fails only
// for a cancelled ctx.
func (s *MemStore) Transfers(ctx context.Context, f Filter) ([]Transfer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "ledger_cancelled", "ledger call cancelled")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Transfer
	for _, id := range s.order {
		if t := s.transfers[id]; f.matches(t) {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Timestamp.Equal(out[j].Timestamp) {
			return out[i].Timestamp.Before(out[j].Timestamp)
		}
		return out[i].ID < out[j].ID
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// matches reports whether t passes the filter.
func (f Filter) matches(t Transfer) bool {
	const kind = Pending | PostPending | VoidPending
	switch {
	case f.AccountID != "" && t.DebitAccountID != f.AccountID && t.CreditAccountID != f.AccountID:
		return false
	case f.Flags&kind != 0 && t.Flags&kind != f.Flags&kind:
		return false
	case f.Status != "" && t.Status != f.Status:
		return false
	case !f.From.IsZero() && t.Timestamp.Before(f.From):
		return false
	case !f.To.IsZero() && !t.Timestamp.Before(f.To):
		return false
	}
	return true
}

// memTx is the MemStore's Tx: the store itself, under its mutex. The rules
// write only at the end of a call and these writes cannot fail, so a call is
// atomic.
type memTx struct{ s *MemStore }

func (m memTx) Now() time.Time { return m.s.now() }

func (m memTx) LockAccounts(_ context.Context, ids []string) (map[string]Account, error) {
	out := make(map[string]Account, len(ids))
	for _, id := range ids {
		if a, ok := m.s.accounts[id]; ok {
			out[id] = a
		}
	}
	return out, nil
}

func (m memTx) TransfersByID(_ context.Context, ids []string) (map[string]Transfer, error) {
	out := make(map[string]Transfer, len(ids))
	for _, id := range ids {
		if t, ok := m.s.transfers[id]; ok {
			out[id] = t
		}
	}
	return out, nil
}

func (m memTx) ExpiredPending(_ context.Context, now time.Time, limit int) ([]Transfer, error) {
	var out []Transfer
	for id := range m.s.open {
		if t := m.s.transfers[id]; !t.ExpiresAt.After(now) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ExpiresAt.Equal(out[j].ExpiresAt) {
			return out[i].ExpiresAt.Before(out[j].ExpiresAt)
		}
		return out[i].ID < out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m memTx) InsertAccounts(_ context.Context, accounts []Account) error {
	for _, a := range accounts {
		m.s.accounts[a.ID] = a
	}
	return nil
}

func (m memTx) UpdateAccounts(_ context.Context, accounts []Account) error {
	for _, a := range accounts {
		m.s.accounts[a.ID] = a
	}
	return nil
}

func (m memTx) InsertTransfers(_ context.Context, ts []Transfer) error {
	for _, t := range ts {
		if t.Flags&Pending != 0 {
			t.Status = StatusPending
			if !t.ExpiresAt.IsZero() {
				m.s.open[t.ID] = true
			}
		}
		m.s.transfers[t.ID] = t
		m.s.order = append(m.s.order, t.ID)
	}
	return nil
}

func (m memTx) ResolvePending(_ context.Context, rs []Resolution) error {
	for _, r := range rs {
		if m.s.transfers[r.ID].Status != StatusPending {
			return fault.E(fault.Internal, "pending_resolved_twice", "pending transfer resolved twice")
		}
	}
	for _, r := range rs {
		t := m.s.transfers[r.ID]
		t.Status = r.Status
		m.s.transfers[r.ID] = t
		delete(m.s.open, r.ID)
	}
	return nil
}
