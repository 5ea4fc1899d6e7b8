// Package ledger is the double-entry ledger of an issuer bank, on the
// TigerBeetle model: accounts that only hold four running totals
// (debits and credits, pending and posted), immutable transfers between two
// accounts identified by the message that caused them, and two-phase
// transfers (a pending hold that is later posted, voided or expired) for card
// authorizations. The rules live here and run inside one storage transaction
// that a Store opens (see Tx); the outcome of each transfer is a Result code,
// as in TigerBeetle, and errors are kept for storage failures.
//
// Account kinds and their usual flags:
//
//   - A customer's debit-card account (CodeCustomerDebit) is a liability of
//     the bank: deposits credit it, payments debit it. Its flag
//     DebitsMustNotExceedCredits keeps the balance
//     credits_posted - debits_posted - debits_pending from going negative.
//   - A credit-card account (CodeCreditLine) is modelled the same way: the
//     bank grants the limit with a transfer from its CodeCreditLimit account
//     to the credit line, purchases debit it, repayments credit it. With
//     DebitsMustNotExceedCredits the one rule enforces the limit, and the
//     available credit is credits_posted - debits_posted - debits_pending
//     (= limit - amount owed - holds). Raising the limit is another transfer
//     from CodeCreditLimit; lowering it is a transfer back, which fails with
//     ExceedsCredits when the card has used more than the new limit.
//   - Bank-side accounts (settlement with the network, cash, promotion budget,
//     fee income) carry no flag or the one that matches their nature.
package ledger

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
)

// Limits on the sizes of identifiers and batches.
const (
	MaxIDLength       = 128  // bytes in an account or transfer id
	MaxUserDataLength = 256  // bytes of user data on an account or transfer
	MaxBatch          = 8190 // transfers or accounts in one batch, as in TigerBeetle
)

// HoldTimeout is how long a card authorization hold stays pending before the
// expiry sweep releases it, unless the issuer chooses otherwise.
const HoldTimeout = 7 * 24 * time.Hour

// Code is the kind of an account.
type Code string

// The account kinds of an issuer's ledger.
const (
	CodeCustomerDebit     Code = "customer_debit"     // a cardholder's debit-card (deposit) account
	CodeCreditLine        Code = "credit_line"        // a cardholder's credit-card account, funded by its limit
	CodeCreditLimit       Code = "credit_limit"       // the bank's contra account that grants credit limits
	CodeBankSettlement    Code = "bank_settlement"    // the bank's position towards the card network
	CodeNetworkSettlement Code = "network_settlement" // the network's account at the bank, paid at settlement
	CodeBankCash          Code = "bank_cash"          // the bank's cash and reserves, the source of deposits
	CodePromotion         Code = "promotion"          // a promotion budget that pays discounts and cash back
	CodeFeeIncome         Code = "fee_income"         // fees the bank earns
)

// Valid reports whether c is one of the account kinds above; it never fails.
func (c Code) Valid() bool {
	switch c {
	case CodeCustomerDebit, CodeCreditLine, CodeCreditLimit, CodeBankSettlement,
		CodeNetworkSettlement, CodeBankCash, CodePromotion, CodeFeeIncome:
		return true
	}
	return false
}

// AccountFlags are the balance rules of an account.
type AccountFlags uint16

// The account flags. At most one of them may be set.
const (
	// DebitsMustNotExceedCredits refuses a transfer that would make
	// debits_pending + debits_posted exceed credits_posted.
	DebitsMustNotExceedCredits AccountFlags = 1 << 0
	// CreditsMustNotExceedDebits refuses a transfer that would make
	// credits_pending + credits_posted exceed debits_posted.
	CreditsMustNotExceedDebits AccountFlags = 1 << 1

	accountFlagsKnown = DebitsMustNotExceedCredits | CreditsMustNotExceedDebits
)

// Account is one account of the ledger. Only the ledger changes its four
// totals; a new account starts with all of them zero.
type Account struct {
	ID             string
	Currency       money.Currency // the ledger the account belongs to: transfers never cross currencies
	Code           Code
	Flags          AccountFlags
	UserData       string // the owner's reference (customer or card reference, never a card number)
	DebitsPending  int64  // minor units held by pending transfers that debit the account
	DebitsPosted   int64
	CreditsPending int64
	CreditsPosted  int64
	Timestamp      time.Time // when the ledger created the account; a caller's value is ignored
}

// Available returns what the account can still give (for an account with
// DebitsMustNotExceedCredits: credits_posted - debits_posted - debits_pending,
// the spendable balance of a debit card or the available credit of a credit
// line) or still take (for CreditsMustNotExceedDebits: debits_posted -
// credits_posted - credits_pending). For an account without flags it returns
// the credit balance credits_posted - debits_posted - debits_pending, which
// may be negative. It never fails.
func (a Account) Available() int64 {
	if a.Flags&CreditsMustNotExceedDebits != 0 {
		return a.DebitsPosted - a.CreditsPosted - a.CreditsPending
	}
	return a.CreditsPosted - a.DebitsPosted - a.DebitsPending
}

// TransferFlags say what kind of transfer it is.
type TransferFlags uint16

// The transfer flags. Pending, PostPending and VoidPending exclude each other.
const (
	// Linked chains the transfer to the next one in the same batch: the chain
	// succeeds or fails as a whole.
	Linked TransferFlags = 1 << 0
	// Pending makes a two-phase transfer: the amount is held in
	// debits_pending and credits_pending until it is posted, voided or expires.
	Pending TransferFlags = 1 << 1
	// PostPending posts the pending transfer named by PendingID.
	PostPending TransferFlags = 1 << 2
	// VoidPending voids the pending transfer named by PendingID.
	VoidPending TransferFlags = 1 << 3

	transferFlagsKnown = Linked | Pending | PostPending | VoidPending
)

// PendingStatus is the state of a pending transfer. It changes at most once,
// from StatusPending to one of the others.
type PendingStatus string

// The states of a pending transfer. A transfer that is not pending has none.
const (
	StatusPending PendingStatus = "pending"
	StatusPosted  PendingStatus = "posted"
	StatusVoided  PendingStatus = "voided"
	StatusExpired PendingStatus = "expired"
)

// Transfer moves Amount from the debit account to the credit account.
// Transfers are immutable once created; the ID is the identity of the
// message that caused it (for a card authorization its message identity),
// so a repeated message is recognised and has no second effect.
//
// For PostPending and VoidPending, DebitAccountID, CreditAccountID and
// Currency may be left empty (they are then those of the pending transfer),
// and Amount 0 means the full pending amount. A post may carry a smaller
// amount: the rest is released. The stored post or void carries the filled-in
// accounts, currency and the amount actually posted (for a void, the pending
// amount released).
type Transfer struct {
	ID              string
	DebitAccountID  string
	CreditAccountID string
	Amount          int64 // minor units
	Currency        money.Currency
	Flags           TransferFlags
	PendingID       string        // for PostPending and VoidPending: the pending transfer
	Timeout         time.Duration // for Pending: how long the hold lasts (0: until posted or voided); kept to the millisecond
	UserData        string        // e.g. the retrieval reference number or the authorization code
	Timestamp       time.Time     // set by the ledger; a caller's value is ignored
	ExpiresAt       time.Time     // set by the ledger for a Pending transfer with a timeout
	Status          PendingStatus // read only, filled by lookups: the current state of a Pending transfer
}

// Money returns the transfer's amount with its currency. It never fails.
func (t Transfer) Money() money.Amount { return money.New(t.Amount, t.Currency) }

// Hold returns a pending transfer of a from one account to another that
// expires after timeout (0: never). It never fails; the ledger checks it.
func Hold(id, from, to string, a money.Amount, timeout time.Duration, userData string) Transfer {
	return Transfer{ID: id, DebitAccountID: from, CreditAccountID: to, Amount: a.Minor,
		Currency: a.Currency, Flags: Pending, Timeout: timeout, UserData: userData}
}

// Post returns a transfer that posts amount of the pending transfer pendingID
// (0: all of it) and releases the rest. It never fails; the ledger checks it.
func Post(id, pendingID string, amount int64, userData string) Transfer {
	return Transfer{ID: id, PendingID: pendingID, Amount: amount, Flags: PostPending, UserData: userData}
}

// Void returns a transfer that releases the pending transfer pendingID.
// It never fails; the ledger checks it.
func Void(id, pendingID, userData string) Transfer {
	return Transfer{ID: id, PendingID: pendingID, Flags: VoidPending, UserData: userData}
}

// Filter selects transfers for clearing and statements. Zero fields do not
// filter.
type Filter struct {
	AccountID string        // transfers that debit or credit this account
	Flags     TransferFlags // transfers of this kind: exactly these of Pending, PostPending, VoidPending (Linked ignored)
	Status    PendingStatus // pending transfers currently in this state
	From, To  time.Time     // Timestamp in [From, To)
	Limit     int           // at most this many (0: no limit)
}

// Store is an issuer's ledger: the rules of this package applied atomically
// to a storage. Rule outcomes are Results; an error means the storage failed
// (fault.Unavailable or fault.Internal) or the request as a whole was
// refused (fault.Invalid for a batch over MaxBatch), and then nothing of the
// call took effect.
type Store interface {
	// CreateAccounts creates accounts, returning one Result per account.
	CreateAccounts(ctx context.Context, accounts []Account) ([]Result, error)
	// LookupAccounts returns the accounts that exist among ids, in the order
	// asked; missing ones are left out.
	LookupAccounts(ctx context.Context, ids []string) ([]Account, error)
	// CreateTransfer applies one transfer in one database transaction.
	CreateTransfer(ctx context.Context, t Transfer) (Result, error)
	// CreateTransfers applies a batch in one database transaction; each
	// transfer has its own Result, unless chained with Linked.
	CreateTransfers(ctx context.Context, ts []Transfer) ([]Result, error)
	// LookupTransfer returns a transfer with its current Status, or a
	// fault.NotFound error.
	LookupTransfer(ctx context.Context, id string) (Transfer, error)
	// ExpirePending releases every pending transfer whose ExpiresAt is at or
	// before now and returns how many it released.
	ExpirePending(ctx context.Context, now time.Time) (int, error)
	// Transfers returns the transfers matching f, oldest first (by
	// Timestamp, then ID).
	Transfers(ctx context.Context, f Filter) ([]Transfer, error)
}

// Resolution is the end of a pending transfer: its new status and when.
type Resolution struct {
	ID     string
	Status PendingStatus
	At     time.Time
}

// Tx is what a Store gives the rules: one open storage transaction. The
// rules read through it first, decide, and write at the end; a Store commits
// the transaction when the rule function returns no error.
type Tx interface {
	// Now returns the transaction's time.
	Now() time.Time
	// LockAccounts returns the existing accounts among ids (sorted, distinct)
	// and keeps them from changing by anyone else until the transaction ends.
	LockAccounts(ctx context.Context, ids []string) (map[string]Account, error)
	// TransfersByID returns the stored transfers among ids, each with its
	// current Status.
	TransfersByID(ctx context.Context, ids []string) (map[string]Transfer, error)
	// ExpiredPending returns up to limit transfers still in StatusPending
	// whose ExpiresAt is set and at or before now, earliest first.
	ExpiredPending(ctx context.Context, now time.Time, limit int) ([]Transfer, error)
	// InsertAccounts stores new accounts.
	InsertAccounts(ctx context.Context, accounts []Account) error
	// UpdateAccounts stores the new totals of accounts locked by LockAccounts.
	UpdateAccounts(ctx context.Context, accounts []Account) error
	// InsertTransfers stores new transfers; a Pending one starts in
	// StatusPending. It fails if an id is already stored.
	InsertTransfers(ctx context.Context, ts []Transfer) error
	// ResolvePending moves pending transfers from StatusPending to their new
	// status. It fails if one of them is no longer in StatusPending.
	ResolvePending(ctx context.Context, rs []Resolution) error
}

// errBatch is returned for a batch over MaxBatch.
func errBatch(n int) error {
	return fault.E(fault.Invalid, "batch_too_large", "a batch holds at most %d events, got %d", MaxBatch, n)
}
