package promo

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// MemStore is a Store in memory: the same rules as promo/sqlstore, one
// mutex for atomicity, nothing kept when the process ends. It serves the
// tests of the parties that call promotions (the switch, clearing) and
// anyone who wants budgets without a database.
type MemStore struct {
	mu        sync.Mutex
	campaigns map[string]*memCampaign
	usage     map[usageKey]*cardUsage
	holds     map[string]*memHold
	refunds   map[string]bool
	enrolled  map[string]map[string]bool // card -> campaign ids
}

var _ Store = (*MemStore)(nil)

type memCampaign struct {
	c Campaign
	u Usage
}

type usageKey struct{ campaign, card, day string }

type cardUsage struct{ reservedCount, spentCount, reservedAmount, spentAmount int64 }

type memHold struct {
	h             Hold
	countRestored bool
}

// NewMemStore returns an empty store in memory. It never fails.
func NewMemStore() *MemStore {
	return &MemStore{campaigns: map[string]*memCampaign{}, usage: map[usageKey]*cardUsage{},
		holds: map[string]*memHold{}, refunds: map[string]bool{}, enrolled: map[string]map[string]bool{}}
}

// Save stores campaigns, all or none, as Store.Save.
func (s *MemStore) Save(ctx context.Context, cs []Campaign) error {
	vs := make([]Campaign, len(cs))
	for i := range cs {
		vs[i] = cs[i]
		if err := vs[i].Validate(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range vs {
		if mc, ok := s.campaigns[c.ID]; ok && mc.u.Reserved+mc.u.Spent > int64(c.Budget) {
			return fault.E(fault.Invalid, "promo_campaign", "campaign %q: budget: %s is below the %s already reserved and spent",
				c.ID, c.Budget, Amount(mc.u.Reserved+mc.u.Spent))
		}
	}
	for _, c := range vs {
		mc, ok := s.campaigns[c.ID]
		if !ok {
			mc = &memCampaign{u: Usage{Campaign: c.ID}}
			s.campaigns[c.ID] = mc
		}
		mc.c = c
		mc.u.Budget = int64(c.Budget)
	}
	return nil
}

// Campaigns returns every campaign, by id.
func (s *MemStore) Campaigns(ctx context.Context) ([]Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Campaign, 0, len(s.campaigns))
	for _, mc := range s.campaigns {
		out = append(out, mc.c)
	}
	SortCampaigns(out)
	return out, nil
}

// SetPaused pauses or resumes a campaign; fault.NotFound if unknown.
func (s *MemStore) SetPaused(ctx context.Context, id string, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, ok := s.campaigns[id]
	if !ok {
		return fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
	}
	mc.c.Paused = paused
	return nil
}

// Enrol records that the card holder added the offer id to card.
func (s *MemStore) Enrol(ctx context.Context, id, card string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.campaigns[id]; !ok {
		return fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
	}
	if s.enrolled[card] == nil {
		s.enrolled[card] = map[string]bool{}
	}
	s.enrolled[card][id] = true
	return nil
}

// Enrolled returns the campaigns card was added to.
func (s *MemStore) Enrolled(ctx context.Context, card string) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for id := range s.enrolled[card] {
		out[id] = true
	}
	return out, nil
}

// Reserve places h as Store.Reserve.
func (s *MemStore) Reserve(ctx context.Context, h Hold) (Hold, error) {
	if h.ID == "" || h.Card == "" || h.Amount <= 0 || h.At.IsZero() {
		return Hold{}, fault.E(fault.Invalid, "promo_hold", "a hold needs an id, a card, an amount above 0 and a time")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.holds[h.ID]; ok {
		if prev.h.Campaign != h.Campaign || prev.h.Card != h.Card || prev.h.Amount != h.Amount {
			return Hold{}, fault.E(fault.Conflict, "promo_hold_conflict", "hold %s exists for another campaign, card or amount", h.ID)
		}
		return prev.h, nil
	}
	mc, ok := s.campaigns[h.Campaign]
	switch {
	case !ok:
		return Hold{}, fault.E(fault.Conflict, "promo_not_open", "no campaign %q", h.Campaign)
	case mc.c.Paused && !h.Decided:
		return Hold{}, fault.E(fault.Conflict, "promo_not_open", "campaign %q is paused", h.Campaign)
	case !mc.c.Window.Contains(h.At):
		return Hold{}, fault.E(fault.Conflict, "promo_not_open", "campaign %q is not running at %s", h.Campaign, h.At.UTC().Format(time.RFC3339))
	case mc.c.Limits.Count > 0 && mc.u.ReservedCount+mc.u.SpentCount >= mc.c.Limits.Count:
		return Hold{}, fault.E(fault.Limit, "promo_budget", "campaign %q has given all its %d discounts", h.Campaign, mc.c.Limits.Count)
	case mc.u.Reserved+mc.u.Spent+h.Amount > mc.u.Budget:
		return Hold{}, fault.E(fault.Limit, "promo_budget", "campaign %q has %s of its budget left, %s asked",
			h.Campaign, Amount(mc.u.Remaining()), Amount(h.Amount))
	}
	l := mc.c.Limits
	rows := []struct {
		key           usageKey
		count, amount int64
	}{{usageKey{h.Campaign, h.Card, h.Day()}, l.CardDayCount, int64(l.CardDayAmount)}, {usageKey{h.Campaign, h.Card, ""}, l.CardCount, int64(l.CardAmount)}}
	for _, r := range rows {
		u := s.usage[r.key]
		if u == nil {
			u = &cardUsage{}
		}
		if (r.count > 0 && u.reservedCount+u.spentCount >= r.count) || (r.amount > 0 && u.reservedAmount+u.spentAmount+h.Amount > r.amount) {
			what := "in all"
			if r.key.day != "" {
				what = "on " + r.key.day
			}
			return Hold{}, fault.E(fault.Limit, "promo_card_limit", "the card reached its limit of campaign %q %s", h.Campaign, what)
		}
	}
	for _, r := range rows {
		u := s.usage[r.key]
		if u == nil {
			u = &cardUsage{}
			s.usage[r.key] = u
		}
		u.reservedCount++
		u.reservedAmount += h.Amount
	}
	mc.u.Reserved += h.Amount
	mc.u.ReservedCount++
	h.Status, h.Refunded = HoldPending, 0
	if h.ExpiresAt.IsZero() {
		h.ExpiresAt = h.At.Add(HoldTimeout)
	}
	s.holds[h.ID] = &memHold{h: h}
	return h, nil
}

// Post spends a pending hold, as Store.Post.
func (s *MemStore) Post(ctx context.Context, id string) (bool, error) {
	return s.resolve(id, HoldPosted)
}

// Void releases a pending hold, as Store.Void.
func (s *MemStore) Void(ctx context.Context, id string) (bool, error) {
	return s.resolve(id, HoldVoided)
}

// Expire releases the pending holds whose time ran out at or before now.
func (s *MemStore) Expire(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	var ids []string
	for id, mh := range s.holds {
		if mh.h.Status == HoldPending && !mh.h.ExpiresAt.After(now) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	sort.Strings(ids)
	n := 0
	for _, id := range ids {
		if ok, _ := s.resolve(id, HoldExpired); ok {
			n++
		}
	}
	return n, nil
}

func (s *MemStore) resolve(id string, status HoldStatus) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mh, ok := s.holds[id]
	if !ok {
		return false, fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
	}
	h := &mh.h
	if h.Status != HoldPending {
		released := h.Status == HoldVoided || h.Status == HoldExpired
		if h.Status == status || (status != HoldPosted && released) {
			return false, nil
		}
		return false, fault.E(fault.Conflict, "promo_hold_resolved", "budget hold %s is already %s", id, h.Status)
	}
	h.Status = status
	mc := s.campaigns[h.Campaign]
	mc.u.Reserved -= h.Amount
	mc.u.ReservedCount--
	posted := status == HoldPosted
	if posted {
		mc.u.Spent += h.Amount
		mc.u.SpentCount++
	}
	for _, day := range []string{h.Day(), ""} {
		u := s.usage[usageKey{h.Campaign, h.Card, day}]
		u.reservedCount--
		u.reservedAmount -= h.Amount
		if posted {
			u.spentCount++
			u.spentAmount += h.Amount
		}
	}
	return true, nil
}

// Refund gives back to the budget what split restores, as Store.Refund.
func (s *MemStore) Refund(ctx context.Context, id, refundID string, split RefundSplit) (bool, error) {
	if refundID == "" || split.Restore < 0 {
		return false, fault.E(fault.Invalid, "promo_refund", "a refund needs an id and restores 0 or more")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refunds[refundID] {
		return false, nil
	}
	mh, ok := s.holds[id]
	if !ok {
		return false, fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
	}
	h := &mh.h
	if h.Status != HoldPosted {
		return false, fault.E(fault.Conflict, "promo_hold_resolved", "budget hold %s is %s: only a posted hold is refunded", id, h.Status)
	}
	if h.Refunded+split.Restore > h.Amount {
		return false, fault.E(fault.Invalid, "promo_refund", "refund %s restores %s; the hold spent %s and refunds restored %s already",
			refundID, Amount(split.Restore), Amount(h.Amount), Amount(h.Refunded))
	}
	var count int64
	if split.RestoreCount && !mh.countRestored {
		count, mh.countRestored = 1, true
	}
	s.refunds[refundID] = true
	h.Refunded += split.Restore
	mc := s.campaigns[h.Campaign]
	mc.u.Spent -= split.Restore
	mc.u.SpentCount -= count
	for _, day := range []string{h.Day(), ""} {
		u := s.usage[usageKey{h.Campaign, h.Card, day}]
		u.spentAmount -= split.Restore
		u.spentCount -= count
	}
	return true, nil
}

// Hold returns a hold by id, or ErrNoHold.
func (s *MemStore) Hold(ctx context.Context, id string) (Hold, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mh, ok := s.holds[id]
	if !ok {
		return Hold{}, fault.E(fault.NotFound, "promo_no_hold", "no budget hold %s", id)
	}
	return mh.h, nil
}

// Usage returns a campaign's budget, or fault.NotFound.
func (s *MemStore) Usage(ctx context.Context, id string) (Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, ok := s.campaigns[id]
	if !ok {
		return Usage{}, fault.E(fault.NotFound, "promo_no_campaign", "no campaign %q", id)
	}
	return mc.u, nil
}

// Usages returns the budget of every campaign, by id.
func (s *MemStore) Usages(ctx context.Context) ([]Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Usage, 0, len(s.campaigns))
	for _, mc := range s.campaigns {
		out = append(out, mc.u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Campaign < out[j].Campaign })
	return out, nil
}

// CardUses returns card's use of every campaign it used.
func (s *MemStore) CardUses(ctx context.Context, card string) ([]CardUse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CardUse
	for k, u := range s.usage {
		if k.card == card {
			out = append(out, CardUse{Campaign: k.campaign, Day: k.day,
				Count: u.reservedCount + u.spentCount, Amount: u.reservedAmount + u.spentAmount})
		}
	}
	return out, nil
}

var _ MirrorStore = (*MemStore)(nil)

var _ DecidedStore = (*MemStore)(nil)

// ReserveDecided stores each hold as Reserve does (with its checks: the
// memory store has no cheaper way).
func (s *MemStore) ReserveDecided(ctx context.Context, hs []Hold) ([]Hold, []error, error) {
	gots, errs := make([]Hold, len(hs)), make([]error, len(hs))
	for i, h := range hs {
		gots[i], errs[i] = s.Reserve(ctx, h)
	}
	return gots, errs, nil
}
