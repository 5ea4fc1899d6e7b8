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
// it was being decided). The records go in by chunks of rows, one
// multi-row insert each (insertRecords); the answers left (their record
// was applied in an earlier batch) then go as updates — after the
// inserts, which is the same: an answer's record being decided in the
// batch took the answer into its insert.
func (s *Store) applyRecords(ctx context.Context, rs []jrec) ([]struct{}, error) {
	rs = mergeAnswers(rs)
	err := s.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		if tx.Dialect() == sqldb.SQLite {
			if _, err := tx.Exec(ctx, spillPages); err != nil {
				return err
			}
		}
		up, err := tx.Stmt(ctx, finishAuth)
		if err != nil {
			return err
		}
		defer up.Close()
		w := recordWriter{ctx: ctx, tx: tx, up: up, stmts: map[string]*sql.Stmt{}, args: make([]any, 0, insertChunks[0]*len(freshAt))}
		defer w.close()
		for _, r := range rs {
			if r.kind != recSave {
				continue
			}
			if !fresh(r.args) {
				// Reversed or cleared already (never from SaveAuth): alone,
				// every column bound, in its place among the others.
				if err := w.flush(); err != nil {
					return err
				}
				if err := w.insert(insertAuth, appendRow(nil, r.args, r.answer, rowAt), []jrec{r}); err != nil {
					return err
				}
				continue
			}
			w.fresh = append(w.fresh, r)
		}
		if err := w.flush(); err != nil {
			return err
		}
		for _, r := range rs {
			if r.kind == recFinish {
				if _, err := up.ExecContext(ctx, r.args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, sqldb.Err(err, "applying the network's journal")
	}
	return make([]struct{}, len(rs)), nil
}

// spillPages lets a transaction of the write-behind keep up to 4,096
// changed pages (16 MiB at SQLite's 4 KiB) in its connection's cache
// before it writes any to the log ahead of its commit. At SQLite's default
// (the cache's size, 2,000 KiB: ~500 pages) a batch of a few thousand
// records — ~1,100 pages changed at 4,096 records in
// BenchmarkApplyRecords — spilled half of them mid-transaction: each
// spill a pass over the cache, and a page changed again after its spill
// written to the log again, the log's checksums then recomputed from it
// at the commit (walRewriteChecksums, reading the log back). The commit
// writes the same pages; only the transaction's dirty pages may take more
// memory, up to the bound, for as long as it runs. The pragma holds for
// the connection the transaction is on (every connection of the wing's
// pool in time); it is set again at each batch, a few µs.
const spillPages = `PRAGMA cache_spill = 4096`

// recordWriter inserts the write-behind's records in one transaction.
type recordWriter struct {
	ctx   context.Context
	tx    *sqldb.Tx
	up    *sql.Stmt            // finishAuth
	stmts map[string]*sql.Stmt // the inserts prepared in tx
	fresh []jrec               // records waiting for their chunk
	args  []any
	// details writes the chunk's column details into one buffer.
	details detailWriter
}

// close closes the statements prepared in the transaction.
func (w *recordWriter) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

// flush inserts the records waiting, by the largest chunks they fill.
func (w *recordWriter) flush() error {
	rs := w.fresh
	for len(rs) > 0 {
		n := insertChunks[len(insertChunks)-1]
		for _, c := range insertChunks {
			if c <= len(rs) {
				n = c
				break
			}
		}
		w.args = w.args[:0]
		w.details.reset(n)
		for _, r := range rs[:n] {
			w.args = appendRowTo(w.args, r.args, r.answer, freshAt, &w.details)
		}
		if err := w.insert(insertRecords(w.tx.Dialect(), n), w.args, rs[:n]); err != nil {
			return err
		}
		rs = rs[n:]
	}
	w.fresh = w.fresh[:0]
	return nil
}

// insert runs q, the insert of rs with args. Should fewer rows go in than
// rs has (an identity stored already: a replay of a record applied before
// its answer was), the answers merged into rs's inserts are applied as
// updates — nothing on a row the insert just stored, its answer given.
func (w *recordWriter) insert(q string, args []any, rs []jrec) error {
	st := w.stmts[q]
	if st == nil {
		var err error
		if st, err = w.tx.Stmt(w.ctx, q); err != nil {
			return err
		}
		w.stmts[q] = st
	}
	res, err := st.ExecContext(w.ctx, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == int64(len(rs)) {
		return nil
	}
	for _, r := range rs {
		if r.answer != nil {
			if _, err := w.up.ExecContext(w.ctx, r.answer...); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertChunks are the row counts of the write-behind's inserts, largest
// first: each a statement prepared once (and once a transaction), a batch
// cut into the largest that fit. A row's cost is mostly its six B-trees
// and its bound values; what a statement run costs besides (database/sql's
// call, the step, the reset) is paid once a chunk.
var insertChunks = []int{64, 16, 4, 1}

// fresh reports whether a record's values (authArgs) leave defaultCols at
// their defaults (0, or the empty string): its row goes in with freshCols.
func fresh(args []any) bool {
	for _, i := range defaultCols {
		switch v := args[i].(type) {
		case int64:
			if v != 0 {
				return false
			}
		case string:
			if v != "" {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// insertRecords is the insert of n fresh records (freshCols), each
// skipped when its identity is stored. On SQLite it is INSERT OR IGNORE:
// a statement of several rows that may abort half-way (a NOT NULL
// column's check does, under ON CONFLICT DO NOTHING) keeps a statement
// journal, a copy of every page it changes, to undo its rows; one that
// ignores its conflicts never aborts and keeps none (the rows are the
// same: no value of a record's is NULL in a NOT NULL column, and id is
// the table's only unique key). BenchmarkApplyRecords, 5 alternated
// pairs: 19.2-20.6 → 18.0-19.2 CPU µs a record at batches of 1,024-1,300,
// 21.6-22.5 → 20.2-20.6 at 340 (the statement journal's pages were ~7%
// of the write-behind's CPU in its profile).
var insertRecords = func() func(d sqldb.Dialect, n int) string {
	qs := map[sqldb.Dialect]map[int]string{sqldb.SQLite: {}, sqldb.Postgres: {}}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(freshAt)), ", ") + ")"
	for _, n := range insertChunks {
		values := strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		qs[sqldb.SQLite][n] = `INSERT OR IGNORE INTO switch_auths (` + freshCols + `) VALUES ` + values
		qs[sqldb.Postgres][n] = `INSERT INTO switch_auths (` + freshCols + `) VALUES ` + values + ` ON CONFLICT (id) DO NOTHING`
	}
	return func(d sqldb.Dialect, n int) string { return qs[d][n] }
}()

// mergeAnswers folds each answer into its record's insert when both are in
// rs, the record being decided (its response code ”): the record takes
// the answer's arguments (jrec.answer; appendRow binds them in its
// insert); the others stay as they are, in order.
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
		out[i].answer = r.args
	}
	return out
}
