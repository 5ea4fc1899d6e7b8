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
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m, c.closed = nil, true
}

// prepared returns q (already rebound) prepared on db, or nil when the
// cache is full or closed.
func (db *DB) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	c := &db.stmts
	c.mu.Lock()
	s, ok := c.m[q]
	full := c.closed || len(c.m) >= stmtCacheMax
	c.mu.Unlock()
	if ok || full {
		return s, nil
	}
	s, err := db.sql.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return nil, nil
	}
	if old, ok := c.m[q]; ok { // prepared meanwhile by another caller
		s.Close()
		return old, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = s
	return s, nil
}

// stmt returns q (with ? placeholders) as a statement of the transaction,
// prepared once for the database and kept (on each connection the first
// time it runs there); past the cache's bound, prepared for this
// transaction only. It fails when q does not prepare.
func (t *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	q = t.db.rebind(q)
	s, err := t.db.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return t.tx.PrepareContext(ctx, q)
	}
	return t.tx.StmtContext(ctx, s), nil
}

// readCtx is the context of a short read on the hot path: on SQLite
// without cancellation, as the driver watches a cancellable context with a
// goroutine per statement, and a read of a row by its key does not wait.
func (db *DB) readCtx(ctx context.Context) context.Context {
	if db.dialect == SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}
