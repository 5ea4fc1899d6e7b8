package sqldb

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCacheMax bounds the statements one DB keeps prepared.
const stmtCacheMax = 512

// stmtCache keeps the statements of the hot paths prepared for the life of
// the DB: database/sql prepares each on a connection the first time it is
// used there and reuses it after, so a batch pays no SQL parsing.
type stmtCache struct {
	mu        sync.Mutex
	m         map[string]*sql.Stmt
	preparing map[string]bool
	closed    bool
	// bg counts the background prepares under way: Close waits for them,
	// so that none opens a connection (on SQLite: its -wal and -shm files)
	// after the database is closed.
	bg sync.WaitGroup
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m, c.closed = nil, true
}

// cached returns q (already rebound) prepared on db, or nil when it is not
// yet: then it is prepared in the background, on a connection of the pool
// once one is free — never while the caller, inside a transaction, holds
// one and waits (with every connection held by transactions, that would
// wait for ever).
func (db *DB) cached(q string) *sql.Stmt {
	c := &db.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok || c.closed || len(c.m)+len(c.preparing) >= stmtCacheMax {
		return s
	}
	if c.preparing[q] {
		return nil
	}
	if c.preparing == nil {
		c.preparing = map[string]bool{}
	}
	c.preparing[q] = true
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		s, err := db.sql.Prepare(q)
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.preparing, q)
		if err != nil {
			return
		}
		if c.closed {
			s.Close()
			return
		}
		if c.m == nil {
			c.m = map[string]*sql.Stmt{}
		}
		c.m[q] = s
	}()
	return nil
}

// stmt returns q (with ? placeholders) as a statement of the transaction:
// prepared once for the database and kept (database/sql prepares it on
// each connection the first time it runs there), or, until that is done
// or past the cache's bound, prepared for this transaction only. It fails
// when q does not prepare.
func (t *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	yield()
	t.wrote = t.wrote || !isSelect(q)
	q = t.db.rebind(q)
	if s := t.db.cached(q); s != nil {
		return t.tx.StmtContext(ctx, s), nil
	}
	return t.tx.PrepareContext(ctx, q)
}
