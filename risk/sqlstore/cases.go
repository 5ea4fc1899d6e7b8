package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/risk"
	"github.com/tapwallet/tapwallet/sqldb"
)

var _ risk.Cases = (*Store)(nil)

// OpenCase stores a new open case and its first changes; opening the same
// id again changes nothing. It fails with fault.Unavailable when the
// database does.
func (s *Store) OpenCase(ctx context.Context, c risk.Case) error {
	body, err := json.Marshal(c.Decision)
	if err != nil {
		return fault.Wrap(err, fault.Internal, risk.CodeNoCase, "a decision does not encode")
	}
	return sqldb.Err(s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO risk_cases (id, account, phone, token, decision, state, opened_at, closed_at, summary)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (id) DO NOTHING`,
			c.ID, c.Account, c.Phone, c.Token, string(body), string(c.State), sqldb.Millis(c.OpenedAt), c.Summary)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		for i, ch := range c.History {
			if err := addChange(ctx, tx, c.ID, i+1, ch); err != nil {
				return err
			}
		}
		return nil
	}), "opening a case")
}

func addChange(ctx context.Context, tx *sqldb.Tx, id string, seq int, ch risk.Change) error {
	_, err := tx.Exec(ctx, `INSERT INTO risk_case_changes (case_id, seq, changed_at, changed_by, from_state, to_state, note) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, seq, sqldb.Millis(ch.At), ch.By, string(ch.From), string(ch.To), ch.Note)
	return err
}

// CaseOf returns the account's case with its history, or fault.NotFound
// risk.CodeNoCase (also for another account's case).
func (s *Store) CaseOf(ctx context.Context, account, id string) (risk.Case, error) {
	c, err := s.readCase(ctx, account, id)
	return c, sqldb.Err(err, "reading a case")
}

func (s *Store) readCase(ctx context.Context, account, id string) (risk.Case, error) {
	var c risk.Case
	var body, state string
	var opened, closed int64
	err := s.DB.QueryRow(ctx, `SELECT id, account, phone, token, decision, state, opened_at, closed_at, summary FROM risk_cases WHERE id = ? AND account = ?`,
		id, account).Scan(&c.ID, &c.Account, &c.Phone, &c.Token, &body, &state, &opened, &closed, &c.Summary)
	if sqldb.NoRows(err) {
		return c, risk.NoCase()
	}
	if err != nil {
		return c, err
	}
	c.State, c.OpenedAt = risk.CaseState(state), sqldb.Time(opened)
	if closed != 0 {
		c.ClosedAt = sqldb.Time(closed)
	}
	if err := json.Unmarshal([]byte(body), &c.Decision); err != nil {
		return c, fault.Wrap(err, fault.Internal, risk.CodeNoCase, "a case's decision does not decode")
	}
	rows, err := s.DB.Query(ctx, `SELECT changed_at, changed_by, from_state, to_state, note FROM risk_case_changes WHERE case_id = ? ORDER BY seq`, id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var ch risk.Change
		var at int64
		var from, to string
		if err := rows.Scan(&at, &ch.By, &from, &to, &ch.Note); err != nil {
			return c, err
		}
		ch.At, ch.From, ch.To = sqldb.Time(at), risk.CaseState(from), risk.CaseState(to)
		c.History = append(c.History, ch)
	}
	return c, rows.Err()
}

// CasesOf lists the account's cases in a state ("" every state), newest
// first; it fails with fault.Unavailable when the database does.
func (s *Store) CasesOf(ctx context.Context, account string, state risk.CaseState) ([]risk.Case, error) {
	rows, err := s.DB.Query(ctx, `SELECT id FROM risk_cases WHERE account = ? AND (? = '' OR state = ?) ORDER BY opened_at DESC, id DESC`,
		account, string(state), string(state))
	if err != nil {
		return nil, sqldb.Err(err, "listing cases")
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, sqldb.Err(err, "listing cases")
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := []risk.Case{}
	for _, id := range ids {
		c, err := s.readCase(ctx, account, id)
		if err != nil {
			return nil, sqldb.Err(err, "listing cases")
		}
		out = append(out, c)
	}
	return out, nil
}

// CloseCase closes the account's open case with the change recorded, in
// one transaction: the UPDATE … WHERE state = 'open' lets one of two
// answers at once win; the other gets fault.Conflict risk.CodeCaseClosed.
func (s *Store) CloseCase(ctx context.Context, account, id string, ch risk.Change) (risk.Case, error) {
	if err := risk.CheckClose(ch); err != nil {
		return risk.Case{}, err
	}
	ch.From = risk.CaseOpen
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE risk_cases SET state = ?, closed_at = ? WHERE id = ? AND account = ? AND state = ?`,
			string(ch.To), sqldb.Millis(ch.At), id, account, string(risk.CaseOpen))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var state string
			err := tx.QueryRow(ctx, `SELECT state FROM risk_cases WHERE id = ? AND account = ?`, id, account).Scan(&state)
			if sqldb.NoRows(err) {
				return risk.NoCase()
			}
			if err != nil {
				return err
			}
			return risk.CaseClosed(risk.CaseState(state))
		}
		var seq int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM risk_case_changes WHERE case_id = ?`, id).Scan(&seq); err != nil {
			return err
		}
		return addChange(ctx, tx, id, seq+1, ch)
	})
	if err != nil {
		return risk.Case{}, sqldb.Err(err, "closing a case")
	}
	return s.CaseOf(ctx, account, id)
}
