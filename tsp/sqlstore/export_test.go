package sqlstore

// MemTokens is how many tokens the store's memory holds (-1 without it).
func (s *Store) MemTokens() int {
	if s.mem == nil {
		return -1
	}
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	return len(s.mem.tokens)
}

// MemKeys is how many keys memory holds for a token (-1 when it holds
// no such token).
func (s *Store) MemKeys(token string) int {
	e := s.mem.held(token)
	if e == nil {
		return -1
	}
	defer s.mem.release(token, e, false)
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.keys)
}
