package sqlstore

import (
	"context"
	"database/sql"
	"strings"

	"github.com/tapwallet/tapwallet/sqldb"
)

// applyRecords runs a batch of journaled writes in one transaction: an
// insert that meets its identity stored, or an answer that meets a record
// no longer being decided, changes nothing (a replay). A record and its
// answer in the same batch go in as one insert of the answered record
// (half the statements, and no index entry made and dropped for the time
// it was being decided); should that insert find the identity stored (a
// replay of a record applied before its answer was), the answer is
// applied to it as an update.
func (s *Store) applyRecords(ctx context.Context, rs []jrec) ([]struct{}, error) {
	rs = mergeAnswers(rs)
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		return authStmts(ctx, tx, func(ins, up *sql.Stmt) error {
			for _, r := range rs {
				if r.kind == recFinish {
					if _, err := up.ExecContext(ctx, r.args...); err != nil {
						return err
					}
					continue
				}
				res, err := ins.ExecContext(ctx, r.args...)
				if err != nil {
					return err
				}
				if r.answer != nil {
					if n, _ := res.RowsAffected(); n == 0 {
						if _, err := up.ExecContext(ctx, r.answer...); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, sqldb.Err(err, "applying the network's journal")
	}
	return make([]struct{}, len(rs)), nil
}

// answerCols are the places in authArgs of the columns an answer sets
// (finishAuth's), each with its place in finishArgs; rcCol is
// response_code's.
var answerCols, rcCol = func() ([][2]int, int) {
	at := map[string]int{}
	for i, c := range strings.Split(authCols, ",") {
		at[strings.TrimSpace(c)] = i
	}
	var cols [][2]int
	for i, c := range []string{"response_code", "reason", "auth_code", "answer", "answered_at", "promo"} {
		cols = append(cols, [2]int{at[c], i})
	}
	return cols, at["response_code"]
}()

// mergeAnswers folds each answer into its record's insert when both are in
// rs, the record being decided (its response code ”); the others stay as
// they are, in order.
func mergeAnswers(rs []jrec) []jrec {
	var saves map[string]int
	out := make([]jrec, 0, len(rs))
	for _, r := range rs {
		if r.kind == recSave {
			if rc, _ := r.args[rcCol].(string); rc == "" {
				if saves == nil {
					saves = make(map[string]int, len(rs))
				}
				saves[r.id] = len(out)
			}
			out = append(out, r)
			continue
		}
		i, ok := saves[r.id]
		if !ok {
			out = append(out, r)
			continue
		}
		delete(saves, r.id)
		m := out[i]
		m.args = append([]any(nil), m.args...)
		for _, c := range answerCols {
			m.args[c[0]] = r.args[c[1]]
		}
		m.answer = r.args
		out[i] = m
	}
	return out
}
