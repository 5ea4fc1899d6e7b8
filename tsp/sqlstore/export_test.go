package sqlstore

import "context"

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

// CaughtUp waits until the journaled key uses are in SQL.
func (s *Store) CaughtUp() error { return s.caughtUp(context.Background()) }

// PauseWriteBehind stops the write-behind from applying key uses to SQL
// from now on (they stay in the journal), as a crash would.
func (s *Store) PauseWriteBehind() {
	s.wb.behind.Pause()
}

// KeyReads is how many times memory read keys from SQL for a miss.
func (s *Store) KeyReads() uint64 { return s.keyReads.Load() }
