package platform

// maskPath hides runs of 12 to 19 digits in a request path (token numbers
// address cards in the wallet API) before the path is logged, keeping the
// first six and last four digits like card.PAN's String.
func maskPath(p string) string {
	b := []byte(p)
	for i := 0; i < len(b); {
		if b[i] < '0' || b[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if n := j - i; n >= 12 && n <= 19 {
			for k := i + 6; k < j-4; k++ {
				b[k] = '*'
			}
		}
		i = j
	}
	return string(b)
}
