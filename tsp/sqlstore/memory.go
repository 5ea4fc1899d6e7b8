package sqlstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/journal"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp"
)

// The token service's authorization path from memory (issue 16, lever 1).
//
// When this process is the only token service on its store (Sole, on
// SQLite: the single-process platform, serve, demo, bench), the store
// keeps the tokens it has seen and a window of each one's limited-use
// keys in memory, so that TokenKey answers with no SQL: a token is filled
// at provisioning (CreateCard) or on its first read, its keys a window at
// a time, and every write that goes through the store — a key's use, a
// replenishment, a state change, a default card, a wallet switched off or
// on — changes the cached token as it changes the rows. A key's use is
// journaled and written behind to SQL (writebehind.go). Several token
// service processes sharing one PostgreSQL database cannot see each
// other's writes in memory: there (and without Sole, as in a process of
// split roles) the store reads and writes SQL.
//
// Exactness rests on three rules:
//   - every change to a cached token is made under its entry's lock: a
//     key's use holds it from its check until its record is in the journal
//     (fdatasync'd), so no read sees a used key unused, and two uses of one
//     key cannot both win;
//   - every read of a token's rows into memory is made under that lock
//     too, and only adds what memory lacks (a key memory holds is never
//     overwritten by an older row);
//   - the rare writes that change tokens other than by a use (admin
//     writes) run one at a time (memory.admin), each mirrored into memory
//     right after its commit, so the mirrors apply in commit order.
//
// Memory is bounded: at most memory.max tokens (an entry no one holds and
// with no key use still to write behind goes when room is needed) and at
// most keyWindow unused keys per token — the lowest ones — and the used
// ones until SQL has their use (the uses of the last write-behind period:
// one or two for a phone, more for the bench's tokens that pay hundreds of
// times a second); a key outside the window is read from SQL (one read per
// keyWindow keys as a phone uses its keys in order).

// keyWindow is how many of a token's limited-use keys memory keeps.
const keyWindow = 32

// DefaultMaxTokens is how many tokens memory keeps at most by default:
// about 6.3 KB each with a full window of keys, 3 KB with the usual 10
// (measured: the token with its strings, the keys, the entry and its map
// slot), so at most ~105 MB.
const DefaultMaxTokens = 16384

// Option configures Open.
type Option func(*options)

type options struct {
	sole      bool
	maxTokens int
	shared    *journal.Shared // OnJournal
	deferUses bool            // DeferUses
}

// Sole tells Open that this process is the only token service on the
// store, so its authorization path may answer from memory (memory.go) and
// journal its key uses (writebehind.go). It is honoured on SQLite only,
// where the journal (tsp.journal beside tsp.db, locked with flock while
// open) also keeps a second token service off the files: a second store
// opened with Sole on them fails with fault.Conflict "tsp_store_busy". On
// PostgreSQL — where several token service processes may share the
// database — it is ignored and the store reads and writes SQL.
func Sole() Option { return func(o *options) { o.sole = true } }

// MaxTokens bounds how many tokens memory keeps with Sole (default
// DefaultMaxTokens).
func MaxTokens(n int) Option { return func(o *options) { o.maxTokens = n } }

// memory is the cache of tokens and their keys.
type memory struct {
	admin  sync.Mutex // one admin write (and its mirror) at a time
	mu     sync.Mutex // tokens and each entry's pins
	tokens map[string]*entry
	max    int
}

// entry is one token in memory.
type entry struct {
	pins  int    // holders and key uses still to apply (memory.mu); pinned entries stay
	phone string // the token's phone once loaded (memory.mu)

	mu     sync.Mutex
	loaded bool      // tok and keys hold what SQL holds
	tok    tsp.Token // with its vault part (PAR, last four)
	keys   []tsp.LUK // by index: the lowest unused keys, and used ones whose use is not in SQL yet
}

func newMemory(max int) *memory {
	if max <= 0 {
		max = DefaultMaxTokens
	}
	return &memory{tokens: map[string]*entry{}, max: max}
}

// hold returns the token's entry, made (empty) if missing, pinned until
// release.
func (m *memory) hold(number string) *entry {
	m.mu.Lock()
	e := m.tokens[number]
	if e == nil {
		m.evict()
		e = &entry{}
		m.tokens[number] = e
	}
	e.pins++
	m.mu.Unlock()
	return e
}

// held returns the token's entry if memory has it, pinned, or nil.
func (m *memory) held(number string) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tokens[number]
	if e != nil {
		e.pins++
	}
	return e
}

// release unpins e; gone drops it from memory when no one else holds it
// (a token that does not exist).
func (m *memory) release(number string, e *entry, gone bool) {
	m.mu.Lock()
	e.pins--
	if gone && e.pins == 0 && m.tokens[number] == e {
		delete(m.tokens, number)
	}
	m.mu.Unlock()
}

// evict makes room for one more entry (m.mu held): it drops unpinned
// entries until memory holds fewer than max.
func (m *memory) evict() {
	for n, e := range m.tokens {
		if len(m.tokens) < m.max {
			return
		}
		if e.pins == 0 {
			delete(m.tokens, n)
		}
	}
}

// phone returns the entries of a phone's tokens memory holds, pinned, and
// those not loaded yet (one may be filling now: its filler holds its lock
// until it is loaded, and the mirror waits for it).
func (m *memory) phone(phoneID string) (names []string, es []*entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for n, e := range m.tokens {
		if e.phone == phoneID || e.phone == "" {
			e.pins++
			names, es = append(names, n), append(es, e)
		}
	}
	return names, es
}

// key returns the entry's key with that index, or nil (e.mu held).
func (e *entry) key(index int) *tsp.LUK {
	if i, ok := e.find(index); ok {
		return &e.keys[i]
	}
	return nil
}

// find is where the key with that index is in e.keys (kept in index
// order), or would go, and whether it is there (e.mu held).
func (e *entry) find(index int) (int, bool) {
	lo, hi := 0, len(e.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e.keys[m].Index < index {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(e.keys) && e.keys[lo].Index == index
}

// add puts keys into memory that it lacks (e.mu held), in index order, up
// to keyWindow unused keys (used ones wait there for the write-behind and
// do not count): a key memory holds stays as it is.
func (e *entry) add(keys []tsp.LUK) {
	unused := e.unused()
	for _, k := range keys {
		if e.key(k.Index) != nil {
			continue
		}
		if unused >= keyWindow {
			return
		}
		i, _ := e.find(k.Index)
		e.keys = slices.Insert(e.keys, i, k)
		if k.UsedAt.IsZero() {
			unused++
		}
	}
}

// unused counts the unused keys in memory (e.mu held).
func (e *entry) unused() int {
	n := 0
	for i := range e.keys {
		if e.keys[i].UsedAt.IsZero() {
			n++
		}
	}
	return n
}

// put sets a key in memory, beyond the window if need be (e.mu held).
func (e *entry) put(k tsp.LUK) {
	i, ok := e.find(k.Index)
	if ok {
		e.keys[i] = k
		return
	}
	e.keys = slices.Insert(e.keys, i, k)
}

// drop removes the key with that index from memory (e.mu held).
func (e *entry) drop(index int) {
	if i, ok := e.find(index); ok {
		e.keys = slices.Delete(e.keys, i, i+1)
	}
}

// forget marks the entry as no longer holding what SQL holds (e.mu held):
// the next reader fills it again. For an outcome the store cannot know (a
// write that failed after it may have committed).
func (e *entry) forget() { e.loaded, e.tok, e.keys = false, tsp.Token{}, nil }

// fill loads the token and a window of its lowest unused keys (e.mu held),
// if the entry is not loaded.
func (s *Store) fill(ctx context.Context, number string, e *entry) error {
	if e.loaded {
		return nil
	}
	if err := s.prepare(ctx); err != nil {
		return sqldb.Err(err, "reading a token")
	}
	var t tsp.Token
	var keys []tsp.LUK
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		if t, err = scanToken(s.tokenQ.QueryRowContext(ctx, number)); err != nil {
			return err
		}
		keys, err = s.window(ctx, number, 0)
		return err
	})
	if t, err = tokenErr(t, err); err != nil {
		return err
	}
	if t, err = s.withVault(ctx, t); err != nil {
		return err
	}
	e.tok, e.keys, e.loaded = t, nil, true
	e.add(keys)
	s.mem.mu.Lock()
	e.phone = t.PhoneID
	s.mem.mu.Unlock()
	return nil
}

// window reads up to keyWindow unused keys of a token from index from on:
// the columns an unused key has (no use, no cryptogram; the token is
// number).
func (s *Store) window(ctx context.Context, number string, from int) ([]tsp.LUK, error) {
	rows, err := s.windowQ.QueryContext(ctx, number, from, keyWindow)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]tsp.LUK, 0, keyWindow)
	for rows.Next() {
		k := tsp.LUK{Token: number}
		var issued, exp int64
		if err := rows.Scan(&k.Index, &issued, &exp, &k.UsedATC); err != nil {
			return nil, err
		}
		k.IssuedAt, k.ExpiresAt = sqldb.Time(issued), sqldb.Time(exp)
		out = append(out, k)
	}
	return out, rows.Err()
}

// lookKey returns the loaded entry's key with that index (e.mu held):
// from memory, or else from SQL — where a key outside memory is as it is
// (unused keys outside the window, used keys whose use SQL has, expired
// ones) — with the window from that key on added to memory. nil when the
// token has no such key.
func (s *Store) lookKey(ctx context.Context, number string, e *entry, index int) (*tsp.LUK, error) {
	if k := e.key(index); k != nil {
		return k, nil
	}
	var keys []tsp.LUK
	var k tsp.LUK
	found := false
	s.keyReads.Add(1)
	err := s.onReader(ctx, func(ctx context.Context) error {
		var err error
		if keys, err = s.window(ctx, number, index); err != nil {
			return err
		}
		if len(keys) > 0 && keys[0].Index == index {
			k, found = keys[0], true
			return nil
		}
		k, err = scanLUK(s.lukQ.QueryRowContext(ctx, number, index))
		if sqldb.NoRows(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return nil, sqldb.Err(err, "reading a limited-use key")
	}
	if len(keys) > 0 && e.unused()+len(keys) > keyWindow {
		// The phone moved past the window: keep the keys whose use is not
		// in SQL yet (used ones) and make room for the new window.
		kept := e.keys[:0]
		for _, k := range e.keys {
			if !k.UsedAt.IsZero() {
				kept = append(kept, k)
			}
		}
		e.keys = kept
	}
	e.add(keys)
	if !found {
		return nil, nil
	}
	if m := e.key(index); m != nil {
		return m, nil
	}
	return &k, nil
}

// tokenKeyMemory is TokenKey from memory.
func (s *Store) tokenKeyMemory(ctx context.Context, number string, index int) (tsp.Token, *tsp.LUK, error) {
	e := s.mem.hold(number)
	e.mu.Lock()
	err := s.fill(ctx, number, e)
	var t tsp.Token
	var k *tsp.LUK
	if err == nil {
		t = e.tok
		if k, err = s.lookKey(ctx, number, e, index); k != nil {
			c := *k
			k = &c
		}
	}
	e.mu.Unlock()
	s.mem.release(number, e, fault.KindOf(err) == fault.NotFound)
	if err != nil {
		return tsp.Token{}, nil, err
	}
	return t, k, nil
}

// useKeyMemory is UseKey with the token in memory: the key and the counter
// are checked in memory under the token's lock, which is held until the
// use is durable, and memory changes once it is.
func (s *Store) useKeyMemory(ctx context.Context, u tsp.KeyUse) error {
	e := s.mem.hold(u.Token)
	gone := false
	defer func() { s.mem.release(u.Token, e, gone) }()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := s.fill(ctx, u.Token, e); err != nil {
		if gone = fault.KindOf(err) == fault.NotFound; gone {
			return keyUsed(u.KeyIndex) // as SQL answers: no row to use
		}
		return err
	}
	k, err := s.lookKey(ctx, u.Token, e, u.KeyIndex)
	if err != nil {
		return err
	}
	if k == nil || !k.UsedAt.IsZero() {
		return keyUsed(u.KeyIndex)
	}
	if u.ATC <= e.tok.LastATC {
		return atcReplayed(u.ATC)
	}
	if s.wb != nil {
		if err := s.journalUse(ctx, e, u); err != nil {
			return err
		}
		used := *k
		used.UsedAt, used.UsedATC, used.UsedARQC = stored(u.At), u.ATC, slices.Clone(u.Cryptogram)
		e.put(used) // until SQL has it
		e.tok.LastATC = u.ATC
		return nil
	}
	res, err := s.uses.Do(ctx, u)
	if err == nil && res == nil {
		e.tok.LastATC = u.ATC
		e.drop(u.KeyIndex) // SQL has its use now
		return nil
	}
	// A failed batch may have committed; SQL refusing what memory allowed
	// means memory was wrong: either way read SQL again next time.
	e.forget()
	if err != nil {
		return err
	}
	return res
}

func keyUsed(index int) error {
	return fault.E(fault.Declined, tsp.DeclineKeyUsed, "limited-use key %d was already used", index)
}

func atcReplayed(atc int) error {
	return fault.E(fault.Declined, tsp.DeclineATCReplay, "transaction counter %d already seen: replayed cryptogram", atc)
}

// mirror runs fn on each loaded entry of tokens memory holds, under the
// entry's lock, after an admin write committed (s.mem.admin held).
func (s *Store) mirror(tokens []string, fn func(e *entry)) {
	for _, n := range tokens {
		e := s.mem.held(n)
		if e == nil {
			continue
		}
		e.mu.Lock()
		if e.loaded {
			fn(e)
		}
		e.mu.Unlock()
		s.mem.release(n, e, false)
	}
}

// mirrorPhone runs fn on each loaded entry of a phone's tokens memory
// holds (s.mem.admin held).
func (s *Store) mirrorPhone(phoneID string, fn func(e *entry)) {
	names, es := s.mem.phone(phoneID)
	for i, e := range es {
		e.mu.Lock()
		if e.loaded && e.tok.PhoneID == phoneID {
			fn(e)
		}
		e.mu.Unlock()
		s.mem.release(names[i], e, false)
	}
}

// admin runs an admin write — one that changes tokens other than by a key
// use — and, once it committed, its mirror into memory, one at a time,
// after the key uses journaled before it reached SQL.
func (s *Store) admin(ctx context.Context, write func() error, mirror func()) error {
	if s.mem == nil {
		return write()
	}
	s.mem.admin.Lock()
	defer s.mem.admin.Unlock()
	if err := s.caughtUp(ctx); err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	mirror()
	return nil
}

// provisioned fills memory with a token just made (s.mem.admin held).
func (s *Store) provisioned(ctx context.Context, number string) {
	e := s.mem.hold(number)
	e.mu.Lock()
	err := s.fill(ctx, number, e)
	e.mu.Unlock()
	s.mem.release(number, e, err != nil)
}

// stored is a time as SQL gives it back (UTC, milliseconds).
func stored(t time.Time) time.Time { return sqldb.Time(sqldb.Millis(t)) }

// memKeys is luks as SQL gives them back once inserted.
func memKeys(luks []tsp.LUK) []tsp.LUK {
	out := make([]tsp.LUK, len(luks))
	for i, k := range luks {
		out[i] = tsp.LUK{Token: k.Token, Index: k.Index, IssuedAt: stored(k.IssuedAt), ExpiresAt: stored(k.ExpiresAt)}
	}
	return out
}
