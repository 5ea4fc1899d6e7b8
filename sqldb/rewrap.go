package sqldb

import (
	"context"
	"fmt"

	"github.com/tapwallet/tapwallet/fault"
)

// RewrapColumns passes every value of the given columns (table and
// column; each table's key is its id column) through rewrap (e.g.
// keystore.File.Rewrap: the data key wrapped again under the active master
// key) and writes back the changed ones, 200 rows a transaction, each only
// if the row still holds what was read — so it runs online, beside the
// parties writing. A storage wing lists its own sealed columns and calls it
// from its Rewrap. It returns how many values changed. It fails with
// rewrap's error (naming the table, never a value) or a database error;
// what was written before stays written (and stays readable: either key
// opens it).
func (db *DB) RewrapColumns(ctx context.Context, cols [][2]string, rewrap func([]byte) ([]byte, bool, error)) (int, error) {
	n := 0
	for _, tc := range cols {
		table, col := tc[0], tc[1]
		last := ""
		for {
			var ids []string
			var vals [][]byte
			rows, err := db.Query(ctx, fmt.Sprintf("SELECT id, %s FROM %s WHERE id > ? AND %s IS NOT NULL ORDER BY id LIMIT 200", col, table, col), last)
			if err != nil {
				return n, fault.Wrap(err, fault.Unavailable, "rewrap", "read %s", table)
			}
			for rows.Next() {
				var id string
				var v []byte
				if err := rows.Scan(&id, &v); err != nil {
					rows.Close()
					return n, fault.Wrap(err, fault.Unavailable, "rewrap", "read %s", table)
				}
				ids, vals = append(ids, id), append(vals, v)
			}
			rows.Close()
			if len(ids) == 0 {
				break
			}
			last = ids[len(ids)-1]
			changed := 0
			err = db.InTx(ctx, func(tx *Tx) error {
				changed = 0
				for i, v := range vals {
					nv, ok, err := rewrap(v)
					if err != nil {
						return fault.Wrap(err, fault.Internal, "rewrap", "re-wrap a value of %s", table)
					}
					if !ok {
						continue
					}
					r, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE id = ? AND %s = ?", table, col, col), nv, ids[i], v)
					if err != nil {
						return fault.Wrap(err, fault.Unavailable, "rewrap", "write %s", table)
					}
					if c, _ := r.RowsAffected(); c == 1 {
						changed++
					}
				}
				return nil
			})
			if err != nil {
				return n, err
			}
			n += changed
		}
	}
	return n, nil
}
