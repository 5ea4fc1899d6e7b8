package tsp

import (
	"context"
	"fmt"
	"sort"

	"github.com/tapwallet/tapwallet/fault"
)

// TokenLog is a phone's account, at a sync, of what its secure element did
// with one token's limited-use keys: the last transaction counter it made
// and the keys it still holds; Used lists the keys it used since its last
// sync, as far as it knows (for the record).
type TokenLog struct {
	Token  string   `json:"token"`
	ATC    int      `json:"atc"`
	Unused []int    `json:"unused"`
	Used   []KeyLog `json:"used,omitempty"`
}

// KeyLog is one limited-use key a phone used.
type KeyLog struct {
	Index int `json:"index"`
	ATC   int `json:"atc,omitempty"`
}

// The mismatches a sync finds between a phone's log and the token service's
// own record of a token's keys and counter.
const (
	// MismatchUnseenUse: the phone no longer holds a key the network never
	// saw used — a tap that never reached the network (a terminal that
	// stopped, a declined tap before the network) or a key lost on the
	// phone. Recorded, nothing more.
	MismatchUnseenUse = "phone_use_unseen"
	// MismatchCloneUse: the network saw a key used that the phone still
	// holds unused — someone else has the key. The token is suspended.
	MismatchCloneUse = "network_use_unknown_to_phone"
	// MismatchCounterAhead: the network saw a transaction counter the phone
	// never reached — someone else makes cryptograms. The token is suspended.
	MismatchCounterAhead = "network_counter_ahead"
)

// Mismatch is one difference between a phone's log and the network's.
type Mismatch struct {
	Kind     string `json:"kind"`
	KeyIndex int    `json:"key_index,omitempty"`
	Detail   string `json:"detail"`
}

// SyncResult is what a sync did for one token.
type SyncResult struct {
	Token      string     `json:"token"`
	State      State      `json:"state"`
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	Suspended  bool       `json:"suspended,omitempty"` // suspended by this sync
	// KeyBatch is a new batch of limited-use keys sealed to the phone's
	// device key (as at provisioning), nil when none was issued.
	KeyBatch []byte `json:"key_batch,omitempty"`
	Keys     int    `json:"keys"` // how many keys KeyBatch holds
}

// KeyLister is a Store that lists a token's limited-use keys in one call;
// Replenish uses it when the Store has it (and looks keys up one by one
// otherwise).
type KeyLister interface {
	LUKs(ctx context.Context, token string) ([]LUK, error)
}

// Replenish runs a phone's sync: for each token in the phone's log it
// checks the log against the token service's own record — keys used and
// counters seen — reports every mismatch, suspends a token the network saw
// used in a way the phone never did, and gives every active token a fresh
// batch of limited-use keys sealed to the phone. It fails with
// fault.NotFound "card_not_found" when the log names a token that is not on
// this phone, and with the store's errors.
func (s *Service) Replenish(ctx context.Context, ph Device, logs []TokenLog) ([]SyncResult, error) {
	out := make([]SyncResult, 0, len(logs))
	for _, l := range logs {
		t, err := s.Store.Token(ctx, l.Token)
		if err != nil || t.PhoneID != ph.ID {
			return nil, fault.E(fault.NotFound, CodeCardNotFound, "no such card on this phone")
		}
		res := SyncResult{Token: l.Token, State: t.State}
		if t.State == Deleted {
			out = append(out, res)
			continue
		}
		luks, err := s.luks(ctx, t)
		if err != nil {
			return nil, err
		}
		now := s.Now().UTC()
		held := map[int]bool{}
		for _, i := range l.Unused {
			held[i] = true
		}
		suspend := ""
		for _, k := range luks {
			switch {
			case !k.UsedAt.IsZero() && held[k.Index]:
				res.Mismatches = append(res.Mismatches, Mismatch{Kind: MismatchCloneUse, KeyIndex: k.Index,
					Detail: fmt.Sprintf("the network saw key %d used (counter %d); the phone still holds it", k.Index, k.UsedATC)})
				suspend = "a limited-use key was used that the phone never used"
			case k.UsedAt.IsZero() && !held[k.Index] && now.Before(k.ExpiresAt):
				res.Mismatches = append(res.Mismatches, Mismatch{Kind: MismatchUnseenUse, KeyIndex: k.Index,
					Detail: fmt.Sprintf("the phone no longer holds key %d, which the network never saw used", k.Index)})
			}
		}
		if t.LastATC > l.ATC {
			res.Mismatches = append(res.Mismatches, Mismatch{Kind: MismatchCounterAhead,
				Detail: fmt.Sprintf("the network saw counter %d; the phone has made only %d", t.LastATC, l.ATC)})
			suspend = "the network saw a transaction counter the phone never made"
		}
		if suspend != "" && t.State == Active {
			// The wallet API records the sync's own security events.
			if err := s.suspendClone(ctx, t, "tsp:sync", "phone sync: "+suspend, false); err != nil {
				return nil, err
			}
			t.State, res.State, res.Suspended = Suspended, Suspended, true
		}
		if t.State == Active {
			newKeys, sealed, err := s.keyBatch(ctx, ph, t, t.NextKey)
			if err != nil {
				return nil, err
			}
			if err := s.Store.AddLUKs(ctx, t.Number.Digits(), newKeys, t.NextKey+len(newKeys)); err != nil {
				return nil, err
			}
			res.KeyBatch, res.Keys = sealed, len(newKeys)
		}
		out = append(out, res)
	}
	return out, nil
}

// luks returns the token's limited-use keys, by index.
func (s *Service) luks(ctx context.Context, t Token) ([]LUK, error) {
	if kl, ok := s.Store.(KeyLister); ok {
		ks, err := kl.LUKs(ctx, t.Number.Digits())
		if err != nil {
			return nil, err
		}
		sort.Slice(ks, func(i, j int) bool { return ks[i].Index < ks[j].Index })
		return ks, nil
	}
	var out []LUK
	for i := 1; i < t.NextKey; i++ {
		k, err := s.Store.LUK(ctx, t.Number.Digits(), i)
		if fault.KindOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}
