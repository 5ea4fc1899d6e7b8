package phone

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/walletapi/client"
)

// syncStateFile keeps, per token, the limited-use keys the phone held after
// its last sync, so that the next sync can tell which it used since.
const syncStateFile = "sync-state.json"

// KeyUse is one limited-use key the phone used since its last sync.
type KeyUse = client.KeyUse

// tokenLog is the phone's log of one token, as the sync route takes it.
type tokenLog = client.TokenLog

// Mismatch is a difference the token service found between the phone's log
// and its own record.
type Mismatch = client.Mismatch

// SyncCard is what a sync did for one card.
type SyncCard struct {
	Token      string
	TokenLast4 string
	ATC        int      // the last transaction counter the card made
	Used       []KeyUse // keys used since the last sync (none known at the first)
	KeysBefore int      // usable keys before the sync
	KeysAfter  int      // usable keys after installing the new batch
	NewKeys    int
	State      string
	Suspended  bool // suspended by the token service at this sync
	Mismatches []Mismatch
}

// Sync sends the phone's log of every card's limited-use keys (the last
// counter and the keys it still holds, and those used since the last sync)
// to the token service, signed by the device key, and installs the fresh
// key batches it answers with. The token service checks the log against its
// own record: mismatches come back (and are recorded as security events),
// and a card the network saw used where the phone did not is suspended. It
// fails like the wallet API, or when the secure element cannot install a
// batch.
func (p *Phone) Sync(ctx context.Context) ([]SyncCard, error) {
	prev := p.loadSyncState()
	var logs []tokenLog
	cards := map[string]*SyncCard{}
	var order []string
	for _, c := range p.Profile.Cards {
		if c.State == "deleted" {
			continue
		}
		atc, unused := p.SE.KeyIndexes(c.Token)
		if unused == nil {
			unused = []int{}
		}
		l := tokenLog{Token: c.Token, ATC: atc, Unused: unused, Used: usedSince(prev[c.Token], unused, atc)}
		logs = append(logs, l)
		cards[c.Token] = &SyncCard{Token: c.Token, TokenLast4: c.TokenLast4, ATC: atc, Used: l.Used, KeysBefore: len(unused), State: c.State}
		order = append(order, c.Token)
	}
	if len(logs) == 0 {
		return nil, nil
	}
	var out client.SyncAnswer
	if _, err := p.call(ctx, "POST", "/v1/phones/"+p.Profile.PhoneID+"/sync", client.Sync{Tokens: logs}, &out, true); err != nil {
		return nil, err
	}
	for _, t := range out.Tokens {
		sc := cards[t.Token]
		if sc == nil {
			continue
		}
		sc.State, sc.Suspended, sc.Mismatches = t.State, t.Suspended, t.Mismatches
		if t.KeyBatch != "" {
			sealed, err := base64.StdEncoding.DecodeString(t.KeyBatch)
			if err != nil {
				return nil, fault.E(fault.Internal, "bad_answer", "the server sent a damaged key batch")
			}
			if _, err := p.SE.InstallKeys(t.Token, sealed); err != nil {
				return nil, err
			}
			sc.NewKeys = t.Keys
		}
	}
	state := map[string][]int{}
	var res []SyncCard
	for _, tok := range order {
		sc := cards[tok]
		_, unused := p.SE.KeyIndexes(tok)
		sc.KeysAfter = len(unused)
		state[tok] = unused
		for i := range p.Profile.Cards {
			if p.Profile.Cards[i].Token == tok && sc.State != "" {
				p.Profile.Cards[i].State = sc.State
			}
		}
		res = append(res, *sc)
	}
	if err := p.saveSyncState(state); err != nil {
		return res, err
	}
	return res, p.Save()
}

// usedSince returns the keys held at the last sync that are gone now. The
// secure element uses keys in index order, one counter each, so when their
// number matches the counters made since, each gets its counter.
func usedSince(held, unused []int, atc int) []KeyUse {
	now := map[int]bool{}
	for _, i := range unused {
		now[i] = true
	}
	var gone []int
	for _, i := range held {
		if !now[i] {
			gone = append(gone, i)
		}
	}
	sort.Ints(gone)
	out := make([]KeyUse, len(gone))
	for i, idx := range gone {
		out[i] = KeyUse{Index: idx}
		if first := atc - len(gone) + 1; first >= 1 {
			out[i].ATC = first + i
		}
	}
	return out
}

func (p *Phone) loadSyncState() map[string][]int {
	b, err := os.ReadFile(filepath.Join(p.Dir, syncStateFile))
	m := map[string][]int{}
	if err == nil {
		_ = json.Unmarshal(b, &m)
	} else if !errors.Is(err, os.ErrNotExist) {
		return m
	}
	return m
}

func (p *Phone) saveSyncState(m map[string][]int) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp := filepath.Join(p.Dir, syncStateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fault.Wrap(err, fault.Unavailable, "profile", "write the sync state")
	}
	return os.Rename(tmp, filepath.Join(p.Dir, syncStateFile))
}
