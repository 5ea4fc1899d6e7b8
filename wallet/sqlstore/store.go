// Package sqlstore is the wallet service's storage wing (sqldb.OpenWing,
// wing "wallet": the file wallet.db on SQLite, the schema wallet on
// PostgreSQL): accounts and their log-in attempts, sessions of both kinds,
// phones with their device keys, whether each phone's wallet is on and
// where it last reported itself, signed-request nonces, and the security
// audit trail (repeated events folded). No statement reaches another
// party's tables.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/wallet"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the wallet service's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "wallet", Migrations: migrations, Dir: "migrations"}

// Store is the wallet service's store on its wing.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
}

var _ wallet.Store = (*Store)(nil)

// New returns the store on a database opened with sqldb.OpenWing(…, Wing).
func New(db *sqldb.DB) *Store { return &Store{Held: sqldb.Hold(db)} }

// Open opens (creating and migrating as needed) the wallet's wing on the
// backend dsn names ("" for DATA/wallet.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close. It fails
// like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

// OpenBeside opens the wallet's wing on the backend db is on (the file
// wallet.db in db's folder, or the schema beside db's), for tests and
// tools that hold another party's database. It fails like Open.
func OpenBeside(ctx context.Context, db *sqldb.DB) (*Store, error) {
	h, err := sqldb.HoldBeside(ctx, db, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

// SetWalletOn sets whether the wallet on a phone is on; it reports
// whether that changed anything (false: it was so already). An unknown
// phone is fault.NotFound "phone_not_found".
func (s *Store) SetWalletOn(ctx context.Context, phoneID string, on bool) (bool, error) {
	var changed bool
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		changed = false
		v := 0
		if on {
			v = 1
		}
		r, err := tx.Exec(ctx, `UPDATE phones SET wallet_on = ? WHERE id = ? AND wallet_on <> ?`, v, phoneID, v)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n > 0 {
			changed = n > 0
			return err
		}
		var x int
		err = tx.QueryRow(ctx, `SELECT 1 FROM phones WHERE id = ?`, phoneID).Scan(&x)
		if sqldb.NoRows(err) {
			return fault.E(fault.NotFound, "phone_not_found", "no such phone")
		}
		return err
	})
	return changed, sqldb.Err(err, "switching a wallet")
}

// CreateAccount inserts an account; a taken email is fault.Conflict "email_taken".
func (s *Store) CreateAccount(ctx context.Context, a wallet.Account) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			a.ID, a.Email, a.PasswordHash, sqldb.Millis(a.CreatedAt))
		if sqldb.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "email_taken", "an account with this email already exists")
		}
		return sqldb.Err(err, "creating an account")
	})
}

// AccountByEmail finds an account (fault.NotFound "account_not_found").
func (s *Store) AccountByEmail(ctx context.Context, email string) (wallet.Account, error) {
	return s.account(ctx, "email", email)
}

// account reads the account whose column col (id or email) is v.
func (s *Store) account(ctx context.Context, col, v string) (wallet.Account, error) {
	var a wallet.Account
	var locked, created int64
	err := s.DB.QueryRow(ctx, `SELECT id, email, password_hash, failed_logins, locked_until, created_at FROM accounts WHERE `+col+` = ?`, v).
		Scan(&a.ID, &a.Email, &a.PasswordHash, &a.FailedLogins, &locked, &created)
	if sqldb.NoRows(err) {
		return a, fault.E(fault.NotFound, "account_not_found", "no such account")
	}
	a.LockedUntil, a.CreatedAt = sqldb.Time(locked), sqldb.Time(created)
	return a, sqldb.Err(err, "reading an account")
}

// CountLoginAttempt counts one password attempt before its check, in one
// transaction: a locked account is not counted and not allowed; otherwise
// the attempt adds one, and the one that reaches maxTries sets the lock.
// Concurrent attempts serialize on the account's row (its UPDATE), so no
// more than maxTries of them pass before the lock.
func (s *Store) CountLoginAttempt(ctx context.Context, accountID string, now time.Time, maxTries int) (wallet.LoginAttempt, error) {
	var att wallet.LoginAttempt
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		att = wallet.LoginAttempt{}
		r, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = failed_logins + 1 WHERE id = ? AND locked_until <= ?`, accountID, sqldb.Millis(now))
		if err != nil {
			return err
		}
		changed, err := r.RowsAffected()
		if err != nil {
			return err
		}
		var locked int64
		if err := tx.QueryRow(ctx, `SELECT failed_logins, locked_until FROM accounts WHERE id = ?`, accountID).Scan(&att.N, &locked); err != nil {
			if sqldb.NoRows(err) {
				return fault.E(fault.NotFound, "account_not_found", "no such account")
			}
			return err
		}
		if changed == 0 {
			att.LockedUntil = sqldb.Time(locked)
			return nil
		}
		att.Allowed = true
		if att.N >= maxTries {
			att.LockedUntil = now.Add(wallet.LockTime(att.N))
			_, err = tx.Exec(ctx, `UPDATE accounts SET locked_until = ? WHERE id = ?`, sqldb.Millis(att.LockedUntil), accountID)
		}
		return err
	})
	return att, sqldb.Err(err, "counting a log-in attempt")
}

// ResetLoginFailures clears the failure count and the lock.
func (s *Store) ResetLoginFailures(ctx context.Context, accountID string) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET failed_logins = 0, locked_until = 0 WHERE id = ? AND (failed_logins <> 0 OR locked_until <> 0)`, accountID)
		return err
	}), "resetting log-in failures")
}

// CreateSession stores a session by its token hash.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, sess wallet.Session) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (token_hash, account_id, kind, phone_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			tokenHash, sess.AccountID, sess.Kind, sess.PhoneID, sqldb.Millis(tx.Now), sqldb.Millis(sess.ExpiresAt))
		return err
	}), "creating a session")
}

// SessionByToken returns a live session.
func (s *Store) SessionByToken(ctx context.Context, tokenHash []byte, now time.Time) (wallet.Session, error) {
	var sess wallet.Session
	var exp, revoked int64
	err := s.DB.QueryRow(ctx, `SELECT account_id, kind, phone_id, expires_at, revoked_at FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&sess.AccountID, &sess.Kind, &sess.PhoneID, &exp, &revoked)
	if sqldb.NoRows(err) {
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in first: the session is unknown")
	}
	if err != nil {
		return wallet.Session{}, sqldb.Err(err, "reading a session")
	}
	if revoked != 0 {
		return wallet.Session{}, fault.E(fault.Unauthorized, "bad_session", "log in again: the session was ended")
	}
	if now.UnixMilli() >= exp {
		return wallet.Session{}, fault.E(fault.Unauthorized, "session_expired", "log in again: the session has expired")
	}
	sess.ExpiresAt = sqldb.Time(exp)
	return sess, nil
}

// BindSession records the phone holding a session that has none yet.
func (s *Store) BindSession(ctx context.Context, tokenHash []byte, phoneID string) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET phone_id = ? WHERE token_hash = ? AND phone_id = ''`, phoneID, tokenHash)
		return err
	}), "binding a session to its phone")
}

// RevokeSession ends a session.
func (s *Store) RevokeSession(ctx context.Context, tokenHash []byte) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at = 0`, sqldb.Millis(tx.Now), tokenHash)
		return err
	}), "ending a session")
}

// RevokePhoneSessions ends every live session a phone holds.
func (s *Store) RevokePhoneSessions(ctx context.Context, phoneID string, at time.Time) (int, error) {
	return s.revoke(ctx, "ending a phone's sessions", `UPDATE sessions SET revoked_at = ? WHERE phone_id = ? AND revoked_at = 0`, sqldb.Millis(at), phoneID)
}

// RevokeSessions ends an account's live sessions of a kind ("" both) but one.
func (s *Store) RevokeSessions(ctx context.Context, accountID, kind string, except []byte, at time.Time) (int, error) {
	if except == nil {
		except = []byte{}
	}
	return s.revoke(ctx, "ending an account's sessions", `UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND (kind = ? OR ? = '') AND revoked_at = 0 AND token_hash <> ?`,
		sqldb.Millis(at), accountID, kind, kind, except)
}

// SetPasswordHash replaces an account's password hash and clears its lock.
func (s *Store) SetPasswordHash(ctx context.Context, accountID, hash string) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = ?, failed_logins = 0, locked_until = 0 WHERE id = ?`, hash, accountID)
		return sqldb.OneRow(r, err, "account_not_found", "no such account", "changing a password")
	})
}

func (s *Store) revoke(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), sqldb.Err(err, what)
}

// CreatePhone inserts a phone.
func (s *Store) CreatePhone(ctx context.Context, p wallet.Phone) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO phones (id, account_id, name, model, public_key, wallet_on, last_seen, created_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
			p.ID, p.AccountID, p.Name, p.Model, p.PublicKey, sqldb.Millis(p.LastSeen), sqldb.Millis(p.CreatedAt))
		return err
	}), "registering a phone")
}

const phoneCols = `id, account_id, name, model, public_key, wallet_on, last_seen, lat, lon, located_at, created_at`

func scanPhone(sc interface{ Scan(...any) error }) (wallet.Phone, error) {
	var p wallet.Phone
	var on int64
	var seen, located, created int64
	var lat, lon sql.NullFloat64
	err := sc.Scan(&p.ID, &p.AccountID, &p.Name, &p.Model, &p.PublicKey, &on, &seen, &lat, &lon, &located, &created)
	p.WalletOn = on != 0
	p.LastSeen, p.LocatedAt, p.CreatedAt = sqldb.Time(seen), sqldb.Time(located), sqldb.Time(created)
	if lat.Valid && lon.Valid {
		p.Lat, p.Lon = &lat.Float64, &lon.Float64
	}
	return p, err
}

// Phone returns a phone by id.
func (s *Store) Phone(ctx context.Context, id string) (wallet.Phone, error) {
	p, err := scanPhone(s.DB.QueryRow(ctx, `SELECT `+phoneCols+` FROM phones WHERE id = ?`, id))
	if sqldb.NoRows(err) {
		return p, fault.E(fault.NotFound, "phone_not_found", "no such phone on this account")
	}
	return p, sqldb.Err(err, "reading a phone")
}

// Phones lists an account's phones, oldest first.
func (s *Store) Phones(ctx context.Context, accountID string) ([]wallet.Phone, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+phoneCols+` FROM phones WHERE account_id = ? ORDER BY created_at, id`, accountID)
	if err != nil {
		return nil, sqldb.Err(err, "listing phones")
	}
	defer rows.Close()
	var out []wallet.Phone
	for rows.Next() {
		p, err := scanPhone(rows)
		if err != nil {
			return nil, sqldb.Err(err, "listing phones")
		}
		out = append(out, p)
	}
	return out, sqldb.Err(rows.Err(), "listing phones")
}

// UsePhoneNonce records a nonce; a second use is fault.Conflict "replayed_request".
func (s *Store) UsePhoneNonce(ctx context.Context, phoneID, nonce string, now time.Time) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO phone_nonces (phone_id, nonce, at) VALUES (?, ?, ?)`, phoneID, nonce, sqldb.Millis(now))
		if sqldb.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "replayed_request", "this signed request was already used")
		}
		if err != nil {
			return sqldb.Err(err, "recording a request nonce")
		}
		// Nonces older than the clock-skew window can never be accepted again anyway.
		_, err = tx.Exec(ctx, `DELETE FROM phone_nonces WHERE phone_id = ? AND at < ?`, phoneID, sqldb.Millis(now.Add(-2*wallet.MaxClockSkew)))
		return sqldb.Err(err, "pruning request nonces")
	})
}

// AddEvent appends a security event.
func (s *Store) AddEvent(ctx context.Context, e wallet.Event) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return insertEvent(ctx, tx, e) }), "recording a security event")
}

func insertEvent(ctx context.Context, tx *sqldb.Tx, e wallet.Event) error {
	times, first := max(e.Times, 1), e.FirstAt
	if first.IsZero() {
		first = e.At
	}
	_, err := tx.Exec(ctx, `INSERT INTO security_events (id, account_id, phone_id, kind, detail, source, at, times, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.AccountID, e.PhoneID, e.Kind, e.Detail, e.Source, sqldb.Millis(e.At), times, sqldb.Millis(first))
	return err
}

// FoldEvent adds one occurrence to the latest event of the same account,
// phone, kind and source at or after since, or appends e.
func (s *Store) FoldEvent(ctx context.Context, e wallet.Event, since time.Time) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM security_events WHERE account_id = ? AND kind = ? AND source = ? AND phone_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 1`,
			e.AccountID, e.Kind, e.Source, e.PhoneID, sqldb.Millis(since)).Scan(&id)
		if sqldb.NoRows(err) {
			return insertEvent(ctx, tx, e)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE security_events SET times = times + ?, detail = ?, at = CASE WHEN at > ? THEN at ELSE ? END WHERE id = ?`,
			max(e.Times, 1), e.Detail, sqldb.Millis(e.At), sqldb.Millis(e.At), id)
		return err
	}), "recording a security event")
}

// AddFinding appends e unless the same finding is recorded already.
func (s *Store) AddFinding(ctx context.Context, e wallet.Event) (bool, error) {
	added := false
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var x int
		err := tx.QueryRow(ctx, `SELECT 1 FROM security_events WHERE account_id = ? AND phone_id = ? AND kind = ? AND detail = ? LIMIT 1`,
			e.AccountID, e.PhoneID, e.Kind, e.Detail).Scan(&x)
		if err == nil {
			added = false
			return nil
		}
		if !sqldb.NoRows(err) {
			return err
		}
		added = true
		return insertEvent(ctx, tx, e)
	})
	return added, sqldb.Err(err, "recording a security finding")
}

// Events lists an account's newest security events (by their last time).
func (s *Store) Events(ctx context.Context, accountID string, limit int) ([]wallet.Event, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, account_id, phone_id, kind, detail, source, at, times, first_at FROM security_events WHERE account_id = ? ORDER BY at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, sqldb.Err(err, "listing security events")
	}
	defer rows.Close()
	var out []wallet.Event
	for rows.Next() {
		var e wallet.Event
		var at, first int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.PhoneID, &e.Kind, &e.Detail, &e.Source, &at, &e.Times, &first); err != nil {
			return nil, sqldb.Err(err, "listing security events")
		}
		e.At, e.FirstAt = sqldb.Time(at), sqldb.Time(first)
		if first == 0 {
			e.FirstAt = e.At
		}
		out = append(out, e)
	}
	return out, sqldb.Err(rows.Err(), "listing security events")
}

// SetPhoneLocation records a phone's reported place and marks it seen; an
// unknown phone is fault.NotFound "phone_not_found".
func (s *Store) SetPhoneLocation(ctx context.Context, phoneID string, lat, lon float64, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE phones SET lat = ?, lon = ?, located_at = ?, last_seen = ? WHERE id = ?`, lat, lon, sqldb.Millis(at), sqldb.Millis(at), phoneID)
		return sqldb.OneRow(r, err, "phone_not_found", "no such phone", "recording a phone's place")
	})
}

// TouchPhone marks a phone seen; an unknown phone is fault.NotFound.
func (s *Store) TouchPhone(ctx context.Context, phoneID string, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE phones SET last_seen = ? WHERE id = ?`, sqldb.Millis(at), phoneID)
		return sqldb.OneRow(r, err, "phone_not_found", "no such phone", "marking a phone seen")
	})
}

// AccountByID finds an account by id (fault.NotFound "account_not_found").
func (s *Store) AccountByID(ctx context.Context, id string) (wallet.Account, error) {
	return s.account(ctx, "id", id)
}
