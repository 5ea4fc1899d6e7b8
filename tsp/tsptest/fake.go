// Package tsptest is the one test suite of every tsp.Store (Run: the
// storage rules, and the token service's rules on top of the store, the
// 8-cards rule and "wallet off" under concurrent adds among them), an
// in-memory Store (Fake) for the token service's unit tests, and the
// pieces both need: a bank that approves every card (Issuers) and a
// device with a fresh key (NewDevice).
package tsptest

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/id"
	"github.com/tapwallet/tapwallet/tsp"
)

// Fake is a tsp.Store (with tsp.KeyLister and tsp.Alerter) in memory,
// safe for concurrent use; one mutex makes each call one transaction.
type Fake struct {
	mu       sync.Mutex
	vault    map[string]tsp.VaultPAN // by id
	tokens   map[string]tsp.Token
	events   map[string][]tsp.TokenEvent
	luks     map[string]map[int]tsp.LUK
	bindings map[string]tsp.Binding
	outbox   []tsp.OTPMessage
	devices  map[string]tsp.DeviceState
}

var (
	_ tsp.Store     = (*Fake)(nil)
	_ tsp.KeyLister = (*Fake)(nil)
	_ tsp.Alerter   = (*Fake)(nil)
)

// NewFake returns an empty store. It never fails.
func NewFake() *Fake {
	return &Fake{vault: map[string]tsp.VaultPAN{}, tokens: map[string]tsp.Token{}, events: map[string][]tsp.TokenEvent{},
		luks: map[string]map[int]tsp.LUK{}, bindings: map[string]tsp.Binding{}, devices: map[string]tsp.DeviceState{}}
}

func (f *Fake) vaultByIndex(index []byte) (tsp.VaultPAN, bool) {
	for _, v := range f.vault {
		if bytes.Equal(v.Index, index) {
			return v, true
		}
	}
	return tsp.VaultPAN{}, false
}

// CreateCard writes a new token; see tsp.Store.
func (f *Fake) CreateCard(ctx context.Context, c tsp.NewCard) (tsp.VaultPAN, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devices[c.Token.PhoneID]
	if d.Off {
		return tsp.VaultPAN{}, fault.E(fault.Forbidden, tsp.CodeWalletOff, "the wallet on this phone is switched off")
	}
	if d.Cards >= tsp.MaxCardsPerPhone {
		return tsp.VaultPAN{}, fault.E(fault.Limit, tsp.CodeCardLimit, "a phone holds at most %d cards", tsp.MaxCardsPerPhone)
	}
	if _, ok := f.tokens[c.Token.Number.Digits()]; ok {
		return tsp.VaultPAN{}, fault.E(fault.Conflict, tsp.CodeTokenTaken, "token number already issued")
	}
	v, ok := f.vaultByIndex(c.Vault.Index)
	if !ok {
		v = c.Vault
	}
	live := 0
	for _, t := range f.tokens {
		if t.PhoneID == c.Token.PhoneID && t.State != tsp.Deleted {
			live++
			if t.PANID == v.ID {
				return tsp.VaultPAN{}, fault.E(fault.Conflict, tsp.CodeCardOnPhone, "this card is already on this phone")
			}
		}
	}
	f.vault[v.ID] = v
	t := c.Token
	t.PANID, t.PAR, t.PANLast4 = v.ID, v.PAR, v.Last4
	t.Default, t.Priority, t.LastATC = live == 0, live+1, 0
	t.BankName, t.CardArt = "", ""
	f.tokens[t.Number.Digits()] = t
	f.events[t.Number.Digits()] = append(f.events[t.Number.Digits()], c.Event)
	f.addLUKs(c.LUKs)
	d.Cards++
	f.devices[c.Token.PhoneID] = d
	return v, nil
}

func (f *Fake) addLUKs(luks []tsp.LUK) {
	for _, k := range luks {
		if f.luks[k.Token] == nil {
			f.luks[k.Token] = map[int]tsp.LUK{}
		}
		f.luks[k.Token][k.Index] = k
	}
}

// Device returns the device's state (zero for a device never seen).
func (f *Fake) Device(ctx context.Context, deviceID string) (tsp.DeviceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.devices[deviceID], nil
}

func (f *Fake) setState(token string, from, to tsp.State, actor, reason string, at time.Time) {
	t := f.tokens[token]
	t.State = to
	f.tokens[token] = t
	f.events[token] = append(f.events[token], tsp.TokenEvent{ID: id.New("tev"), Token: token, From: string(from), To: string(to), Actor: actor, Reason: reason, At: at})
}

func (f *Fake) deviceTokens(deviceID string, state tsp.State) []string {
	var out []string
	for n, t := range f.tokens {
		if t.PhoneID == deviceID && t.State == state {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// DeviceOff marks the device's wallet off and suspends its tokens; see tsp.Store.
func (f *Fake) DeviceOff(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.devices[d.DeviceID]
	st.Off = true
	f.devices[d.DeviceID] = st
	out := f.deviceTokens(d.DeviceID, tsp.Active)
	for _, n := range out {
		f.setState(n, tsp.Active, tsp.Suspended, d.Actor, d.Reason, d.At)
	}
	for n, t := range f.tokens {
		if t.PhoneID != d.DeviceID {
			continue
		}
		for i, k := range f.luks[n] {
			if k.UsedAt.IsZero() && k.ExpiresAt.After(d.At) {
				k.ExpiresAt = d.At
				f.luks[n][i] = k
			}
		}
	}
	return out, nil
}

// DeviceOn marks the device's wallet on and resumes the named tokens; see tsp.Store.
func (f *Fake) DeviceOn(ctx context.Context, d tsp.DeviceSwitch) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.devices[d.DeviceID]
	st.Off = false
	f.devices[d.DeviceID] = st
	named := map[string]bool{}
	for _, n := range d.Tokens {
		named[n] = true
	}
	var out []string
	for _, n := range f.deviceTokens(d.DeviceID, tsp.Suspended) {
		if named[n] {
			f.setState(n, tsp.Suspended, tsp.Active, d.Actor, d.Reason, d.At)
			out = append(out, n)
		}
	}
	return out, nil
}

// VaultByIndex finds a vault row by the PAN's keyed hash.
func (f *Fake) VaultByIndex(ctx context.Context, index []byte) (tsp.VaultPAN, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.vaultByIndex(index); ok {
		return v, nil
	}
	return tsp.VaultPAN{}, fault.E(fault.NotFound, "pan_not_found", "card not in the vault")
}

// VaultPAN returns a vault row by id.
func (f *Fake) VaultPAN(ctx context.Context, vid string) (tsp.VaultPAN, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.vault[vid]; ok {
		return v, nil
	}
	return tsp.VaultPAN{}, fault.E(fault.NotFound, "pan_not_found", "card not in the vault")
}

// Token returns a token by number.
func (f *Fake) Token(ctx context.Context, number string) (tsp.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[number]; ok {
		return t, nil
	}
	return tsp.Token{}, fault.E(fault.NotFound, "token_not_found", "no such token")
}

// PhoneTokens lists a phone's live tokens, default first, then by priority.
func (f *Fake) PhoneTokens(ctx context.Context, phoneID string) ([]tsp.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []tsp.Token
	for _, t := range f.tokens {
		if t.PhoneID == phoneID && t.State != tsp.Deleted {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Default != out[j].Default {
			return out[i].Default
		}
		return out[i].Priority < out[j].Priority
	})
	return out, nil
}

// SetDefault makes one token the phone's default.
func (f *Fake) SetDefault(ctx context.Context, phoneID, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[token]; !ok || t.PhoneID != phoneID || t.State == tsp.Deleted {
		return fault.E(fault.NotFound, tsp.CodeCardNotFound, "no such card on this phone")
	}
	for n, t := range f.tokens {
		if t.PhoneID == phoneID {
			t.Default = n == token
			f.tokens[n] = t
		}
	}
	return nil
}

// ChangeState moves a token through its lifecycle; see tsp.Store.
func (f *Fake) ChangeState(ctx context.Context, token string, to tsp.State, actor, reason string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[token]
	switch {
	case !ok:
		return fault.E(fault.NotFound, "token_not_found", "no such token")
	case t.State == to:
		return nil
	case t.State == tsp.Deleted:
		return fault.E(fault.Conflict, tsp.DeclineTokenDeleted, "the token was deleted and cannot change again")
	}
	if to == tsp.Deleted {
		d := f.devices[t.PhoneID]
		d.Cards--
		f.devices[t.PhoneID] = d
		t.Default = false
		f.tokens[token] = t
	}
	f.setState(token, t.State, to, actor, reason, at)
	return nil
}

// AddLUKs records a new batch of limited-use keys and the next key index.
func (f *Fake) AddLUKs(ctx context.Context, token string, luks []tsp.LUK, nextKey int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tokens[token]
	t.NextKey = nextKey
	f.tokens[token] = t
	f.addLUKs(luks)
	return nil
}

// CreateBinding stores a pending binding and its message.
func (f *Fake) CreateBinding(ctx context.Context, b tsp.Binding, m tsp.OTPMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings[b.ID] = b
	f.outbox = append(f.outbox, m)
	return nil
}

// AddMessage queues a message to a card holder.
func (f *Fake) AddMessage(ctx context.Context, m tsp.OTPMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outbox = append(f.outbox, m)
	return nil
}

// Binding returns a binding by id.
func (f *Fake) Binding(ctx context.Context, bid string) (tsp.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.bindings[bid]; ok {
		return b, nil
	}
	return tsp.Binding{}, fault.E(fault.NotFound, tsp.CodeBindingNotFound, "no such card binding")
}

// BindingAttempt counts one try at a pending binding's code; see tsp.Store.
func (f *Fake) BindingAttempt(ctx context.Context, bid string, ok bool, max int) (tsp.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, found := f.bindings[bid]
	if !found {
		return b, fault.E(fault.NotFound, tsp.CodeBindingNotFound, "no such card binding")
	}
	if b.State == "pending" {
		if ok {
			b.State = "done"
		} else if b.Attempts++; b.Attempts >= max {
			b.State = "failed"
		}
	}
	f.bindings[bid] = b
	return b, nil
}

// Outbox lists the newest messages of an account.
func (f *Fake) Outbox(ctx context.Context, accountID string, limit int) ([]tsp.OTPMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []tsp.OTPMessage
	for i := len(f.outbox) - 1; i >= 0 && len(out) < limit; i-- {
		if f.outbox[i].AccountID == accountID {
			out = append(out, f.outbox[i])
		}
	}
	return out, nil
}

// TokenEvents lists a token's lifecycle changes, oldest first.
func (f *Fake) TokenEvents(ctx context.Context, token string) ([]tsp.TokenEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tsp.TokenEvent(nil), f.events[token]...), nil
}

// LUK returns a limited-use key's record.
func (f *Fake) LUK(ctx context.Context, token string, index int) (tsp.LUK, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.luks[token][index]; ok {
		return k, nil
	}
	return tsp.LUK{}, fault.E(fault.NotFound, tsp.DeclineKeyUnknown, "no such limited-use key")
}

// LUKs lists a token's limited-use keys by index.
func (f *Fake) LUKs(ctx context.Context, token string) ([]tsp.LUK, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []tsp.LUK
	for _, k := range f.luks[token] {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// UseKey consumes a key and moves the counter, atomically; see tsp.Store.
func (f *Fake) UseKey(ctx context.Context, u tsp.KeyUse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.luks[u.Token][u.KeyIndex]
	if !ok || !k.UsedAt.IsZero() {
		return fault.E(fault.Declined, tsp.DeclineKeyUsed, "limited-use key %d was already used", u.KeyIndex)
	}
	t := f.tokens[u.Token]
	if u.ATC <= t.LastATC {
		return fault.E(fault.Declined, tsp.DeclineATCReplay, "transaction counter %d already seen", u.ATC)
	}
	k.UsedAt, k.UsedATC, k.UsedARQC = u.At, u.ATC, append([]byte(nil), u.Cryptogram...)
	f.luks[u.Token][u.KeyIndex] = k
	t.LastATC = u.ATC
	f.tokens[u.Token] = t
	return nil
}

// UnusedKeys counts a token's unused, unexpired keys.
func (f *Fake) UnusedKeys(ctx context.Context, token string, now time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.luks[token] {
		if k.UsedAt.IsZero() && k.ExpiresAt.After(now) {
			n++
		}
	}
	return n, nil
}
