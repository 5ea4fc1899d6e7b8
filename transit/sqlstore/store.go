// Package sqlstore is the transit operators' storage wing: their own
// database (sqldb.OpenWing, wing "transit": the file transit.db on SQLite,
// the schema transit on PostgreSQL) holding the transit cards, loads,
// rides, clearing files, exceptions, the operators' books (entries) and
// hot lists. No statement reaches another party's tables: a card keeps
// its bank card's token number and its phone's id as plain text.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"strings"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/transit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the transit operators' storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "transit", Migrations: migrations, Dir: "migrations"}

// TransitStore implements transit.Store on the transit wing's database.
type TransitStore struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
}

var _ transit.Store = (*TransitStore)(nil)

// New returns the store on db, a database opened with Wing.
func New(db *sqldb.DB) *TransitStore { return &TransitStore{Held: sqldb.Hold(db)} }

// Open opens (creating and migrating as needed) the transit wing on the
// backend dsn names ("" for DATA/transit.db, "sqlite:PATH",
// "postgres://…") and returns its store, which closes the database on
// Close. It fails like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*TransitStore, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &TransitStore{Held: h}, nil
}

// InTx runs fn in one database transaction (retried on serialization
// failures, so fn must be safe to run again).
func (s *TransitStore) InTx(ctx context.Context, fn func(transit.Tx) error) error {
	return s.DB.InTx(ctx, func(tx *sqldb.Tx) error { return fn(&transitTx{ctx: ctx, tx: tx}) })
}

type transitTx struct {
	ctx context.Context
	tx  *sqldb.Tx
}

var _ transit.Tx = (*transitTx)(nil)

func (t *transitTx) Now() time.Time { return t.tx.Now }

// forUpdate locks the rows read on PostgreSQL (SQLite transactions take
// the write lock at BEGIN IMMEDIATE).
func (t *transitTx) forUpdate() string {
	if t.tx.Dialect() == sqldb.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func (t *transitTx) NextSerial(city string) (uint64, error) {
	var n int64
	err := t.tx.QueryRow(t.ctx, `SELECT next FROM transit_serials WHERE city = ?`+t.forUpdate(), city).Scan(&n)
	if sqldb.NoRows(err) {
		n = 1
		_, err = t.tx.Exec(t.ctx, `INSERT INTO transit_serials (city, next) VALUES (?, 2)`, city)
		return uint64(n), sqldb.Err(err, "making a card number")
	}
	if err != nil {
		return 0, sqldb.Err(err, "making a card number")
	}
	_, err = t.tx.Exec(t.ctx, `UPDATE transit_serials SET next = next + 1 WHERE city = ?`, city)
	return uint64(n), sqldb.Err(err, "making a card number")
}

const cardCols = `number, city, account_id, phone_id, state, token, deposit, issue_fee, issue_ref, balance, online_atc, cleared_atc,
 challenge, close_balance, close_offline_atc, moving, issued_at, updated_at`

func scanCard(sc interface{ Scan(...any) error }) (transit.Card, error) {
	var c transit.Card
	var issued, updated, moving int64
	err := sc.Scan(&c.Number, &c.City, &c.AccountID, &c.PhoneID, &c.State, &c.Token, &c.Deposit, &c.IssueFee, &c.IssueRef, &c.Balance,
		&c.OnlineATC, &c.ClearedATC, &c.Challenge, &c.CloseBalance, &c.CloseOfflineATC, &moving, &issued, &updated)
	c.IssuedAt, c.UpdatedAt, c.Moving = sqldb.Time(issued), sqldb.Time(updated), moving != 0
	return c, err
}

func (t *transitTx) cardWhere(where string, arg any) (transit.Card, error) {
	c, err := scanCard(t.tx.QueryRow(t.ctx, `SELECT `+cardCols+` FROM transit_cards WHERE `+where+t.forUpdate(), arg))
	if sqldb.NoRows(err) {
		return c, fault.E(fault.NotFound, "no_transit_card", "no such transit card")
	}
	return c, sqldb.Err(err, "reading a transit card")
}

func (t *transitTx) Card(number string) (transit.Card, error) {
	return t.cardWhere("number = ?", number)
}

func (t *transitTx) CardByIssueRef(ref string) (transit.Card, error) {
	return t.cardWhere("issue_ref = ?", ref)
}

func (t *transitTx) cards(where string, arg any) ([]transit.Card, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT `+cardCols+` FROM transit_cards WHERE `+where+` ORDER BY number`, arg)
	if err != nil {
		return nil, sqldb.Err(err, "listing transit cards")
	}
	defer rows.Close()
	var out []transit.Card
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, sqldb.Err(err, "listing transit cards")
		}
		out = append(out, c)
	}
	return out, sqldb.Err(rows.Err(), "listing transit cards")
}

func (t *transitTx) CardsOfPhone(phoneID string) ([]transit.Card, error) {
	return t.cards("phone_id = ?", phoneID)
}

func (t *transitTx) CardsInState(state string) ([]transit.Card, error) {
	return t.cards("state = ?", state)
}

func (t *transitTx) PutCard(c transit.Card) error {
	moving := 0
	if c.Moving {
		moving = 1
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO transit_cards (`+cardCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT (number) DO UPDATE SET phone_id = excluded.phone_id, state = excluded.state, balance = excluded.balance,
 online_atc = excluded.online_atc, cleared_atc = excluded.cleared_atc, challenge = excluded.challenge,
 close_balance = excluded.close_balance, close_offline_atc = excluded.close_offline_atc, moving = excluded.moving, updated_at = excluded.updated_at`,
		c.Number, c.City, c.AccountID, c.PhoneID, c.State, c.Token, c.Deposit, c.IssueFee, c.IssueRef, c.Balance, c.OnlineATC, c.ClearedATC,
		c.Challenge, c.CloseBalance, c.CloseOfflineATC, moving, sqldb.Millis(c.IssuedAt), sqldb.Millis(c.UpdatedAt))
	return sqldb.Err(err, "writing a transit card")
}

func (t *transitTx) Load(id string) (transit.Load, error) {
	var l transit.Load
	var dt, tac []byte
	var created, updated int64
	err := t.tx.QueryRow(t.ctx, `SELECT id, card, city, amount, state, payment_ref, online_atc, balance, datetime, tac, created_at, updated_at
 FROM transit_loads WHERE id = ?`+t.forUpdate(), id).Scan(&l.ID, &l.Card, &l.City, &l.Amount, &l.State, &l.PaymentRef, &l.OnlineATC, &l.Balance, &dt, &tac, &created, &updated)
	if sqldb.NoRows(err) {
		return l, fault.E(fault.NotFound, "no_load", "no such load")
	}
	copy(l.DateTime[:], dt)
	copy(l.TAC[:], tac)
	l.CreatedAt, l.UpdatedAt = sqldb.Time(created), sqldb.Time(updated)
	return l, sqldb.Err(err, "reading a load")
}

func (t *transitTx) PutLoad(l transit.Load) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO transit_loads (id, card, city, amount, state, payment_ref, online_atc, balance, datetime, tac, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT (id) DO UPDATE SET state = excluded.state, online_atc = excluded.online_atc, balance = excluded.balance,
 datetime = excluded.datetime, tac = excluded.tac, updated_at = excluded.updated_at`,
		l.ID, l.Card, l.City, l.Amount, l.State, l.PaymentRef, l.OnlineATC, l.Balance, l.DateTime[:], l.TAC[:], sqldb.Millis(l.CreatedAt), sqldb.Millis(l.UpdatedAt))
	return sqldb.Err(err, "writing a load")
}

// LoadPaymentRefs returns the payment references of a card's loads that
// reached the card, newest first: the charges a refund of the card's
// balance gives back.
func (t *transitTx) LoadPaymentRefs(card string) ([]string, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT payment_ref FROM transit_loads WHERE card = ? AND state = 'done' ORDER BY created_at DESC, id DESC`, card)
	if err != nil {
		return nil, sqldb.Err(err, "reading a card's loads")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, sqldb.Err(err, "reading a card's loads")
		}
		out = append(out, ref)
	}
	return out, sqldb.Err(rows.Err(), "reading a card's loads")
}

func (t *transitTx) PendingLoads(city string) (int64, error) {
	var n sql.NullInt64
	err := t.tx.QueryRow(t.ctx, `SELECT SUM(amount) FROM transit_loads WHERE city = ? AND state IN ('paid', 'signed', 'refunding')`, city).Scan(&n)
	return n.Int64, sqldb.Err(err, "summing pending loads")
}

func (t *transitTx) Ride(card string, atc int) (transit.Ride, error) {
	var r transit.Ride
	var rec string
	var cleared int64
	err := t.tx.QueryRow(t.ctx, `SELECT card, atc, city, status, file_id, record, cleared_at FROM transit_rides WHERE card = ? AND atc = ?`, card, atc).
		Scan(&r.Card, &r.ATC, &r.City, &r.Status, &r.FileID, &rec, &cleared)
	if sqldb.NoRows(err) {
		return r, fault.E(fault.NotFound, "no_ride", "no such ride")
	}
	if err != nil {
		return r, sqldb.Err(err, "reading a ride")
	}
	r.Cleared = sqldb.Time(cleared)
	if err := json.Unmarshal([]byte(rec), &r.Record); err != nil {
		return r, fault.E(fault.Internal, "db", "a stored ride is damaged")
	}
	return r, nil
}

func (t *transitTx) PutRide(r transit.Ride) error {
	rec, err := json.Marshal(r.Record)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "db", "encode a ride")
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO transit_rides (card, atc, city, status, amount, file_id, record, cleared_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT (card, atc) DO UPDATE SET status = excluded.status, amount = excluded.amount, file_id = excluded.file_id,
 record = excluded.record, cleared_at = excluded.cleared_at`,
		r.Card, r.ATC, r.City, r.Status, r.Record.Amount, r.FileID, string(rec), sqldb.Millis(r.Cleared))
	return sqldb.Err(err, "writing a ride")
}

func (t *transitTx) RideATCs(card string) ([]int, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT atc FROM transit_rides WHERE card = ? AND status = 'final' ORDER BY atc`, card)
	if err != nil {
		return nil, sqldb.Err(err, "listing rides")
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var a int
		if err := rows.Scan(&a); err != nil {
			return nil, sqldb.Err(err, "listing rides")
		}
		out = append(out, a)
	}
	return out, sqldb.Err(rows.Err(), "listing rides")
}

func (t *transitTx) File(id string) (transit.Receipt, error) {
	var rc transit.Receipt
	var b string
	err := t.tx.QueryRow(t.ctx, `SELECT receipt FROM transit_files WHERE id = ?`, id).Scan(&b)
	if sqldb.NoRows(err) {
		return rc, fault.E(fault.NotFound, "no_file", "no such clearing file")
	}
	if err != nil {
		return rc, sqldb.Err(err, "reading a clearing file")
	}
	if err := json.Unmarshal([]byte(b), &rc); err != nil {
		return rc, fault.E(fault.Internal, "db", "a stored receipt is damaged")
	}
	return rc, nil
}

func (t *transitTx) PutFile(rc transit.Receipt) error {
	b, _ := json.Marshal(rc)
	_, err := t.tx.Exec(t.ctx, `INSERT INTO transit_files (id, city, receipt, received_at) VALUES (?, ?, ?, ?)`, rc.FileID, rc.City, string(b), sqldb.Millis(t.tx.Now))
	return sqldb.Err(err, "writing a clearing file")
}

func (t *transitTx) AddException(e transit.Exception) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO transit_exceptions (id, city, card, atc, kind, detail, file_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT (id) DO NOTHING`, e.ID, e.City, e.Card, e.ATC, e.Kind, e.Detail, e.FileID, sqldb.Millis(e.At))
	return sqldb.Err(err, "writing an exception")
}

func (t *transitTx) Exceptions(city string, limit int) ([]transit.Exception, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := t.tx.Query(t.ctx, `SELECT id, city, card, atc, kind, detail, file_id, at FROM transit_exceptions WHERE city = ? ORDER BY at DESC, id LIMIT ?`, city, limit)
	if err != nil {
		return nil, sqldb.Err(err, "listing exceptions")
	}
	defer rows.Close()
	var out []transit.Exception
	for rows.Next() {
		var e transit.Exception
		var at int64
		if err := rows.Scan(&e.ID, &e.City, &e.Card, &e.ATC, &e.Kind, &e.Detail, &e.FileID, &at); err != nil {
			return nil, sqldb.Err(err, "listing exceptions")
		}
		e.At = sqldb.Time(at)
		out = append(out, e)
	}
	return out, sqldb.Err(rows.Err(), "listing exceptions")
}

func (t *transitTx) AddEntry(e transit.Entry) (bool, error) {
	res, err := t.tx.Exec(t.ctx, `INSERT INTO transit_entries (id, city, card, kind, amount, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.City, e.Card, e.Kind, e.Amount, sqldb.Millis(e.At))
	if err != nil {
		return false, sqldb.Err(err, "writing a money entry")
	}
	n, err := res.RowsAffected()
	return n == 1, sqldb.Err(err, "writing a money entry")
}

func (t *transitTx) Sum(city string, kinds []string, from, to time.Time) (int, int64, error) {
	if len(kinds) == 0 {
		return 0, 0, nil
	}
	args := []any{city}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, sqldb.Millis(from), sqldb.Millis(to))
	var n int
	var sum sql.NullInt64
	err := t.tx.QueryRow(t.ctx, `SELECT COUNT(*), SUM(amount) FROM transit_entries WHERE city = ? AND kind IN (?`+strings.Repeat(", ?", len(kinds)-1)+`)
 AND at >= ? AND at < ?`, args...).Scan(&n, &sum)
	return n, sum.Int64, sqldb.Err(err, "summing money entries")
}

func (t *transitTx) HotList(city string) (transit.HotList, error) {
	h := transit.HotList{City: city, Cards: []string{}}
	err := t.tx.QueryRow(t.ctx, `SELECT version FROM transit_hotlist_versions WHERE city = ?`, city).Scan(&h.Version)
	if err != nil && !sqldb.NoRows(err) {
		return h, sqldb.Err(err, "reading the hot list")
	}
	rows, err := t.tx.Query(t.ctx, `SELECT card FROM transit_hotlist WHERE city = ? ORDER BY card`, city)
	if err != nil {
		return h, sqldb.Err(err, "reading the hot list")
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return h, sqldb.Err(err, "reading the hot list")
		}
		h.Cards = append(h.Cards, c)
	}
	return h, sqldb.Err(rows.Err(), "reading the hot list")
}

func (t *transitTx) AddHot(city, card, reason string) error {
	var x int
	err := t.tx.QueryRow(t.ctx, `SELECT 1 FROM transit_hotlist WHERE city = ? AND card = ?`, city, card).Scan(&x)
	if err == nil {
		return nil
	}
	if !sqldb.NoRows(err) {
		return sqldb.Err(err, "reading the hot list")
	}
	var v int64
	err = t.tx.QueryRow(t.ctx, `SELECT version FROM transit_hotlist_versions WHERE city = ?`+t.forUpdate(), city).Scan(&v)
	switch {
	case sqldb.NoRows(err):
		v = 1
		_, err = t.tx.Exec(t.ctx, `INSERT INTO transit_hotlist_versions (city, version) VALUES (?, 1)`, city)
	case err == nil:
		v++
		_, err = t.tx.Exec(t.ctx, `UPDATE transit_hotlist_versions SET version = ? WHERE city = ?`, v, city)
	}
	if err != nil {
		return sqldb.Err(err, "bumping the hot list version")
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO transit_hotlist (city, card, reason, version, added_at) VALUES (?, ?, ?, ?, ?)`, city, card, reason, v, sqldb.Millis(t.tx.Now))
	return sqldb.Err(err, "adding to the hot list")
}

func (t *transitTx) RemoveHot(city, card string) error {
	res, err := t.tx.Exec(t.ctx, `DELETE FROM transit_hotlist WHERE city = ? AND card = ?`, city, card)
	if err != nil {
		return sqldb.Err(err, "removing from the hot list")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	_, err = t.tx.Exec(t.ctx, `UPDATE transit_hotlist_versions SET version = version + 1 WHERE city = ?`, city)
	return sqldb.Err(err, "bumping the hot list version")
}
