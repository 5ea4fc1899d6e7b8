package ledger

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// CreateAccountsIn applies the account rules to a batch inside tx and writes
// the new accounts. It returns one Result per account, or an error when tx
// fails (the Store then rolls back) or the batch is over MaxBatch.
//
// The checks, in order: reserved_flag, id_must_not_be_empty, id_too_long,
// user_data_too_long, flags_are_mutually_exclusive, balances_must_be_zero,
// currency_must_not_be_zero, code_must_be_valid, then exists (same currency,
// code, flags and user data) or exists_with_different_fields.
func CreateAccountsIn(ctx context.Context, tx Tx, accounts []Account) ([]Result, error) {
	if len(accounts) > MaxBatch {
		return nil, errBatch(len(accounts))
	}
	if len(accounts) == 0 {
		return nil, nil
	}
	now := millis(tx.Now())
	ids := make([]string, 0, len(accounts))
	for _, a := range accounts {
		ids = append(ids, a.ID)
	}
	ids = distinctSorted(ids)
	stored, err := tx.LockAccounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		stored = map[string]Account{}
	}
	results := make([]Result, len(accounts))
	var created []Account
	for i, a := range accounts {
		r := accountRule(a)
		if r == OK {
			if e, ok := stored[a.ID]; ok {
				r = Exists
				if e.Currency != a.Currency || e.Code != a.Code || e.Flags != a.Flags || e.UserData != a.UserData {
					r = ExistsWithDifferentFields
				}
			} else {
				a.Timestamp = now
				stored[a.ID] = a
				created = append(created, a)
			}
		}
		results[i] = r
	}
	if len(created) > 0 {
		if err := tx.InsertAccounts(ctx, created); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func accountRule(a Account) Result {
	switch {
	case a.Flags&^accountFlagsKnown != 0:
		return ReservedFlag
	case a.ID == "":
		return IDMustNotBeEmpty
	case len(a.ID) > MaxIDLength:
		return IDTooLong
	case len(a.UserData) > MaxUserDataLength:
		return UserDataTooLong
	case a.Flags&DebitsMustNotExceedCredits != 0 && a.Flags&CreditsMustNotExceedDebits != 0:
		return FlagsAreMutuallyExclusive
	case a.DebitsPending != 0 || a.DebitsPosted != 0 || a.CreditsPending != 0 || a.CreditsPosted != 0:
		return BalancesMustBeZero
	case a.Currency == 0:
		return CurrencyMustNotBeZero
	case !a.Code.Valid():
		return CodeMustBeValid
	}
	return OK
}

// CreateTransfersIn applies the transfer rules to a batch inside tx: it
// locks every account the batch touches (in sorted id order, so concurrent
// batches cannot deadlock), decides each transfer in order against the
// state left by the ones before it, and writes the new transfers, the
// resolved pending transfers and the new account totals at the end. It
// returns one Result per transfer, or an error when tx fails (the Store then
// rolls back) or the batch is over MaxBatch.
//
// Transfers are independent unless chained with Linked: a chain is the run of
// transfers with Linked set plus the first one after it without; if one of
// them fails, that one keeps its result, the others get linked_event_failed
// and none takes effect. A chain still open at the end of the batch fails
// whole: its last transfer gets linked_event_chain_open. Exists counts as
// success inside a chain.
//
// The checks, in order (as in TigerBeetle): reserved_flag,
// id_must_not_be_empty, id_too_long, user_data_too_long, then exists or
// exists_with_different_fields for a stored id. For a post or void:
// flags_are_mutually_exclusive, pending_id_must_not_be_empty,
// pending_id_must_be_different, timeout_reserved_for_pending_transfer,
// amount_must_not_be_negative, pending_transfer_not_found,
// pending_transfer_not_pending, pending_transfer_has_different_debit_account_id,
// …_credit_account_id, …_currency, exceeds_pending_transfer_amount,
// pending_transfer_has_different_amount (a void of less than the whole),
// pending_transfer_already_posted, …_already_voided, pending_transfer_expired
// (expired by the sweep, or its ExpiresAt has passed though the sweep has
// not run yet), overflows_debits_posted, overflows_credits_posted. For any
// other transfer: pending_id_must_be_empty,
// timeout_reserved_for_pending_transfer, timeout_must_not_be_negative,
// debit_account_id_must_not_be_empty, credit_account_id_must_not_be_empty,
// accounts_must_be_different, currency_must_not_be_zero,
// amount_must_not_be_negative, amount_must_not_be_zero,
// debit_account_not_found, credit_account_not_found,
// accounts_must_have_the_same_currency,
// transfer_must_have_the_same_currency_as_accounts, the overflows, then
// exceeds_credits and exceeds_debits.
func CreateTransfersIn(ctx context.Context, tx Tx, transfers []Transfer) ([]Result, error) {
	if len(transfers) > MaxBatch {
		return nil, errBatch(len(transfers))
	}
	if len(transfers) == 0 {
		return nil, nil
	}
	// Find the accounts of the pending transfers that posts and voids name:
	// their fields never change, so reading them before the locks is safe.
	var pendingIDs []string
	for _, t := range transfers {
		if t.Flags&(PostPending|VoidPending) != 0 {
			pendingIDs = append(pendingIDs, t.PendingID)
		}
	}
	pendingIDs = distinctSorted(pendingIDs)
	var named map[string]Transfer
	if len(pendingIDs) > 0 {
		var err error
		if named, err = tx.TransfersByID(ctx, pendingIDs); err != nil {
			return nil, err
		}
	}
	// The account ids and the transfer ids in one allocation, each in a
	// part of its own (a capacity of its own: neither appends into the
	// other).
	nAccounts, nTransfers := 2*(len(transfers)+len(named)), len(transfers)+len(pendingIDs)
	ids := make([]string, 0, nAccounts+nTransfers)
	accountIDs := ids[:0:nAccounts]
	for _, t := range transfers {
		accountIDs = append(accountIDs, t.DebitAccountID, t.CreditAccountID)
	}
	for _, p := range named {
		accountIDs = append(accountIDs, p.DebitAccountID, p.CreditAccountID)
	}
	accountIDs = distinctSorted(accountIDs)
	accounts, err := tx.LockAccounts(ctx, accountIDs)
	if err != nil {
		return nil, err
	}
	// With the accounts locked, read the transfers again: the status of the
	// pending transfers and the ids stored on these accounts are now stable.
	// (An id stored meanwhile on other accounts makes the insert fail, and
	// the store runs the batch again.)
	transferIDs := ids[nAccounts:nAccounts]
	for _, t := range transfers {
		transferIDs = append(transferIDs, t.ID)
	}
	transferIDs = distinctSorted(append(transferIDs, pendingIDs...))
	stored, err := tx.TransfersByID(ctx, transferIDs)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		stored = map[string]Transfer{}
	}
	r := newRun(millis(tx.Now()), accountIDs, accounts, stored)
	defer r.release()

	results := make([]Result, len(transfers))
	for i := 0; i < len(transfers); {
		end := i // the last transfer of the chain starting at i
		for end < len(transfers)-1 && transfers[end].Flags&Linked != 0 {
			end++
		}
		if transfers[end].Flags&Linked != 0 { // the batch ends inside the chain
			for k := i; k < end; k++ {
				results[k] = LinkedEventFailed
			}
			results[end] = LinkedEventChainOpen
			break
		}
		mark := r.mark()
		r.chained = end > i
		failed := -1
		for k := i; k <= end; k++ {
			results[k] = r.apply(transfers[k])
			if !results[k].Applied() {
				failed = k
				break
			}
		}
		if failed >= 0 && end > i {
			r.rollback(mark)
			for k := i; k <= end; k++ {
				if k != failed {
					results[k] = LinkedEventFailed
				}
			}
		}
		r.undo = r.undo[:0]
		i = end + 1
	}
	if err := r.flush(ctx, tx); err != nil {
		return nil, err
	}
	return results, nil
}

// ExpirePendingIn releases up to limit pending transfers whose ExpiresAt is
// at or before now, inside tx, and returns how many it released (0 when none
// is left). It returns an error when tx fails.
func ExpirePendingIn(ctx context.Context, tx Tx, now time.Time, limit int) (int, error) {
	now = millis(now)
	candidates, err := tx.ExpiredPending(ctx, now, limit)
	if err != nil || len(candidates) == 0 {
		return 0, err
	}
	accountIDs := make([]string, 0, 2*len(candidates))
	for _, p := range candidates {
		accountIDs = append(accountIDs, p.DebitAccountID, p.CreditAccountID)
	}
	accountIDs = distinctSorted(accountIDs)
	accounts, err := tx.LockAccounts(ctx, accountIDs)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(candidates))
	for i, p := range candidates {
		ids[i] = p.ID
	}
	fresh, err := tx.TransfersByID(ctx, ids)
	if err != nil {
		return 0, err
	}
	r := newRun(millis(tx.Now()), accountIDs, accounts, fresh)
	defer r.release()
	for _, id := range ids {
		p, ok := fresh[id]
		if !ok || p.Status != StatusPending || p.ExpiresAt.IsZero() || p.ExpiresAt.After(now) {
			continue // resolved meanwhile
		}
		dr, okd := accounts[p.DebitAccountID]
		cr, okc := accounts[p.CreditAccountID]
		if !okd || !okc {
			continue
		}
		dr.DebitsPending -= p.Amount
		cr.CreditsPending -= p.Amount
		accounts[dr.ID], accounts[cr.ID] = dr, cr
		r.resolutions = append(r.resolutions, Resolution{ID: p.ID, Status: StatusExpired, At: r.now})
	}
	if err := r.flush(ctx, tx); err != nil {
		return 0, err
	}
	return len(r.resolutions), nil
}

// run is the state of one batch: the locked accounts as the batch has left
// them, the transfers it knows, what it will write, and an undo log for
// linked chains.
type run struct {
	now         time.Time
	locked      []string // account ids locked for this batch, sorted
	accounts    map[string]Account
	original    []Account // each locked account as read (zero if none), to write only what changed
	transfers   map[string]Transfer
	created     []Transfer
	resolutions []Resolution
	undo        []func()
	chained     bool // deciding a linked chain: keep the undo log
}

// runs holds ended runs, their copy of the accounts as read kept (cleared)
// for the next: a batch makes neither. What a run hands over (created,
// resolutions) is never reused.
var runs = sync.Pool{New: func() any { return new(run) }}

// keptAccounts bounds the accounts' copy a run keeps for the next.
const keptAccounts = 64

// newRun starts a batch on the accounts locked (ids, sorted) as read; end
// it with release.
func newRun(now time.Time, locked []string, accounts map[string]Account, transfers map[string]Transfer) *run {
	r := runs.Get().(*run)
	original := r.original[:0]
	if cap(original) < len(locked) {
		original = make([]Account, 0, len(locked))
	}
	*r = run{now: now, locked: locked, accounts: accounts, original: original[:len(locked)], transfers: transfers}
	for i, id := range locked {
		r.original[i] = accounts[id]
	}
	return r
}

// release ends r: nothing of the batch is kept (the accounts' copy is
// cleared, the maps and slices the caller's are dropped).
func (r *run) release() {
	original := r.original
	clear(original)
	if cap(original) > keptAccounts {
		original = nil
	}
	*r = run{original: original[:0]}
	runs.Put(r)
}

// isLocked reports whether the batch locked the account id.
func (r *run) isLocked(id string) bool {
	_, ok := slices.BinarySearch(r.locked, id)
	return ok
}

type mark struct{ undo, created, resolutions int }

func (r *run) mark() mark { return mark{len(r.undo), len(r.created), len(r.resolutions)} }

func (r *run) rollback(m mark) {
	for i := len(r.undo) - 1; i >= m.undo; i-- {
		r.undo[i]()
	}
	r.undo = r.undo[:m.undo]
	r.created = r.created[:m.created]
	r.resolutions = r.resolutions[:m.resolutions]
}

// setAccount replaces an account, remembering the old value for rollback.
func (r *run) setAccount(a Account) {
	if r.chained {
		old := r.accounts[a.ID]
		r.undo = append(r.undo, func() { r.accounts[old.ID] = old })
	}
	r.accounts[a.ID] = a
}

// record adds a new transfer, remembering it for rollback. The undo
// closures of record and resolve capture a copy made inside the chained
// branch, not the parameter: a captured parameter is moved to the heap at
// every call, chained or not (a Transfer, ~200 bytes, per hold).
func (r *run) record(t Transfer) {
	if r.chained {
		id := t.ID
		r.undo = append(r.undo, func() { delete(r.transfers, id) })
	}
	r.transfers[t.ID] = t
	r.created = append(r.created, t)
}

// resolve ends a pending transfer, remembering it for rollback.
func (r *run) resolve(p Transfer, s PendingStatus) {
	if r.chained {
		old := p
		r.undo = append(r.undo, func() { r.transfers[old.ID] = old })
	}
	q := p
	q.Status = s
	r.transfers[p.ID] = q
	r.resolutions = append(r.resolutions, Resolution{ID: p.ID, Status: s, At: r.now})
}

func (r *run) flush(ctx context.Context, tx Tx) error {
	if len(r.created) > 0 {
		// The run ends here: its created transfers are handed over as
		// they are, without their status (no copy of them made).
		ts := r.created
		for i := range ts {
			ts[i].Status = ""
		}
		if err := tx.InsertTransfers(ctx, ts); err != nil {
			return err
		}
	}
	if len(r.resolutions) > 0 {
		if err := tx.ResolvePending(ctx, r.resolutions); err != nil {
			return err
		}
	}
	var changed []Account // in id order, as locked
	for i, id := range r.locked {
		if a, ok := r.accounts[id]; ok && a != r.original[i] {
			if changed == nil {
				changed = make([]Account, 0, len(r.locked)-i) // at once, not grown
			}
			changed = append(changed, a)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return tx.UpdateAccounts(ctx, changed)
}

// apply decides one transfer against the batch's state and applies it.
func (r *run) apply(t Transfer) Result {
	t.Timeout = t.Timeout.Truncate(time.Millisecond)
	t.Timestamp, t.ExpiresAt, t.Status = time.Time{}, time.Time{}, ""
	switch {
	case t.Flags&^transferFlagsKnown != 0:
		return ReservedFlag
	case t.ID == "":
		return IDMustNotBeEmpty
	case len(t.ID) > MaxIDLength:
		return IDTooLong
	case len(t.UserData) > MaxUserDataLength:
		return UserDataTooLong
	}
	if e, ok := r.transfers[t.ID]; ok {
		return r.exists(t, e)
	}
	if t.Flags&(PostPending|VoidPending) != 0 {
		return r.postOrVoid(t)
	}
	switch {
	case t.PendingID != "":
		return PendingIDMustBeEmpty
	case t.Flags&Pending == 0 && t.Timeout != 0:
		return TimeoutReservedForPendingTransfer
	case t.Timeout < 0:
		return TimeoutMustNotBeNegative
	case t.DebitAccountID == "":
		return DebitAccountIDMustNotBeEmpty
	case t.CreditAccountID == "":
		return CreditAccountIDMustNotBeEmpty
	case t.DebitAccountID == t.CreditAccountID:
		return AccountsMustBeDifferent
	case t.Currency == 0:
		return CurrencyMustNotBeZero
	case t.Amount < 0:
		return AmountMustNotBeNegative
	case t.Amount == 0:
		return AmountMustNotBeZero
	}
	dr, ok := r.accounts[t.DebitAccountID]
	if !ok {
		return DebitAccountNotFound
	}
	cr, ok := r.accounts[t.CreditAccountID]
	if !ok {
		return CreditAccountNotFound
	}
	if dr.Currency != cr.Currency {
		return AccountsMustHaveTheSameCurrency
	}
	if t.Currency != dr.Currency {
		return TransferMustHaveTheSameCurrencyAsAccounts
	}
	pending := t.Flags&Pending != 0
	amount := t.Amount
	if pending {
		if overflows(dr.DebitsPending, amount) {
			return OverflowsDebitsPending
		}
		if overflows(cr.CreditsPending, amount) {
			return OverflowsCreditsPending
		}
	}
	switch {
	case overflows(dr.DebitsPosted, amount):
		return OverflowsDebitsPosted
	case overflows(cr.CreditsPosted, amount):
		return OverflowsCreditsPosted
	case overflows(dr.DebitsPending, dr.DebitsPosted) || overflows(dr.DebitsPending+dr.DebitsPosted, amount):
		return OverflowsDebits
	case overflows(cr.CreditsPending, cr.CreditsPosted) || overflows(cr.CreditsPending+cr.CreditsPosted, amount):
		return OverflowsCredits
	}
	if dr.Flags&DebitsMustNotExceedCredits != 0 && dr.DebitsPending+dr.DebitsPosted+amount > dr.CreditsPosted {
		return ExceedsCredits
	}
	if cr.Flags&CreditsMustNotExceedDebits != 0 && cr.CreditsPending+cr.CreditsPosted+amount > cr.DebitsPosted {
		return ExceedsDebits
	}
	if pending {
		dr.DebitsPending += amount
		cr.CreditsPending += amount
		if t.Timeout > 0 {
			t.ExpiresAt = r.now.Add(t.Timeout)
		}
		t.Status = StatusPending
	} else {
		dr.DebitsPosted += amount
		cr.CreditsPosted += amount
	}
	t.Timestamp = r.now
	r.setAccount(dr)
	r.setAccount(cr)
	r.record(t)
	return OK
}

// postOrVoid decides a post or void of a pending transfer.
func (r *run) postOrVoid(t Transfer) Result {
	post := t.Flags&PostPending != 0
	switch {
	case t.Flags&Pending != 0 || (post && t.Flags&VoidPending != 0):
		return FlagsAreMutuallyExclusive
	case t.PendingID == "":
		return PendingIDMustNotBeEmpty
	case t.PendingID == t.ID:
		return PendingIDMustBeDifferent
	case t.Timeout != 0:
		return TimeoutReservedForPendingTransfer
	case t.Amount < 0:
		return AmountMustNotBeNegative
	}
	p, ok := r.transfers[t.PendingID]
	// A pending transfer committed by someone else after this batch locked
	// its accounts was not locked with them: for this batch it came too late.
	if !ok || !r.isLocked(p.DebitAccountID) || !r.isLocked(p.CreditAccountID) {
		return PendingTransferNotFound
	}
	if p.Flags&Pending == 0 {
		return PendingTransferNotPending
	}
	dr, okd := r.accounts[p.DebitAccountID]
	cr, okc := r.accounts[p.CreditAccountID]
	if !okd || !okc {
		return PendingTransferNotFound
	}
	switch {
	case t.DebitAccountID != "" && t.DebitAccountID != p.DebitAccountID:
		return PendingTransferHasDifferentDebitAccountID
	case t.CreditAccountID != "" && t.CreditAccountID != p.CreditAccountID:
		return PendingTransferHasDifferentCreditAccountID
	case t.Currency != 0 && t.Currency != p.Currency:
		return PendingTransferHasDifferentCurrency
	}
	amount := t.Amount
	if amount == 0 {
		amount = p.Amount
	}
	switch {
	case amount > p.Amount:
		return ExceedsPendingTransferAmount
	case !post && amount < p.Amount:
		return PendingTransferHasDifferentAmount
	}
	switch p.Status {
	case StatusPosted:
		return PendingTransferAlreadyPosted
	case StatusVoided:
		return PendingTransferAlreadyVoided
	case StatusExpired:
		return PendingTransferExpired
	}
	if !p.ExpiresAt.IsZero() && !r.now.Before(p.ExpiresAt) {
		return PendingTransferExpired
	}
	if post {
		if overflows(dr.DebitsPosted, amount) {
			return OverflowsDebitsPosted
		}
		if overflows(cr.CreditsPosted, amount) {
			return OverflowsCreditsPosted
		}
	}
	dr.DebitsPending -= p.Amount
	cr.CreditsPending -= p.Amount
	status := StatusVoided
	if post {
		dr.DebitsPosted += amount
		cr.CreditsPosted += amount
		status = StatusPosted
	}
	t = fill(t, p)
	t.Amount = amount
	t.Timestamp = r.now
	r.setAccount(dr)
	r.setAccount(cr)
	r.resolve(p, status)
	r.record(t)
	return OK
}

// exists compares a transfer with the stored one of the same id.
func (r *run) exists(t, e Transfer) Result {
	if t.Flags&(PostPending|VoidPending) != 0 && t.PendingID == e.PendingID {
		if p, ok := r.transfers[t.PendingID]; ok {
			t = fill(t, p)
		}
	}
	if t.Flags != e.Flags || t.DebitAccountID != e.DebitAccountID || t.CreditAccountID != e.CreditAccountID ||
		t.Amount != e.Amount || t.Currency != e.Currency || t.PendingID != e.PendingID ||
		t.Timeout != e.Timeout || t.UserData != e.UserData {
		return ExistsWithDifferentFields
	}
	return Exists
}

// fill gives a post or void the fields it left empty from its pending
// transfer: accounts, currency and (for 0) the full pending amount.
func fill(t, p Transfer) Transfer {
	if t.DebitAccountID == "" {
		t.DebitAccountID = p.DebitAccountID
	}
	if t.CreditAccountID == "" {
		t.CreditAccountID = p.CreditAccountID
	}
	if t.Currency == 0 {
		t.Currency = p.Currency
	}
	if t.Amount == 0 {
		t.Amount = p.Amount
	}
	return t
}

// overflows reports whether a+b overflows int64 (both are non-negative).
func overflows(a, b int64) bool { return a > math.MaxInt64-b }

// millis returns t in UTC to the millisecond, the resolution of storage.
func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// distinctSorted returns the non-empty strings of ids, sorted and without
// repeats (in ids' own array).
func distinctSorted(ids []string) []string {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 0 && ids[0] == "" { // sorted first
		ids = ids[1:]
	}
	return ids
}
