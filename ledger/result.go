package ledger

import "github.com/tapwallet/tapwallet/fault"

// Result is the outcome of creating one account or one transfer, named as
// TigerBeetle names it. OK and Exists mean the account or transfer stands;
// every other result means it was not created and nothing changed. A
// transfer that failed is not recorded, so the same id may be tried again
// (and then may succeed, e.g. after a deposit).
type Result string

// The results, in the order the rules check them.
const (
	OK Result = "ok"
	// Exists: the id is already stored with the same fields; the original
	// stands and this one had no effect.
	Exists Result = "exists"
	// ExistsWithDifferentFields: the id is already stored with other fields.
	ExistsWithDifferentFields Result = "exists_with_different_fields"

	LinkedEventFailed    Result = "linked_event_failed"     // another transfer of the linked chain failed
	LinkedEventChainOpen Result = "linked_event_chain_open" // the batch ended inside a linked chain

	ReservedFlag              Result = "reserved_flag"
	IDMustNotBeEmpty          Result = "id_must_not_be_empty"
	IDTooLong                 Result = "id_too_long"
	UserDataTooLong           Result = "user_data_too_long"
	FlagsAreMutuallyExclusive Result = "flags_are_mutually_exclusive"
	BalancesMustBeZero        Result = "balances_must_be_zero" // accounts only
	CodeMustBeValid           Result = "code_must_be_valid"    // accounts only

	PendingIDMustNotBeEmpty           Result = "pending_id_must_not_be_empty"
	PendingIDMustBeDifferent          Result = "pending_id_must_be_different"
	PendingIDMustBeEmpty              Result = "pending_id_must_be_empty"
	TimeoutReservedForPendingTransfer Result = "timeout_reserved_for_pending_transfer"
	TimeoutMustNotBeNegative          Result = "timeout_must_not_be_negative"
	DebitAccountIDMustNotBeEmpty      Result = "debit_account_id_must_not_be_empty"
	CreditAccountIDMustNotBeEmpty     Result = "credit_account_id_must_not_be_empty"
	AccountsMustBeDifferent           Result = "accounts_must_be_different"
	CurrencyMustNotBeZero             Result = "currency_must_not_be_zero"
	AmountMustNotBeNegative           Result = "amount_must_not_be_negative"
	AmountMustNotBeZero               Result = "amount_must_not_be_zero"

	DebitAccountNotFound                      Result = "debit_account_not_found"
	CreditAccountNotFound                     Result = "credit_account_not_found"
	AccountsMustHaveTheSameCurrency           Result = "accounts_must_have_the_same_currency"
	TransferMustHaveTheSameCurrencyAsAccounts Result = "transfer_must_have_the_same_currency_as_accounts"

	PendingTransferNotFound                    Result = "pending_transfer_not_found"
	PendingTransferNotPending                  Result = "pending_transfer_not_pending"
	PendingTransferHasDifferentDebitAccountID  Result = "pending_transfer_has_different_debit_account_id"
	PendingTransferHasDifferentCreditAccountID Result = "pending_transfer_has_different_credit_account_id"
	PendingTransferHasDifferentCurrency        Result = "pending_transfer_has_different_currency"
	ExceedsPendingTransferAmount               Result = "exceeds_pending_transfer_amount"
	PendingTransferHasDifferentAmount          Result = "pending_transfer_has_different_amount"
	PendingTransferAlreadyPosted               Result = "pending_transfer_already_posted"
	PendingTransferAlreadyVoided               Result = "pending_transfer_already_voided"
	PendingTransferExpired                     Result = "pending_transfer_expired"

	OverflowsDebitsPending  Result = "overflows_debits_pending"
	OverflowsCreditsPending Result = "overflows_credits_pending"
	OverflowsDebitsPosted   Result = "overflows_debits_posted"
	OverflowsCreditsPosted  Result = "overflows_credits_posted"
	OverflowsDebits         Result = "overflows_debits"
	OverflowsCredits        Result = "overflows_credits"

	// ExceedsCredits: the debit account has DebitsMustNotExceedCredits and
	// not enough available (insufficient funds, over the credit limit).
	ExceedsCredits Result = "exceeds_credits"
	// ExceedsDebits: the credit account has CreditsMustNotExceedDebits and
	// cannot take that much.
	ExceedsDebits Result = "exceeds_debits"
)

// Applied reports whether the account or transfer stands: OK or Exists.
// It never fails.
func (r Result) Applied() bool { return r == OK || r == Exists }

// Err returns nil for OK and Exists, else a *fault.Error whose Code is the
// result and whose Kind is Declined for ExceedsCredits and ExceedsDebits,
// NotFound for a missing account or pending transfer, Conflict for a clash
// with stored state (different fields, a pending already resolved or
// expired, a failed linked chain), Limit for an overflow, and Invalid for
// the rest.
func (r Result) Err() error {
	var kind fault.Kind
	switch r {
	case OK, Exists:
		return nil
	case ExceedsCredits, ExceedsDebits:
		kind = fault.Declined
	case DebitAccountNotFound, CreditAccountNotFound, PendingTransferNotFound:
		kind = fault.NotFound
	case ExistsWithDifferentFields, PendingTransferAlreadyPosted, PendingTransferAlreadyVoided,
		PendingTransferExpired, LinkedEventFailed:
		kind = fault.Conflict
	case OverflowsDebitsPending, OverflowsCreditsPending, OverflowsDebitsPosted,
		OverflowsCreditsPosted, OverflowsDebits, OverflowsCredits:
		kind = fault.Limit
	default:
		kind = fault.Invalid
	}
	return fault.E(kind, string(r), "ledger: %s", r)
}
