package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/wallet"
)

// WalletStore implements wallet.Store.
type WalletStore struct{ DB *DB }

var _ wallet.Store = (*WalletStore)(nil)

func dbErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*fault.Error); ok {
		return err
	}
	return fault.Wrap(err, fault.Unavailable, "db", "database error while %s", what)
}

// CreateAccount inserts an account; a taken email is fault.Conflict "email_taken".
func (s *WalletStore) CreateAccount(ctx context.Context, a wallet.Account) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			a.ID, a.Email, a.PasswordHash, Millis(a.CreatedAt))
		if IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "email_taken", "an account with this email already exists")
		}
		return dbErr(err, "creating an account")
	})
}

// AccountByEmail finds an account.
func (s *WalletStore) AccountByEmail(ctx context.Context, email string) (wallet.Account, error) {
	var a wallet.Account
	var locked, created int64
	err := s.DB.QueryRow(ctx, `SELECT id, email, password_hash, failed_logins, locked_until, created_at FROM accounts WHERE email = ?`, email).
		Scan(&a.ID, &a.Email, &a.PasswordHash, &a.FailedLogins, &locked, &created)
	if NoRows(err) {
		return a, fault.E(fault.NotFound, "account_not_found", "no such account")
	}
	a.LockedUntil, a.CreatedAt = Time(locked), Time(created)
	return a, dbErr(err, "reading an account")
}

// RecordLoginFailure counts a failed log-in and sets the lock time.
func (s *WalletStore) RecordLoginFailure(ctx context.Context, accountID string, lockedUntil time.Time) (int, error) {
	var n int
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = failed_logins + 1, locked_until = ? WHERE id = ?`, Millis(lockedUntil), accountID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT failed_logins FROM accounts WHERE id = ?`, accountID).Scan(&n)
	})
	return n, dbErr(err, "recording a failed log-in")
}

// ResetLoginFailures clears the failure count.
func (s *WalletStore) ResetLoginFailures(ctx context.Context, accountID string) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = 0, locked_until = 0 WHERE id = ?`, accountID)
		return err
	}), "resetting log-in failures")
}

// CreateSession stores a session by its token hash.
func (s *WalletStore) CreateSession(ctx context.Context, tokenHash []byte, accountID string, expires time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			tokenHash, accountID, Millis(tx.Now), Millis(expires))
		return err
	}), "creating a session")
}

// SessionAccount returns the account of a live session.
func (s *WalletStore) SessionAccount(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	var acc string
	var exp, revoked int64
	err := s.DB.QueryRow(ctx, `SELECT account_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?`, tokenHash).Scan(&acc, &exp, &revoked)
	if NoRows(err) {
		return "", fault.E(fault.Unauthorized, "bad_session", "log in first: the session is unknown")
	}
	if err != nil {
		return "", dbErr(err, "reading a session")
	}
	if revoked != 0 {
		return "", fault.E(fault.Unauthorized, "bad_session", "log in again: the session was logged out")
	}
	if now.UnixMilli() >= exp {
		return "", fault.E(fault.Unauthorized, "session_expired", "log in again: the session has expired")
	}
	return acc, nil
}

// RevokeSession ends a session.
func (s *WalletStore) RevokeSession(ctx context.Context, tokenHash []byte) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at = 0`, Millis(tx.Now), tokenHash)
		return err
	}), "ending a session")
}

// CreatePhone inserts a phone.
func (s *WalletStore) CreatePhone(ctx context.Context, p wallet.Phone) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO phones (id, account_id, name, model, public_key, wallet_on, last_seen, created_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
			p.ID, p.AccountID, p.Name, p.Model, p.PublicKey, Millis(p.LastSeen), Millis(p.CreatedAt))
		return err
	}), "registering a phone")
}

const phoneCols = `id, account_id, name, model, public_key, wallet_on, card_count, last_seen, lat, lon, located_at, created_at`

func scanPhone(sc interface{ Scan(...any) error }) (wallet.Phone, error) {
	var p wallet.Phone
	var on int64
	var seen, located, created int64
	var lat, lon sql.NullFloat64
	err := sc.Scan(&p.ID, &p.AccountID, &p.Name, &p.Model, &p.PublicKey, &on, &p.CardCount, &seen, &lat, &lon, &located, &created)
	p.WalletOn = on != 0
	p.LastSeen, p.LocatedAt, p.CreatedAt = Time(seen), Time(located), Time(created)
	if lat.Valid && lon.Valid {
		p.Lat, p.Lon = &lat.Float64, &lon.Float64
	}
	return p, err
}

// Phone returns a phone by id.
func (s *WalletStore) Phone(ctx context.Context, id string) (wallet.Phone, error) {
	p, err := scanPhone(s.DB.QueryRow(ctx, `SELECT `+phoneCols+` FROM phones WHERE id = ?`, id))
	if NoRows(err) {
		return p, fault.E(fault.NotFound, "phone_not_found", "no such phone on this account")
	}
	return p, dbErr(err, "reading a phone")
}

// Phones lists an account's phones, oldest first.
func (s *WalletStore) Phones(ctx context.Context, accountID string) ([]wallet.Phone, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+phoneCols+` FROM phones WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, dbErr(err, "listing phones")
	}
	defer rows.Close()
	var out []wallet.Phone
	for rows.Next() {
		p, err := scanPhone(rows)
		if err != nil {
			return nil, dbErr(err, "listing phones")
		}
		out = append(out, p)
	}
	return out, dbErr(rows.Err(), "listing phones")
}

// UsePhoneNonce records a nonce; a second use is fault.Conflict "replayed_request".
func (s *WalletStore) UsePhoneNonce(ctx context.Context, phoneID, nonce string, now time.Time) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO phone_nonces (phone_id, nonce, at) VALUES (?, ?, ?)`, phoneID, nonce, Millis(now))
		if IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "replayed_request", "this signed request was already used")
		}
		if err != nil {
			return dbErr(err, "recording a request nonce")
		}
		// Nonces older than the clock-skew window can never be accepted again anyway.
		_, err = tx.Exec(ctx, `DELETE FROM phone_nonces WHERE phone_id = ? AND at < ?`, phoneID, Millis(now.Add(-2*wallet.MaxClockSkew)))
		return dbErr(err, "pruning request nonces")
	})
}

// AddEvent appends a security event.
func (s *WalletStore) AddEvent(ctx context.Context, e wallet.Event) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO security_events (id, account_id, phone_id, kind, detail, source, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.AccountID, e.PhoneID, e.Kind, e.Detail, e.Source, Millis(e.At))
		return err
	}), "recording a security event")
}

// Events lists an account's newest security events.
func (s *WalletStore) Events(ctx context.Context, accountID string, limit int) ([]wallet.Event, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, account_id, phone_id, kind, detail, source, at FROM security_events WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, dbErr(err, "listing security events")
	}
	defer rows.Close()
	var out []wallet.Event
	for rows.Next() {
		var e wallet.Event
		var at int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.PhoneID, &e.Kind, &e.Detail, &e.Source, &at); err != nil {
			return nil, dbErr(err, "listing security events")
		}
		e.At = Time(at)
		out = append(out, e)
	}
	return out, dbErr(rows.Err(), "listing security events")
}
