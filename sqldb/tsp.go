package sqldb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/tsp"
)

// TokenStore implements tsp.Store.
type TokenStore struct{ DB *DB }

var _ tsp.Store = (*TokenStore)(nil)

// CreateCard writes a new token in one transaction; see tsp.Store.
func (s *TokenStore) CreateCard(ctx context.Context, c tsp.NewCard) (tsp.VaultPAN, error) {
	v := c.Vault
	err := s.DB.InTx(ctx, func(tx *Tx) error {
		var on int64
		if err := tx.QueryRow(ctx, `SELECT wallet_on FROM phones WHERE id = ?`, c.Token.PhoneID).Scan(&on); err != nil {
			if NoRows(err) {
				return fault.E(fault.NotFound, "phone_not_found", "no such phone")
			}
			return err
		}
		if on == 0 {
			return fault.E(fault.Forbidden, "wallet_off", "the wallet on this phone is switched off")
		}
		// The limit lives in the database: the count goes up only below 8
		// (and a CHECK constraint backs it), so concurrent adds cannot pass it.
		res, err := tx.Exec(ctx, `UPDATE phones SET card_count = card_count + 1 WHERE id = ? AND card_count < ?`, c.Token.PhoneID, tsp.MaxCardsPerPhone)
		if err != nil {
			if IsCheckViolation(err) {
				return fault.E(fault.Limit, "card_limit", "a phone holds at most %d cards: remove one first", tsp.MaxCardsPerPhone)
			}
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.Limit, "card_limit", "a phone holds at most %d cards: remove one first", tsp.MaxCardsPerPhone)
		}
		if v.Sealed != nil {
			_, err := tx.Exec(ctx, `INSERT INTO vault_pans (id, pan_index, pan_sealed, par, bin, last4, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pan_index) DO NOTHING`,
				v.ID, v.Index, v.Sealed, v.PAR, v.BIN, v.Last4, Millis(tx.Now))
			if err != nil {
				return err
			}
		}
		// Another binding of the same PAN may have won the race: use its row.
		if err := tx.QueryRow(ctx, `SELECT id, par FROM vault_pans WHERE pan_index = ?`, v.Index).Scan(&v.ID, &v.PAR); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM tokens WHERE phone_id = ? AND state <> 'deleted'`, c.Token.PhoneID).Scan(&live); err != nil {
			return err
		}
		var dup int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM tokens WHERE phone_id = ? AND pan_id = ? AND state <> 'deleted'`, c.Token.PhoneID, v.ID).Scan(&dup); err != nil {
			return err
		}
		if dup > 0 {
			return fault.E(fault.Conflict, "card_on_phone", "this card is already on this phone")
		}
		t := c.Token
		def := 0
		if live == 0 {
			def = 1
		}
		_, err = tx.Exec(ctx, `INSERT INTO tokens (token, pan_id, phone_id, account_id, domain, state, expiry, psn, bank_id, product, aid, is_default, priority, next_key_index, last_atc, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			t.Number.Digits(), v.ID, t.PhoneID, t.AccountID, t.Domain, string(t.State), t.Expiry.MMYY(), t.PSN, t.BankID, t.Product, t.AID,
			def, live+1, t.NextKey, Millis(tx.Now), Millis(tx.Now))
		if IsUniqueViolation(err) {
			return fault.E(fault.Conflict, "token_taken", "token number already issued")
		}
		if err != nil {
			return err
		}
		if err := insertTokenEvent(ctx, tx, c.Event); err != nil {
			return err
		}
		return insertLUKs(ctx, tx, c.LUKs)
	})
	return v, dbErr(err, "binding a card")
}

func insertTokenEvent(ctx context.Context, tx *Tx, e tsp.TokenEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO token_events (id, token, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Token, e.From, e.To, e.Actor, e.Reason, Millis(e.At))
	return err
}

func insertLUKs(ctx context.Context, tx *Tx, luks []tsp.LUK) error {
	for _, k := range luks {
		if _, err := tx.Exec(ctx, `INSERT INTO luks (token, key_index, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
			k.Token, k.Index, Millis(k.IssuedAt), Millis(k.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

func scanVault(sc interface{ Scan(...any) error }) (tsp.VaultPAN, error) {
	var v tsp.VaultPAN
	err := sc.Scan(&v.ID, &v.Index, &v.Sealed, &v.PAR, &v.BIN, &v.Last4)
	return v, err
}

// VaultByIndex finds a vault row by the PAN's keyed hash.
func (s *TokenStore) VaultByIndex(ctx context.Context, index []byte) (tsp.VaultPAN, error) {
	v, err := scanVault(s.DB.QueryRow(ctx, `SELECT id, pan_index, pan_sealed, par, bin, last4 FROM vault_pans WHERE pan_index = ?`, index))
	if NoRows(err) {
		return v, fault.E(fault.NotFound, "pan_not_found", "card not in the vault")
	}
	return v, dbErr(err, "reading the vault")
}

// VaultPAN returns a vault row by id.
func (s *TokenStore) VaultPAN(ctx context.Context, id string) (tsp.VaultPAN, error) {
	v, err := scanVault(s.DB.QueryRow(ctx, `SELECT id, pan_index, pan_sealed, par, bin, last4 FROM vault_pans WHERE id = ?`, id))
	if NoRows(err) {
		return v, fault.E(fault.NotFound, "pan_not_found", "card not in the vault")
	}
	return v, dbErr(err, "reading the vault")
}

const tokenCols = `t.token, t.pan_id, v.par, v.last4, t.phone_id, t.account_id, t.domain, t.state, t.expiry, t.psn, t.bank_id, t.product, t.aid, t.is_default, t.priority, t.next_key_index, t.last_atc, t.created_at`

func scanToken(sc interface{ Scan(...any) error }) (tsp.Token, error) {
	var t tsp.Token
	var num, state, exp string
	var def, created int64
	err := sc.Scan(&num, &t.PANID, &t.PAR, &t.PANLast4, &t.PhoneID, &t.AccountID, &t.Domain, &state, &exp, &t.PSN, &t.BankID, &t.Product, &t.AID, &def, &t.Priority, &t.NextKey, &t.LastATC, &created)
	if err != nil {
		return t, err
	}
	t.Number, err = card.ParseToken(num)
	t.State = tsp.State(state)
	t.Expiry, _ = card.ParseExpiry(exp)
	t.Default = def != 0
	t.CreatedAt = Time(created)
	return t, err
}

// Token returns a token by number.
func (s *TokenStore) Token(ctx context.Context, number string) (tsp.Token, error) {
	t, err := scanToken(s.DB.QueryRow(ctx, `SELECT `+tokenCols+` FROM tokens t JOIN vault_pans v ON v.id = t.pan_id WHERE t.token = ?`, number))
	if NoRows(err) {
		return t, fault.E(fault.NotFound, "token_not_found", "no such token")
	}
	return t, dbErr(err, "reading a token")
}

// PhoneTokens lists a phone's live tokens, default first, then by priority.
func (s *TokenStore) PhoneTokens(ctx context.Context, phoneID string) ([]tsp.Token, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+tokenCols+` FROM tokens t JOIN vault_pans v ON v.id = t.pan_id WHERE t.phone_id = ? AND t.state <> 'deleted' ORDER BY t.is_default DESC, t.priority, t.created_at`, phoneID)
	if err != nil {
		return nil, dbErr(err, "listing cards")
	}
	defer rows.Close()
	var out []tsp.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, dbErr(err, "listing cards")
		}
		out = append(out, t)
	}
	return out, dbErr(rows.Err(), "listing cards")
}

// SetDefault makes one token the phone's default.
func (s *TokenStore) SetDefault(ctx context.Context, phoneID, token string) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 0 WHERE phone_id = ?`, phoneID); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 1, updated_at = ? WHERE phone_id = ? AND token = ? AND state <> 'deleted'`, Millis(tx.Now), phoneID, token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.NotFound, "card_not_found", "no such card on this phone")
		}
		return nil
	}), "choosing the default card")
}

// ChangeState moves a token through its lifecycle with an event: active and
// suspended move to each other or to deleted; deleted is final (fault.Conflict
// "token_deleted"). Moving to the state it is in changes nothing.
func (s *TokenStore) ChangeState(ctx context.Context, token string, to tsp.State, actor, reason string, at time.Time) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		var from, phone string
		err := tx.QueryRow(ctx, `SELECT state, phone_id FROM tokens WHERE token = ?`, token).Scan(&from, &phone)
		if NoRows(err) {
			return fault.E(fault.NotFound, "token_not_found", "no such token")
		}
		if err != nil {
			return dbErr(err, "reading a token")
		}
		if from == string(to) {
			return nil
		}
		if from == string(tsp.Deleted) {
			return fault.E(fault.Conflict, "token_deleted", "the token was deleted and cannot change again")
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET state = ?, updated_at = ? WHERE token = ?`, string(to), Millis(at), token); err != nil {
			return dbErr(err, "changing a token's state")
		}
		if to == tsp.Deleted {
			if _, err := tx.Exec(ctx, `UPDATE phones SET card_count = card_count - 1 WHERE id = ?`, phone); err != nil {
				return dbErr(err, "freeing a card slot")
			}
			if _, err := tx.Exec(ctx, `UPDATE tokens SET is_default = 0 WHERE token = ?`, token); err != nil {
				return dbErr(err, "changing a token's state")
			}
		}
		return dbErr(insertTokenEvent(ctx, tx, tsp.TokenEvent{ID: newID("tev"), Token: token, From: from, To: string(to), Actor: actor, Reason: reason, At: at}), "recording a token event")
	})
}

// AddLUKs records a new batch of limited-use keys and the next key index.
func (s *TokenStore) AddLUKs(ctx context.Context, token string, luks []tsp.LUK, nextKey int) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tokens SET next_key_index = ?, updated_at = ? WHERE token = ?`, nextKey, Millis(tx.Now), token); err != nil {
			return err
		}
		return insertLUKs(ctx, tx, luks)
	}), "recording limited-use keys")
}

// CreateBinding stores a pending binding and its one-time-code message.
func (s *TokenStore) CreateBinding(ctx context.Context, b tsp.Binding, m tsp.OTPMessage) error {
	return dbErr(s.DB.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO bindings (id, phone_id, account_id, pan_sealed, expiry, bank_id, otp_hash, attempts, state, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
			b.ID, b.PhoneID, b.AccountID, b.Sealed, b.Expiry, b.BankID, b.OTPHash, b.State, Millis(b.ExpiresAt), Millis(b.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO otp_outbox (id, account_id, binding_id, message, created_at) VALUES (?, ?, ?, ?, ?)`,
			m.ID, m.AccountID, m.BindingID, m.Message, Millis(m.CreatedAt))
		return err
	}), "starting a card binding")
}

const bindingCols = `id, phone_id, account_id, pan_sealed, expiry, bank_id, otp_hash, attempts, state, expires_at, created_at`

func scanBinding(sc interface{ Scan(...any) error }) (tsp.Binding, error) {
	var b tsp.Binding
	var exp, created int64
	err := sc.Scan(&b.ID, &b.PhoneID, &b.AccountID, &b.Sealed, &b.Expiry, &b.BankID, &b.OTPHash, &b.Attempts, &b.State, &exp, &created)
	b.ExpiresAt, b.CreatedAt = Time(exp), Time(created)
	return b, err
}

// Binding returns a binding by id.
func (s *TokenStore) Binding(ctx context.Context, id string) (tsp.Binding, error) {
	b, err := scanBinding(s.DB.QueryRow(ctx, `SELECT `+bindingCols+` FROM bindings WHERE id = ?`, id))
	if NoRows(err) {
		return b, fault.E(fault.NotFound, "binding_not_found", "no such card binding")
	}
	return b, dbErr(err, "reading a card binding")
}

// BindingAttempt counts one try at a pending binding's code: ok marks it
// done; a wrong code adds an attempt and fails it at max (max 0 fails it now).
// Only a pending binding changes, so two tries racing cannot both succeed.
func (s *TokenStore) BindingAttempt(ctx context.Context, id string, ok bool, max int) (tsp.Binding, error) {
	var b tsp.Binding
	err := s.DB.InTx(ctx, func(tx *Tx) error {
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
		return err
	})
	return b, dbErr(err, "checking a one-time code")
}

// Outbox lists the newest one-time-code messages of an account.
func (s *TokenStore) Outbox(ctx context.Context, accountID string, limit int) ([]tsp.OTPMessage, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, account_id, binding_id, message, created_at FROM otp_outbox WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, dbErr(err, "reading the outbox")
	}
	defer rows.Close()
	var out []tsp.OTPMessage
	for rows.Next() {
		var m tsp.OTPMessage
		var at int64
		if err := rows.Scan(&m.ID, &m.AccountID, &m.BindingID, &m.Message, &at); err != nil {
			return nil, dbErr(err, "reading the outbox")
		}
		m.CreatedAt = Time(at)
		out = append(out, m)
	}
	return out, dbErr(rows.Err(), "reading the outbox")
}

// TokenEvents lists a token's lifecycle changes, oldest first.
func (s *TokenStore) TokenEvents(ctx context.Context, token string) ([]tsp.TokenEvent, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, token, from_state, to_state, actor, reason, at FROM token_events WHERE token = ? ORDER BY at, id`, token)
	if err != nil {
		return nil, dbErr(err, "reading token events")
	}
	defer rows.Close()
	var out []tsp.TokenEvent
	for rows.Next() {
		var e tsp.TokenEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.Token, &e.From, &e.To, &e.Actor, &e.Reason, &at); err != nil {
			return nil, dbErr(err, "reading token events")
		}
		e.At = Time(at)
		out = append(out, e)
	}
	return out, dbErr(rows.Err(), "reading token events")
}

func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s_%013x%s", prefix, time.Now().UnixNano()/1000, hex.EncodeToString(b[:]))
}

// LUK returns a limited-use key's record.
func (s *TokenStore) LUK(ctx context.Context, token string, index int) (tsp.LUK, error) {
	var k tsp.LUK
	var issued, exp, used int64
	var arqc string
	err := s.DB.QueryRow(ctx, `SELECT token, key_index, issued_at, expires_at, used_at, used_atc, used_arqc FROM luks WHERE token = ? AND key_index = ?`, token, index).
		Scan(&k.Token, &k.Index, &issued, &exp, &used, &k.UsedATC, &arqc)
	if NoRows(err) {
		return k, fault.E(fault.NotFound, "luk_unknown", "no such limited-use key")
	}
	k.IssuedAt, k.ExpiresAt, k.UsedAt = Time(issued), Time(exp), Time(used)
	k.UsedARQC, _ = hex.DecodeString(arqc)
	return k, dbErr(err, "reading a limited-use key")
}

// UseKey consumes a limited-use key and moves the counter, atomically.
func (s *TokenStore) UseKey(ctx context.Context, u tsp.KeyUse) error {
	return s.DB.InTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE luks SET used_at = ?, used_atc = ?, used_arqc = ? WHERE token = ? AND key_index = ? AND used_at = 0`,
			Millis(u.At), u.ATC, hex.EncodeToString(u.Cryptogram), u.Token, u.KeyIndex)
		if err != nil {
			return dbErr(err, "using a limited-use key")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.Declined, tsp.DeclineKeyUsed, "limited-use key %d was already used", u.KeyIndex)
		}
		res, err = tx.Exec(ctx, `UPDATE tokens SET last_atc = ? WHERE token = ? AND last_atc < ?`, u.ATC, u.Token, u.ATC)
		if err != nil {
			return dbErr(err, "moving the transaction counter")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.E(fault.Declined, tsp.DeclineATCReplay, "transaction counter %d already seen: replayed cryptogram", u.ATC)
		}
		return nil
	})
}

// UnusedKeys counts a token's unused, unexpired limited-use keys.
func (s *TokenStore) UnusedKeys(ctx context.Context, token string, now time.Time) (int, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM luks WHERE token = ? AND used_at = 0 AND expires_at > ?`, token, Millis(now)).Scan(&n)
	return n, dbErr(err, "counting limited-use keys")
}
