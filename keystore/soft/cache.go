package soft

import (
	"crypto/cipher"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/emv"
	"github.com/tapwallet/tapwallet/keystore"
)

// cacheFor is how long a derived key is kept: it is at most that much
// staler than the key file as this process holds it (an issuer master key
// imported by another process arrives when keystore.File reads the file
// again); an import through this store empties the cache at once.
const cacheFor = time.Second

// cacheMax bounds the keys of each kind kept: past it the expired ones
// go, and if none has expired, all of them (each wiped).
const cacheMax = 4096

// keyCache keeps the keys derived for a card's cryptograms — the range's
// issuer master key and the card's master key, the latter with its key
// schedule (emv.Keyed) — for cacheFor, so that a token paying again soon
// does not derive them again nor build the card key's cipher for its
// session key (HKDF and four DES key schedules). The keys stay in the
// store, as Secrets and schedules, and are wiped when they go.
type keyCache struct {
	mu    sync.Mutex
	imks  map[imkID]cached
	cards map[cardID]cached
	// deks keeps, by keystore.Sealed.AppendDataKeyRef, the AES-GCM (no
	// key besides) of the data keys of the sealed values opened — a
	// token's card number, opened for each of its authorizations — so
	// that a token paying again soon does not unwrap its data key nor
	// build its AES-GCM again.
	deks map[string]cached
}

type imkID struct{ root, rng string }

type cardID struct {
	imkID
	alg      emv.Alg
	pan, psn string
}

type cached struct {
	key   keystore.Secret
	until time.Time
	// keyed is key's schedule, made on first use (card keys only); it is
	// used under keyCache.mu only, so it is never wiped in use.
	keyed *emv.Keyed
	// aead is a data key's AES-GCM (deks only), used under keyCache.mu
	// like keyed (wiped, it would panic: its nonce size is zero).
	aead cipher.AEAD
}

// wipe overwrites the key and its schedules.
func (e cached) wipe() {
	e.key.Wipe()
	if e.keyed != nil {
		e.keyed.Wipe()
	}
	if e.aead != nil {
		emv.WipeSchedule(e.aead)
	}
}

// withKeyed calls fn with the schedule of the card key kept under id, if
// it has not expired, holding the lock (fn must be short: a block or two);
// false when there is none.
func (c *keyCache) withKeyed(id cardID, now time.Time, fn func(mk *emv.Keyed, key keystore.Secret)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cards[id]
	if !ok || !now.Before(e.until) {
		return false
	}
	if e.keyed == nil {
		k, err := emv.NewKeyed(id.alg, e.key.Reveal())
		if err != nil {
			return false
		}
		e.keyed = k
		c.cards[id] = e
	}
	fn(e.keyed, e.key)
	return true
}

// get returns a copy of the key kept under id (the caller wipes it) if it
// has not expired.
func get[K comparable](c *keyCache, m *map[K]cached, id K, now time.Time) (keystore.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := (*m)[id]
	if !ok || !now.Before(e.until) {
		return keystore.Secret{}, false
	}
	return keystore.NewSecret(e.key.Reveal()), true
}

// put keeps a copy of key under id until now+cacheFor; the caller keeps
// (and wipes) its own.
func put[K comparable](c *keyCache, m *map[K]cached, id K, key keystore.Secret, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep(m, id, cached{key: keystore.NewSecret(key.Reveal()), until: now.Add(cacheFor)}, now)
}

// keep puts e under id (c.mu held), making room first: past cacheMax the
// expired entries go, and if none has expired, all of them (each wiped).
func keep[K comparable](m *map[K]cached, id K, e cached, now time.Time) {
	if *m == nil {
		*m = map[K]cached{}
	}
	if len(*m) >= cacheMax {
		for k, e := range *m {
			if !now.Before(e.until) {
				e.wipe()
				delete(*m, k)
			}
		}
		if len(*m) >= cacheMax {
			wipeAll(*m)
		}
	}
	if old, ok := (*m)[id]; ok {
		old.wipe()
	}
	(*m)[id] = e
}

// withDataKey calls fn with the AEAD of the data key kept under ref, if
// it has not expired, holding the lock (fn must be short: one opening);
// false when there is none.
func (c *keyCache) withDataKey(ref []byte, now time.Time, fn func(a cipher.AEAD)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.deks[string(ref)]
	if !ok || !now.Before(e.until) {
		return false
	}
	fn(e.aead)
	return true
}

// keepDataKey keeps a data key's AEAD a (which the cache owns and wipes
// from now on) under ref until now+cacheFor.
func (c *keyCache) keepDataKey(ref []byte, a cipher.AEAD, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep(&c.deks, string(ref), cached{aead: a, until: now.Add(cacheFor)}, now)
}

func wipeAll[K comparable](m map[K]cached) {
	for k, e := range m {
		e.wipe()
		delete(m, k)
	}
}

// clear wipes and forgets every key kept.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	wipeAll(c.imks)
	wipeAll(c.cards)
	wipeAll(c.deks)
}
