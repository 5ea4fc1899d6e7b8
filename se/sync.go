package se

// KeyIndexes returns, for a phone's sync with the token service, the last
// transaction counter the token's card made (0 before its first
// cryptogram) and the indexes of the limited-use keys it still holds
// unexpired, in order. It never fails; an unknown token has none.
func (e *Element) KeyIndexes(token string) (atc int, unused []int) {
	defer e.look()()
	tk := e.state.Tokens[token]
	if tk == nil {
		return 0, nil
	}
	now := e.now().Unix()
	for _, k := range tk.Keys {
		if k.ExpiresAt > now {
			unused = append(unused, k.Index)
		}
	}
	return tk.ATC, unused
}
