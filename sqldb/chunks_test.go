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
