// Package sqlstore is the promotions' storage wing: its own database
// (sqldb.OpenWing, wing "promo": the file promo.db on SQLite, the schema
// promo on PostgreSQL) holding the campaigns, their budgets, the cards'
// use of them and the two-phase budget holds of authorizations. Every
// change of a budget is one transaction whose conditional UPDATE is the
// rule (… SET reserved = reserved + ? WHERE reserved + spent + ? <=
// budget), so several network processes on one database never spend a
// budget or a card's limit twice. No statement reaches another party's
// tables.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Wing is the promotions' storage wing, for sqldb.OpenWing.
var Wing = sqldb.Wing{Name: "promo", Migrations: migrations, Dir: "migrations"}

var _ promo.Store = (*Store)(nil)

// Store is promo.Store on the promo wing's database.
type Store struct {
	sqldb.Held // the wing's database (s.DB); Close closes it when Open opened it
}

// New returns the store on db, a database opened with Wing.
func New(db *sqldb.DB) *Store { return &Store{Held: sqldb.Hold(db)} }

// Open opens (creating and migrating as needed) the promo wing on the
// backend dsn names ("" for DATA/promo.db, "sqlite:PATH", "postgres://…")
// and returns its store, which closes the database on Close. It fails
// like sqldb.OpenWing.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	h, err := sqldb.OpenHeld(ctx, dsn, dataDir, Wing)
	if err != nil {
		return nil, err
	}
	return &Store{Held: h}, nil
}

// inTx runs fn in a transaction; a unique violation (another process
// stored the same id meanwhile) runs it again, which then finds that row.
// A storage failure becomes fault.Unavailable.
func (s *Store) inTx(ctx context.Context, fn func(*sqldb.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.DB.InTx(ctx, fn)
		if !sqldb.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil && fault.KindOf(err) == fault.Internal && fault.CodeOf(err) == "internal" {
		return fault.Wrap(err, fault.Unavailable, "promo_db", "promotions storage failed")
	}
	return err
}

// Save stores campaigns, all or none: new ones with empty budgets, known
// ones as their new version (what is reserved and spent stays). It fails
// with promo.ErrInvalid for a campaign Validate refuses or a budget below
// what the campaign already reserved and spent, fault.Unavailable when the
// storage fails.
func (s *Store) Save(ctx context.Context, cs []promo.Campaign) error {
	bodies := make([][]byte, len(cs))
	for i := range cs {
		c := cs[i]
		if err := c.Validate(); err != nil {
			return err
		}
		c.Paused = false // a column of its own
		b, err := json.Marshal(c)
		if err != nil {
			return fault.Wrap(err, fault.Internal, "promo_campaign", "campaign %q: encode", c.ID)
		}
		bodies[i] = b
	}
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		for i, c := range cs {
			var used int64
			err := tx.QueryRow(ctx, `SELECT reserved + spent FROM promo_campaigns WHERE id = ?`, c.ID).Scan(&used)
			if err != nil && !sqldb.NoRows(err) {
				return err
			}
			if used > int64(c.Budget) {
				return fault.E(fault.Invalid, "promo_campaign", "campaign %q: budget: %s is below the %s already reserved and spent", c.ID, c.Budget, promo.Amount(used))
			}
			l := c.Limits
			_, err = tx.Exec(ctx, `INSERT INTO promo_campaigns (id, owner, body, paused, start_ms, end_ms, budget, max_count,
				card_day_count, card_day_amount, card_count, card_amount, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, body = excluded.body, paused = excluded.paused,
				start_ms = excluded.start_ms, end_ms = excluded.end_ms, budget = excluded.budget, max_count = excluded.max_count,
				card_day_count = excluded.card_day_count, card_day_amount = excluded.card_day_amount,
				card_count = excluded.card_count, card_amount = excluded.card_amount, updated_at = excluded.updated_at`,
				c.ID, c.Owner, string(bodies[i]), boolInt(c.Paused), sqldb.Millis(c.Window.Start), sqldb.Millis(c.Window.End),
				int64(c.Budget), l.Count, l.CardDayCount, int64(l.CardDayAmount), l.CardCount, int64(l.CardAmount), sqldb.Millis(tx.Now))
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Campaigns returns every campaign, by id. It fails with
// fault.Unavailable when the storage fails.
func (s *Store) Campaigns(ctx context.Context) ([]promo.Campaign, error) {
	rows, err := s.DB.Query(ctx, `SELECT body, paused FROM promo_campaigns ORDER BY id`)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read campaigns")
	}
	defer rows.Close()
	var out []promo.Campaign
	for rows.Next() {
		var body string
		var paused int
		if err := rows.Scan(&body, &paused); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read campaigns")
		}
		var c promo.Campaign
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			return nil, fault.Wrap(err, fault.Internal, "promo_db", "a stored campaign does not decode")
		}
		c.Paused = paused != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read campaigns")
	}
	return out, nil
}

// SetPaused pauses or resumes a campaign: a paused campaign reserves
// nothing (its pending holds still post or void). It fails with
// fault.NotFound for an unknown id.
func (s *Store) SetPaused(ctx context.Context, id string, paused bool) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE promo_campaigns SET paused = ?, updated_at = ? WHERE id = ?`, boolInt(paused), sqldb.Millis(tx.Now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
		}
		return nil
	})
}

// Enrol records that the card holder added the offer id to card; adding
// it again changes nothing. It fails with fault.NotFound for an unknown
// campaign.
func (s *Store) Enrol(ctx context.Context, id, card string) error {
	return s.inTx(ctx, func(tx *sqldb.Tx) error {
		var x int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM promo_campaigns WHERE id = ?`, id).Scan(&x); err != nil {
			if sqldb.NoRows(err) {
				return fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
			}
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO promo_enrolments (campaign_id, card, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			id, card, sqldb.Millis(tx.Now))
		return err
	})
}

// Enrolled returns the campaigns card was added to. It fails with
// fault.Unavailable when the storage fails.
func (s *Store) Enrolled(ctx context.Context, card string) (map[string]bool, error) {
	rows, err := s.DB.Query(ctx, `SELECT campaign_id FROM promo_enrolments WHERE card = ?`, card)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read enrolments")
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read enrolments")
		}
		out[id] = true
	}
	return out, rows.Err()
}

const holdColumns = `id, campaign_id, card, amount, at_ms, expires_ms, status, refunded`

type scanner interface{ Scan(...any) error }

func scanHold(r scanner) (promo.Hold, error) {
	var h promo.Hold
	var at, exp int64
	var status string
	if err := r.Scan(&h.ID, &h.Campaign, &h.Card, &h.Amount, &at, &exp, &status, &h.Refunded); err != nil {
		return promo.Hold{}, err
	}
	h.At, h.ExpiresAt, h.Status = sqldb.Time(at), sqldb.Time(exp), promo.HoldStatus(status)
	return h, nil
}

// Reserve places the hold h: in one transaction the campaign's budget
// (and count) and then the card's daily and campaign-wide limits are each
// raised by a conditional UPDATE that matches no row when it would go over,
// and the hold is stored pending. A hold already stored under h.ID with
// the same campaign, card and amount is returned as it stands. It fails
// with promo.ErrNotOpen, ErrBudget, ErrCardLimit, ErrHoldConflict or
// fault.Unavailable, and then nothing was reserved.
func (s *Store) Reserve(ctx context.Context, h promo.Hold) (promo.Hold, error) {
	if err := checkHold(h); err != nil {
		return promo.Hold{}, err
	}
	var out promo.Hold
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		out, err = s.reserveIn(ctx, tx, h)
		return err
	})
	return out, err
}

// checkHold refuses a hold that misses a field.
func checkHold(h promo.Hold) error {
	if h.ID == "" || h.Card == "" || h.Amount <= 0 || h.At.IsZero() {
		return fault.E(fault.Invalid, "promo_hold", "a hold needs an id, a card, an amount above 0 and a time")
	}
	return nil
}

// sqliteCtx is the context of the statements of a transaction on SQLite:
// the driver watches a cancellable context with a goroutine per
// statement, and the statements of the hot path are short.
func (s *Store) sqliteCtx(ctx context.Context) context.Context {
	if s.DB.Dialect() == sqldb.SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// reserveIn is Reserve's work inside the transaction tx. A refusal is a
// *fault.Error after which the caller must roll back what it did (the
// whole transaction, or a savepoint); any other error is the storage's.
func (s *Store) reserveIn(ctx context.Context, tx *sqldb.Tx, h promo.Hold) (promo.Hold, error) {
	sctx := s.sqliteCtx(ctx)
	prev, err := scanHold(queryRow(sctx, tx, `SELECT `+holdColumns+` FROM promo_holds WHERE id = ?`, h.ID))
	if err == nil {
		if prev.Campaign != h.Campaign || prev.Card != h.Card || prev.Amount != h.Amount {
			return promo.Hold{}, fault.E(fault.Conflict, "promo_hold_conflict", "hold %s exists for another campaign, card or amount", h.ID)
		}
		return prev, nil
	}
	if !sqldb.NoRows(err) {
		return promo.Hold{}, err
	}
	at := sqldb.Millis(h.At)
	var dayCount, dayAmount, count, amount int64
	err = queryRow(sctx, tx, `UPDATE promo_campaigns SET reserved = reserved + ?, reserved_count = reserved_count + 1, updated_at = ?
		WHERE id = ? AND (paused = 0 OR ? = 1) AND start_ms <= ? AND ? < end_ms
		AND reserved + spent + ? <= budget AND (max_count = 0 OR reserved_count + spent_count < max_count)
		RETURNING card_day_count, card_day_amount, card_count, card_amount`,
		h.Amount, sqldb.Millis(tx.Now), h.Campaign, boolInt(h.Decided), at, at, h.Amount).Scan(&dayCount, &dayAmount, &count, &amount)
	if sqldb.NoRows(err) {
		return promo.Hold{}, s.whyNot(ctx, tx, h)
	}
	if err != nil {
		return promo.Hold{}, err
	}
	for _, u := range []struct {
		day           string
		count, amount int64
	}{{h.Day(), dayCount, dayAmount}, {"", count, amount}} {
		// The first use of a card inserts its row (within the limits
		// when the one discount is); a later one raises it only while
		// the limits hold.
		n := int64(0)
		if u.amount == 0 || h.Amount <= u.amount {
			n, err = exec(sctx, tx, `INSERT INTO promo_card_usage (campaign_id, card, day, reserved_count, reserved_amount) VALUES (?, ?, ?, 1, ?)
				ON CONFLICT (campaign_id, card, day) DO UPDATE SET reserved_count = promo_card_usage.reserved_count + 1,
				reserved_amount = promo_card_usage.reserved_amount + excluded.reserved_amount
				WHERE (? = 0 OR promo_card_usage.reserved_count + promo_card_usage.spent_count < ?)
				AND (? = 0 OR promo_card_usage.reserved_amount + promo_card_usage.spent_amount + excluded.reserved_amount <= ?)`,
				h.Campaign, h.Card, u.day, h.Amount, u.count, u.count, u.amount, u.amount)
			if err != nil {
				return promo.Hold{}, err
			}
		}
		if n == 0 {
			what := "in all"
			if u.day != "" {
				what = "on " + u.day
			}
			return promo.Hold{}, fault.E(fault.Limit, "promo_card_limit", "the card reached its limit of campaign %q %s", h.Campaign, what)
		}
	}
	h.Status, h.Refunded = promo.HoldPending, 0
	if h.ExpiresAt.IsZero() {
		h.ExpiresAt = h.At.Add(promo.HoldTimeout)
	}
	if _, err := exec(sctx, tx, `INSERT INTO promo_holds (id, campaign_id, card, day, amount, at_ms, expires_ms, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)`, h.ID, h.Campaign, h.Card, h.Day(), h.Amount, at,
		sqldb.Millis(h.ExpiresAt), sqldb.Millis(tx.Now)); err != nil {
		return promo.Hold{}, err
	}
	return h, nil
}

// queryRow runs a query of the hot path as a statement kept prepared.
func queryRow(ctx context.Context, tx *sqldb.Tx, q string, args ...any) *sql.Row {
	st, err := tx.Stmt(ctx, q)
	if err != nil {
		return tx.QueryRow(ctx, q, args...) // the same error, as a row
	}
	return st.QueryRowContext(ctx, args...)
}

// exec runs a statement of the hot path as a statement kept prepared and
// returns the rows it changed.
func exec(ctx context.Context, tx *sqldb.Tx, q string, args ...any) (int64, error) {
	st, err := tx.Stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// whyNot explains a campaign update that matched no row.
func (s *Store) whyNot(ctx context.Context, tx *sqldb.Tx, h promo.Hold) error {
	var paused int
	var start, end, budget, reserved, spent, maxCount, count int64
	err := tx.QueryRow(ctx, `SELECT paused, start_ms, end_ms, budget, reserved, spent, max_count, reserved_count + spent_count
		FROM promo_campaigns WHERE id = ?`, h.Campaign).Scan(&paused, &start, &end, &budget, &reserved, &spent, &maxCount, &count)
	at := sqldb.Millis(h.At)
	switch {
	case sqldb.NoRows(err):
		return fault.E(fault.Conflict, "promo_not_open", "no campaign %q", h.Campaign)
	case err != nil:
		return err
	case paused != 0 && !h.Decided:
		return fault.E(fault.Conflict, "promo_not_open", "campaign %q is paused", h.Campaign)
	case at < start || at >= end:
		return fault.E(fault.Conflict, "promo_not_open", "campaign %q is not running at %s", h.Campaign, h.At.UTC().Format(time.RFC3339))
	case maxCount > 0 && count >= maxCount:
		return fault.E(fault.Limit, "promo_budget", "campaign %q has given all its %d discounts", h.Campaign, maxCount)
	}
	return fault.E(fault.Limit, "promo_budget", "campaign %q has %s of its budget left, %s asked",
		h.Campaign, promo.Amount(budget-reserved-spent), promo.Amount(h.Amount))
}

// Post spends a pending hold (clearing). It returns true when this call
// posted it, false when it was posted before; promo.ErrHoldResolved when
// it was voided or expired, promo.ErrNoHold when unknown.
func (s *Store) Post(ctx context.Context, id string) (bool, error) {
	return s.resolve(ctx, id, promo.HoldPosted)
}

// Void releases a pending hold (decline, reversal). It returns true when
// this call voided it, false when it was voided or expired before;
// promo.ErrHoldResolved when it was posted, promo.ErrNoHold when unknown.
func (s *Store) Void(ctx context.Context, id string) (bool, error) {
	return s.resolve(ctx, id, promo.HoldVoided)
}

// Expire releases every pending hold whose time ran out at or before now,
// each in its own transaction (a hold posted or voided meanwhile is left
// alone), and returns how many it released. It fails with
// fault.Unavailable when the storage fails; what it released stays.
func (s *Store) Expire(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for {
		rows, err := s.DB.Query(ctx, `SELECT id FROM promo_holds WHERE status = 'pending' AND expires_ms <= ? ORDER BY expires_ms, id LIMIT 500`, sqldb.Millis(now))
		if err != nil {
			return n, fault.Wrap(err, fault.Unavailable, "promo_db", "read expired holds")
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, fault.Wrap(err, fault.Unavailable, "promo_db", "read expired holds")
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			return n, nil
		}
		for _, id := range ids {
			ok, err := s.resolve(ctx, id, promo.HoldExpired)
			if err != nil && fault.KindOf(err) != fault.Conflict {
				return n, err
			}
			if ok {
				n++
			}
		}
		if len(ids) < 500 {
			return n, nil
		}
	}
}

// resolve moves a pending hold to status and moves its amount out of
// reserved (to spent when posted), in the campaign and in the card's
// usage. The conditional UPDATE of the hold's status is the guard: of
// two callers only one matches the pending row.
func (s *Store) resolve(ctx context.Context, id string, status promo.HoldStatus) (bool, error) {
	done := false
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		done = false
		res, err := tx.Exec(ctx, `UPDATE promo_holds SET status = ?, resolved_at = ? WHERE id = ? AND status = 'pending'`,
			string(status), sqldb.Millis(tx.Now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return resolvedBefore(ctx, tx, id, status)
		}
		var campaign, card, day string
		var amount int64
		if err := tx.QueryRow(ctx, `SELECT campaign_id, card, day, amount FROM promo_holds WHERE id = ?`, id).Scan(&campaign, &card, &day, &amount); err != nil {
			return err
		}
		posted := int64(0)
		if status == promo.HoldPosted {
			posted = 1
		}
		if _, err := tx.Exec(ctx, `UPDATE promo_campaigns SET reserved = reserved - ?, reserved_count = reserved_count - 1,
			spent = spent + ?, spent_count = spent_count + ?, updated_at = ? WHERE id = ?`,
			amount, amount*posted, posted, sqldb.Millis(tx.Now), campaign); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE promo_card_usage SET reserved_count = reserved_count - 1, reserved_amount = reserved_amount - ?,
			spent_count = spent_count + ?, spent_amount = spent_amount + ? WHERE campaign_id = ? AND card = ? AND day IN (?, '')`,
			amount, posted, amount*posted, campaign, card, day); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return done, nil
}

// resolvedBefore answers a resolution of a hold that is not pending: no
// error when it already has the asked end (a void finding it expired
// counts), promo.ErrHoldResolved when it ended otherwise.
func resolvedBefore(ctx context.Context, tx *sqldb.Tx, id string, status promo.HoldStatus) error {
	var now string
	err := tx.QueryRow(ctx, `SELECT status FROM promo_holds WHERE id = ?`, id).Scan(&now)
	if sqldb.NoRows(err) {
		return fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
	}
	if err != nil {
		return err
	}
	released := func(s string) bool { return s == string(promo.HoldVoided) || s == string(promo.HoldExpired) }
	if now == string(status) || (status != promo.HoldPosted && released(now)) {
		return nil
	}
	return fault.E(fault.Conflict, "promo_hold_resolved", "budget hold %s is already %s", id, now)
}

// Refund gives back to the budget what split restores for the refund
// refundID of the posted hold id, once per refundID. It returns true when
// this call applied it. It fails with fault.Invalid when the refunds
// would restore more than the hold spent, promo.ErrHoldResolved when the
// hold is not posted, promo.ErrNoHold when unknown.
func (s *Store) Refund(ctx context.Context, id, refundID string, split promo.RefundSplit) (bool, error) {
	if refundID == "" || split.Restore < 0 {
		return false, fault.E(fault.Invalid, "promo_refund", "a refund needs an id and restores 0 or more")
	}
	done := false
	err := s.inTx(ctx, func(tx *sqldb.Tx) error {
		done = false
		var x int
		err := tx.QueryRow(ctx, `SELECT 1 FROM promo_refunds WHERE id = ?`, refundID).Scan(&x)
		if err == nil {
			return nil
		}
		if !sqldb.NoRows(err) {
			return err
		}
		h, err := scanHold(tx.QueryRow(ctx, `SELECT `+holdColumns+` FROM promo_holds WHERE id = ?`, id))
		if sqldb.NoRows(err) {
			return fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
		}
		if err != nil {
			return err
		}
		if h.Status != promo.HoldPosted {
			return fault.E(fault.Conflict, "promo_hold_resolved", "budget hold %s is %s: only a posted hold is refunded", id, h.Status)
		}
		if h.Refunded+split.Restore > h.Amount {
			return fault.E(fault.Invalid, "promo_refund", "refund %s restores %s; the hold spent %s and refunds restored %s already",
				refundID, promo.Amount(split.Restore), promo.Amount(h.Amount), promo.Amount(h.Refunded))
		}
		var restored int64
		if err := tx.QueryRow(ctx, `SELECT count_restored FROM promo_holds WHERE id = ?`, id).Scan(&restored); err != nil {
			return err
		}
		count := int64(boolInt(split.RestoreCount))
		if restored != 0 {
			count = 0 // the hold gave its count back once already
		}
		if _, err := tx.Exec(ctx, `INSERT INTO promo_refunds (id, hold_id, restore, restore_count, created_at) VALUES (?, ?, ?, ?, ?)`,
			refundID, id, split.Restore, count, sqldb.Millis(tx.Now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE promo_holds SET refunded = refunded + ?, count_restored = count_restored + ? WHERE id = ?`,
			split.Restore, count, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE promo_campaigns SET spent = spent - ?, spent_count = spent_count - ?, updated_at = ? WHERE id = ?`,
			split.Restore, count, sqldb.Millis(tx.Now), h.Campaign); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE promo_card_usage SET spent_amount = spent_amount - ?, spent_count = spent_count - ?
			WHERE campaign_id = ? AND card = ? AND day IN (?, '')`, split.Restore, count, h.Campaign, h.Card, h.Day()); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// Hold returns a hold by id, or promo.ErrNoHold.
func (s *Store) Hold(ctx context.Context, id string) (promo.Hold, error) {
	h, err := scanHold(s.DB.QueryRow(ctx, `SELECT `+holdColumns+` FROM promo_holds WHERE id = ?`, id))
	if sqldb.NoRows(err) {
		return promo.Hold{}, fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
	}
	if err != nil {
		return promo.Hold{}, fault.Wrap(err, fault.Unavailable, "promo_db", "read a budget hold")
	}
	return h, nil
}

// Usage returns a campaign's budget, or fault.NotFound.
func (s *Store) Usage(ctx context.Context, id string) (promo.Usage, error) {
	us, err := s.usages(ctx, id)
	if err != nil {
		return promo.Usage{}, err
	}
	if len(us) == 0 {
		return promo.Usage{}, fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
	}
	return us[0], nil
}

// Usages returns the budget of every campaign, by id. It fails with
// fault.Unavailable when the storage fails.
func (s *Store) Usages(ctx context.Context) ([]promo.Usage, error) { return s.usages(ctx, "") }

func (s *Store) usages(ctx context.Context, id string) ([]promo.Usage, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, budget, reserved, spent, reserved_count, spent_count FROM promo_campaigns
		WHERE ? = '' OR id = ? ORDER BY id`, id, id)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read budgets")
	}
	defer rows.Close()
	var out []promo.Usage
	for rows.Next() {
		var u promo.Usage
		if err := rows.Scan(&u.Campaign, &u.Budget, &u.Reserved, &u.Spent, &u.ReservedCount, &u.SpentCount); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read budgets")
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read budgets")
	}
	return out, nil
}

// CardUses returns card's use of every campaign it used (reserved and
// spent), per day and in all. It fails with fault.Unavailable when the
// storage fails.
func (s *Store) CardUses(ctx context.Context, card string) ([]promo.CardUse, error) {
	rows, err := s.DB.Query(ctx, `SELECT campaign_id, day, reserved_count + spent_count, reserved_amount + spent_amount
		FROM promo_card_usage WHERE card = ?`, card)
	if err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read a card's use of the campaigns")
	}
	defer rows.Close()
	var out []promo.CardUse
	for rows.Next() {
		var u promo.CardUse
		if err := rows.Scan(&u.Campaign, &u.Day, &u.Count, &u.Amount); err != nil {
			return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read a card's use of the campaigns")
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fault.Wrap(err, fault.Unavailable, "promo_db", "read a card's use of the campaigns")
	}
	return out, nil
}
