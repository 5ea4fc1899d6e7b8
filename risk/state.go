package risk

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// State is what the engine remembers between decisions: bucketed
// counters, last sightings and snoozes. The engine reads it before a
// decision (one Read, one Last) and writes it when the outcome is known
// (Record*: one Add, one SetLast). Implementations must apply each Add
// atomically and exactly under concurrent callers (several network
// processes): Memory does with a mutex, risk/sqlstore with upserts.
type State interface {
	// Add adds each delta's count and sum to its bucket (creating it). It
	// keeps no reference to ds once it returns (the caller reuses it).
	Add(ctx context.Context, ds []Delta) error
	// Read returns, for each query, its bucket range's totals grouped by
	// member (members in ascending order; none when nothing was counted).
	Read(ctx context.Context, qs []Query) ([][]Row, error)
	// SetLast records a sighting under key unless a later one is there.
	SetLast(ctx context.Context, key string, s Sighting) error
	// Last returns the latest sighting of each key (zero when none).
	Last(ctx context.Context, keys []string) ([]Sighting, error)
	// Snooze silences a rule's pattern until a time (a later until wins).
	Snooze(ctx context.Context, rule, pattern string, until time.Time) error
	// Snoozed reports whether a rule's pattern is silenced at a time.
	Snoozed(ctx context.Context, rule, pattern string, at time.Time) (bool, error)
	// Prune forgets buckets that expired before now.
	Prune(ctx context.Context, now time.Time) error
}

// Delta is an addition to one bucket of a series: the events of a
// subject (Key) of a kind (Series), by member (a distinct value, e.g. a
// card tried on a phone, or an amount class; "" for a plain counter), in
// the bucket numbered Bucket (time / the series' resolution). Expires is
// when the bucket may be forgotten (Unix seconds; 0: never); At is when
// the event happened (Unix seconds): a store may forget then the
// subject's buckets that expired before it.
type Delta struct {
	Series  string
	Key     string
	Member  string
	Bucket  int64
	Count   int64
	Sum     int64
	Expires int64
	At      int64
}

// Query asks for the buckets From..To (inclusive) of a series' subject.
type Query struct {
	Series   string
	Key      string
	From, To int64
}

// Row is a member's totals over a query's buckets.
type Row struct {
	Member string
	Count  int64
	Sum    int64
}

// Memory is the in-process State: per series and subject a short list
// of buckets, under one lock. Its zero value is not ready; use NewMemory.
type Memory struct {
	mu      sync.Mutex
	cells   map[seriesKey][]cell
	last    map[string]Sighting
	snoozes map[[2]string]time.Time
}

type seriesKey struct{ series, key string }

// A subject's cells are kept in (member, bucket) order, so that a read
// meets its rows' members in order and AddRow appends each new one.
type cell struct {
	member              string
	bucket              int64
	count, sum, expires int64
}

// NewMemory returns an empty in-process state.
func NewMemory() *Memory {
	return &Memory{cells: map[seriesKey][]cell{}, last: map[string]Sighting{}, snoozes: map[[2]string]time.Time{}}
}

var _ State = (*Memory)(nil)

// Add adds the deltas under the lock; it never fails.
func (m *Memory) Add(_ context.Context, ds []Delta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(ds)
	return nil
}

// TapRecorder is a State that records an approved tap's deltas and its
// sightings in one call (AddTap: Add(ds), then SetLast(k, s) for each of
// keys, e.g. under one lock and in one queueing); RecordAuth uses it when
// its state has it.
type TapRecorder interface {
	AddTap(ctx context.Context, ds []Delta, keys []string, s Sighting) error
}

// AddTap is Add and SetLast for each key under one lock; it never fails.
func (m *Memory) AddTap(_ context.Context, ds []Delta, keys []string, s Sighting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(ds)
	for _, k := range keys {
		m.setLast(k, s)
	}
	return nil
}

// add is Add under the lock.
func (m *Memory) add(ds []Delta) {
	for _, d := range ds {
		cs, i := m.find(d)
		grown := i == len(cs)
		if grown {
			// A new bucket: the subject's expired ones go, so that a
			// subject holds no more buckets than its windows read.
			kept := cs[:0]
			for _, c := range cs {
				if c.expires == 0 || c.expires >= d.At {
					kept = append(kept, c)
				}
			}
			cs, i = insertCell(kept, d.Member, d.Bucket)
		}
		c := &cs[i]
		c.count += d.Count
		c.sum += d.Sum
		if d.Expires > c.expires {
			c.expires = d.Expires
		}
		if grown { // the subject's list changed length and may have moved (a bucket it had is changed in place)
			m.cells[seriesKey{d.Series, d.Key}] = cs
		}
	}
}

// find returns the cells of d's subject and the index of d's bucket among
// them (len(cs) when it has none yet).
func (m *Memory) find(d Delta) (cs []cell, i int) {
	cs = m.cells[seriesKey{d.Series, d.Key}]
	for i = len(cs) - 1; i >= 0; i-- { // from the end: a delta's bucket is most often its member's latest
		if cs[i].bucket == d.Bucket && cs[i].member == d.Member {
			return cs, i
		}
	}
	return cs, len(cs)
}

// insertCell inserts an empty cell in its (member, bucket) place in cs
// and returns cs and its index.
func insertCell(cs []cell, member string, bucket int64) ([]cell, int) {
	i := len(cs)
	for i > 0 && (cs[i-1].member > member || cs[i-1].member == member && cs[i-1].bucket > bucket) {
		i-- // most often none: a new bucket is the latest of its member
	}
	return slices.Insert(cs, i, cell{member: member, bucket: bucket}), i
}

// Set makes each delta's bucket hold the delta's count, sum and expiry
// (a copy of a stored value, not an addition: e.g. a store's mirror of
// its table refreshed from it); it never fails.
func (m *Memory) Set(ds []Delta) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range ds {
		cs, i := m.find(d)
		if i == len(cs) {
			cs, i = insertCell(cs, d.Member, d.Bucket)
		}
		cs[i].count, cs[i].sum, cs[i].expires = d.Count, d.Sum, d.Expires
		m.cells[seriesKey{d.Series, d.Key}] = cs
	}
}

// Read sums the buckets of each query; it never fails.
func (m *Memory) Read(ctx context.Context, qs []Query) ([][]Row, error) {
	out := make([][]Row, len(qs))
	m.ReadInto(ctx, qs, out)
	return out, nil
}

// ReadInto is Read into the caller's buffers: out[i] (len(out) ≥ len(qs))
// is emptied and gets query i's rows, its array reused when large
// enough (the engine's per-decision scratch: a decision allocates no
// rows). It never fails.
func (m *Memory) ReadInto(_ context.Context, qs []Query, out [][]Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range qs {
		rows := out[i][:0]
		cs := m.cells[seriesKey{q.Series, q.Key}]
		for j := range cs {
			c := &cs[j]
			if c.bucket < q.From || c.bucket > q.To {
				continue
			}
			// The cells are in (member, bucket) order: a cell is of the
			// last row's member or of a new last one (AddRow's two first
			// cases, without its call and its comparison of the members).
			if n := len(rows); n > 0 && rows[n-1].Member == c.member {
				rows[n-1].Count += c.count
				rows[n-1].Sum += c.sum
				continue
			}
			rows = append(rows, Row{c.member, c.count, c.sum})
		}
		out[i] = rows
	}
	return nil
}

// IntoReader is a State that reads into the caller's buffers
// (Memory.ReadInto); the engine uses it when its state has it.
type IntoReader interface {
	ReadInto(ctx context.Context, qs []Query, out [][]Row) error
}

// AddRow adds count and sum to the row of member, keeping rows sorted by
// member (a new member's row inserted in its place).
func AddRow(rows []Row, member string, count, sum int64) []Row {
	// In member order (a Memory's cells) a row is the last one's member
	// (most often: a plain counter's buckets all have member "", told equal
	// by their length alone) or a new last one.
	if n := len(rows); n > 0 && rows[n-1].Member == member {
		rows[n-1].Count += count
		rows[n-1].Sum += sum
		return rows
	} else if n == 0 || rows[n-1].Member < member {
		return append(rows, Row{member, count, sum})
	}
	j := 0
	if len(rows) > 8 {
		j = sort.Search(len(rows), func(k int) bool { return rows[k].Member >= member })
	} else { // a subject's members are few: a scan beats the search's calls
		for j < len(rows) && rows[j].Member < member {
			j++
		}
	}
	if j < len(rows) && rows[j].Member == member {
		rows[j].Count += count
		rows[j].Sum += sum
		return rows
	}
	rows = append(rows, Row{})
	copy(rows[j+1:], rows[j:])
	rows[j] = Row{member, count, sum}
	return rows
}

// SetLast keeps the later sighting; it never fails.
func (m *Memory) SetLast(_ context.Context, key string, s Sighting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLast(key, s)
	return nil
}

// setLast is SetLast under the lock.
func (m *Memory) setLast(key string, s Sighting) {
	if old, ok := m.last[key]; !ok || s.At.After(old.At) {
		m.last[key] = s
	}
}

// Last returns the sightings; it never fails.
func (m *Memory) Last(ctx context.Context, keys []string) ([]Sighting, error) {
	out := make([]Sighting, len(keys))
	return out, m.LastInto(ctx, keys, out)
}

// LastInto is Last into the caller's buffer: out[i] (len(out) ≥
// len(keys)) gets key i's sighting (the engine's per-decision scratch: a
// decision allocates none). It never fails.
func (m *Memory) LastInto(_ context.Context, keys []string, out []Sighting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range keys {
		out[i] = m.last[k]
	}
	return nil
}

// LastReader is a State that returns sightings into the caller's buffer
// (Memory.LastInto); the engine uses it when its state has it.
type LastReader interface {
	LastInto(ctx context.Context, keys []string, out []Sighting) error
}

// Snooze records a snooze; it never fails.
func (m *Memory) Snooze(_ context.Context, rule, pattern string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{rule, pattern}
	if until.After(m.snoozes[k]) {
		m.snoozes[k] = until
	}
	return nil
}

// Snoozed looks a snooze up; it never fails.
func (m *Memory) Snoozed(_ context.Context, rule, pattern string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return at.Before(m.snoozes[[2]string{rule, pattern}]), nil
}

// Prune drops expired buckets; it never fails.
func (m *Memory) Prune(_ context.Context, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := now.Unix()
	for sk, cs := range m.cells {
		kept := cs[:0]
		for _, c := range cs {
			if c.expires == 0 || c.expires >= t {
				kept = append(kept, c)
			}
		}
		if len(kept) == 0 {
			delete(m.cells, sk)
		} else {
			m.cells[sk] = kept
		}
	}
	return nil
}
