package sqlstore

import (
	"context"

	"github.com/tapwallet/tapwallet/ledger"
	"github.com/tapwallet/tapwallet/sqldb"
)

// CreateAccountsInTx creates accounts in tx, a transaction of the wing
// that holds the ledger, so that they commit (or roll back) with what else
// the transaction writes — a party's own rows beside its ledger. It fails
// like ledger.CreateAccountsIn.
func CreateAccountsInTx(ctx context.Context, tx *sqldb.Tx, accounts []ledger.Account) ([]ledger.Result, error) {
	return ledger.CreateAccountsIn(ctx, ledgerTx{tx}, accounts)
}

// CreateTransfersInTx applies transfers in tx as CreateAccountsInTx: the
// rules of package ledger, the accounts locked as Store.CreateTransfers
// locks them, committed with the rest of tx. A unique violation (the same
// id stored by another transaction meanwhile) fails the transaction: run
// it again. With a Journaled ledger on the wing, run tx inside its Alone
// with the context Alone gives: the Journaled learns from it the ids
// inserted (its filter of ids; a hold reusing one would otherwise be
// placed). It fails like ledger.CreateTransfersIn.
func CreateTransfersInTx(ctx context.Context, tx *sqldb.Tx, ts []ledger.Transfer) ([]ledger.Result, error) {
	return ledger.CreateTransfersIn(ctx, ledgerTx{tx}, ts)
}
