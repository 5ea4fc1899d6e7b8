package netswitch

import "time"

// recentAnswers are the final answers the switch keeps for duplicates
// (Switch.recent, under Switch.mu): the latest MaxRemembered within the
// DuplicateWindow, oldest first. Nothing in them holds a pointer — the
// identities and digests in place, the packed answers copied into large
// byte chunks — so that the garbage collector never scans them: kept as a
// map of strings and slices, the up to 200,000 answers (a string, a
// digest and an answer each) were marked at every collection.
type recentAnswers struct {
	byID  map[idKey]uint64 // identity → its entry's number
	order []remembered     // the entries, oldest first; order[0] is number head
	head  uint64
	log   answerLog
	epoch time.Time // the entries' times are durations since it
}

// maxIDKey is the longest identity kept in place; a longer one (never an
// identity of the spec's fixed-length DE41, DE11 and DE7: 26 bytes) is
// not remembered, and its duplicates are found in the store.
const maxIDKey = 31

// idKey is an identity (netmsg.ID) in place.
type idKey struct {
	n uint8
	b [maxIDKey]byte
}

func keyOfID(id string) (idKey, bool) {
	var k idKey
	if len(id) > maxIDKey {
		return k, false
	}
	k.n = uint8(copy(k.b[:], id))
	return k, true
}

func (k *idKey) String() string { return string(k.b[:k.n]) }

// digestLen is digestOf's length (hex of 12 bytes).
const digestLen = 24

// remembered is one answer kept: its identity and digest, when it was
// kept (since the epoch) and where its packed bytes are in the log.
type remembered struct {
	id     idKey
	digest [digestLen]byte
	at     time.Duration
	pos    int64
	n      int32
}

// get returns the answer kept for id: its digest and its packed bytes
// (the log's: read them, never write them; they stay valid after s.mu is
// released, a chunk is never written again).
func (r *recentAnswers) get(id string) (recentAuth, bool) {
	k, ok := keyOfID(id)
	if !ok || r.byID == nil {
		return recentAuth{}, false
	}
	num, ok := r.byID[k]
	if !ok {
		return recentAuth{}, false
	}
	e := &r.order[num-r.head]
	return recentAuth{digest: string(e.digest[:]), answer: r.log.at(e.pos, e.n)}, true
}

func (r *recentAnswers) len() int { return len(r.order) }

// add keeps packed for id and digest at now, and forgets the answers out
// of window or beyond max, oldest first. The answers forgotten leave the
// head of order by reslicing: the next growth copies only those kept. An
// identity, a digest or an answer that does not fit is not kept (the store
// finds its duplicates).
func (r *recentAnswers) add(id, digest string, packed []byte, now time.Time, window time.Duration, max int) {
	k, ok := keyOfID(id)
	if !ok || len(digest) != digestLen {
		return
	}
	if r.byID == nil {
		r.byID, r.epoch = map[idKey]uint64{}, now
	}
	pos, ok := r.log.add(packed)
	if !ok {
		return
	}
	at := now.Sub(r.epoch)
	e := remembered{id: k, at: at, pos: pos, n: int32(len(packed))}
	copy(e.digest[:], digest)
	r.byID[k] = r.head + uint64(len(r.order))
	r.order = append(r.order, e)
	drop := 0
	for drop < len(r.order) && (at-r.order[drop].at > window || len(r.order)-drop > max) {
		delete(r.byID, r.order[drop].id)
		drop++
	}
	if drop > 0 {
		r.order = r.order[drop:]
		r.head += uint64(drop)
		if len(r.order) > 0 {
			r.log.release(r.order[0].pos)
		} else {
			r.log.release(r.log.end)
		}
	}
}

// answerChunk is the size of the log's chunks; a larger answer is not
// kept.
const answerChunk = 64 << 10

// answerLog holds the kept answers' bytes one after another in chunks of
// answerChunk (an answer never spans two), released from the front as the
// answers in them are forgotten: an answer's bytes are never written
// again, nor is a chunk reused.
type answerLog struct {
	chunks [][]byte // chunk number first+i is chunks[i]
	first  int64
	end    int64 // where the next answer goes
}

func (l *answerLog) add(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > answerChunk {
		return 0, false
	}
	c := l.end / answerChunk
	if l.end%answerChunk+int64(len(b)) > answerChunk {
		c++
		l.end = c * answerChunk
	}
	if len(l.chunks) == 0 {
		l.first = c
	}
	for l.first+int64(len(l.chunks)) <= c {
		l.chunks = append(l.chunks, make([]byte, answerChunk))
	}
	pos := l.end
	copy(l.chunks[c-l.first][pos%answerChunk:], b)
	l.end += int64(len(b))
	return pos, true
}

// at is the n bytes at pos (capacity n: an append copies).
func (l *answerLog) at(pos int64, n int32) []byte {
	off := pos % answerChunk
	return l.chunks[pos/answerChunk-l.first][off : off+int64(n) : off+int64(n)]
}

// release lets go of the chunks wholly before pos.
func (l *answerLog) release(pos int64) {
	for len(l.chunks) > 0 && l.first < pos/answerChunk {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.first++
	}
}
