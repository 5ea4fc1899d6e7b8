package promo

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
)

// CardUse is a card's use of a campaign as a store counts it: reserved
// and spent, on a day (YYYY-MM-DD, UTC) or in all (Day "").
type CardUse struct {
	Campaign string
	Day      string
	Count    int64
	Amount   int64
}

// MirrorStore is a Store that can also say every campaign's budget and a
// card's use of the campaigns: what a Mirror loads.
type MirrorStore interface {
	Store
	// Usages returns the budget of every campaign.
	Usages(ctx context.Context) ([]Usage, error)
	// CardUses returns card's use of every campaign it used.
	CardUses(ctx context.Context, card string) ([]CardUse, error)
}

// Mirror decides budget holds in memory, at once, and has its store make
// each one durable behind the decision: the authorization asks its issuer
// while the store commits, and waits for the commit (Pending.Wait) only
// before it answers. It counts every campaign's budget and every card's
// limits as the store last said plus what it reserved since, so that
// its decisions are the store's as long as it is the only one reserving
// in that store (one network process: the default platform). What others
// release (clearing's expiry, refunds) it learns at Refresh; until then it
// counts more than the store, never less. With several network processes
// on one store each would count only its own holds: they reserve with
// Apply, in the store's own transaction, instead.
//
// The store stays the record and the last word: a commit the store
// refuses (a campaign changed under the mirror, a failure) is the
// Pending's error and the hold is not made.
type Mirror struct {
	st MirrorStore

	mu    sync.Mutex
	camps map[string]*mirrorCampaign
	cards map[string]*mirrorCard
	holds map[string]*Pending // decided in this process, by id (bounded: order)
	order []string

	open    map[*Pending]struct{} // decided and not yet resolved
	failed  int                   // commits the store failed (not refused) to make
	queue   []*Pending            // decided, waiting for the committer
	running bool                  // a committer goroutine runs
	hurry   int                   // Settle calls waiting: the committer does not gather
}

// DecidedStore is a MirrorStore that stores many holds a mirror decided
// in one transaction, without the rules' checks the mirror made (the
// promo wing; promo.MemStore with the checks). The mirror's committer uses
// it when its store has it, else Reserve for each hold.
type DecidedStore interface {
	MirrorStore
	// ReserveDecided stores hs (each Decided) and returns each as stored
	// or its error (ErrHoldConflict, ErrHoldResolved for an id held
	// already otherwise); it fails as a whole, storing none, when the
	// storage does or a budget's last guard refuses the batch.
	ReserveDecided(ctx context.Context, hs []Hold) ([]Hold, []error, error)
}

// MirrorGather is how long the mirror's committer lets decided holds
// gather before it stores them in one transaction (nobody waits for it:
// an approval's record names its hold; a decline takes its hold out of the
// queue when it is still there).
const MirrorGather = 10 * time.Millisecond

// mirrorCampaign is a campaign's budget as the mirror counts it.
type mirrorCampaign struct {
	gen            int64 // bumped by each Refresh
	amount, count  int64 // reserved + spent
	inflight       int64 // decided, not yet durable
	inflightCount  int64
	committed      int64 // made durable by this mirror, ever
	committedCount int64
	stale          bool // the store refused a hold the mirror allowed: read it again before the next
}

// mirrorCard is a card's use of the campaigns (campaign, day) as the
// mirror counts it; pending holds keep it from being dropped.
type mirrorCard struct {
	uses    map[[2]string]*CardUse
	pending int
	used    time.Time // the last hold decided for it
}

// MirrorHolds is how many decided holds a Mirror remembers by id (for a
// retransmission while its commit runs, and for a release to give its
// budget back at once).
const MirrorHolds = 1 << 16

// mirrorCards is how many cards' use a Mirror keeps before it drops the
// ones with nothing pending.
const mirrorCards = 1 << 17

// MirrorCardIdle is how long a card's use stays counted in a Mirror after
// its last hold; Refresh forgets it then, to read it again (with what
// others released) when the card comes back.
const MirrorCardIdle = time.Minute

// NewMirror returns a Mirror over st. It never fails; it reads st as
// campaigns and cards are first met.
func NewMirror(st MirrorStore) *Mirror {
	return &Mirror{st: st, camps: map[string]*mirrorCampaign{}, cards: map[string]*mirrorCard{}, holds: map[string]*Pending{},
		open: map[*Pending]struct{}{}}
}

// Pending is a hold decided by a Mirror whose commit may still run.
type Pending struct {
	Hold Hold // as decided (Status pending)

	done     chan struct{}
	got      Hold
	err      error
	taken    bool // the committer took it (m.mu)
	canceled bool // taken out of the queue before its commit (m.mu)

	m    *Mirror
	gen  int64       // the campaign's generation at the decision
	card *mirrorCard // the card's use it was counted in
}

// Wait returns the hold as the store keeps it once its commit ended: the
// decided hold, made durable; or the error that kept it from being made
// (the store's refusal or failure, or ErrHoldResolved when the store held
// this id already resolved, ErrHoldConflict when for another campaign).
// It fails with the context's error when ctx ends first (the commit goes
// on).
func (p *Pending) Wait(ctx context.Context) (Hold, error) {
	select {
	case <-p.done:
		return p.got, p.err
	case <-ctx.Done():
		return Hold{}, fault.Wrap(ctx.Err(), fault.Unavailable, "promo_wait", "waiting for a budget hold to be stored")
	}
}

// Reserve decides h (Status ignored) for the campaign c as the matcher
// has it, and starts its commit. A hold with this id decided before in
// this process is returned as it is (ErrHoldConflict when its fields
// differ). It fails with ErrBudget, ErrCardLimit or ErrNotOpen as the
// store would, or fault.Unavailable when the store cannot be read, and
// then decided nothing.
func (m *Mirror) Reserve(ctx context.Context, c *Campaign, h Hold) (*Pending, error) {
	if h.ID == "" || h.Card == "" || h.Amount <= 0 || h.At.IsZero() || c == nil || h.Campaign != c.ID {
		return nil, fault.E(fault.Invalid, "promo_hold", "a hold needs an id, a card, an amount above 0, a time and its campaign")
	}
	if err := m.load(ctx, c.ID, h.Card); err != nil {
		return nil, err
	}
	h.Status, h.Refunded, h.Decided = HoldPending, 0, true
	if h.ExpiresAt.IsZero() {
		h.ExpiresAt = h.At.Add(HoldTimeout)
	}

	m.mu.Lock()
	if p, ok := m.holds[h.ID]; ok {
		m.mu.Unlock()
		if p.Hold.Campaign != h.Campaign || p.Hold.Card != h.Card || p.Hold.Amount != h.Amount {
			return nil, fault.E(fault.Conflict, "promo_hold_conflict", "hold %s exists for another campaign, card or amount", h.ID)
		}
		return p, nil
	}
	mc, card := m.camps[c.ID], m.cards[h.Card]
	if mc == nil || card == nil {
		// Dropped after a refusal between the load and here: read again.
		m.mu.Unlock()
		return m.Reserve(ctx, c, h)
	}
	if mc.stale {
		m.mu.Unlock()
		if err := m.refresh(ctx, c.ID); err != nil {
			return nil, err
		}
		return m.Reserve(ctx, c, h)
	}
	if err := m.allows(c, mc, card, h); err != nil {
		m.mu.Unlock()
		return nil, err
	}
	mc.amount += h.Amount
	mc.count++
	mc.inflight += h.Amount
	mc.inflightCount++
	for _, k := range useKeys(h) {
		u := card.uses[k]
		if u == nil {
			u = &CardUse{Campaign: k[0], Day: k[1]}
			card.uses[k] = u
		}
		u.Count++
		u.Amount += h.Amount
	}
	card.pending++
	card.used = time.Now()
	p := &Pending{Hold: h, done: make(chan struct{}), m: m, gen: mc.gen, card: card}
	m.remember(p)
	m.open[p] = struct{}{}
	m.queue = append(m.queue, p)
	if !m.running {
		m.running = true
		go m.committer()
	}
	m.mu.Unlock()
	return p, nil
}

// ErrCanceled is the Wait of a hold taken out of the queue (Cancel)
// before its commit: nothing was stored.
var ErrCanceled = fault.E(fault.Conflict, "promo_hold_canceled", "the budget hold was taken back before it was stored")

// Cancel takes p out of the committer's queue when it is still there —
// its budget and the card's use count again at once, nothing is stored,
// Wait answers ErrCanceled — and reports whether it did. False: its commit
// runs or ran (Wait for it, then release it in the store).
func (p *Pending) Cancel() bool {
	m := p.m
	m.mu.Lock()
	if p.taken || p.canceled {
		m.mu.Unlock()
		return false
	}
	p.canceled = true
	mc := m.camps[p.Hold.Campaign]
	mc.inflight -= p.Hold.Amount
	mc.inflightCount--
	mc.amount -= p.Hold.Amount
	mc.count--
	p.card.pending--
	m.uncountCard(p)
	delete(m.holds, p.Hold.ID)
	delete(m.open, p)
	p.err = ErrCanceled
	m.mu.Unlock()
	close(p.done)
	return true
}

// committer stores the queued holds, a gathered batch at a time, until
// the queue is empty.
func (m *Mirror) committer() {
	ctx := context.Background()
	for {
		m.mu.Lock()
		hurry := m.hurry > 0
		m.mu.Unlock()
		if !hurry {
			time.Sleep(MirrorGather)
		}
		m.mu.Lock()
		var batch []*Pending
		for _, p := range m.queue {
			if !p.canceled {
				p.taken = true
				batch = append(batch, p)
			}
		}
		m.queue = nil
		if len(batch) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		m.store(ctx, batch)
	}
}

// store has the store make batch's holds and resolves each.
func (m *Mirror) store(ctx context.Context, batch []*Pending) {
	hs := make([]Hold, len(batch))
	for i, p := range batch {
		hs[i] = p.Hold
	}
	var gots []Hold
	var errs []error
	var err error
	if ds, ok := m.st.(DecidedStore); ok {
		if gots, errs, err = ds.ReserveDecided(ctx, hs); err != nil {
			gots = nil
		}
	}
	if gots == nil {
		// No batch store, or the batch as a whole refused: each alone
		// (the store's own answer for each).
		gots, errs = make([]Hold, len(hs)), make([]error, len(hs))
		for i, h := range hs {
			gots[i], errs[i] = m.st.Reserve(ctx, h)
		}
	}
	for i, p := range batch {
		m.resolve(p, gots[i], errs[i])
	}
}

// useKeys are the card's use rows a hold counts in: its day, and in all.
func useKeys(h Hold) [2][2]string {
	return [2][2]string{{h.Campaign, h.Day()}, {h.Campaign, ""}}
}

// allows checks h against c's window, pause, count, budget and the
// card's limits as the mirror counts them; m.mu is held.
func (m *Mirror) allows(c *Campaign, mc *mirrorCampaign, card *mirrorCard, h Hold) error {
	switch {
	case c.Paused:
		return fault.E(fault.Conflict, "promo_not_open", "campaign %q is paused", c.ID)
	case !c.Window.Contains(h.At):
		return fault.E(fault.Conflict, "promo_not_open", "campaign %q is not running at %s", c.ID, h.At.UTC().Format(time.RFC3339))
	case c.Limits.Count > 0 && mc.count >= c.Limits.Count:
		return fault.E(fault.Limit, "promo_budget", "campaign %q has given all its %d discounts", c.ID, c.Limits.Count)
	case mc.amount+h.Amount > int64(c.Budget):
		return fault.E(fault.Limit, "promo_budget", "campaign %q has %s of its budget left, %s asked",
			c.ID, Amount(int64(c.Budget)-mc.amount), Amount(h.Amount))
	}
	l := c.Limits
	limits := [2][2]int64{{l.CardDayCount, int64(l.CardDayAmount)}, {l.CardCount, int64(l.CardAmount)}}
	for i, k := range useKeys(h) {
		var used CardUse
		if u := card.uses[k]; u != nil {
			used = *u
		}
		count, amount := limits[i][0], limits[i][1]
		if (count > 0 && used.Count >= count) || (amount > 0 && used.Amount+h.Amount > amount) {
			what := "in all"
			if k[1] != "" {
				what = "on " + k[1]
			}
			return fault.E(fault.Limit, "promo_card_limit", "the card reached its limit of campaign %q %s", c.ID, what)
		}
	}
	return nil
}

// load reads the campaign's budget and the card's use from the store
// when the mirror does not count them yet.
func (m *Mirror) load(ctx context.Context, campaign, card string) error {
	m.mu.Lock()
	needC, needK := m.camps[campaign] == nil, m.cards[card] == nil
	m.mu.Unlock()
	if needC {
		u, err := m.st.Usage(ctx, campaign)
		if err != nil && fault.KindOf(err) != fault.NotFound {
			return err
		}
		m.mu.Lock()
		// Loaded meanwhile by another: that one counts this process's
		// holds since, keep it.
		if m.camps[campaign] == nil {
			m.camps[campaign] = &mirrorCampaign{amount: u.Reserved + u.Spent, count: u.ReservedCount + u.SpentCount}
		}
		m.mu.Unlock()
	}
	if needK {
		us, err := m.st.CardUses(ctx, card)
		if err != nil {
			return err
		}
		mk := &mirrorCard{uses: make(map[[2]string]*CardUse, len(us))}
		for i := range us {
			mk.uses[[2]string{us[i].Campaign, us[i].Day}] = &us[i]
		}
		m.mu.Lock()
		if m.cards[card] == nil {
			if len(m.cards) >= mirrorCards {
				m.dropIdleCards(time.Now())
			}
			m.cards[card] = mk
		}
		m.mu.Unlock()
	}
	return nil
}

// dropIdleCards forgets the use of every card with no hold being
// committed and none decided since before (read again when next met);
// m.mu is held.
func (m *Mirror) dropIdleCards(before time.Time) {
	for k, c := range m.cards {
		if c.pending == 0 && !c.used.After(before) {
			delete(m.cards, k)
		}
	}
}

// remember keeps p by id, forgetting the oldest beyond MirrorHolds; m.mu
// is held.
func (m *Mirror) remember(p *Pending) {
	m.holds[p.Hold.ID] = p
	m.order = append(m.order, p.Hold.ID)
	if len(m.order) > MirrorHolds {
		drop := len(m.order) - MirrorHolds
		for _, id := range m.order[:drop] {
			if q := m.holds[id]; q != nil && q.finished() {
				delete(m.holds, id)
			}
		}
		m.order = append(m.order[:0:0], m.order[drop:]...)
	}
}

// Check reports, without waiting, whether the commit ended, and its
// error (as Wait's) when it did.
func (p *Pending) Check() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

func (p *Pending) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// resolve counts the outcome of p's commit: made, or not (the mirror
// gives back what it counted for a refused hold).
func (m *Mirror) resolve(p *Pending, got Hold, err error) {
	if err == nil {
		switch {
		case got.Campaign != p.Hold.Campaign || got.Card != p.Hold.Card || got.Amount != p.Hold.Amount:
			err = fault.E(fault.Conflict, "promo_hold_conflict", "hold %s exists for another campaign, card or amount", p.Hold.ID)
		case got.Status != HoldPending:
			err = fault.E(fault.Conflict, "promo_hold_resolved", "budget hold %s is already %s", p.Hold.ID, got.Status)
		}
	}
	m.mu.Lock()
	mc := m.camps[p.Hold.Campaign]
	mc.inflight -= p.Hold.Amount
	mc.inflightCount--
	p.card.pending--
	switch {
	case err == nil:
		mc.committed += p.Hold.Amount
		mc.committedCount++
	case !refusal(err):
		// Not stored (a storage failure): the hold may be in use all the
		// same (an answer that did not wait names it in its record, which
		// restores it at the next start), so it stays counted until a
		// Refresh reads the store again — more, never less.
		delete(m.holds, p.Hold.ID)
		m.failed++
	default:
		// The store refused it: nothing new is in the store; give back
		// what was counted (a Refresh meanwhile counted it as in flight).
		mc.amount -= p.Hold.Amount
		mc.count--
		m.uncountCard(p)
		delete(m.holds, p.Hold.ID)
		if errors.Is(err, ErrBudget) || errors.Is(err, ErrNotOpen) {
			// Another reserves in the store too: count from it again.
			mc.stale = true
		}
		if p.card.pending == 0 && m.cards[p.Hold.Card] == p.card {
			delete(m.cards, p.Hold.Card)
		}
	}
	p.got, p.err = got, err
	delete(m.open, p)
	m.mu.Unlock()
	close(p.done)
}

// refusal reports whether err is the store's refusal of a hold (its rules
// or its id), not a failure to store it.
func refusal(err error) bool {
	return errors.Is(err, ErrBudget) || errors.Is(err, ErrCardLimit) || errors.Is(err, ErrNotOpen) ||
		errors.Is(err, ErrHoldConflict) || errors.Is(err, ErrHoldResolved)
}

// uncountCard takes p's hold out of its card's use; m.mu is held.
func (m *Mirror) uncountCard(p *Pending) {
	for _, k := range useKeys(p.Hold) {
		if u := p.card.uses[k]; u != nil {
			u.Count--
			u.Amount -= p.Hold.Amount
		}
	}
}

// Settle has every hold decided so far stored (the committer gathers no
// more while it waits) and returns how many commits the store failed to
// make since the mirror was made (not its refusals): 0 means every hold
// decided and not refused or canceled is in the store. A read of the store
// that must see every hold decided calls it first.
func (m *Mirror) Settle() int {
	m.mu.Lock()
	m.hurry++
	open := make([]*Pending, 0, len(m.open))
	for p := range m.open {
		open = append(open, p)
	}
	m.mu.Unlock()
	for _, p := range open {
		<-p.done
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hurry--
	return m.failed
}

// Take makes way for releasing the hold id in the store (a void): a hold
// decided here still in the committer's queue is taken out (Cancel) and
// Take reports true — nothing is stored, nothing to void; one being
// stored is waited for. False: release it in the store. It fails with the
// context's error.
func (m *Mirror) Take(ctx context.Context, id string) (bool, error) {
	p := m.decided(id)
	if p == nil {
		return false, nil
	}
	if p.Cancel() {
		return true, nil
	}
	_, err := p.Wait(ctx)
	if err != nil && fault.KindOf(err) == fault.Unavailable && ctx.Err() != nil {
		return false, err
	}
	return false, nil
}

// Void releases the hold id in st, the mirror's store: taken back from the
// committer's queue when it is still there (true, nothing stored), else
// voided in st once its commit ended (Store.Void's answer), the budget
// and the card's use counted back at once (Released).
func (m *Mirror) Void(ctx context.Context, st Store, id string) (bool, error) {
	if canceled, err := m.Take(ctx, id); err != nil || canceled {
		return canceled, err
	}
	ok, err := st.Void(ctx, id)
	if ok {
		m.Released(id)
	}
	return ok, err
}

// SettledStore is a Store whose reads and changes of holds and budgets
// first have the mirror store every hold it decided so far (Settle): what
// the wallet API, the portal, clearing and the command read through it is
// what the switch decided.
type SettledStore struct {
	MirrorStore
	M *Mirror
}

// Hold is Store.Hold after Settle.
func (s SettledStore) Hold(ctx context.Context, id string) (Hold, error) {
	s.M.Settle()
	return s.MirrorStore.Hold(ctx, id)
}

// Usage is Store.Usage after Settle.
func (s SettledStore) Usage(ctx context.Context, id string) (Usage, error) {
	s.M.Settle()
	return s.MirrorStore.Usage(ctx, id)
}

// Usages is MirrorStore.Usages after Settle.
func (s SettledStore) Usages(ctx context.Context) ([]Usage, error) {
	s.M.Settle()
	return s.MirrorStore.Usages(ctx)
}

// Post is Store.Post after Settle.
func (s SettledStore) Post(ctx context.Context, id string) (bool, error) {
	s.M.Settle()
	return s.MirrorStore.Post(ctx, id)
}

// Void is Store.Void after the hold's commit (or instead of it: Take);
// the mirror counts the budget back.
func (s SettledStore) Void(ctx context.Context, id string) (bool, error) {
	return s.M.Void(ctx, s.MirrorStore, id)
}

// Expire is Store.Expire after Settle.
func (s SettledStore) Expire(ctx context.Context, now time.Time) (int, error) {
	s.M.Settle()
	return s.MirrorStore.Expire(ctx, now)
}

// Refund is Store.Refund after Settle.
func (s SettledStore) Refund(ctx context.Context, id, refundID string, split RefundSplit) (bool, error) {
	s.M.Settle()
	return s.MirrorStore.Refund(ctx, id, refundID, split)
}

// decided returns the hold decided in this process with id, nil when
// none (or forgotten).
func (m *Mirror) decided(id string) *Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holds[id]
}

// Released tells the mirror that the store released the hold id (voided
// it): its budget and the card's use count again at once when the mirror
// decided it and has not read the store since. Otherwise the next Refresh
// counts it.
func (m *Mirror) Released(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.holds[id]
	if p == nil || !p.finished() || p.err != nil {
		return
	}
	delete(m.holds, id)
	mc := m.camps[p.Hold.Campaign]
	if mc != nil && mc.gen == p.gen {
		mc.amount -= p.Hold.Amount
		mc.count--
	}
	if m.cards[p.Hold.Card] == p.card {
		m.uncountCard(p)
	}
}

// Refresh reads every campaign's budget from the store again (the ones
// not met yet too: call it once at the start, so that no decision waits
// for a campaign's read) and forgets
// the use of the cards idle for MirrorCardIdle (read again when next met),
// so that what others released counts. Holds committed while it reads may
// be counted twice until the next Refresh: more, never less.
func (m *Mirror) Refresh(ctx context.Context) error {
	before := m.committed("")
	us, err := m.st.Usages(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recount(us, before)
	m.dropIdleCards(time.Now().Add(-MirrorCardIdle))
	return nil
}

// refresh reads one campaign's budget from the store again.
func (m *Mirror) refresh(ctx context.Context, id string) error {
	before := m.committed(id)
	u, err := m.st.Usage(ctx, id)
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return err
	}
	u.Campaign = id
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recount([]Usage{u}, before)
	return nil
}

// committed returns what the mirror made durable so far for the campaign
// id (every campaign for ""), before the store is read.
func (m *Mirror) committed(id string) map[string][2]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][2]int64, len(m.camps))
	for cid, mc := range m.camps {
		if id == "" || cid == id {
			out[cid] = [2]int64{mc.committed, mc.committedCount}
		}
	}
	return out
}

// recount sets the campaigns' counts from the store's usages us, read
// after before was taken: what the store says, what is in flight, and
// what was made durable since before (which the store may have counted
// already: more, never less); m.mu is held.
func (m *Mirror) recount(us []Usage, before map[string][2]int64) {
	for _, u := range us {
		mc, ok := m.camps[u.Campaign]
		if !ok {
			// Not met yet: nothing of it was decided here.
			m.camps[u.Campaign] = &mirrorCampaign{amount: u.Reserved + u.Spent, count: u.ReservedCount + u.SpentCount}
			continue
		}
		b, seen := before[u.Campaign]
		if !seen {
			continue // loaded by a decision while the store was read
		}
		mc.gen++
		mc.stale = false
		mc.amount = u.Reserved + u.Spent + mc.inflight + (mc.committed - b[0])
		mc.count = u.ReservedCount + u.SpentCount + mc.inflightCount + (mc.committedCount - b[1])
	}
}

// ApplyAhead is Apply with the decision taken by the mirror: the best
// offer of mt whose budget and card limits m can take, its hold being
// committed (Pending.Wait before the answer). It returns false when no
// campaign applies. It fails only when the store cannot be read, and
// then decided nothing.
func ApplyAhead(ctx context.Context, m *Mirror, mt *Matcher, p *Purchase) (Offer, *Pending, bool, error) {
	var refused map[string]bool
	for {
		o, ok := mt.bestBut(p, refused)
		if !ok {
			return Offer{}, nil, false, nil
		}
		pd, err := m.Reserve(ctx, o.Campaign, Hold{ID: p.Identity, Campaign: o.Campaign.ID, Card: p.Card,
			Amount: o.Discount, At: p.At, ExpiresAt: p.At.Add(HoldTimeout)})
		switch {
		case err == nil:
			return o, pd, true, nil
		case errors.Is(err, ErrHoldConflict):
			// The message holds another campaign already (a retransmission
			// after the campaigns changed): that hold is the answer.
			prev := m.decided(p.Identity)
			if prev == nil {
				return Offer{}, nil, false, err
			}
			for _, po := range mt.Rank(p) {
				if po.Campaign.ID == prev.Hold.Campaign && po.Discount == prev.Hold.Amount {
					return po, prev, true, nil
				}
			}
			return Offer{}, nil, false, err
		case errors.Is(err, ErrBudget), errors.Is(err, ErrCardLimit), errors.Is(err, ErrNotOpen):
			if refused == nil {
				refused = map[string]bool{}
			}
			refused[o.Campaign.ID] = true
		default:
			return Offer{}, nil, false, err
		}
	}
}
