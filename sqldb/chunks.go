package sqldb

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
