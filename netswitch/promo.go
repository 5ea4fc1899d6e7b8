package netswitch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tapwallet/tapwallet/card"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/iso8583"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
)

// Promotions is the network's promotions as the switch uses them
// (docs/promotions.md; Config.Promotions, nil: no promotions). The platform
// builds it from the promo wing (NewPromotions over promo/sqlstore); the
// switch's tests over promo.MemStore.
type Promotions interface {
	// Apply reserves the best offer for p whose budget and card limits
	// the store can take, its hold's id p.Identity — idempotent: a
	// retransmission gets the hold it has, never a second one. It
	// returns the offer and true, false when none applies (or the
	// identity's hold is already resolved). It fails only when the
	// store fails, and then reserved nothing. A non-nil Pending is a hold
	// decided but still being stored: the switch waits for it (Wait)
	// before it answers or releases the hold, and a Wait that fails
	// means the hold was not made.
	Apply(ctx context.Context, p *promo.Purchase) (promo.Offer, *promo.Pending, bool, error)
	// AsksNewCardHolder reports whether a campaign for new card holders
	// only could apply to p were the card new: only then does the switch
	// look for the card's earlier purchases.
	AsksNewCardHolder(p *promo.Purchase) bool
	// Void releases the hold of the authorization id (decline, no
	// answer, reversal); a hold already voided or expired, or none, is
	// no error.
	Void(ctx context.Context, id string) error
	// Refund gives the budget back what the refund refundID of the
	// purchase whose hold is holdID restores (split, under the campaign's
	// refund rule), once per refundID. It fails with promo.ErrHoldResolved
	// while the hold is not posted (the purchase is not cleared yet).
	Refund(ctx context.Context, holdID, refundID string, split promo.RefundSplit) error
	// Campaign returns a campaign by id (its name and refund rule).
	Campaign(id string) (promo.Campaign, bool)
}

// PromoSet is one version of the campaigns: their matcher and each by id.
// It is read-only once made.
type PromoSet struct {
	Matcher   *promo.Matcher
	Campaigns map[string]promo.Campaign
	newOnly   []string // the campaigns for new card holders only
	addToCard []string // the campaigns a card holder adds to a card (enrolment add_to_card)
}

// NewPromoSet indexes cs. It never fails.
func NewPromoSet(cs []promo.Campaign) *PromoSet {
	s := &PromoSet{Matcher: promo.NewMatcher(cs), Campaigns: make(map[string]promo.Campaign, len(cs))}
	for _, c := range cs {
		s.Campaigns[c.ID] = c
		if c.Eligibility.NewCardHolder {
			s.newOnly = append(s.newOnly, c.ID)
		}
		if c.Enrolment == promo.EnrolAddToCard {
			s.addToCard = append(s.addToCard, c.ID)
		}
	}
	return s
}

// StorePromotions is Promotions over a promo.Store and the campaigns'
// current PromoSet (Set), which its owner replaces when the campaigns
// change. With Ahead, the reservations are decided in memory and stored
// while the issuer is asked (the switch's only when it is the one network
// process reserving in Store: see promo.Mirror); without, each is stored
// before the issuer is asked.
type StorePromotions struct {
	Store promo.Store
	Ahead *promo.Mirror
	set   atomic.Pointer[PromoSet]
}

// NewPromotions returns Promotions over st with the campaigns cs; it
// never fails.
func NewPromotions(st promo.Store, cs []promo.Campaign) *StorePromotions {
	p := &StorePromotions{Store: st}
	p.Set(NewPromoSet(cs))
	return p
}

// Set replaces the campaigns the next authorizations are matched against.
func (p *StorePromotions) Set(s *PromoSet) { p.set.Store(s) }

// Current returns the campaigns as they stand.
func (p *StorePromotions) Current() *PromoSet { return p.set.Load() }

// Apply is Promotions.Apply: promo.Apply on the store, after reading the
// card's enrolments when an add-to-card campaign could apply.
func (p *StorePromotions) Apply(ctx context.Context, pu *promo.Purchase) (promo.Offer, *promo.Pending, bool, error) {
	set := p.Current()
	if pu.Enrolled == nil && p.asksEnrolment(set, pu) {
		en, err := p.Store.Enrolled(ctx, pu.Card)
		if err != nil {
			return promo.Offer{}, nil, false, err
		}
		pu.Enrolled = en
	}
	if p.Ahead != nil {
		return promo.ApplyAhead(ctx, p.Ahead, set.Matcher, pu)
	}
	o, h, ok, err := promo.Apply(ctx, p.Store, set.Matcher, pu)
	if err != nil || !ok {
		return promo.Offer{}, nil, false, err
	}
	if h.Status != promo.HoldPending {
		// The identity's hold was released before (a retransmission after
		// a decline or a failure): the purchase goes at its price.
		return promo.Offer{}, nil, false, nil
	}
	return o, nil, true, nil
}

// asksEnrolment reports whether an add-to-card campaign could apply to pu
// were the card enrolled.
func (p *StorePromotions) asksEnrolment(set *PromoSet, pu *promo.Purchase) bool {
	for _, id := range set.addToCard {
		c := set.Campaigns[id]
		if could(&c, pu, func(q *promo.Purchase) { q.Enrolled = map[string]bool{id: true} }) {
			return true
		}
	}
	return false
}

// AsksNewCardHolder is Promotions.AsksNewCardHolder.
func (p *StorePromotions) AsksNewCardHolder(pu *promo.Purchase) bool {
	set := p.Current()
	for _, id := range set.newOnly {
		c := set.Campaigns[id]
		if could(&c, pu, func(q *promo.Purchase) { q.NewCardHolder, q.Enrolled = true, map[string]bool{id: true} }) {
			return true
		}
	}
	return false
}

// could reports whether c gives pu something once change made pu's
// costly facts favourable.
func could(c *promo.Campaign, pu *promo.Purchase, change func(*promo.Purchase)) bool {
	q := *pu
	change(&q)
	return c.Eligible(&q) && c.Discount(q.Gross, q.Identity) > 0
}

// Void is Promotions.Void. A hold the mirror decided and has not stored
// yet is taken back from its queue (nothing to void), or waited for.
func (p *StorePromotions) Void(ctx context.Context, id string) error {
	var err error
	if p.Ahead != nil {
		_, err = p.Ahead.Void(ctx, p.Store, id)
	} else {
		_, err = p.Store.Void(ctx, id)
	}
	if errors.Is(err, promo.ErrNoHold) {
		return nil
	}
	return err
}

// Refund is Promotions.Refund.
func (p *StorePromotions) Refund(ctx context.Context, holdID, refundID string, split promo.RefundSplit) error {
	_, err := p.Store.Refund(ctx, holdID, refundID, split)
	return err
}

// Campaign is Promotions.Campaign.
func (p *StorePromotions) Campaign(id string) (promo.Campaign, bool) {
	c, ok := p.Current().Campaigns[id]
	return c, ok
}

// PromoRecords is a Store that can change a record's promotion (a partial
// reversal that voids it or lowers its gross). The SQL store is one; with
// another Store such a reversal keeps the record's promotion as it was.
type PromoRecords interface {
	SetPromo(ctx context.Context, id string, r *promo.Redemption) error
}

// NewCardHolders is a Store that answers, by PAR, whether a card made an
// approved purchase on the network before the authorization id (the SQL
// store). With another Store the switch asks TokenAuths of the token.
type NewCardHolders interface {
	PurchasedBefore(ctx context.Context, par, id string) (bool, error)
}

// promoCall is the promotion of an authorization: what was redeemed
// (nil: none) and, when its hold is still being stored, the commit to
// wait for.
type promoCall struct {
	r       *promo.Redemption
	pending *promo.Pending
}

// startPromo runs applyPromo for rec beside the caller's own work (the
// record's group commit); the function it returns waits for it and gives
// the promotion.
func (s *Switch) startPromo(ctx context.Context, rec Auth, bankID string, pan card.PAN, t tsp.Token, product, city string) func() promoCall {
	if s.cfg.Promotions == nil {
		return noPromo // without promotions nothing is copied to the heap
	}
	return s.promoBeside(ctx, rec, bankID, pan, t, product, city)
}

func noPromo() promoCall { return promoCall{} }

// promoBeside is startPromo with promotions: applyPromo on a goroutine of
// its own.
func (s *Switch) promoBeside(ctx context.Context, rec Auth, bankID string, pan card.PAN, t tsp.Token, product, city string) func() promoCall {
	done := make(chan promoCall, 1)
	go func() {
		done <- s.applyPromo(ctx, &rec, bankID, pan, t, product, city)
	}()
	return func() promoCall { return <-done }
}

// applyPromo finds the authorization's promotion and reserves it. A
// failure of the promotions is logged and the purchase goes at its price
// (promotions never stop a payment).
func (s *Switch) applyPromo(ctx context.Context, rec *Auth, bankID string, pan card.PAN, t tsp.Token, product, city string) promoCall {
	pr := s.cfg.Promotions
	if pr == nil {
		return promoCall{}
	}
	defer s.hop(HopPromotion, time.Now())
	bin := pan.Digits()
	if len(bin) > 6 {
		bin = bin[:6]
	}
	p := &promo.Purchase{Identity: rec.ID, Card: promoCard(t.PAR, rec.Token.Digits()), Bank: bankID, BIN: bin, Product: product, MCC: rec.MCC,
		Merchant: rec.Merchant, City: city, Channel: channelOf(rec.MCC), Gross: rec.Amount.Minor, At: rec.ReceivedAt}
	if pr.AsksNewCardHolder(p) {
		p.NewCardHolder = s.newCardHolder(ctx, rec, p.Card)
	}
	o, pending, ok, err := pr.Apply(ctx, p)
	if err != nil {
		s.cfg.Log.Error("netswitch: promotions failed; the purchase goes at its price", "err", fault.MessageOf(err))
		return promoCall{}
	}
	if !ok {
		return promoCall{}
	}
	r := o.Redeem(p)
	return promoCall{r: &r, pending: pending}
}

// promoAhead reports whether the promotions decide their holds in memory
// (AheadPromotions).
func (s *Switch) promoAhead() bool {
	a, ok := s.cfg.Promotions.(AheadPromotions)
	return ok && a.DecidesAhead()
}

// AheadPromotions is Promotions that may decide holds in memory and store
// them behind (StorePromotions with a Mirror): then the switch decides the
// promotion before it stores the record, which names the hold.
type AheadPromotions interface {
	Promotions
	DecidesAhead() bool
}

// DecidesAhead reports whether p decides holds in memory (Ahead).
func (p *StorePromotions) DecidesAhead() bool { return p.Ahead != nil }

// settled waits until a hold decided in memory is stored or failed, before
// the switch releases it (nothing to wait for when the hold was stored
// before the issuer was asked); an error means the hold was not made.
func (s *Switch) settled(ctx context.Context, pc promoCall) error {
	if pc.pending == nil {
		return nil
	}
	if pc.pending.Cancel() {
		return promo.ErrCanceled // taken back before it was stored: nothing to void
	}
	_, err := pc.pending.Wait(ctx)
	return err
}

// promoStored returns the error of a hold decided in memory whose commit
// already failed. For an approved authorization it does not wait for a
// commit still running — the record stored before the issuer was asked
// names the hold, and the wing stores it meanwhile (a failure after the
// answer is logged, and the hold restored from the records at the next
// start) — so the answer waits for no promotion; otherwise it waits, so
// that the hold can be released.
func (s *Switch) promoStored(ctx context.Context, pc promoCall, approved bool, stan string) error {
	if pc.pending == nil {
		return nil
	}
	if !approved {
		return s.settled(ctx, pc)
	}
	if done, err := pc.pending.Check(); done {
		return err
	}
	go func() {
		if _, err := pc.pending.Wait(context.WithoutCancel(ctx)); err != nil {
			s.cfg.Log.Error("netswitch: the promotion's hold of an approved authorization was not stored; its record names it (restored at the next start)",
				"stan", safe(stan), "err", fault.MessageOf(err))
		}
	}()
	return nil
}

// promoCard is the card a promotion's limits and enrolment are kept by:
// its PAR, or for a token without one a hash of the token (never a
// card-like number in the promo wing).
func promoCard(par, token string) string {
	if par != "" {
		return par
	}
	sum := sha256.Sum256([]byte("promo-card|" + token))
	return "token:" + hex.EncodeToString(sum[:12])
}

// PromoHold returns the budget hold an approved authorization's record
// names — as the switch decided it, promo.Hold.Decided — and false when
// the record names none (not approved, no promotion). A hold decided in
// memory is named by the record before its wing stores it: after a stop,
// the wing is given the holds of the last records again (idempotent by
// the record's identity).
func PromoHold(a Auth) (promo.Hold, bool) {
	if a.Promo == nil || !a.Approved() || a.Promo.Discount <= 0 {
		return promo.Hold{}, false
	}
	return promo.Hold{ID: a.ID, Campaign: a.Promo.Campaign, Card: promoCard(a.PAR, a.Token.Digits()), Amount: a.Promo.Discount,
		At: a.ReceivedAt, ExpiresAt: a.ReceivedAt.Add(promo.HoldTimeout), Decided: true}, true
}

// TransitMCC is the merchant category of the transit operators' charges
// (transit.TransitMCC): a charge with it is a transit card's top-up from
// the bank card (promo.ChannelTransitTopUp).
const TransitMCC = "4111"

// channelOf is the promotion channel of an authorization: a transit
// top-up by its MCC, else a tap at a store terminal.
func channelOf(mcc string) promo.Channel {
	if mcc == TransitMCC {
		return promo.ChannelTransitTopUp
	}
	return promo.ChannelNFC
}

// newCardHolder reports whether the card has no approved purchase on the
// network before this one (false when that cannot be told).
func (s *Switch) newCardHolder(ctx context.Context, rec *Auth, card string) bool {
	if st, ok := s.cfg.Store.(NewCardHolders); ok && rec.PAR != "" {
		before, err := st.PurchasedBefore(ctx, rec.PAR, rec.ID)
		if err != nil {
			s.cfg.Log.Error("netswitch: cannot read the card's earlier purchases", "err", fault.MessageOf(err))
			return false
		}
		return !before
	}
	as, err := s.cfg.Store.TokenAuths(ctx, []string{rec.Token.Digits()}, 50)
	if err != nil {
		return false
	}
	for _, a := range as {
		if a.ID != rec.ID && a.Approved() {
			return false
		}
	}
	return len(as) < 50
}

// voidPromo releases the promotion's hold of an authorization that is not
// approved (or not any more); a failure is logged (the hold expires).
func (s *Switch) voidPromo(ctx context.Context, rec *Auth) {
	if rec.Promo != nil {
		s.voidHold(ctx, rec)
	}
}

// voidHold releases whatever promotion hold the identity of rec has, its
// record's Promo said or not: a record stored while its promotion was
// being reserved (startPromo) and never answered has a hold its row does
// not name.
func (s *Switch) voidHold(ctx context.Context, rec *Auth) {
	if s.cfg.Promotions == nil {
		return
	}
	if err := s.cfg.Promotions.Void(ctx, rec.ID); err != nil {
		s.cfg.Log.Error("netswitch: cannot void a promotion's hold; it expires", "stan", safe(rec.STAN), "err", fault.MessageOf(err))
	}
}

// instant reports whether r takes the discount off what the card holder
// is charged at authorization.
func instant(r *promo.Redemption) bool { return r != nil && r.Fulfilment == promo.FulfilInstant }

// issuerAmount is what the issuer holds for rec: the net of an instant
// discount, else the amount (both before any partial reversal).
func issuerAmount(rec Auth) int64 {
	if instant(rec.Promo) {
		return rec.Promo.Net
	}
	return rec.Amount.Minor
}

// issuerView is rec as its issuer knows it: the amount it holds (for the
// reversals sent to it and queued).
func issuerView(rec Auth) Auth {
	rec.Amount.Minor = issuerAmount(rec)
	rec.Promo = nil
	return rec
}

// Wire codes of a promotion's fulfilment and funders (DE124 DF63, DF65).
var (
	fulfilmentCode = map[promo.Fulfilment]byte{promo.FulfilInstant: iso8583.PromoInstant,
		promo.FulfilStatementCredit: iso8583.PromoStatementCredit, promo.FulfilPoints: iso8583.PromoPoints}
	funderCode = map[promo.FunderKind]byte{promo.FunderNetwork: iso8583.PromoFunderNetwork,
		promo.FunderIssuer: iso8583.PromoFunderIssuer, promo.FunderMerchant: iso8583.PromoFunderMerchant}
)

// promoData is DE124 toward the issuer: the campaign, gross, discount,
// fulfilment and every funder's share.
func promoData(campaign string, f promo.Fulfilment, gross, discount int64, shares []promo.Share) iso8583.PromotionData {
	pd := iso8583.PromotionData{Campaign: campaign, Gross: gross, Discount: discount, Fulfilment: fulfilmentCode[f]}
	for _, sh := range shares {
		pd.Funders = append(pd.Funders, iso8583.PromotionFunder{Kind: funderCode[sh.Kind], Party: sh.Party, Share: sh.Amount})
	}
	return pd
}

// acquirerPromo is DE124 of the 0110: the campaign, gross, discount,
// fulfilment (the terminal prints "off" for an instant discount, "credited
// after clearing" otherwise) and the campaign's Chinese name (the
// receipt's language; at most 80 bytes).
func (s *Switch) acquirerPromo(r *promo.Redemption) iso8583.PromotionData {
	pd := iso8583.PromotionData{Campaign: r.Campaign, Gross: r.Gross, Discount: r.Discount, Fulfilment: fulfilmentCode[r.Fulfilment]}
	if c, ok := s.cfg.Promotions.Campaign(r.Campaign); ok {
		pd.Name = displayName(c.Name.ZH)
	}
	return pd
}

// displayName keeps a name within DE124's 80 bytes, whole characters,
// without control characters.
func displayName(n string) string {
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, n)
	for len(n) > 80 {
		_, size := utf8.DecodeLastRuneInString(n)
		n = n[:len(n)-size]
	}
	return n
}

// PromoRefund is the promotion's part of a refund record: the split of
// the refund (what the card holder got back, what each funder) and
// whether the campaign's budget took back its part (Restored) — clearing
// applies Restore for a refund of a purchase not posted yet.
type PromoRefund struct {
	Campaign string            `json:"campaign"`
	HoldID   string            `json:"hold_id"` // the purchase's identity
	Split    promo.RefundSplit `json:"split"`
	Restored bool              `json:"restored"`
}
