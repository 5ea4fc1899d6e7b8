package sqldb

import "strings"

// RowChunks cuts n rows into the chunks of multi-row statements: as many
// of most (a power of two) as fit, then the rest by its binary digits
// (most/2, …, 2, 1), largest first — so that a handful of statement texts,
// each prepared once, serve every batch size.
func RowChunks(n, most int) []int {
	var out []int
	for ; n >= most; n -= most {
		out = append(out, most)
	}
	for size := most / 2; size > 0; size /= 2 {
		if n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// ValuesRows is n rows of a multi-row VALUES list, each a parameter of
// each of types (SQL types: TEXT, BIGINT …), the rows joined by commas.
// On PostgreSQL each parameter is CAST to its type, which the rows of an
// UPDATE … FROM (VALUES …) need there; on SQLite the parameters are bare —
// the values bound are of the columns' types already, and SQLite reads a
// VALUES of bare parameters as a co-routine, row by row, where it first
// copies a VALUES of CAST expressions into a temporary table.
func ValuesRows(d Dialect, n int, types ...string) string {
	var row strings.Builder
	row.WriteByte('(')
	for i, t := range types {
		if i > 0 {
			row.WriteString(", ")
		}
		if d == SQLite {
			row.WriteByte('?')
		} else {
			row.WriteString("CAST(? AS " + t + ")")
		}
	}
	row.WriteByte(')')
	return strings.TrimSuffix(strings.Repeat(row.String()+",", n), ",")
}
