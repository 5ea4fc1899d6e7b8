// Package sqlstore is the token service's storage wing: its own database
// (sqldb.OpenWing, wing "tsp": the file tsp.db on SQLite, the schema tsp on
// PostgreSQL) holding the PAN vault, tokens, limited-use keys, card
// bindings, the one-time-code outbox, token events and the token service's
// own record of each device (its live cards and whether its wallet is off,
// so the 8-cards rule and "wallet off" are checked here, race-safe, in the
// transaction that binds a card). No statement reaches another party's
// tables. The authorization path is tuned: vault rows, which never change,
// are kept in memory once read; with Sole (the only token service on an
// SQLite store) tokens and their keys are read from memory and key uses
// journaled and written behind to SQL (memory.go, writebehind.go), and
// otherwise — several token services on PostgreSQL — key uses are
// group-committed in SQL and every read is a SQL query.
package sqlstore

import (
	"context"
	"embed"
	"encoding/hex"
	"slices"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the token service's storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "tsp", Migrations: migrations, Dir: "migrations"}

var (
	_ tsp.Store          = (*Store)(nil)
	_ tsp.KeyLister      = (*Store)(nil)
	_ tsp.Alerter        = (*Store)(nil)
	_ tsp.TokenKeyReader = (*Store)(nil)
)

// Open opens (creating and migrating as needed) the token service's wing
// on the backend dsn names ("" for DATA/tsp.db, "sqlite:PATH",
// "postgres://…") and returns its store, which closes the database on
// Close. With Sole, on SQLite, the authorization path answers from memory
// and journals its key uses (memory.go, writebehind.go); without it, on
// SQLite, the key uses a sole store left in its journal (it stopped
// before writing them behind) are applied to SQL first, unless a sole
// store has the journal open now. It fails like sqldb.OpenWing, and with fault.Conflict
// "tsp_store_busy" when Sole finds another token service on the files.
func Open(ctx context.Context, dsn, dataDir string, opts ...Option) (*Store, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	var jr *journal.Log
	pl := sqldb.Place{DSN: dsn, Dir: dataDir}
	if o.sole && pl.Dialect() == sqldb.SQLite {
		if _, err := sqldb.NewPlace(dsn, dataDir); err != nil {
			return nil, err
		}
		var err error
		if jr, err = openJournal(journalPath(pl), o.shared); err != nil {
			return nil, err
		}
	}
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		if jr != nil {
			jr.Close()
		}
		return nil, err
	}
	s := held(h)
	switch {
	case jr != nil:
		s.mem = newMemory(o.maxTokens)
		if err := s.startWriteBehind(ctx, jr); err != nil {
			jr.Close()
			s.Close()
			return nil, err
		}
		s.wb.write = o.deferUses && o.shared != nil
	case pl.Dialect() == sqldb.SQLite:
		if err := s.replayLeft(ctx, journal.Beside(pl.DSN, pl.Dir, journal.SharedName), journalPath(pl)); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// OpenBeside opens the token service's wing on the backend db is on
// (sqldb.DB.Beside: the file tsp.db in db's folder, or the schema beside
// db's) — for tests and tools that hold another party's database. The
// store closes the wing's database on Close. It fails like Open.
func OpenBeside(ctx context.Context, db *sqldb.DB) (*Store, error) {
	h, err := sqldb.HoldBeside(ctx, db, Wing)
	if err != nil {
		return nil, err
	}
	s := held(h)
	return s, nil
}

func tokenLimit() error {
	return fault.E(fault.Limit, tsp.CodeCardLimit, "a phone holds at most %d cards: remove one first", tsp.MaxCardsPerPhone)
}

// CreateCard writes a new token in one transaction; see tsp.Store. The
// device's row is the lock: its count goes up only while the wallet is on
// and below 8 (a CHECK constraint backs the 8), so concurrent adds on one
// device cannot pass either rule.
func (s *Store) CreateCard(ctx context.Context, c tsp.NewCard) (tsp.VaultPAN, error) {
	var v tsp.VaultPAN
	err := s.admin(ctx, func() error {
		var err error
		v, err = s.createCard(ctx, c)
		return err
	}, func() { s.provisioned(ctx, c.Token.Number.Digits()) })
	return v, err
}

func (s *Store) createCard(ctx context.Context, c tsp.NewCard) (tsp.VaultPAN, error) {
	v := c.Vault
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, card_count, wallet_off, updated_at) VALUES (?, 0, 0, ?) ON CONFLICT (id) DO NOTHING`,
			c.Token.PhoneID, sqldb.Millis(tx.Now)); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE devices SET card_count = card_count + 1, updated_at = ? WHERE id = ? AND wallet_off = 0 AND card_count < ?`,
			sqldb.Millis(tx.Now), c.Token.PhoneID, tsp.MaxCardsPerPhone)
		if sqldb.IsCheckViolation(err) {
			return tokenLimit()
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var off int64
			if err := tx.QueryRow(ctx, `SELECT wallet_off FROM devices WHERE id = ?`, c.Token.PhoneID).Scan(&off); err != nil {
				return err
			}
			if off != 0 {
				return fault.E(fault.Forbidden, tsp.CodeWalletOff, "the wallet on this phone is switched off")
			}
			return tokenLimit()
		}
		if v.Sealed != nil {
			_, err := tx.Exec(ctx, `INSERT INTO vault_pans (id, pan_index, pan_sealed, par, bin, last4, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pan_index) DO NOTHING`,
				v.ID, v.Index, v.Sealed, v.PAR, v.BIN, v.Last4, sqldb.Millis(tx.Now))
			if err != nil {
				return err
			}
		}
		// Another binding of the same PAN may have won the race: use its row.
		if err := tx.QueryRow(ctx, `SELECT id, par FROM vault_pans WHERE pan_index = ?`, v.Index).Scan(&v.ID, &v.PAR); err != nil {
			return err
		}
		var live, dup int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN pan_id = ? THEN 1 ELSE 0 END), 0) FROM tokens WHERE phone_id = ? AND state <> 'deleted'`,
			v.ID, c.Token.PhoneID).Scan(&live, &dup); err != nil {
			return err
		}
		if dup > 0 {
			return fault.E(fault.Conflict, tsp.CodeCardOnPhone, "this card is already on this phone")
		}
		t := c.Token
		def := 0
		if live == 0 {
			def = 1
		}
		_, err = tx.Exec(ctx, `INSERT INTO tokens (token, pan_id, phone_id, account_id, domain, state, expiry, psn, bank_id, product, aid, is_default, priority, next_key_index, last_atc, created_at, updated_at, key_root)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
			t.Number.Digits(), v.ID, t.PhoneID, t.AccountID, t.Domain, string(t.State), t.Expiry.MMYY(), t.PSN, t.BankID, t.Product, t.AID,
			def, live+1, t.NextKey, sqldb.Millis(tx.Now), sqldb.Millis(tx.Now), keyRoot(t.KeyRoot))
		if sqldb.IsUniqueViolation(err) {
			return fault.E(fault.Conflict, tsp.CodeTokenTaken, "token number already issued")
		}
		if err != nil {
			return err
		}
		if err := insertTokenEvent(ctx, tx, c.Event); err != nil {
			return err
		}
		return insertLUKs(ctx, tx, c.LUKs)
	})
	return v, sqldb.Err(err, "binding a card")
}

// SealedColumns are the token service's columns sealed by the key store
// (card numbers): the vault and the bindings waiting for a code.
var SealedColumns = [][2]string{{"vault_pans", "pan_sealed"}, {"bindings", "pan_sealed"}}

// Rewrap passes every sealed card number of the wing through rewrap
// (keystore.File.Rewrap, after a rotation of the master key) and writes
// back the changed ones, online (sqldb.DB.RewrapColumns). It returns how
// many changed and fails like RewrapColumns.
func (s *Store) Rewrap(ctx context.Context, rewrap func([]byte) ([]byte, bool, error)) (int, error) {
	return s.DB.RewrapColumns(ctx, SealedColumns, rewrap)
}

// Device returns the token service's record of a device (the zero state
// for a device it never saw).
func (s *Store) Device(ctx context.Context, deviceID string) (tsp.DeviceState, error) {
	var st tsp.DeviceState
	var off int64
	err := s.DB.QueryRow(ctx, `SELECT card_count, wallet_off FROM devices WHERE id = ?`, deviceID).Scan(&st.Cards, &off)
	if sqldb.NoRows(err) {
		return tsp.DeviceState{}, nil
	}
	st.Off = off != 0
	return st, sqldb.Err(err, "reading a device")
}

// DeviceOff marks the device's wallet off, suspends its active tokens and
// retires their unused keys, in one transaction; see tsp.Store.
func (s *Store) DeviceOff(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	var out []string
	err := s.admin(ctx, func() error {
		var err error
		out, err = s.deviceOff(ctx, d)
		return err
	}, func() {
		at := stored(d.At)
		s.mirrorPhone(d.DeviceID, func(e *entry) {
			if slices.Contains(out, e.tok.Number.Digits()) {
				e.tok.State = tsp.Suspended
			}
			for i := range e.keys {
				if k := &e.keys[i]; k.UsedAt.IsZero() && k.ExpiresAt.After(at) {
					k.ExpiresAt = at
				}
			}
		})
	})
	return out, err
}

func (s *Store) deviceOff(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	var out []string
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		out = out[:0]
		at := sqldb.Millis(d.At)
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, card_count, wallet_off, updated_at) VALUES (?, 0, 1, ?)
			ON CONFLICT (id) DO UPDATE SET wallet_off = 1, updated_at = excluded.updated_at`, d.DeviceID, at); err != nil {
			return err
		}
		live, err := deviceTokens(ctx, tx, d.DeviceID, tsp.Active)
		if err != nil {
			return err
		}
		for _, tok := range live {
			if err := setState(ctx, tx, tok, tsp.Active, tsp.Suspended, d.Actor, d.Reason, d.At); err != nil {
				return err
			}
			out = append(out, tok)
		}
		_, err = tx.Exec(ctx, `UPDATE luks SET expires_at = ? WHERE used_at = 0 AND expires_at > ? AND token IN (SELECT token FROM tokens WHERE phone_id = ?)`,
			at, at, d.DeviceID)
		return err
	})
	return out, sqldb.Err(err, "switching a device's wallet off")
}

// DeviceOn marks the device's wallet on and resumes the named tokens that
// are suspended and on the device, in one transaction; see tsp.Store.
func (s *Store) DeviceOn(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	var out []string
	err := s.admin(ctx, func() error {
		var err error
		out, err = s.deviceOn(ctx, d)
		return err
	}, func() {
		s.mirror(out, func(e *entry) { e.tok.State = tsp.Active })
	})
	return out, err
}

func (s *Store) deviceOn(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	var out []string
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `INSERT INTO devices (id, card_count, wallet_off, updated_at) VALUES (?, 0, 0, ?)
			ON CONFLICT (id) DO UPDATE SET wallet_off = 0, updated_at = excluded.updated_at`, d.DeviceID, sqldb.Millis(d.At)); err != nil {
			return err
		}
		suspended, err := deviceTokens(ctx, tx, d.DeviceID, tsp.Suspended)
		if err != nil {
			return err
		}
		named := map[string]bool{}
		for _, t := range d.Tokens {
			named[t] = true
		}
		for _, tok := range suspended {
			if !named[tok] {
				continue
			}
			if err := setState(ctx, tx, tok, tsp.Suspended, tsp.Active, d.Actor, d.Reason, d.At); err != nil {
				return err
			}
			out = append(out, tok)
		}
		return nil
	})
	return out, sqldb.Err(err, "switching a device's wallet on")
}

// deviceTokens lists a device's tokens in one state, oldest first.
func deviceTokens(ctx context.Context, tx *sqldb.Tx, deviceID string, state tsp.State) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT token FROM tokens WHERE phone_id = ? AND state = ? ORDER BY created_at, token`, deviceID, string(state))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// setState moves a token from one state to another with its event.
func setState(ctx context.Context, tx *sqldb.Tx, token string, from, to tsp.State, actor, reason string, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE tokens SET state = ?, updated_at = ? WHERE token = ?`, string(to), sqldb.Millis(at), token); err != nil {
		return err
	}
	return insertTokenEvent(ctx, tx, tsp.TokenEvent{ID: id.New("tev"), Token: token, From: string(from), To: string(to), Actor: actor, Reason: reason, At: at})
}

func insertTokenEvent(ctx context.Context, tx *sqldb.Tx, e tsp.TokenEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO token_events (id, token, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Token, e.From, e.To, e.Actor, e.Reason, sqldb.Millis(e.At))
	return err
}

func insertLUKs(ctx context.Context, tx *sqldb.Tx, luks []tsp.LUK) error {
	for _, k := range luks {
		if _, err := tx.Exec(ctx, `INSERT INTO luks (token, key_index, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
			k.Token, k.Index, sqldb.Millis(k.IssuedAt), sqldb.Millis(k.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

type scanner interface{ Scan(...any) error }

func scanVault(sc scanner) (tsp.VaultPAN, error) {
	var v tsp.VaultPAN
	err := sc.Scan(&v.ID, &v.Index, &v.Sealed, &v.PAR, &v.BIN, &v.Last4)
	return v, err
}

func vaultErr(v tsp.VaultPAN, err error) (tsp.VaultPAN, error) {
	if sqldb.NoRows(err) {
		return v, fault.E(fault.NotFound, "pan_not_found", "card not in the vault")
	}
	return v, sqldb.Err(err, "reading the vault")
}

// VaultByIndex finds a vault row by the PAN's keyed hash.
func (s *Store) VaultByIndex(ctx context.Context, index []byte) (tsp.VaultPAN, error) {
	return vaultErr(scanVault(s.DB.QueryRow(ctx, `SELECT id, pan_index, pan_sealed, par, bin, last4 FROM vault_pans WHERE pan_index = ?`, index)))
}

// vaultRow reads a vault row by id from the database.
func (s *Store) vaultRow(ctx context.Context, id string) (tsp.VaultPAN, error) {
	return vaultErr(scanVault(s.DB.QueryRow(ctx, `SELECT id, pan_index, pan_sealed, par, bin, last4 FROM vault_pans WHERE id = ?`, id)))
}

const tokenCols = `t.token, t.pan_id, v.par, v.last4, t.phone_id, t.account_id, t.domain, t.state, t.expiry, t.psn, t.bank_id, t.product, t.aid, t.is_default, t.priority, t.next_key_index, t.last_atc, t.created_at, t.key_root`

// keyRoot is the root id stored for a token ("" is r1).
func keyRoot(id string) string {
	if id == "" {
		return "r1"
	}
	return id
}

func scanToken(sc scanner) (tsp.Token, error) {
	var t tsp.Token
	var num, state, exp string
	var def, created int64
	err := sc.Scan(&num, &t.PANID, &t.PAR, &t.PANLast4, &t.PhoneID, &t.AccountID, &t.Domain, &state, &exp, &t.PSN, &t.BankID, &t.Product, &t.AID, &def, &t.Priority, &t.NextKey, &t.LastATC, &created, &t.KeyRoot)
	if err != nil {
		return t, err
	}
	t.Number, err = card.ParseToken(num)
	t.State = tsp.State(state)
	t.Expiry, _ = card.ParseExpiry(exp)
	t.Default = def != 0
	t.CreatedAt = sqldb.Time(created)
	return t, err
}

func tokenErr(t tsp.Token, err error) (tsp.Token, error) {
	if sqldb.NoRows(err) {
		return t, fault.E(fault.NotFound, "token_not_found", "no such token")
	}
	return t, sqldb.Err(err, "reading a token")
}

// PhoneTokens lists a phone's live tokens, default first, then by priority.
func (s *Store) PhoneTokens(ctx context.Context, phoneID string) ([]tsp.Token, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT `+tokenCols+` FROM tokens t JOIN vault_pans v ON v.id = t.pan_id WHERE t.phone_id = ? AND t.state <> 'deleted' ORDER BY t.is_default DESC, t.priority, t.created_at`, phoneID)
	if err != nil {
		return nil, sqldb.Err(err, "listing cards")
	}
	defer rows.Close()
	var out []tsp.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, sqldb.Err(err, "listing cards")
		}
		out = append(out, t)
	}
	return out, sqldb.Err(rows.Err(), "listing cards")
}

// SetDefault makes one token the phone's default.
func (s *Store) SetDefault(ctx context.Context, phoneID, token string) error {
	return s.admin(ctx, func() error { return s.setDefault(ctx, phoneID, token) }, func() {
		s.mirrorPhone(phoneID, func(e *entry) { e.tok.Default = e.tok.Number.Digits() == token })
	})
}

func (s *Store) setDefault(ctx context.Context, phoneID, token string) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 0 WHERE phone_id = ?`, phoneID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 1, updated_at = ? WHERE phone_id = ? AND token = ? AND state <> 'deleted'`, sqldb.Millis(tx.Now), phoneID, token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.NotFound, tsp.CodeCardNotFound, "no such card on this phone")
		}
		return nil
	}), "choosing the default card")
}

// ChangeState moves a token through its lifecycle with an event: active and
// suspended move to each other or to deleted; deleted is final (fault.Conflict
// "token_deleted") and frees the device's card slot. Moving to the state it
// is in changes nothing.
func (s *Store) ChangeState(ctx context.Context, token string, to tsp.State, actor, reason string, at time.Time) error {
	return s.admin(ctx, func() error { return s.changeState(ctx, token, to, actor, reason, at) }, func() {
		s.mirror([]string{token}, func(e *entry) {
			e.tok.State = to
			if to == tsp.Deleted {
				e.tok.Default = false
			}
		})
	})
}

func (s *Store) changeState(ctx context.Context, token string, to tsp.State, actor, reason string, at time.Time) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var from, phone string
		err := tx.QueryRow(ctx, `SELECT state, phone_id FROM tokens WHERE token = ?`, token).Scan(&from, &phone)
		if sqldb.NoRows(err) {
			return fault.E(fault.NotFound, "token_not_found", "no such token")
		}
		if err != nil {
			return err
		}
		if from == string(to) {
			return nil
		}
		if from == string(tsp.Deleted) {
			return fault.E(fault.Conflict, tsp.DeclineTokenDeleted, "the token was deleted and cannot change again")
		}
		if to == tsp.Deleted {
			if _, err := tx.Exec(ctx, `UPDATE devices SET card_count = card_count - 1, updated_at = ? WHERE id = ? AND card_count > 0`, sqldb.Millis(at), phone); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 0 WHERE token = ?`, token); err != nil {
				return err
			}
		}
		return setState(ctx, tx, token, tsp.State(from), to, actor, reason, at)
	}), "changing a token's state")
}

// AddLUKs records a new batch of limited-use keys and the next key index.
func (s *Store) AddLUKs(ctx context.Context, token string, luks []tsp.LUK, nextKey int) error {
	return s.admin(ctx, func() error { return s.addLUKs(ctx, token, luks, nextKey) }, func() {
		s.mirror([]string{token}, func(e *entry) {
			e.tok.NextKey = nextKey
			e.add(memKeys(luks))
		})
	})
}

func (s *Store) addLUKs(ctx context.Context, token string, luks []tsp.LUK, nextKey int) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tokens SET next_key_index = ?, updated_at = ? WHERE token = ?`, nextKey, sqldb.Millis(tx.Now), token); err != nil {
			return err
		}
		return insertLUKs(ctx, tx, luks)
	}), "recording limited-use keys")
}

func insertMessage(ctx context.Context, tx *sqldb.Tx, m tsp.OTPMessage) error {
	_, err := tx.Exec(ctx, `INSERT INTO otp_outbox (id, account_id, binding_id, message, created_at) VALUES (?, ?, ?, ?, ?)`,
		m.ID, m.AccountID, m.BindingID, m.Message, sqldb.Millis(m.CreatedAt))
	return err
}

// CreateBinding stores a pending binding and its one-time-code message.
func (s *Store) CreateBinding(ctx context.Context, b tsp.Binding, m tsp.OTPMessage) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO bindings (id, phone_id, account_id, pan_sealed, expiry, bank_id, otp_hash, attempts, state, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
			b.ID, b.PhoneID, b.AccountID, b.Sealed, b.Expiry, b.BankID, b.OTPHash, b.State, sqldb.Millis(b.ExpiresAt), sqldb.Millis(b.CreatedAt)); err != nil {
			return err
		}
		return insertMessage(ctx, tx, m)
	}), "starting a card binding")
}

// AddMessage queues a message to a card holder in the one-time-code outbox
// (an alert, tied to no binding).
func (s *Store) AddMessage(ctx context.Context, m tsp.OTPMessage) error {
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return insertMessage(ctx, tx, m) }), "queueing a message to the card holder")
}

const bindingCols = `id, phone_id, account_id, pan_sealed, expiry, bank_id, otp_hash, attempts, state, expires_at, created_at`

func scanBinding(sc scanner) (tsp.Binding, error) {
	var b tsp.Binding
	var exp, created int64
	err := sc.Scan(&b.ID, &b.PhoneID, &b.AccountID, &b.Sealed, &b.Expiry, &b.BankID, &b.OTPHash, &b.Attempts, &b.State, &exp, &created)
	b.ExpiresAt, b.CreatedAt = sqldb.Time(exp), sqldb.Time(created)
	return b, err
}

// Binding returns a binding by id.
func (s *Store) Binding(ctx context.Context, id string) (tsp.Binding, error) {
	b, err := scanBinding(s.DB.QueryRow(ctx, `SELECT `+bindingCols+` FROM bindings WHERE id = ?`, id))
	if sqldb.NoRows(err) {
		return b, fault.E(fault.NotFound, tsp.CodeBindingNotFound, "no such card binding")
	}
	return b, sqldb.Err(err, "reading a card binding")
}

// BindingAttempt counts one try at a pending binding's code: ok marks it
// done; a wrong code adds an attempt and fails it at max (max 0 fails it now).
// Only a pending binding changes, so two tries racing cannot both succeed.
func (s *Store) BindingAttempt(ctx context.Context, id string, ok bool, max int) (tsp.Binding, error) {
	var b tsp.Binding
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if ok {
			_, err = tx.Exec(ctx, `UPDATE bindings SET state = 'done' WHERE id = ? AND state = 'pending'`, id)
		} else {
			_, err = tx.Exec(ctx, `UPDATE bindings SET attempts = attempts + 1, state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE state END WHERE id = ? AND state = 'pending'`, max, id)
		}
		if err != nil {
			return err
		}
		b, err = scanBinding(tx.QueryRow(ctx, `SELECT `+bindingCols+` FROM bindings WHERE id = ?`, id))
		if sqldb.NoRows(err) {
			return fault.E(fault.NotFound, tsp.CodeBindingNotFound, "no such card binding")
		}
		return err
	})
	return b, sqldb.Err(err, "checking a one-time code")
}

// Outbox lists the newest one-time-code messages of an account.
func (s *Store) Outbox(ctx context.Context, accountID string, limit int) ([]tsp.OTPMessage, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, account_id, binding_id, message, created_at FROM otp_outbox WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, sqldb.Err(err, "reading the outbox")
	}
	defer rows.Close()
	var out []tsp.OTPMessage
	for rows.Next() {
		var m tsp.OTPMessage
		var at int64
		if err := rows.Scan(&m.ID, &m.AccountID, &m.BindingID, &m.Message, &at); err != nil {
			return nil, sqldb.Err(err, "reading the outbox")
		}
		m.CreatedAt = sqldb.Time(at)
		out = append(out, m)
	}
	return out, sqldb.Err(rows.Err(), "reading the outbox")
}

// TokenEvents lists a token's lifecycle changes, oldest first.
func (s *Store) TokenEvents(ctx context.Context, token string) ([]tsp.TokenEvent, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, token, from_state, to_state, actor, reason, at FROM token_events WHERE token = ? ORDER BY at, id`, token)
	if err != nil {
		return nil, sqldb.Err(err, "reading token events")
	}
	defer rows.Close()
	var out []tsp.TokenEvent
	for rows.Next() {
		var e tsp.TokenEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.Token, &e.From, &e.To, &e.Actor, &e.Reason, &at); err != nil {
			return nil, sqldb.Err(err, "reading token events")
		}
		e.At = sqldb.Time(at)
		out = append(out, e)
	}
	return out, sqldb.Err(rows.Err(), "reading token events")
}

const lukCols = `token, key_index, issued_at, expires_at, used_at, used_atc, used_arqc`

func scanLUK(sc scanner) (tsp.LUK, error) {
	var k tsp.LUK
	var issued, exp, used int64
	var arqc string
	err := sc.Scan(&k.Token, &k.Index, &issued, &exp, &used, &k.UsedATC, &arqc)
	k.IssuedAt, k.ExpiresAt, k.UsedAt = sqldb.Time(issued), sqldb.Time(exp), sqldb.Time(used)
	k.UsedARQC, _ = hex.DecodeString(arqc)
	return k, err
}

// LUKs lists a token's limited-use keys by index (for a phone's sync).
func (s *Store) LUKs(ctx context.Context, token string) ([]tsp.LUK, error) {
	if err := s.caughtUp(ctx); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT `+lukCols+` FROM luks WHERE token = ? ORDER BY key_index`, token)
	if err != nil {
		return nil, sqldb.Err(err, "listing limited-use keys")
	}
	defer rows.Close()
	var out []tsp.LUK
	for rows.Next() {
		k, err := scanLUK(rows)
		if err != nil {
			return nil, sqldb.Err(err, "listing limited-use keys")
		}
		out = append(out, k)
	}
	return out, sqldb.Err(rows.Err(), "listing limited-use keys")
}

// UnusedKeys counts a token's unused, unexpired limited-use keys.
func (s *Store) UnusedKeys(ctx context.Context, token string, now time.Time) (int, error) {
	if err := s.caughtUp(ctx); err != nil {
		return 0, err
	}
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM luks WHERE token = ? AND used_at = 0 AND expires_at > ?`, token, sqldb.Millis(now)).Scan(&n)
	return n, sqldb.Err(err, "counting limited-use keys")
}
