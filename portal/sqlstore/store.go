// Package sqlstore is the portal's storage wing (sqldb.OpenWing, wing
// "portal": the file portal.db on SQLite, the schema portal on
// PostgreSQL): passkeys and WebAuthn user handles, ceremonies and one-time
// codes in flight, and the lost-phone switch's records — every switch of a
// phone's wallet off and on, and the commands waiting for a phone's next
// check-in. Accounts and phones are the wallet's (their ids are plain
// text here); no statement reaches another party's tables.
package sqlstore

import (
	"context"
	"embed"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
	"github.com/tapwallet/tapwallet/portal"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the portal's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "portal", Migrations: migrations, Dir: "migrations"}

// Store is the portal's and the lost-phone switch's store on the portal wing.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
}

var (
	_ portal.Store    = (*Store)(nil)
	_ lostphone.Store = (*Store)(nil)
)

// New returns the store on a database opened with sqldb.OpenWing(…, Wing).
func New(db *sqldb.DB) *Store { return &Store{Held: sqldb.Hold(db)} }

// Open opens (creating and migrating as needed) the portal's wing on the
// backend dsn names ("" for DATA/portal.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close. It fails
// like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

// OpenBeside opens the portal's wing on the backend db is on (the file
// portal.db in db's folder, or the schema beside db's). It fails like Open.
func OpenBeside(ctx context.Context, db *sqldb.DB) (*Store, error) {
	h, err := sqldb.HoldBeside(ctx, db, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

var errNotThisCeremony = fault.E(fault.NotFound, "ceremony_not_found", "not this ceremony")

// WebAuthnHandle returns the account's user handle, storing fresh the first time.
func (s *Store) WebAuthnHandle(ctx context.Context, accountID string, fresh []byte) ([]byte, error) {
	var h []byte
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		err := tx.QueryRow(ctx, `SELECT handle FROM webauthn_users WHERE account_id = ?`, accountID).Scan(&h)
		if !sqldb.NoRows(err) {
			return err
		}
		h = fresh
		_, err = tx.Exec(ctx, `INSERT INTO webauthn_users (account_id, handle, created_at) VALUES (?, ?, ?)`, accountID, fresh, sqldb.Millis(tx.Now))
		return err
	})
	return h, sqldb.Err(err, "reading a WebAuthn user handle")
}

// Passkeys lists the account's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, accountID string) ([]portal.Passkey, error) {
	rows, err := s.DB.Query(ctx, `SELECT credential_id, account_id, name, record, sign_count, created_at, last_used_at FROM passkeys WHERE account_id = ? ORDER BY created_at, credential_id`, accountID)
	if err != nil {
		return nil, sqldb.Err(err, "listing passkeys")
	}
	defer rows.Close()
	var out []portal.Passkey
	for rows.Next() {
		var p portal.Passkey
		var count, created, used int64
		if err := rows.Scan(&p.ID, &p.AccountID, &p.Name, &p.Record, &count, &created, &used); err != nil {
			return nil, sqldb.Err(err, "listing passkeys")
		}
		p.SignCount, p.CreatedAt, p.LastUsedAt = uint32(count), sqldb.Time(created), sqldb.Time(used)
		out = append(out, p)
	}
	return out, sqldb.Err(rows.Err(), "listing passkeys")
}

// AddPasskey stores a passkey; a credential id registered already is
// fault.Conflict "passkey_taken".
func (s *Store) AddPasskey(ctx context.Context, p portal.Passkey) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (credential_id, account_id, name, record, sign_count, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.AccountID, p.Name, p.Record, int64(p.SignCount), sqldb.Millis(p.CreatedAt))
		if sqldb.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "passkey_taken", "this passkey is registered already")
		}
		return sqldb.Err(err, "storing a passkey")
	})
}

// UsePasskey saves a passkey's counter and record after an assertion.
func (s *Store) UsePasskey(ctx context.Context, accountID string, id []byte, signCount uint32, record []byte, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE passkeys SET sign_count = ?, record = ?, last_used_at = ? WHERE credential_id = ? AND account_id = ?`,
			int64(signCount), record, sqldb.Millis(at), id, accountID)
		return sqldb.OneRow(r, err, "passkey_not_found", "no such passkey on this account", "saving a passkey's use")
	})
}

// RemovePasskey deletes one of the account's passkeys.
func (s *Store) RemovePasskey(ctx context.Context, accountID string, id []byte) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE credential_id = ? AND account_id = ?`, id, accountID)
		return sqldb.OneRow(r, err, "passkey_not_found", "no such passkey on this account", "removing a passkey")
	})
}

// PutCeremony stores a ceremony in flight and drops expired ones.
func (s *Store) PutCeremony(ctx context.Context, c portal.Ceremony) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE expires_at < ?`, sqldb.Millis(tx.Now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO portal_ceremonies (id_hash, account_id, kind, phone_id, data, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.IDHash, c.AccountID, c.Kind, c.PhoneID, c.Data, sqldb.Millis(c.ExpiresAt), sqldb.Millis(c.CreatedAt))
		return err
	}), "storing a ceremony")
}

// TakeCeremony returns a ceremony matching want and deletes it, in one
// transaction; one that does not match is left in place.
func (s *Store) TakeCeremony(ctx context.Context, idHash []byte, want portal.Ceremony, now time.Time) (portal.Ceremony, error) {
	var c portal.Ceremony
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var exp, created int64
		err := tx.QueryRow(ctx, `SELECT id_hash, account_id, kind, phone_id, data, expires_at, created_at FROM portal_ceremonies WHERE id_hash = ?`, idHash).
			Scan(&c.IDHash, &c.AccountID, &c.Kind, &c.PhoneID, &c.Data, &exp, &created)
		if sqldb.NoRows(err) {
			return fault.E(fault.NotFound, "ceremony_not_found", "this verification is unknown or was used already: start again")
		}
		if err != nil {
			return sqldb.Err(err, "reading a ceremony")
		}
		c.ExpiresAt, c.CreatedAt = sqldb.Time(exp), sqldb.Time(created)
		if c.Kind != want.Kind || c.PhoneID != want.PhoneID || (want.AccountID != "" && c.AccountID != want.AccountID) {
			c = portal.Ceremony{}
			return errNotThisCeremony
		}
		r, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE id_hash = ?`, idHash)
		if err := sqldb.OneRow(r, err, "ceremony_not_found", "this verification was used already: start again", "using a ceremony"); err != nil {
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
		if err2 := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM portal_ceremonies WHERE id_hash = ?`, idHash)
			return err
		}); err2 != nil {
			return portal.Ceremony{}, sqldb.Err(err2, "using a ceremony")
		}
	}
	return c, err
}

// HasPasskey reports whether the account has a passkey.
func (s *Store) HasPasskey(ctx context.Context, accountID string) (bool, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM passkeys WHERE account_id = ?`, accountID).Scan(&n)
	return n > 0, sqldb.Err(err, "counting passkeys")
}

const switchCols = `id, phone_id, account_id, reason, off_at, off_by, off_source, off_done_at, tokens, transit, on_asked_at, on_at, on_by, on_source`

func scanSwitch(sc interface{ Scan(...any) error }) (lostphone.Switch, error) {
	var s lostphone.Switch
	var off, done, asked, on int64
	var toks, transit string
	err := sc.Scan(&s.ID, &s.PhoneID, &s.AccountID, &s.Reason, &off, &s.OffBy, &s.OffSource, &done, &toks, &transit, &asked, &on, &s.OnBy, &s.OnSource)
	s.OffAt, s.OffDone, s.OnAsked, s.OnAt = sqldb.Time(off), sqldb.Time(done), sqldb.Time(asked), sqldb.Time(on)
	s.Tokens, s.Transit = strings.Fields(toks), strings.Fields(transit)
	return s, err
}

func insertCommand(ctx context.Context, tx *sqldb.Tx, c lostphone.Command) error {
	_, err := tx.Exec(ctx, `INSERT INTO phone_commands (id, phone_id, account_id, kind, message, actor, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PhoneID, c.AccountID, c.Kind, c.Message, c.Actor, c.Source, sqldb.Millis(c.CreatedAt))
	return sqldb.Err(err, "queueing a phone command")
}

// BeginSwitchOff records sw as the phone's open switch and queues the
// wipe, in one transaction; a phone with an open switch keeps it (a
// switch-on asked of it and not done is cancelled).
func (s *Store) BeginSwitchOff(ctx context.Context, sw lostphone.Switch, wipe lostphone.Command) (lostphone.Switch, bool, error) {
	open, opened, err := s.beginSwitchOff(ctx, sw, wipe)
	if err == errRaced { // another switch-off recorded the phone's open switch first: take it
		open, opened, err = s.beginSwitchOff(ctx, sw, wipe)
	}
	return open, opened, err
}

// errRaced: the insert of an open switch met another's (the unique index
// wallet_switches_open).
var errRaced = fault.E(fault.Conflict, "switch_raced", "another switch-off of this phone was recorded at the same time")

func (s *Store) beginSwitchOff(ctx context.Context, sw lostphone.Switch, wipe lostphone.Command) (lostphone.Switch, bool, error) {
	var open lostphone.Switch
	var opened bool
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		opened = false
		var err error
		open, err = scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0`, sw.PhoneID))
		if err == nil {
			if open.OnAsked.IsZero() {
				return nil
			}
			open.OnAsked, open.OnBy, open.OnSource = time.Time{}, "", ""
			_, err = tx.Exec(ctx, `UPDATE wallet_switches SET on_asked_at = 0, on_by = '', on_source = '' WHERE id = ?`, open.ID)
			return err
		}
		if !sqldb.NoRows(err) {
			return err
		}
		opened, open = true, sw
		if _, err := tx.Exec(ctx, `INSERT INTO wallet_switches (id, phone_id, account_id, reason, off_at, off_by, off_source, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sw.ID, sw.PhoneID, sw.AccountID, sw.Reason, sqldb.Millis(sw.OffAt), sw.OffBy, sw.OffSource, strings.Join(sw.Tokens, " ")); sqldb.IsUniqueViolation(err) {
			return errRaced
		} else if err != nil {
			return err
		}
		return insertCommand(ctx, tx, wipe)
	})
	return open, opened, sqldb.Err(err, "recording a wallet switch")
}

// FinishSwitchOff saves the tokens and transit cards of a switch and marks
// its switch-off done (the first time), unless a switch-on was asked of it
// since: then it saves nothing and reports false.
func (s *Store) FinishSwitchOff(ctx context.Context, sw lostphone.Switch, at time.Time) (bool, error) {
	latest := false
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE wallet_switches SET tokens = ?, transit = ?, off_done_at = CASE WHEN off_done_at = 0 THEN ? ELSE off_done_at END WHERE id = ? AND on_at = 0 AND on_asked_at = 0`,
			strings.Join(sw.Tokens, " "), strings.Join(sw.Transit, " "), sqldb.Millis(at), sw.ID)
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		if latest = n > 0; latest || err != nil {
			return err
		}
		var x int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM wallet_switches WHERE id = ?`, sw.ID).Scan(&x); sqldb.NoRows(err) {
			return fault.E(fault.NotFound, "switch_not_found", "no such wallet switch")
		} else {
			return err
		}
	})
	return latest, sqldb.Err(err, "updating a wallet switch")
}

// BeginSwitchOn marks the phone's open switch as asked to switch on.
func (s *Store) BeginSwitchOn(ctx context.Context, phoneID string, at time.Time, by, source string) (lostphone.Switch, error) {
	var open lostphone.Switch
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		open, err = scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0`, phoneID))
		if sqldb.NoRows(err) {
			return errNoSwitch
		}
		if err != nil {
			return err
		}
		open.OnAsked, open.OnBy, open.OnSource = at, by, source
		_, err = tx.Exec(ctx, `UPDATE wallet_switches SET on_asked_at = ?, on_by = ?, on_source = ? WHERE id = ?`, sqldb.Millis(at), by, source, open.ID)
		return err
	})
	return open, sqldb.Err(err, "asking a wallet switch-on")
}

var errNoSwitch = fault.E(fault.NotFound, "no_switch", "the wallet on this phone is not switched off")

// FinishSwitchOn closes an open switch whose switch-on is asked and queues
// fresh keys, in one transaction.
func (s *Store) FinishSwitchOn(ctx context.Context, id string, at time.Time, fresh lostphone.Command) (lostphone.Switch, error) {
	var closed lostphone.Switch
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE wallet_switches SET on_at = ? WHERE id = ? AND on_at = 0 AND on_asked_at <> 0`, sqldb.Millis(at), id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			sw, err := scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE id = ?`, id))
			switch {
			case err == nil && sw.OnAt.IsZero():
				return fault.E(fault.Conflict, "switch_superseded", "the wallet was switched off again meanwhile")
			case err == nil || sqldb.NoRows(err):
				return errNoSwitch
			}
			return err
		}
		if closed, err = scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE id = ?`, id)); err != nil {
			return err
		}
		return insertCommand(ctx, tx, fresh)
	})
	return closed, sqldb.Err(err, "closing a wallet switch")
}

// Unfinished lists open switches not done, oldest first.
func (s *Store) Unfinished(ctx context.Context, limit int) ([]lostphone.Switch, error) {
	return s.switches(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE on_at = 0 AND (off_done_at = 0 OR on_asked_at <> 0) ORDER BY off_at, id LIMIT ?`, limit)
}

// OpenSwitch returns the phone's open switch (fault.NotFound "no_switch").
func (s *Store) OpenSwitch(ctx context.Context, phoneID string) (lostphone.Switch, error) {
	sw, err := scanSwitch(s.DB.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0 ORDER BY off_at DESC LIMIT 1`, phoneID))
	if sqldb.NoRows(err) {
		return sw, errNoSwitch
	}
	return sw, sqldb.Err(err, "reading a wallet switch")
}

// Switches lists a phone's switches, newest first.
func (s *Store) Switches(ctx context.Context, phoneID string, limit int) ([]lostphone.Switch, error) {
	return s.switches(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? ORDER BY off_at DESC, id DESC LIMIT ?`, phoneID, limit)
}

func (s *Store) switches(ctx context.Context, q string, args ...any) ([]lostphone.Switch, error) {
	rows, err := s.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, sqldb.Err(err, "listing wallet switches")
	}
	defer rows.Close()
	var out []lostphone.Switch
	for rows.Next() {
		sw, err := scanSwitch(rows)
		if err != nil {
			return nil, sqldb.Err(err, "listing wallet switches")
		}
		out = append(out, sw)
	}
	return out, sqldb.Err(rows.Err(), "listing wallet switches")
}

// QueueCommand adds a command for the phone's next check-in.
func (s *Store) QueueCommand(ctx context.Context, c lostphone.Command) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return insertCommand(ctx, tx, c) })
}

const commandCols = `id, phone_id, account_id, kind, message, actor, source, created_at, delivered_at`

func scanCommands(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]lostphone.Command, error) {
	var out []lostphone.Command
	for rows.Next() {
		var c lostphone.Command
		var created, delivered int64
		if err := rows.Scan(&c.ID, &c.PhoneID, &c.AccountID, &c.Kind, &c.Message, &c.Actor, &c.Source, &created, &delivered); err != nil {
			return nil, err
		}
		c.CreatedAt, c.DeliveredAt = sqldb.Time(created), sqldb.Time(delivered)
		out = append(out, c)
	}
	return out, rows.Err()
}

// TakeCommands returns the undelivered commands, oldest first, and marks
// them delivered, in one transaction.
func (s *Store) TakeCommands(ctx context.Context, phoneID string, at time.Time) ([]lostphone.Command, error) {
	var out []lostphone.Command
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+commandCols+` FROM phone_commands WHERE phone_id = ? AND delivered_at = 0 ORDER BY created_at, id`, phoneID)
		if err != nil {
			return err
		}
		out, err = scanCommands(rows)
		rows.Close()
		if err != nil {
			return err
		}
		// Deliver each command once, even to two check-ins racing.
		taken := out[:0]
		for _, c := range out {
			r, err := tx.Exec(ctx, `UPDATE phone_commands SET delivered_at = ? WHERE id = ? AND delivered_at = 0`, sqldb.Millis(at), c.ID)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 1 {
				c.DeliveredAt = at
				taken = append(taken, c)
			}
		}
		out = taken
		return nil
	})
	return out, sqldb.Err(err, "delivering phone commands")
}

// PendingCommands lists the undelivered commands, oldest first.
func (s *Store) PendingCommands(ctx context.Context, phoneID string) ([]lostphone.Command, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+commandCols+` FROM phone_commands WHERE phone_id = ? AND delivered_at = 0 ORDER BY created_at, id`, phoneID)
	if err != nil {
		return nil, sqldb.Err(err, "listing phone commands")
	}
	defer rows.Close()
	out, err := scanCommands(rows)
	return out, sqldb.Err(err, "listing phone commands")
}
