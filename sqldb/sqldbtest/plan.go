package sqldbtest

import (
	"context"
	"strings"
	"testing"

	"github.com/tapwallet/tapwallet/sqldb"
)

// QueryPlan returns SQLite's plan of q with args (EXPLAIN QUERY PLAN), its
// steps joined by "; " — for a test that a reader finds its index.
func QueryPlan(t testing.TB, db *sqldb.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// Program returns the opcodes of SQLite's program for q (EXPLAIN), its
// parameters bound to NULL — for a test that a statement makes no
// temporary table it need not (OpenEphemeral).
func Program(t testing.TB, db *sqldb.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), "EXPLAIN "+q, make([]any, strings.Count(q, "?"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ops []string
	for rows.Next() {
		var addr, p1, p2, p3, p5 int64
		var op string
		var p4, comment any
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ops
}
