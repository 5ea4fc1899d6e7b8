package sqldb

import (
	"context"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/lostphone"
)

// LostPhoneStore implements lostphone.Store: wallet switches, retired
// limited-use keys and the commands waiting for a phone's check-in.
type LostPhoneStore struct{ DB *DB }

var _ lostphone.Store = (*LostPhoneStore)(nil)

const switchCols = `id, phone_id, account_id, reason, off_at, off_by, off_source, tokens, transit, on_at, on_by, on_source`

func scanSwitch(sc interface{ Scan(...any) error }) (lostphone.Switch, error) {
	var s lostphone.Switch
	var off, on int64
	var toks, transit string
	err := sc.Scan(&s.ID, &s.PhoneID, &s.AccountID, &s.Reason, &off, &s.OffBy, &s.OffSource, &toks, &transit, &on, &s.OnBy, &s.OnSource)
	s.OffAt, s.OnAt = Time(off), Time(on)
	s.Tokens, s.Transit = strings.Fields(toks), strings.Fields(transit)
	return s, err
}

func insertCommand(ctx context.Context, tx *Tx, c lostphone.Command) error {
	_, err := tx.Exec(ctx, `INSERT INTO phone_commands (id, phone_id, account_id, kind, message, actor, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.PhoneID, c.AccountID, c.Kind, c.Message, c.Actor, c.Source, Millis(c.CreatedAt))
	return dbErr(err, "queueing a phone command")
}

// SwitchOff sets the wallet off, opens the switch and queues the wipe, in
// one transaction; a wallet already off returns its open switch unchanged.
func (s *LostPhoneStore) SwitchOff(ctx context.Context, sw lostphone.Switch, wipe lostphone.Command) (lostphone.Switch, bool, error) {
	var open lostphone.Switch
	var switched bool
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		switched = false
		r, err := tx.Exec(ctx, `UPDATE phones SET wallet_on = 0 WHERE id = ? AND wallet_on = 1`, sw.PhoneID)
		if err != nil {
			return dbErr(err, "switching a wallet off")
		}
		if n, _ := r.RowsAffected(); n == 0 {
			open, err = scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0 ORDER BY off_at DESC LIMIT 1`, sw.PhoneID))
			if NoRows(err) {
				// Off without a switch record (switched off before records
				// were kept): open one now.
				open = sw
				_, err = tx.Exec(ctx, `INSERT INTO wallet_switches (id, phone_id, account_id, reason, off_at, off_by, off_source, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
					sw.ID, sw.PhoneID, sw.AccountID, sw.Reason, Millis(sw.OffAt), sw.OffBy, sw.OffSource, strings.Join(sw.Tokens, " "))
			}
			return dbErr(err, "reading a wallet switch")
		}
		switched, open = true, sw
		if _, err := tx.Exec(ctx, `INSERT INTO wallet_switches (id, phone_id, account_id, reason, off_at, off_by, off_source, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sw.ID, sw.PhoneID, sw.AccountID, sw.Reason, Millis(sw.OffAt), sw.OffBy, sw.OffSource, strings.Join(sw.Tokens, " ")); err != nil {
			return dbErr(err, "recording a wallet switch")
		}
		return insertCommand(ctx, tx, wipe)
	})
	return open, switched, err
}

// UpdateSwitch saves the tokens and transit cards of a switch.
func (s *LostPhoneStore) UpdateSwitch(ctx context.Context, sw lostphone.Switch) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE wallet_switches SET tokens = ?, transit = ? WHERE id = ?`, strings.Join(sw.Tokens, " "), strings.Join(sw.Transit, " "), sw.ID)
		return oneRow(r, err, "switch_not_found", "no such wallet switch", "updating a wallet switch")
	})
}

// SwitchOn sets the wallet on, closes the open switch and queues fresh
// keys, in one transaction; fault.Conflict "wallet_on" if it is on.
func (s *LostPhoneStore) SwitchOn(ctx context.Context, phoneID string, at time.Time, by, source string, fresh lostphone.Command) (lostphone.Switch, error) {
	var closed lostphone.Switch
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE phones SET wallet_on = 1 WHERE id = ? AND wallet_on = 0`, phoneID)
		if err != nil {
			return dbErr(err, "switching a wallet on")
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fault.E(fault.Conflict, "wallet_on", "the wallet on this phone is already on")
		}
		closed, err = scanSwitch(tx.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0 ORDER BY off_at DESC LIMIT 1`, phoneID))
		if err != nil && !NoRows(err) {
			return dbErr(err, "reading a wallet switch")
		}
		if err == nil {
			if _, err := tx.Exec(ctx, `UPDATE wallet_switches SET on_at = ?, on_by = ?, on_source = ? WHERE id = ?`, Millis(at), by, source, closed.ID); err != nil {
				return dbErr(err, "closing a wallet switch")
			}
			closed.OnAt, closed.OnBy, closed.OnSource = at, by, source
		}
		return insertCommand(ctx, tx, fresh)
	})
	return closed, err
}

// OpenSwitch returns the phone's open switch (fault.NotFound "no_switch").
func (s *LostPhoneStore) OpenSwitch(ctx context.Context, phoneID string) (lostphone.Switch, error) {
	sw, err := scanSwitch(s.DB.QueryRow(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? AND on_at = 0 ORDER BY off_at DESC LIMIT 1`, phoneID))
	if NoRows(err) {
		return sw, fault.E(fault.NotFound, "no_switch", "the wallet on this phone is not switched off")
	}
	return sw, dbErr(err, "reading a wallet switch")
}

// Switches lists a phone's switches, newest first.
func (s *LostPhoneStore) Switches(ctx context.Context, phoneID string, limit int) ([]lostphone.Switch, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+switchCols+` FROM wallet_switches WHERE phone_id = ? ORDER BY off_at DESC, id DESC LIMIT ?`, phoneID, limit)
	if err != nil {
		return nil, dbErr(err, "listing wallet switches")
	}
	defer rows.Close()
	var out []lostphone.Switch
	for rows.Next() {
		sw, err := scanSwitch(rows)
		if err != nil {
			return nil, dbErr(err, "listing wallet switches")
		}
		out = append(out, sw)
	}
	return out, dbErr(rows.Err(), "listing wallet switches")
}

// RetireKeys ends the validity of a token's unused limited-use keys.
func (s *LostPhoneStore) RetireKeys(ctx context.Context, token string, at time.Time) (int, error) {
	var n int64
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		r, err := tx.Exec(ctx, `UPDATE luks SET expires_at = ? WHERE token = ? AND used_at = 0 AND expires_at > ?`, Millis(at), token, Millis(at))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), dbErr(err, "retiring limited-use keys")
}

// QueueCommand adds a command for the phone's next check-in.
func (s *LostPhoneStore) QueueCommand(ctx context.Context, c lostphone.Command) error {
	return s.DB.InTx(ctx, func(tx *Tx) error { return insertCommand(ctx, tx, c) })
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
		c.CreatedAt, c.DeliveredAt = Time(created), Time(delivered)
		out = append(out, c)
	}
	return out, rows.Err()
}

// TakeCommands returns the undelivered commands, oldest first, and marks
// them delivered, in one transaction.
func (s *LostPhoneStore) TakeCommands(ctx context.Context, phoneID string, at time.Time) ([]lostphone.Command, error) {
	var out []lostphone.Command
	err := s.DB.InTx(ctx, func(tx *Tx) error {
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
			r, err := tx.Exec(ctx, `UPDATE phone_commands SET delivered_at = ? WHERE id = ? AND delivered_at = 0`, Millis(at), c.ID)
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
	return out, dbErr(err, "delivering phone commands")
}

// PendingCommands lists the undelivered commands, oldest first.
func (s *LostPhoneStore) PendingCommands(ctx context.Context, phoneID string) ([]lostphone.Command, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+commandCols+` FROM phone_commands WHERE phone_id = ? AND delivered_at = 0 ORDER BY created_at, id`, phoneID)
	if err != nil {
		return nil, dbErr(err, "listing phone commands")
	}
	defer rows.Close()
	out, err := scanCommands(rows)
	return out, dbErr(err, "listing phone commands")
}
