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

// CountLoginAttempt counts one password attempt before its check, in one
// transaction: a locked account is not counted and not allowed; otherwise
// the attempt adds one, and the one that reaches maxTries sets the lock.
// Concurrent attempts serialize on the account's row (its UPDATE), so no
// more than maxTries of them pass before the lock.
func (s *WalletStore) CountLoginAttempt(ctx context.Context, accountID string, now time.Time, maxTries int) (wallet.LoginAttempt, error) {
	var att wallet.LoginAttempt
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		att = wallet.LoginAttempt{}
		r, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = failed_logins + 1 WHERE id = ? AND locked_until <= ?`, accountID, Millis(now))
		if err != nil {
			return err
		}
		changed, err := r.RowsAffected()
		if err != nil {
			return err
		}
		var locked int64
		if err := tx.QueryRow(ctx, `SELECT failed_logins, locked_until FROM accounts WHERE id = ?`, accountID).Scan(&att.N, &locked); err != nil {
			if NoRows(err) {
				return fault.E(fault.NotFound, "account_not_found", "no such account")
			}
			return err
		}
		if changed == 0 {
			att.LockedUntil = Time(locked)
			return nil
		}
		att.Allowed = true
		if att.N >= maxTries {
			att.LockedUntil = now.Add(wallet.LockTime(att.N))
			_, err = tx.Exec(ctx, `UPDATE accounts SET locked_until = ? WHERE id = ?`, Millis(att.LockedUntil), accountID)
		}
		return err
	})
	return att, dbErr(err, "counting a log-in attempt")
}

// ResetLoginFailures clears the failure count and the lock.
func (s *WalletStore) ResetLoginFailures(ctx context.Context, accountID string) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = 0, locked_until = 0 WHERE id = ? AND (failed_logins <> 0 OR locked_until <> 0)`, accountID)
		return err
	}), "resetting log-in failures")
}

// CreateSession stores a session by its token hash.
func (s *WalletStore) CreateSession(ctx context.Context, tokenHash []byte, sess wallet.Session) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, account_id, kind, phone_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			tokenHash, sess.AccountID, sess.Kind, sess.PhoneID, Millis(tx.Now), Millis(sess.ExpiresAt))
		return err
	}), "creating a session")
}

// SessionByToken returns a live session.
func (s *WalletStore) SessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (wallet.Session, error) {
	var sess wallet.Session
	var exp, revoked int64
	err := s.DB.QueryRow(ctx, `SELECT account_id, kind, phone_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&sess.AccountID, &sess.Kind, &sess.PhoneID, &exp, &revoked)
	if NoRows(err) {
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first: the session is unknown")
	}
	if err != nil {
		return wallet.Session{}, dbErr(err, "reading a session")
	}
	if revoked != 0 {
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in again: the session was ended")
	}
	if now.UnixMilli() >= exp {
		return wallet.Session{}, fault.E(fault.Unauthorized, "session_expired", "log in again: the session has expired")
	}
	sess.ExpiresAt = Time(exp)
	return sess, nil
}

// BindSession records the phone holding a session that has none yet.
func (s *WalletStore) BindSession(ctx context.Context, tokenHash []byte, phoneID string) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET phone_id = ? WHERE token_hash = ? AND phone_id = ''`, phoneID, tokenHash)
		return err
	}), "binding a session to its phone")
}

// RevokeSession ends a session.
func (s *WalletStore) RevokeSession(ctx context.Context, tokenHash []byte) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at = 0`, Millis(tx.Now), tokenHash)
		return err
	}), "ending a session")
}

// RevokePhoneSessions ends every live session a phone holds.
func (s *WalletStore) RevokePhoneSessions(ctx context.Context, phoneID string, at time.Time) (int, error) {
	return s.revoke(ctx, "ending a phone's sessions", `UPDATE sessions SET revoked_at = ? WHERE phone_id = ? AND revoked_at = 0`, Millis(at), phoneID)
}

// RevokeSessions ends an account's live sessions of a kind ("" both) but one.
func (s *WalletStore) RevokeSessions(ctx context.Context, accountID, kind string, except []byte, at time.Time) (int, error) {
	if except == nil {
		except = []byte{}
	}
	return s.revoke(ctx, "ending an account's sessions", `UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND (kind = ? OR ? = '') AND revoked_at = 0 AND token_hash <> ?`,
		Millis(at), accountID, kind, kind, except)
}

// SetPasswordHash replaces an account's password hash and clears its lock.
func (s *WalletStore) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ?, failed_logins = 0, locked_until = 0 WHERE id = ?`, hash, accountID)
		return oneRow(r, err, "account_not_found", "no such account", "changing a password")
	})
}

func (s *WalletStore) revoke(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), dbErr(err, what)
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
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error { return insertEvent(ctx, tx, e) }), "recording a security event")
}

func insertEvent(ctx context.Context, tx *Tx, e wallet.Event) error {
	times, first := max(e.Times, 1), e.FirstAt
	if first.IsZero() {
		first = e.At
	}
	_, err := tx.Exec(ctx, `INSERT INTO security_events (id, account_id, phone_id, kind, detail, source, at, times, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.AccountID, e.PhoneID, e.Kind, e.Detail, e.Source, Millis(e.At), times, Millis(first))
	return err
}

// FoldEvent adds one occurrence to the latest event of the same account,
// phone, kind and source at or after since, or appends e.
func (s *WalletStore) FoldEvent(ctx context.Context, e wallet.Event, since time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM security_events WHERE account_id = ? AND kind = ? AND source = ? AND phone_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 1`,
			e.AccountID, e.Kind, e.Source, e.PhoneID, Millis(since)).Scan(&id)
		if NoRows(err) {
			return insertEvent(ctx, tx, e)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE security_events SET times = times + ?, detail = ?, at = CASE WHEN at > ? THEN at ELSE ? END WHERE id = ?`,
			max(e.Times, 1), e.Detail, Millis(e.At), Millis(e.At), id)
		return err
	}), "recording a security event")
}

// AddFinding appends e unless the same finding is recorded already.
func (s *WalletStore) AddFinding(ctx context.Context, e wallet.Event) (bool, error) {
	added := false
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		var x int
		err := tx.QueryRow(ctx, `SELECT 1 FROM security_events WHERE account_id = ? AND phone_id = ? AND kind = ? AND detail = ? LIMIT 1`,
			e.AccountID, e.PhoneID, e.Kind, e.Detail).Scan(&x)
		if err == nil {
			added = false
			return nil
		}
		if !NoRows(err) {
			return err
		}
		added = true
		return insertEvent(ctx, tx, e)
	})
	return added, dbErr(err, "recording a security finding")
}

// Events lists an account's newest security events (by their last time).
func (s *WalletStore) Events(ctx context.Context, accountID string, limit int) ([]wallet.Event, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, account_id, phone_id, kind, detail, source, at, times, first_at FROM security_events WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, dbErr(err, "listing security events")
	}
	defer rows.Close()
	var out []wallet.Event
	for rows.Next() {
		var e wallet.Event
		var at, first int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.PhoneID, &e.Kind, &e.Detail, &e.Source, &at, &e.Times, &first); err != nil {
			return nil, dbErr(err, "listing security events")
		}
		e.At, e.FirstAt = Time(at), Time(first)
		if first == 0 {
			e.FirstAt = e.At
		}
		out = append(out, e)
	}
	return out, dbErr(rows.Err(), "listing security events")
}
