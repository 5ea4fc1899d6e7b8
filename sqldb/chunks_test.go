package sqldb

import "testing"

// TestRowChunks: every n is cut into chunks that sum to it: chunks of the
// most, then distinct powers of two below it, largest first.
func TestRowChunks(t *testing.T) {
	for _, most := range []int{1, 64, 128} {
		for n := range 600 {
			sum, prev := 0, most
			for _, c := range RowChunks(n, most) {
				if c <= 0 || c > prev || c&(c-1) != 0 || (c < most && c == prev) {
					t.Fatalf("RowChunks(%d, %d) = %v: want most-row chunks, then distinct powers of two, largest first", n, most, RowChunks(n, most))
				}
				sum, prev = sum+c, c
			}
			if sum != n {
				t.Fatalf("RowChunks(%d, %d) = %v, sums to %d", n, most, RowChunks(n, most), sum)
			}
		}
	}
}

func TestValuesRows(t *testing.T) {
	for _, c := range []struct {
		d     Dialect
		n     int
		types []string
		want  string
	}{
		{Postgres, 2, []string{"TEXT", "BIGINT"}, "(CAST(? AS TEXT), CAST(? AS BIGINT)),(CAST(? AS TEXT), CAST(? AS BIGINT))"},
		{SQLite, 2, []string{"TEXT", "BIGINT"}, "(?, ?),(?, ?)"},
		{SQLite, 1, []string{"TEXT", "BIGINT", "BIGINT"}, "(?, ?, ?)"},
		{Postgres, 1, []string{"BIGINT"}, "(CAST(? AS BIGINT))"},
	} {
		if got := ValuesRows(c.d, c.n, c.types...); got != c.want {
			t.Errorf("ValuesRows(%v, %d, %v) = %q, want %q", c.d, c.n, c.types, got, c.want)
		}
	}
}
