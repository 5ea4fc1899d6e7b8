// Package ledgertest is the one test suite of every ledger.Store: the table
// tests of each rule (Run), the conservation property test against a simple
// model (Property), and a settable clock. The memory store and the SQL store
// (on SQLite and PostgreSQL) run the same assertions.
package ledgertest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/money"
)

// Start is where a new Clock starts: a whole second, so that the clock stays
// on whole milliseconds as storage keeps them.
var Start = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)

// Clock is a clock that tests move by hand; it is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to Start. It never fails.
func NewClock() *Clock { return &Clock{now: Start} }

// Now returns the clock's time. It never fails.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d. It never fails.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// prefixes keeps the ids of each subtest and each property check apart, so
// one store serves them all.
var prefixes atomic.Int64

func newPrefix(kind string) string {
	return kind + strconv.FormatInt(prefixes.Add(1), 10) + "-"
}

// Bal is an account's four totals: debits pending and posted, credits
// pending and posted.
type Bal [4]int64

func balOf(a ledger.Account) Bal {
	return Bal{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
}

// The accounts every rule test starts with, and their totals after setup:
// cust is a funded debit card (1000), cust2 an empty one, card a credit
// card with a 5000 limit, vault a cash account that cannot pay out more than
// came in (300), usd and usd2 accounts in another currency.
var suiteAccounts = []ledger.Account{
	{ID: "cust", Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits},
	{ID: "cust2", Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits},
	{ID: "settle", Currency: money.CNY, Code: ledger.CodeBankSettlement},
	{ID: "cash", Currency: money.CNY, Code: ledger.CodeBankCash},
	{ID: "card", Currency: money.CNY, Code: ledger.CodeCreditLine, Flags: ledger.DebitsMustNotExceedCredits},
	{ID: "limit", Currency: money.CNY, Code: ledger.CodeCreditLimit},
	{ID: "vault", Currency: money.CNY, Code: ledger.CodeBankCash, Flags: ledger.CreditsMustNotExceedDebits},
	{ID: "usd", Currency: 840, Code: ledger.CodeCustomerDebit},
	{ID: "usd2", Currency: 840, Code: ledger.CodeBankSettlement},
}

var suiteSetup = []ledger.Transfer{
	mv("fund-cust", "cash", "cust", 1000),
	mv("fund-card", "limit", "card", 5000),
	mv("fund-vault", "vault", "cash", 300),
}

// env is one rule test: a store, a clock and the prefix of its ids.
type env struct {
	t     *testing.T
	ctx   context.Context
	s     ledger.Store
	clock *Clock
	p     string
}

func (e *env) id(s string) string {
	if s == "" {
		return ""
	}
	return e.p + s
}

func (e *env) tr(t ledger.Transfer) ledger.Transfer {
	t.ID, t.DebitAccountID, t.CreditAccountID, t.PendingID = e.id(t.ID), e.id(t.DebitAccountID), e.id(t.CreditAccountID), e.id(t.PendingID)
	return t
}

func (e *env) trs(ts []ledger.Transfer) []ledger.Transfer {
	out := make([]ledger.Transfer, len(ts))
	for i, t := range ts {
		out[i] = e.tr(t)
	}
	return out
}

// step is one action of a rule test, asserting its own outcome.
type step func(e *env)

func mv(id, dr, cr string, amount int64) ledger.Transfer {
	return ledger.Transfer{ID: id, DebitAccountID: dr, CreditAccountID: cr, Amount: amount, Currency: money.CNY}
}

func hold(id, dr, cr string, amount int64, timeout time.Duration) ledger.Transfer {
	return ledger.Hold(id, dr, cr, money.Fen(amount), timeout, "")
}

func post(id, pendingID string, amount int64) ledger.Transfer {
	return ledger.Post(id, pendingID, amount, "")
}

func void(id, pendingID string) ledger.Transfer { return ledger.Void(id, pendingID, "") }

func with(t ledger.Transfer, f func(*ledger.Transfer)) ledger.Transfer {
	f(&t)
	return t
}

func linked(t ledger.Transfer) ledger.Transfer {
	t.Flags |= ledger.Linked
	return t
}

// do creates one transfer and checks its result.
func do(t ledger.Transfer, want ledger.Result) step {
	return func(e *env) {
		e.t.Helper()
		got, err := e.s.CreateTransfer(e.ctx, e.tr(t))
		if err != nil {
			e.t.Fatalf("create transfer %q: %v", t.ID, err)
		}
		if got != want {
			e.t.Fatalf("transfer %q: got %s, want %s", t.ID, got, want)
		}
	}
}

// batch creates transfers in one batch and checks their results.
func batch(ts []ledger.Transfer, want ...ledger.Result) step {
	return func(e *env) {
		e.t.Helper()
		got, err := e.s.CreateTransfers(e.ctx, e.trs(ts))
		if err != nil {
			e.t.Fatalf("create transfers: %v", err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			e.t.Fatalf("batch results: got %v, want %v", got, want)
		}
	}
}

func advance(d time.Duration) step {
	return func(e *env) { e.clock.Advance(d) }
}

// expire runs the sweep and checks how many holds it released.
func expire(want int) step {
	return func(e *env) {
		e.t.Helper()
		got, err := e.s.ExpirePending(e.ctx, e.clock.Now())
		if err != nil {
			e.t.Fatalf("expire pending: %v", err)
		}
		if got != want {
			e.t.Fatalf("expired: got %d, want %d", got, want)
		}
	}
}

// status checks the status of a stored pending transfer.
func status(id string, want ledger.PendingStatus) step {
	return func(e *env) {
		e.t.Helper()
		got, err := e.s.LookupTransfer(e.ctx, e.id(id))
		if err != nil {
			e.t.Fatalf("lookup %q: %v", id, err)
		}
		if got.Status != want {
			e.t.Fatalf("status of %q: got %q, want %q", id, got.Status, want)
		}
	}
}

// stored checks the stored amount and accounts of a transfer.
func stored(id, dr, cr string, amount int64) step {
	return func(e *env) {
		e.t.Helper()
		got, err := e.s.LookupTransfer(e.ctx, e.id(id))
		if err != nil {
			e.t.Fatalf("lookup %q: %v", id, err)
		}
		if got.DebitAccountID != e.id(dr) || got.CreditAccountID != e.id(cr) || got.Amount != amount || got.Currency != money.CNY {
			e.t.Fatalf("transfer %q: got %s→%s %d (%d), want %s→%s %d (156)", id, got.DebitAccountID, got.CreditAccountID,
				got.Amount, got.Currency, e.id(dr), e.id(cr), amount)
		}
	}
}

type ruleCase struct {
	name  string
	steps []step
	want  map[string]Bal // totals of these accounts afterwards
}

func ruleCases() []ruleCase {
	const max = int64(^uint64(0) >> 1)
	long := strings.Repeat("x", ledger.MaxIDLength+1)
	return []ruleCase{
		{name: "ok/direct transfer", steps: []step{do(mv("t1", "cust", "settle", 100), ledger.OK), stored("t1", "cust", "settle", 100)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}, "settle": {0, 0, 0, 100}}},
		{name: "exists/same id and fields has no second effect", steps: []step{
			do(mv("t1", "cust", "settle", 100), ledger.OK), do(mv("t1", "cust", "settle", 100), ledger.Exists)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}, "settle": {0, 0, 0, 100}}},
		{name: "exists_with_different_fields/amount", steps: []step{
			do(mv("t1", "cust", "settle", 100), ledger.OK), do(mv("t1", "cust", "settle", 101), ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}}},
		{name: "exists_with_different_fields/user data", steps: []step{
			do(with(mv("t1", "cust", "settle", 100), func(t *ledger.Transfer) { t.UserData = "rrn1" }), ledger.OK),
			do(with(mv("t1", "cust", "settle", 100), func(t *ledger.Transfer) { t.UserData = "rrn2" }), ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}}},
		{name: "exists_with_different_fields/pending then direct", steps: []step{
			do(hold("t1", "cust", "settle", 100, 0), ledger.OK), do(mv("t1", "cust", "settle", 100), ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"cust": {100, 0, 0, 1000}, "settle": {0, 0, 100, 0}}},
		{name: "exists_with_different_fields/debit account", steps: []step{
			do(mv("t1", "cust", "settle", 100), ledger.OK), do(mv("t1", "card", "settle", 100), ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"card": {0, 0, 0, 5000}}},
		{name: "ok/failed transfer is not recorded and may be retried", steps: []step{
			do(mv("t1", "cust2", "settle", 50), ledger.ExceedsCredits),
			do(mv("dep", "cash", "cust2", 50), ledger.OK),
			do(mv("t1", "cust2", "settle", 50), ledger.OK)},
			want: map[string]Bal{"cust2": {0, 50, 0, 50}}},
		{name: "reserved_flag", steps: []step{do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) { t.Flags = 1 << 9 }), ledger.ReservedFlag)}},
		{name: "id_must_not_be_empty", steps: []step{do(mv("", "cust", "settle", 1), ledger.IDMustNotBeEmpty)}},
		{name: "id_too_long", steps: []step{do(mv(long, "cust", "settle", 1), ledger.IDTooLong)}},
		{name: "user_data_too_long", steps: []step{do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) {
			t.UserData = strings.Repeat("u", ledger.MaxUserDataLength+1)
		}), ledger.UserDataTooLong)}},
		{name: "accounts_must_be_different", steps: []step{do(mv("t1", "cust", "cust", 1), ledger.AccountsMustBeDifferent)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}}},
		{name: "amount_must_not_be_zero", steps: []step{do(mv("t1", "cust", "settle", 0), ledger.AmountMustNotBeZero)}},
		{name: "amount_must_not_be_negative", steps: []step{do(mv("t1", "cust", "settle", -5), ledger.AmountMustNotBeNegative)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}, "settle": {}}},
		{name: "currency_must_not_be_zero", steps: []step{do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) { t.Currency = 0 }), ledger.CurrencyMustNotBeZero)}},
		{name: "debit_account_id_must_not_be_empty", steps: []step{do(mv("t1", "", "settle", 1), ledger.DebitAccountIDMustNotBeEmpty)}},
		{name: "credit_account_id_must_not_be_empty", steps: []step{do(mv("t1", "cust", "", 1), ledger.CreditAccountIDMustNotBeEmpty)}},
		{name: "debit_account_not_found", steps: []step{do(mv("t1", "nosuch", "settle", 1), ledger.DebitAccountNotFound)}},
		{name: "credit_account_not_found", steps: []step{do(mv("t1", "cust", "nosuch", 1), ledger.CreditAccountNotFound)}},
		{name: "accounts_must_have_the_same_currency", steps: []step{
			do(with(mv("t1", "usd", "settle", 1), func(t *ledger.Transfer) { t.Currency = 840 }), ledger.AccountsMustHaveTheSameCurrency)}},
		{name: "transfer_must_have_the_same_currency_as_accounts", steps: []step{
			do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) { t.Currency = 840 }), ledger.TransferMustHaveTheSameCurrencyAsAccounts),
			do(with(mv("t2", "usd", "usd2", 1), func(t *ledger.Transfer) { t.Currency = 840 }), ledger.OK)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}, "usd": {0, 1, 0, 0}, "usd2": {0, 0, 0, 1}}},
		{name: "exceeds_credits/debit card without funds", steps: []step{
			do(mv("t1", "cust", "settle", 1001), ledger.ExceedsCredits), do(mv("t2", "cust", "settle", 1000), ledger.OK)},
			want: map[string]Bal{"cust": {0, 1000, 0, 1000}}},
		{name: "exceeds_credits/holds count against the balance", steps: []step{
			do(hold("h1", "cust", "settle", 600, 0), ledger.OK),
			do(hold("h2", "cust", "settle", 500, 0), ledger.ExceedsCredits),
			do(mv("t1", "cust", "settle", 401), ledger.ExceedsCredits),
			do(mv("t2", "cust", "settle", 400), ledger.OK)},
			want: map[string]Bal{"cust": {600, 400, 0, 1000}, "settle": {0, 0, 600, 400}}},
		{name: "exceeds_credits/credit card over its limit", steps: []step{
			do(mv("t1", "card", "settle", 5000), ledger.OK),
			do(mv("t2", "card", "settle", 1), ledger.ExceedsCredits),
			do(mv("repay", "cash", "card", 300), ledger.OK),
			do(mv("t3", "card", "settle", 300), ledger.OK)},
			want: map[string]Bal{"card": {0, 5300, 0, 5300}}},
		{name: "exceeds_credits/credit limit lowered below what is used", steps: []step{
			do(mv("t1", "card", "settle", 4000), ledger.OK),
			do(mv("lower1", "card", "limit", 1001), ledger.ExceedsCredits),
			do(mv("lower2", "card", "limit", 1000), ledger.OK)},
			want: map[string]Bal{"card": {0, 5000, 0, 5000}, "limit": {0, 5000, 0, 1000}}},
		{name: "exceeds_debits", steps: []step{
			do(mv("t1", "cash", "vault", 301), ledger.ExceedsDebits), do(mv("t2", "cash", "vault", 300), ledger.OK)},
			want: map[string]Bal{"vault": {0, 300, 0, 300}}},
		{name: "exceeds_debits/pending credits count", steps: []step{
			do(hold("h1", "cash", "vault", 200, 0), ledger.OK), do(mv("t2", "cash", "vault", 101), ledger.ExceedsDebits)},
			want: map[string]Bal{"vault": {0, 300, 200, 0}}},
		{name: "flags_are_mutually_exclusive/pending and post", steps: []step{
			do(hold("h1", "cust", "settle", 10, 0), ledger.OK),
			do(with(post("p1", "h1", 0), func(t *ledger.Transfer) { t.Flags |= ledger.Pending }), ledger.FlagsAreMutuallyExclusive),
			do(with(post("p2", "h1", 0), func(t *ledger.Transfer) { t.Flags |= ledger.VoidPending }), ledger.FlagsAreMutuallyExclusive),
			status("h1", ledger.StatusPending)}},
		{name: "timeout_reserved_for_pending_transfer", steps: []step{
			do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) { t.Timeout = time.Second }), ledger.TimeoutReservedForPendingTransfer),
			do(hold("h1", "cust", "settle", 10, 0), ledger.OK),
			do(with(post("p1", "h1", 0), func(t *ledger.Transfer) { t.Timeout = time.Second }), ledger.TimeoutReservedForPendingTransfer)}},
		{name: "timeout_must_not_be_negative", steps: []step{do(hold("h1", "cust", "settle", 10, -time.Second), ledger.TimeoutMustNotBeNegative)}},
		{name: "pending_id_must_be_empty", steps: []step{
			do(with(mv("t1", "cust", "settle", 1), func(t *ledger.Transfer) { t.PendingID = "x" }), ledger.PendingIDMustBeEmpty)}},
		{name: "pending_id_must_not_be_empty", steps: []step{do(post("p1", "", 0), ledger.PendingIDMustNotBeEmpty)}},
		{name: "pending_id_must_be_different", steps: []step{do(post("p1", "p1", 0), ledger.PendingIDMustBeDifferent)}},
		{name: "pending_transfer_not_found", steps: []step{do(post("p1", "nosuch", 0), ledger.PendingTransferNotFound), do(void("v1", "nosuch"), ledger.PendingTransferNotFound)}},
		{name: "pending_transfer_not_pending", steps: []step{
			do(mv("t1", "cust", "settle", 10), ledger.OK), do(post("p1", "t1", 0), ledger.PendingTransferNotPending)}},
		{name: "post/amount 0 posts the full amount", steps: []step{
			do(hold("h1", "cust", "settle", 300, time.Hour), ledger.OK), status("h1", ledger.StatusPending),
			do(post("p1", "h1", 0), ledger.OK), status("h1", ledger.StatusPosted), stored("p1", "cust", "settle", 300)},
			want: map[string]Bal{"cust": {0, 300, 0, 1000}, "settle": {0, 0, 0, 300}}},
		{name: "post/partial amount releases the rest", steps: []step{
			do(hold("h1", "cust", "settle", 300, time.Hour), ledger.OK), do(post("p1", "h1", 120), ledger.OK), stored("p1", "cust", "settle", 120)},
			want: map[string]Bal{"cust": {0, 120, 0, 1000}, "settle": {0, 0, 0, 120}}},
		{name: "post/matching accounts and currency given", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(post("p1", "h1", 300), func(t *ledger.Transfer) {
				t.DebitAccountID, t.CreditAccountID, t.Currency = "cust", "settle", money.CNY
			}), ledger.OK)},
			want: map[string]Bal{"cust": {0, 300, 0, 1000}}},
		{name: "exceeds_pending_transfer_amount", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(post("p1", "h1", 301), ledger.ExceedsPendingTransferAmount)},
			want: map[string]Bal{"cust": {300, 0, 0, 1000}}},
		{name: "pending_transfer_has_different_debit_account_id", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(post("p1", "h1", 0), func(t *ledger.Transfer) { t.DebitAccountID = "cust2" }), ledger.PendingTransferHasDifferentDebitAccountID)}},
		{name: "pending_transfer_has_different_credit_account_id", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(void("v1", "h1"), func(t *ledger.Transfer) { t.CreditAccountID = "cash" }), ledger.PendingTransferHasDifferentCreditAccountID)}},
		{name: "pending_transfer_has_different_currency", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(post("p1", "h1", 0), func(t *ledger.Transfer) { t.Currency = 840 }), ledger.PendingTransferHasDifferentCurrency)}},
		{name: "pending_transfer_has_different_amount/void of a part", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(void("v1", "h1"), func(t *ledger.Transfer) { t.Amount = 100 }), ledger.PendingTransferHasDifferentAmount)},
			want: map[string]Bal{"cust": {300, 0, 0, 1000}}},
		{name: "void/releases the hold", steps: []step{
			do(hold("h1", "cust", "settle", 300, time.Hour), ledger.OK), do(void("v1", "h1"), ledger.OK),
			status("h1", ledger.StatusVoided), stored("v1", "cust", "settle", 300)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}, "settle": {}}},
		{name: "void/with the full amount given", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			do(with(void("v1", "h1"), func(t *ledger.Transfer) { t.Amount = 300 }), ledger.OK)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}}},
		{name: "pending_transfer_already_posted", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(post("p1", "h1", 100), ledger.OK),
			do(post("p2", "h1", 100), ledger.PendingTransferAlreadyPosted), do(void("v1", "h1"), ledger.PendingTransferAlreadyPosted)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}, "settle": {0, 0, 0, 100}}},
		{name: "pending_transfer_already_voided", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(void("v1", "h1"), ledger.OK),
			do(void("v2", "h1"), ledger.PendingTransferAlreadyVoided), do(post("p1", "h1", 0), ledger.PendingTransferAlreadyVoided)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}, "settle": {}}},
		{name: "pending_transfer_expired/timeout passed before the sweep", steps: []step{
			do(hold("h1", "cust", "settle", 300, 10*time.Second), ledger.OK), advance(10 * time.Second),
			do(post("p1", "h1", 0), ledger.PendingTransferExpired), status("h1", ledger.StatusPending),
			expire(1), status("h1", ledger.StatusExpired),
			do(post("p1", "h1", 0), ledger.PendingTransferExpired), do(void("v1", "h1"), ledger.PendingTransferExpired)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}, "settle": {}}},
		{name: "post/just before the timeout", steps: []step{
			do(hold("h1", "cust", "settle", 300, 10*time.Second), ledger.OK), advance(10*time.Second - time.Millisecond),
			do(post("p1", "h1", 0), ledger.OK), advance(time.Hour), expire(0)},
			want: map[string]Bal{"cust": {0, 300, 0, 1000}}},
		{name: "expire/sweep releases only the holds that are due", steps: []step{
			do(hold("h1", "cust", "settle", 100, 10*time.Second), ledger.OK),
			do(hold("h2", "cust", "settle", 200, 60*time.Second), ledger.OK),
			do(hold("h3", "cust", "settle", 300, 0), ledger.OK),
			advance(30 * time.Second), expire(1), expire(0),
			status("h1", ledger.StatusExpired), status("h2", ledger.StatusPending),
			advance(30 * time.Second), expire(1), status("h2", ledger.StatusExpired), status("h3", ledger.StatusPending)},
			want: map[string]Bal{"cust": {300, 0, 0, 1000}, "settle": {0, 0, 300, 0}}},
		{name: "exists/post repeated", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(post("p1", "h1", 0), ledger.OK),
			do(post("p1", "h1", 0), ledger.Exists), do(post("p1", "h1", 300), ledger.Exists),
			do(post("p1", "h1", 120), ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"cust": {0, 300, 0, 1000}}},
		{name: "exists_with_different_fields/partial post repeated as full", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(post("p1", "h1", 120), ledger.OK),
			do(post("p1", "h1", 0), ledger.ExistsWithDifferentFields), do(post("p1", "h1", 120), ledger.Exists)},
			want: map[string]Bal{"cust": {0, 120, 0, 1000}}},
		{name: "exists/void repeated", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK), do(void("v1", "h1"), ledger.OK), do(void("v1", "h1"), ledger.Exists)},
			want: map[string]Bal{"cust": {0, 0, 0, 1000}}},
		{name: "overflows_debits_posted", steps: []step{do(mv("t1", "cash", "settle", max), ledger.OverflowsDebitsPosted)}},
		{name: "overflows_credits_posted", steps: []step{
			do(mv("t1", "cash", "settle", max-1000), ledger.OK), do(mv("t2", "limit", "settle", 1001), ledger.OverflowsCreditsPosted)}},
		{name: "overflows_debits_pending", steps: []step{
			do(hold("h1", "cash", "settle", max-2000, 0), ledger.OK), do(hold("h2", "cash", "settle", 2001, 0), ledger.OverflowsDebitsPending)}},
		{name: "overflows_credits_pending", steps: []step{
			do(hold("h1", "cash", "settle", max-2000, 0), ledger.OK), do(hold("h2", "limit", "settle", 2001, 0), ledger.OverflowsCreditsPending)}},
		{name: "overflows_debits", steps: []step{
			do(hold("h1", "cash", "settle", max-2000, 0), ledger.OK), do(mv("t2", "cash", "limit", 1500), ledger.OverflowsDebits)}},
		{name: "overflows_credits", steps: []step{
			do(hold("h1", "cash", "settle", max-2000, 0), ledger.OK), do(mv("t2", "limit", "settle", 2500), ledger.OverflowsCredits)}},
		{name: "linked/a failure fails the whole chain", steps: []step{
			batch([]ledger.Transfer{linked(mv("a", "cust", "settle", 500)), mv("b", "cust2", "settle", 1)},
				ledger.LinkedEventFailed, ledger.ExceedsCredits),
			do(mv("a", "cust", "settle", 100), ledger.OK)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}, "cust2": {}, "settle": {0, 0, 0, 100}}},
		{name: "linked/a chain succeeds whole", steps: []step{
			batch([]ledger.Transfer{linked(mv("a", "cust", "settle", 500)), linked(mv("b", "cash", "cust2", 7)), mv("c", "cust2", "settle", 7)},
				ledger.OK, ledger.OK, ledger.OK)},
			want: map[string]Bal{"cust": {0, 500, 0, 1000}, "cust2": {0, 7, 0, 7}, "settle": {0, 0, 0, 507}}},
		{name: "linked/later transfers of a failed chain do not run", steps: []step{
			batch([]ledger.Transfer{linked(mv("a", "cust2", "settle", 1)), mv("b", "cust", "settle", 1), mv("c", "cust", "settle", 2)},
				ledger.ExceedsCredits, ledger.LinkedEventFailed, ledger.OK)},
			want: map[string]Bal{"cust": {0, 2, 0, 1000}}},
		{name: "linked_event_chain_open", steps: []step{
			batch([]ledger.Transfer{mv("a", "cust", "settle", 1), linked(mv("b", "cust", "settle", 1)), linked(mv("c", "cust", "settle", 1))},
				ledger.OK, ledger.LinkedEventFailed, ledger.LinkedEventChainOpen)},
			want: map[string]Bal{"cust": {0, 1, 0, 1000}}},
		{name: "linked/a failed chain undoes a post", steps: []step{
			do(hold("h1", "cust", "settle", 300, 0), ledger.OK),
			batch([]ledger.Transfer{linked(post("p1", "h1", 0)), mv("x", "cust2", "settle", 1)}, ledger.LinkedEventFailed, ledger.ExceedsCredits),
			status("h1", ledger.StatusPending), do(post("p1", "h1", 0), ledger.OK)},
			want: map[string]Bal{"cust": {0, 300, 0, 1000}}},
		{name: "batch/results are independent", steps: []step{
			batch([]ledger.Transfer{mv("a", "cust", "settle", 600), mv("b", "cust", "settle", 600), mv("c", "cust", "settle", 400)},
				ledger.OK, ledger.ExceedsCredits, ledger.OK)},
			want: map[string]Bal{"cust": {0, 1000, 0, 1000}, "settle": {0, 0, 0, 1000}}},
		{name: "batch/hold and post in one batch", steps: []step{
			batch([]ledger.Transfer{hold("h1", "cust", "settle", 300, 0), post("p1", "h1", 100), post("p2", "h1", 100)},
				ledger.OK, ledger.OK, ledger.PendingTransferAlreadyPosted),
			status("h1", ledger.StatusPosted)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}, "settle": {0, 0, 0, 100}}},
		{name: "batch/the same id twice in one batch", steps: []step{
			batch([]ledger.Transfer{mv("a", "cust", "settle", 100), mv("a", "cust", "settle", 100), mv("a", "cust", "settle", 101)},
				ledger.OK, ledger.Exists, ledger.ExistsWithDifferentFields)},
			want: map[string]Bal{"cust": {0, 100, 0, 1000}}},
	}
}

// Run runs the rule tests against s, whose transactions must take their
// time from clock. Every test uses its own accounts, so s may hold others.
// Failures are reported through t.
func Run(t *testing.T, s ledger.Store, clock *Clock) {
	ctx := context.Background()
	open := func(t *testing.T) *env {
		t.Helper()
		e := &env{t: t, ctx: ctx, s: s, clock: clock, p: newPrefix("r")}
		accounts := make([]ledger.Account, len(suiteAccounts))
		for i, a := range suiteAccounts {
			a.ID = e.id(a.ID)
			accounts[i] = a
		}
		rs, err := s.CreateAccounts(ctx, accounts)
		if err != nil {
			t.Fatalf("create accounts: %v", err)
		}
		for i, r := range rs {
			if r != ledger.OK {
				t.Fatalf("create account %s: got %s, want ok", accounts[i].ID, r)
			}
		}
		rs, err = s.CreateTransfers(ctx, e.trs(suiteSetup))
		if err != nil {
			t.Fatalf("fund accounts: %v", err)
		}
		for i, r := range rs {
			if r != ledger.OK {
				t.Fatalf("fund %s: got %s, want ok", suiteSetup[i].ID, r)
			}
		}
		// Leave no hold due for the sweep of a later test.
		t.Cleanup(func() {
			clock.Advance(1000 * 24 * time.Hour)
			if _, err := s.ExpirePending(ctx, clock.Now()); err != nil {
				t.Errorf("expire after test: %v", err)
			}
		})
		return e
	}

	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t)
			for _, st := range tc.steps {
				st(e)
			}
			ids := make([]string, len(suiteAccounts))
			for i, a := range suiteAccounts {
				ids[i] = e.id(a.ID)
			}
			accounts, err := s.LookupAccounts(ctx, ids)
			if err != nil {
				t.Fatalf("lookup accounts: %v", err)
			}
			var sum Bal
			for _, a := range accounts {
				b := balOf(a)
				for i := range sum {
					sum[i] += b[i]
				}
				if want, ok := tc.want[strings.TrimPrefix(a.ID, e.p)]; ok && b != want {
					t.Errorf("account %s: got %v, want %v", strings.TrimPrefix(a.ID, e.p), b, want)
				}
			}
			if sum[0] != sum[2] || sum[1] != sum[3] {
				t.Errorf("sums of debits and credits (pending, posted): got %d/%d and %d/%d, want equal", sum[0], sum[2], sum[1], sum[3])
			}
		})
	}

	t.Run("accounts", func(t *testing.T) { runAccounts(t, s) })
	t.Run("lookup", func(t *testing.T) { runLookup(t, open(t)) })
	t.Run("filter", func(t *testing.T) { runFilter(t, open(t)) })
	t.Run("batch_too_large", func(t *testing.T) {
		_, err := s.CreateTransfers(ctx, make([]ledger.Transfer, ledger.MaxBatch+1))
		if !fault.Has(err, fault.Invalid, "batch_too_large") {
			t.Fatalf("got %v, want an invalid batch_too_large error", err)
		}
	})
}

func runAccounts(t *testing.T, s ledger.Store) {
	ctx := context.Background()
	p := newPrefix("a")
	acct := func(id string, f func(*ledger.Account)) ledger.Account {
		a := ledger.Account{ID: id, Currency: money.CNY, Code: ledger.CodeCustomerDebit, Flags: ledger.DebitsMustNotExceedCredits, UserData: "cust-1"}
		if id != "" {
			a.ID = p + id
		}
		if f != nil {
			f(&a)
		}
		return a
	}
	if rs, err := s.CreateAccounts(ctx, []ledger.Account{acct("a1", nil)}); err != nil || len(rs) != 1 || rs[0] != ledger.OK {
		t.Fatalf("create a1: got %v (%v), want [ok]", rs, err)
	}
	cases := []struct {
		name string
		a    ledger.Account
		want ledger.Result
	}{
		{"ok", acct("a2", nil), ledger.OK},
		{"exists", acct("a1", nil), ledger.Exists},
		{"exists_with_different_fields/flags", acct("a1", func(a *ledger.Account) { a.Flags = 0 }), ledger.ExistsWithDifferentFields},
		{"exists_with_different_fields/code", acct("a1", func(a *ledger.Account) { a.Code = ledger.CodeCreditLine }), ledger.ExistsWithDifferentFields},
		{"exists_with_different_fields/currency", acct("a1", func(a *ledger.Account) { a.Currency = 840 }), ledger.ExistsWithDifferentFields},
		{"exists_with_different_fields/user data", acct("a1", func(a *ledger.Account) { a.UserData = "cust-2" }), ledger.ExistsWithDifferentFields},
		{"reserved_flag", acct("a3", func(a *ledger.Account) { a.Flags = 1 << 5 }), ledger.ReservedFlag},
		{"id_must_not_be_empty", acct("", nil), ledger.IDMustNotBeEmpty},
		{"id_too_long", acct(strings.Repeat("x", ledger.MaxIDLength), nil), ledger.IDTooLong},
		{"user_data_too_long", acct("a3", func(a *ledger.Account) { a.UserData = strings.Repeat("u", ledger.MaxUserDataLength+1) }), ledger.UserDataTooLong},
		{"flags_are_mutually_exclusive", acct("a3", func(a *ledger.Account) {
			a.Flags = ledger.DebitsMustNotExceedCredits | ledger.CreditsMustNotExceedDebits
		}), ledger.FlagsAreMutuallyExclusive},
		{"balances_must_be_zero", acct("a3", func(a *ledger.Account) { a.CreditsPosted = 1 }), ledger.BalancesMustBeZero},
		{"currency_must_not_be_zero", acct("a3", func(a *ledger.Account) { a.Currency = 0 }), ledger.CurrencyMustNotBeZero},
		{"code_must_be_valid", acct("a3", func(a *ledger.Account) { a.Code = "savings" }), ledger.CodeMustBeValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.CreateAccounts(ctx, []ledger.Account{tc.a})
			if err != nil {
				t.Fatalf("create account: %v", err)
			}
			if rs[0] != tc.want {
				t.Fatalf("got %s, want %s", rs[0], tc.want)
			}
		})
	}
	t.Run("batch with the same id twice", func(t *testing.T) {
		rs, err := s.CreateAccounts(ctx, []ledger.Account{acct("b1", nil), acct("b1", nil), acct("b1", func(a *ledger.Account) { a.Flags = 0 })})
		if err != nil {
			t.Fatalf("create accounts: %v", err)
		}
		if want := "[ok exists exists_with_different_fields]"; fmt.Sprint(rs) != want {
			t.Fatalf("got %v, want %s", rs, want)
		}
	})
	t.Run("stored fields", func(t *testing.T) {
		got, err := s.LookupAccounts(ctx, []string{p + "a1"})
		if err != nil || len(got) != 1 {
			t.Fatalf("lookup a1: got %v (%v), want one account", got, err)
		}
		want := acct("a1", nil)
		want.Timestamp = got[0].Timestamp
		if got[0] != want || got[0].Timestamp.IsZero() {
			t.Fatalf("got %+v, want %+v with a timestamp", got[0], want)
		}
	})
}

func runLookup(t *testing.T, e *env) {
	_, err := e.s.LookupTransfer(e.ctx, e.id("nosuch"))
	if !errors.Is(err, fault.E(fault.NotFound, "", "")) {
		t.Errorf("lookup of a missing transfer: got %v, want a not-found error", err)
	}
	got, err := e.s.LookupAccounts(e.ctx, []string{e.id("settle"), e.id("nosuch"), e.id("cust")})
	if err != nil {
		t.Fatalf("lookup accounts: %v", err)
	}
	var ids []string
	for _, a := range got {
		ids = append(ids, strings.TrimPrefix(a.ID, e.p))
	}
	if fmt.Sprint(ids) != "[settle cust]" {
		t.Errorf("looked up accounts: got %v, want [settle cust]", ids)
	}
	do(with(hold("h1", "cust", "settle", 300, time.Minute), func(t *ledger.Transfer) { t.UserData = "rrn:123456789012" }), ledger.OK)(e)
	h, err := e.s.LookupTransfer(e.ctx, e.id("h1"))
	if err != nil {
		t.Fatalf("lookup h1: %v", err)
	}
	now := e.clock.Now()
	want := ledger.Transfer{ID: e.id("h1"), DebitAccountID: e.id("cust"), CreditAccountID: e.id("settle"), Amount: 300,
		Currency: money.CNY, Flags: ledger.Pending, Timeout: time.Minute, UserData: "rrn:123456789012",
		Timestamp: now, ExpiresAt: now.Add(time.Minute), Status: ledger.StatusPending}
	if !h.Timestamp.Equal(want.Timestamp) || !h.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times: got %v and %v, want %v and %v", h.Timestamp, h.ExpiresAt, want.Timestamp, want.ExpiresAt)
	}
	h.Timestamp, h.ExpiresAt, want.Timestamp, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if h != want {
		t.Errorf("got %+v, want %+v", h, want)
	}
}

func runFilter(t *testing.T, e *env) {
	t0 := e.clock.Now()
	for _, st := range []step{
		do(hold("h1", "cust", "settle", 100, 0), ledger.OK),
		advance(time.Minute),
		do(hold("h2", "cust", "settle", 200, 0), ledger.OK),
		do(mv("t1", "cust", "settle", 50), ledger.OK),
		advance(time.Minute),
		do(post("p1", "h1", 0), ledger.OK),
		do(hold("h3", "cust", "settle", 300, 0), ledger.OK),
		do(void("v3", "h3"), ledger.OK),
	} {
		st(e)
	}
	cases := []struct {
		name string
		f    ledger.Filter
		want string
	}{
		{"account", ledger.Filter{AccountID: e.id("settle")}, "[h1 h2 t1 h3 p1 v3]"},
		{"other account", ledger.Filter{AccountID: e.id("cust2")}, "[]"},
		{"pending still open", ledger.Filter{AccountID: e.id("cust"), Status: ledger.StatusPending}, "[h2]"},
		{"pending posted", ledger.Filter{AccountID: e.id("cust"), Status: ledger.StatusPosted}, "[h1]"},
		{"posts", ledger.Filter{AccountID: e.id("cust"), Flags: ledger.PostPending}, "[p1]"},
		{"pending kind", ledger.Filter{AccountID: e.id("cust"), Flags: ledger.Pending}, "[h1 h2 h3]"},
		{"time range", ledger.Filter{AccountID: e.id("cust"), From: t0.Add(time.Minute), To: t0.Add(2 * time.Minute)}, "[h2 t1]"},
		{"from", ledger.Filter{AccountID: e.id("cust"), From: t0.Add(2 * time.Minute)}, "[h3 p1 v3]"},
		{"limit", ledger.Filter{AccountID: e.id("cust"), Limit: 2}, "[fund-cust h1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := e.s.Transfers(e.ctx, tc.f)
			if err != nil {
				t.Fatalf("transfers: %v", err)
			}
			ids := []string{}
			for _, x := range ts {
				ids = append(ids, strings.TrimPrefix(x.ID, e.p))
			}
			if got := fmt.Sprint(ids); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// WithChecks runs fn with rapid's number of checks set to n, unless the
// command line set -rapid.checks. It is for stores slower than memory, and
// it never fails.
func WithChecks(n int, fn func()) {
	f := flag.Lookup("rapid.checks")
	explicit := false
	flag.Visit(func(v *flag.Flag) { explicit = explicit || v.Name == "rapid.checks" })
	if f == nil || explicit {
		fn()
		return
	}
	old := f.Value.String()
	f.Value.Set(strconv.Itoa(n))
	defer f.Value.Set(old)
	fn()
}
