package sqldb

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
)

var _ wallet.PhoneStateStore = (*WalletStore)(nil)

// SetPhoneLocation records a phone's reported place and marks it seen; an
// unknown phone is fault.NotFound "phone_not_found".
func (s *WalletStore) SetPhoneLocation(ctx context.Context, phoneID string, lat, lon float64, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE phones SET lat = ?, lon = ?, located_at = ?, last_seen = ? WHERE id = ?`, lat, lon, Millis(at), Millis(at), phoneID)
		return oneRow(r, err, "phone_not_found", "no such phone", "recording a phone's place")
	})
}

// TouchPhone marks a phone seen; an unknown phone is fault.NotFound.
func (s *WalletStore) TouchPhone(ctx context.Context, phoneID string, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE phones SET last_seen = ? WHERE id = ?`, Millis(at), phoneID)
		return oneRow(r, err, "phone_not_found", "no such phone", "marking a phone seen")
	})
}

// AccountByID finds an account by id (fault.NotFound "account_not_found").
func (s *WalletStore) AccountByID(ctx context.Context, id string) (wallet.Account, error) {
	var a wallet.Account
	var locked, created int64
	err := s.DB.QueryRow(ctx, `SELECT id, email, password_hash, failed_logins, locked_until, created_at FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.Email, &a.PasswordHash, &a.FailedLogins, &locked, &created)
	if NoRows(err) {
		return a, fault.E(fault.NotFound, "account_not_found", "no such account")
	}
	a.LockedUntil, a.CreatedAt = Time(locked), Time(created)
	return a, dbErr(err, "reading an account")
}

// oneRow turns an UPDATE's outcome into nil (one row or more changed),
// fault.NotFound with code (no row), or a database error.
func oneRow(r interface{ RowsAffected() (int64, error) }, err error, code, msg, what string) error {
	if err != nil {
		return dbErr(err, what)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return dbErr(err, what)
	}
	if n == 0 {
		return fault.E(fault.NotFound, code, "%s", msg)
	}
	return nil
}
