package issuer

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/netmsg"
)

// RefundProcessingCode is DE3 of a refund (0200): returns, a credit to the
// card holder.
const RefundProcessingCode = "200000"

// RefundID is the id of the ledger transfer that credits a refund to the
// card: the refund's own message identity (a HoldID of its DE7, DE11 and
// DE41). It never fails.
func RefundID(refundIdentity string) string { return "refund|" + refundIdentity }

// PostID is the id of the ledger transfer that posts a hold at clearing
// (PostClearing): one per hold, so a presentment posted twice posts once.
func PostID(holdID string) string { return "post|" + holdID }

// Refund is one refund an issuer took: its identity, the original
// authorization it gives back (the original's hold id) and its amount.
type Refund struct {
	BankID     string
	ID         string // the refund's identity, HoldID of its DE7, DE11, DE41
	OriginalID string // the original's hold id
	Amount     int64  // minor units
	At         time.Time
}

// Reserve is the outcome of RefundStore.ReserveRefund.
type Reserve int

// The outcomes of reserving a refund.
const (
	Reserved Reserve = iota // new: counted against the original
	Repeated                // the same refund again (same original and amount): counted once
	Exceeds                 // it would take the original's refunds above its limit: not counted
	Clashes                 // the identity was used for another original or amount: not counted
)

// RefundStore keeps an issuer's refunds and what each original has had
// refunded, so that an original is refunded at most up to its amount, in
// total, however many refunds name it and however many hosts take them.
type RefundStore interface {
	// ReserveRefund counts r against its original if that keeps the
	// original's refunds at most limit, atomically; a refund already
	// counted is Repeated (or Clashes when it differs). It fails only when
	// the store does.
	ReserveRefund(ctx context.Context, r Refund, limit int64) (Reserve, error)
	// Refunded returns what an original (its hold id) has had refunded in
	// all (0 when nothing). It fails only when the store does.
	Refunded(ctx context.Context, bankID, originalID string) (int64, error)
}

// RefundFinder is a RefundStore that finds a refund by its identity
// (MemRefunds and issuer/sqlstore's do), so that clearing can take back the
// points of the purchase a refund gives back.
type RefundFinder interface {
	// FindRefund returns the refund the bank took under id; false when
	// none. It fails only when the store does.
	FindRefund(ctx context.Context, bankID, id string) (Refund, bool, error)
	// RefundsOf returns the refunds the bank took of the original, in no
	// order. It fails only when the store does.
	RefundsOf(ctx context.Context, bankID, originalID string) ([]Refund, error)
}

// refund answers an 0200 refund from the network: a direct credit of the
// amount from the bank's settlement account to the card's account, the
// transfer's id the refund's identity (RefundID), so a repeat finds it and
// answers the same. The original is the hold named by DE90 and DE41: 25
// if the bank has none for this card; 13 if the refund and the refunds
// before it come to more than it holds or posted (0 once voided or
// expired). A blocked, lost or expired card still gets its money back.
func (h *Host) refund(ctx context.Context, f *netmsg.Refund) *iso8583.Message {
	stan := f.STANText()
	id := HoldID(h.bank.ID, f.Transmission, stan, f.Terminal)
	origID := HoldID(h.bank.ID, f.Original.Transmission, f.Original.STAN, f.Terminal)
	l := h.lock(origID)
	defer l.Unlock()
	rc, reason := h.decideRefund(ctx, f, id, origID)
	resp := answer(f.Raw, rc)
	if resp != nil && rc.Approved() {
		h.setAuthCode(resp, id)
	}
	if !rc.Approved() {
		h.cfg.Log.Info("issuer: refund declined", "stan", stan, "rc", string(rc), "reason", reason)
	}
	return resp
}

func (h *Host) decideRefund(ctx context.Context, f *netmsg.Refund, id, origID string) (iso8583.ResponseCode, Decline) {
	if f.ProcessingCode != RefundProcessingCode {
		return iso8583.InvalidTransaction, DeclineProcessingCode
	}
	acct, rc, reason := h.cardOf(f.PAN)
	if rc != "" {
		return rc, reason
	}
	amt := f.Amount
	if rc, reason := amountDecline(amt); rc != "" {
		return rc, reason
	}
	orig, err := CurrentHold(ctx, h.cfg.Ledger, origID)
	if fault.KindOf(err) == fault.NotFound {
		return iso8583.UnableToLocateRecord, DeclineOriginalUnknown
	}
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction, DeclineLedger
	}
	if orig.Flags&ledger.Pending == 0 || orig.DebitAccountID != acct.id {
		return iso8583.UnableToLocateRecord, DeclineOriginalMismatch
	}
	limit, err := h.refundable(ctx, orig)
	if err != nil {
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction, DeclineLedger
	}
	res, err := h.cfg.Refunds.ReserveRefund(ctx, Refund{BankID: h.bank.ID, ID: id, OriginalID: origID, Amount: amt.Minor, At: h.cfg.Now()}, limit)
	if err != nil {
		h.cfg.Log.Error("issuer: refund store failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction, DeclineRefundStore
	}
	switch res {
	case Exceeds:
		return iso8583.InvalidAmount, DeclineExceedsOriginal
	case Clashes:
		return iso8583.DuplicateTransmission, DeclineIdentityReused
	}
	credit := ledger.Transfer{ID: RefundID(id), DebitAccountID: h.bank.SettlementAccount, CreditAccountID: acct.id,
		Amount: amt.Minor, Currency: amt.Currency, UserData: "refund rrn " + strings.TrimSpace(f.RRN)}
	r, err := h.cfg.Ledger.CreateTransfer(ctx, credit)
	if err != nil {
		// Counted but not credited: a repeat of the refund (Repeated)
		// credits it, once.
		h.cfg.Log.Error("issuer: ledger failed", "err", fault.MessageOf(err))
		return iso8583.SystemMalfunction, DeclineLedger
	}
	switch r {
	case ledger.OK, ledger.Exists:
		return iso8583.Approved, ""
	case ledger.ExistsWithDifferentFields:
		return iso8583.DuplicateTransmission, DeclineIdentityReused
	}
	h.cfg.Log.Error("issuer: refund credit refused", "result", string(r))
	return iso8583.SystemMalfunction, DeclineLedger
}

// refundable is what an original may have refunded in all: the hold while
// pending, what clearing posted once posted, nothing once voided or
// expired.
func (h *Host) refundable(ctx context.Context, orig ledger.Transfer) (int64, error) {
	switch orig.Status {
	case ledger.StatusPending:
		return orig.Amount, nil
	case ledger.StatusPosted:
		p, err := h.cfg.Ledger.LookupTransfer(ctx, PostID(orig.ID))
		if fault.KindOf(err) == fault.NotFound {
			return orig.Amount, nil // posted under another id: at most the hold
		}
		if err != nil {
			return 0, err
		}
		return p.Amount, nil
	}
	return 0, nil
}

// refundStoreOf is the refund store of a host config: cfg.Refunds, else
// the reversal store when it keeps refunds too (as the SQL one does), else
// one in memory.
func refundStoreOf(cfg HostConfig) RefundStore {
	if cfg.Refunds != nil {
		return cfg.Refunds
	}
	if r, ok := cfg.Reversals.(RefundStore); ok {
		return r
	}
	return &MemRefunds{}
}

// MemRefunds is a RefundStore in memory.
type MemRefunds struct {
	mu     sync.Mutex
	byID   map[string]Refund
	totals map[string]int64
}

// ReserveRefund counts a refund against its original's limit; it never
// fails.
func (m *MemRefunds) ReserveRefund(_ context.Context, r Refund, limit int64) (Reserve, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID, m.totals = map[string]Refund{}, map[string]int64{}
	}
	key := r.BankID + "\x00" + r.ID
	if old, ok := m.byID[key]; ok {
		if old.OriginalID != r.OriginalID || old.Amount != r.Amount {
			return Clashes, nil
		}
		return Repeated, nil
	}
	okey := r.BankID + "\x00" + r.OriginalID
	if m.totals[okey]+r.Amount > limit {
		return Exceeds, nil
	}
	m.totals[okey] += r.Amount
	m.byID[key] = r
	return Reserved, nil
}

// Refunded returns what an original has had refunded; it never fails.
func (m *MemRefunds) Refunded(_ context.Context, bankID, originalID string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totals[bankID+"\x00"+originalID], nil
}

// FindRefund returns a refund counted before; it never fails.
func (m *MemRefunds) FindRefund(_ context.Context, bankID, id string) (Refund, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.byID[bankID+"\x00"+id]
	return r, ok, nil
}

// RefundsOf returns the refunds counted against an original; it never
// fails.
func (m *MemRefunds) RefundsOf(_ context.Context, bankID, originalID string) ([]Refund, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Refund
	for _, r := range m.byID {
		if r.BankID == bankID && r.OriginalID == originalID {
			out = append(out, r)
		}
	}
	return out, nil
}
