package sqldb

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/portal"
)

var errNotThisCeremony = fault.E(fault.NotFound, "ceremony_not_found", "not this ceremony")

// PortalStore implements portal.Store: passkeys, ceremonies in flight and
// one-time codes for the lost-phone portal.
type PortalStore struct{ DB *DB }

var _ portal.Store = (*PortalStore)(nil)

// WebAuthnHandle returns the account's user handle, storing fresh the first time.
func (s *PortalStore) WebAuthnHandle(ctx context.Context, accountID string, fresh []byte) ([]byte, error) {
	var h []byte
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		err := tx.QueryRow(ctx, `SELECT handle FROM webauthn_users WHERE account_id = ?`, accountID).Scan(&h)
		if !NoRows(err) {
			return err
		}
		h = fresh
		_, err = tx.Exec(ctx, `INSERT INTO webauthn_users (account_id, handle, created_at) VALUES (?, ?, ?)`, accountID, fresh, Millis(tx.Now))
		return err
	})
	return h, dbErr(err, "reading a WebAuthn user handle")
}

// Passkeys lists the account's passkeys, oldest first.
func (s *PortalStore) Passkeys(ctx context.Context, accountID string) ([]portal.Passkey, error) {
	rows, err := s.DB.Query(ctx, `SELECT credential_id, account_id, name, record, sign_count, created_at, last_used_at FROM passkeys WHERE account_id = ? ORDER BY created_at, credential_id`, accountID)
	if err != nil {
		return nil, dbErr(err, "listing passkeys")
	}
	defer rows.Close()
	var out []portal.Passkey
	for rows.Next() {
		var p portal.Passkey
		var count, created, used int64
		if err := rows.Scan(&p.ID, &p.AccountID, &p.Name, &p.Record, &count, &created, &used); err != nil {
			return nil, dbErr(err, "listing passkeys")
		}
		p.SignCount, p.CreatedAt, p.LastUsedAt = uint32(count), Time(created), Time(used)
		out = append(out, p)
	}
	return out, dbErr(rows.Err(), "listing passkeys")
}

// AddPasskey stores a passkey; a credential id registered already is
// fault.Conflict "passkey_taken".
func (s *PortalStore) AddPasskey(ctx context.Context, p portal.Passkey) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (credential_id, account_id, name, record, sign_count, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.AccountID, p.Name, p.Record, int64(p.SignCount), Millis(p.CreatedAt))
		if IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "passkey_taken", "this passkey is registered already")
		}
		return dbErr(err, "storing a passkey")
	})
}

// UsePasskey saves a passkey's counter and record after an assertion.
func (s *PortalStore) UsePasskey(ctx context.Context, accountID string, id []byte, signCount uint32, record []byte, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = ?, record = ?, last_used_at = ? WHERE credential_id = ? AND account_id = ?`,
			int64(signCount), record, Millis(at), id, accountID)
		return oneRow(r, err, "passkey_not_found", "no such passkey on this account", "saving a passkey's use")
	})
}

// RemovePasskey deletes one of the account's passkeys.
func (s *PortalStore) RemovePasskey(ctx context.Context, accountID string, id []byte) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE credential_id = ? AND account_id = ?`, id, accountID)
		return oneRow(r, err, "passkey_not_found", "no such passkey on this account", "removing a passkey")
	})
}

// PutCeremony stores a ceremony in flight and drops expired ones.
func (s *PortalStore) PutCeremony(ctx context.Context, c portal.Ceremony) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE expires_at < ?`, Millis(tx.Now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO portal_ceremonies (id_hash, account_id, kind, phone_id, data, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.IDHash, c.AccountID, c.Kind, c.PhoneID, c.Data, Millis(c.ExpiresAt), Millis(c.CreatedAt))
		return err
	}), "storing a ceremony")
}

// TakeCeremony returns a ceremony matching want and deletes it, in one
// transaction; one that does not match is left in place.
func (s *PortalStore) TakeCeremony(ctx context.Context, idHash []byte, want portal.Ceremony, now time.Time) (portal.Ceremony, error) {
	var c portal.Ceremony
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		var exp, created int64
		err := tx.QueryRow(ctx, `SELECT id_hash, account_id, kind, phone_id, data, expires_at, created_at FROM portal_ceremonies WHERE id_hash = ?`, idHash).
			Scan(&c.IDHash, &c.AccountID, &c.Kind, &c.PhoneID, &c.Data, &exp, &created)
		if NoRows(err) {
			return fault.E(fault.NotFound, "ceremony_not_found", "this verification is unknown or was used already: start again")
		}
		if err != nil {
			return dbErr(err, "reading a ceremony")
		}
		c.ExpiresAt, c.CreatedAt = Time(exp), Time(created)
		if c.Kind != want.Kind || c.PhoneID != want.PhoneID || (want.AccountID != "" && c.AccountID != want.AccountID) {
			c = portal.Ceremony{}
			return errNotThisCeremony
		}
		r, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE id_hash = ?`, idHash)
		if err := oneRow(r, err, "ceremony_not_found", "this verification was used already: start again", "using a ceremony"); err != nil {
			return err
		}
		if !now.Before(c.ExpiresAt) {
			return fault.E(fault.NotFound, "ceremony_not_found", "this verification has expired: start again")
		}
		return nil
	})
	if err == errNotThisCeremony {
		return portal.Ceremony{}, fault.E(fault.NotFound, "ceremony_not_found", "this verification is unknown or was used already: start again")
	}
	if fault.CodeOf(err) == "ceremony_not_found" {
		// An expired ceremony is deleted all the same.
		if err2 := s.DB.InTx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE id_hash = ?`, idHash)
			return err
		}); err2 != nil {
			return portal.Ceremony{}, dbErr(err2, "using a ceremony")
		}
	}
	return c, err
}

// SendCode puts a one-time-code message in the account's outbox.
func (s *PortalStore) SendCode(ctx context.Context, accountID, id, message string, at time.Time) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO otp_outbox (id, account_id, binding_id, message, created_at) VALUES (?, ?, ?, ?, ?)`, id, accountID, "", message, Millis(at))
		return err
	}), "sending a one-time code")
}

// HasPasskey reports whether the account has a passkey.
func (s *PortalStore) HasPasskey(ctx context.Context, accountID string) (bool, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM passkeys WHERE account_id = ?`, accountID).Scan(&n)
	return n > 0, dbErr(err, "counting passkeys")
}
