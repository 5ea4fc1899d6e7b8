package portal

import (
	"context"
	"net/http"
	"time"

	"github.com/tapwallet/tapwallet/bank"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/money"
	"github.com/tapwallet/tapwallet/promo"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/walletapi"
)

// Promotions are the promotions as the portal shows them on a card
// (docs/promotions.md; the platform adapts the promo wing,
// platform/portal_promo.go): the campaigns, the offers a card holder
// added to a card, and adding one.
type Promotions interface {
	// Campaigns returns every campaign (promo.Store.Campaigns).
	Campaigns(ctx context.Context) ([]promo.Campaign, error)
	// Enrolled returns the campaigns card was added to (promo.Store.Enrolled).
	Enrolled(ctx context.Context, card string) (map[string]bool, error)
	// Enrol adds the campaign to card (promo.Store.Enrol).
	Enrol(ctx context.Context, campaign, card string) error
	// Card is a token's card as the switch matches purchases: its
	// reference (never a card number: the enrolments' key), bank, BIN
	// prefix and product.
	Card(t tsp.Token) promo.Purchase
}

// Points is a bank's points programme as the portal reads it
// (bank.Rewards): a card's points by its PAR, never its number.
type Points interface {
	Points(ctx context.Context, bankID, par string) (bank.Points, error)
}

// offerView is a campaign a card can get, in the visitor's language.
type offerView struct {
	ID        string
	Name      string
	Benefit   string // "满¥100减¥50", "¥50.00 off ¥100.00 or more"
	How       string // off at the till, credited after clearing, points
	Where     string // only some merchants, new card holders … ("" when anywhere)
	Ends      time.Time
	AddToCard bool // the holder must add it to the card first
	Added     bool // … and has
}

// pointsView is a card's points at its bank.
type pointsView struct {
	Balance   int64
	Worth     money.Amount // what the balance pays
	Expiring  int64
	ExpiresAt time.Time
}

// cardPromotions fills in each card's offers and points. A promotions or
// points read that fails is logged and the card shown without them: a
// card holder looking for a lost phone is never refused for it.
func (p *Portal) cardPromotions(ctx context.Context, t *tr, cards []cardView) {
	if p.cfg.Promotions == nil && p.cfg.Points == nil {
		return
	}
	var cs []promo.Campaign
	if p.cfg.Promotions != nil {
		var err error
		if cs, err = p.cfg.Promotions.Campaigns(ctx); err != nil {
			p.cfg.Log.WarnContext(ctx, "portal: the campaigns could not be read", "err", err)
			cs = nil
		}
	}
	for i := range cards {
		c := &cards[i]
		if len(cs) > 0 {
			if offers, err := p.offers(ctx, t, cs, c.tok); err != nil {
				p.cfg.Log.WarnContext(ctx, "portal: a card's offers could not be read", "err", err)
			} else {
				c.Offers, c.Promotions = offers, true
			}
		}
		if p.cfg.Points != nil && c.tok.PAR != "" {
			pts, err := p.cfg.Points.Points(ctx, c.tok.BankID, c.tok.PAR)
			if err != nil {
				if fault.KindOf(err) != fault.NotFound { // a bank no host here answers for: no points shown
					p.cfg.Log.WarnContext(ctx, "portal: a card's points could not be read", "err", err)
				}
				continue
			}
			c.Points = &pointsView{Balance: pts.Balance, Worth: money.New(pts.Balance*pts.FenPerPoint, money.CNY),
				Expiring: pts.Expiring, ExpiresAt: pts.ExpiresAt}
		}
	}
}

// offers are the campaigns tok's card can get now, by the card's side of
// eligibility (bank or BIN range, product, window, not paused): where the
// card is used (merchant, category, city, first purchase) is said in
// words, not checked. An "add to card" campaign is offered with
// whether the holder added it.
func (p *Portal) offers(ctx context.Context, t *tr, cs []promo.Campaign, tok tsp.Token) ([]offerView, error) {
	pc := p.cfg.Promotions.Card(tok)
	enrolled, err := p.cfg.Promotions.Enrolled(ctx, pc.Card)
	if err != nil {
		return nil, err
	}
	var out []offerView
	for i := range cs {
		c := cs[i]
		if !cardEligible(c, pc, p.now()) {
			continue
		}
		o := offerView{ID: c.ID, Name: c.Name.EN, Benefit: t.benefit(c.Mechanic), How: t.T("offer.how." + string(c.Fulfilment)),
			Where: t.where(c), Ends: c.Window.End, AddToCard: c.Enrolment == promo.EnrolAddToCard, Added: enrolled[c.ID]}
		if t.lang == LangZH {
			o.Name = c.Name.ZH
		}
		out = append(out, o)
	}
	return out, nil
}

// cardEligible reports whether the card pc may use c now, whatever it
// buys — as the wallet API offers it to the phone (walletapi.OfferedTo:
// not paused, inside its window, the card's bank or BIN range, product).
func cardEligible(c promo.Campaign, pc promo.Purchase, at time.Time) bool {
	return walletapi.OfferedTo(&c, walletapi.OfferCard{PAR: pc.Card, Bank: pc.Bank, BIN: pc.BIN, Product: pc.Product}, at)
}

// benefit is a mechanic in words: "满¥100.00减¥50.00", "5% back, at most ¥20.00".
func (t *tr) benefit(m promo.Mechanic) string {
	y := func(a promo.Amount) string { return Money(money.New(int64(a), money.CNY)) }
	switch m.Kind {
	case promo.MechanicFixed:
		if m.Threshold > 0 {
			return t.T("offer.fixed_over", "Save", y(m.Amount), "Spend", y(m.Threshold))
		}
		return t.T("offer.fixed", "Save", y(m.Amount))
	case promo.MechanicPercent:
		pct := money.FormatMinor(int64(m.PercentBP), 2)
		if m.Cap > 0 {
			return t.T("offer.percent_cap", "Percent", pct, "Cap", y(m.Cap))
		}
		return t.T("offer.percent", "Percent", pct)
	case promo.MechanicTiers:
		s := ""
		for i, tier := range m.Tiers {
			if i > 0 {
				s += t.T("offer.tier_sep")
			}
			s += t.T("offer.fixed_over", "Save", y(tier.Save), "Spend", y(tier.Spend))
		}
		return s
	case promo.MechanicRandom:
		if m.Threshold > 0 {
			return t.T("offer.random_over", "Min", y(m.Min), "Max", y(m.Max), "Spend", y(m.Threshold))
		}
		return t.T("offer.random", "Min", y(m.Min), "Max", y(m.Max))
	}
	return ""
}

// where says what of the purchase the campaign restricts.
func (t *tr) where(c promo.Campaign) string {
	e := c.Eligibility
	s := ""
	add := func(id string) {
		if s != "" {
			s += t.T("offer.tier_sep")
		}
		s += t.T(id)
	}
	if len(e.MCCs) > 0 {
		add("offer.where.mcc")
	}
	if len(e.Merchants) > 0 {
		add("offer.where.merchant")
	}
	if len(e.Cities) > 0 {
		add("offer.where.city")
	}
	if e.NewCardHolder {
		add("offer.where.new")
	}
	for _, ch := range c.Channels {
		if ch == promo.ChannelTransitTopUp && len(c.Channels) == 1 {
			add("offer.where.transit")
		}
	}
	return s
}

// addOffer adds an "add to card" offer to a card of the visitor's phone
// (form fields card and offer). Another account's phone, a card not on
// it, or an offer the card cannot get is not found.
func (p *Portal) addOffer(w http.ResponseWriter, r *http.Request, v *visit) {
	if p.cfg.Promotions == nil {
		p.fail(w, r, v, fault.E(fault.NotFound, "no_page", "there is no such page"))
		return
	}
	ctx := r.Context()
	ph, c, err := p.phoneCard(r, v)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	cs, err := p.cfg.Promotions.Campaigns(ctx)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	want, pc := r.PostForm.Get("offer"), p.cfg.Promotions.Card(c.tok)
	for _, camp := range cs {
		if camp.ID == want && camp.Enrolment == promo.EnrolAddToCard && cardEligible(camp, pc, p.now()) {
			if err := p.cfg.Promotions.Enrol(ctx, camp.ID, pc.Card); err != nil {
				p.fail(w, r, v, err)
				return
			}
			http.Redirect(w, r, "/phones/"+ph.ID+"?done=offer", http.StatusSeeOther)
			return
		}
	}
	p.fail(w, r, v, fault.E(fault.NotFound, "no_offer", "this card cannot get that offer"))
}

// discount is a payment's promotion in the visitor's words: "¥50.00 off,
// funded by ICBC" (an instant discount), "¥5.00 back after clearing,
// funded by CCB", "bonus points worth ¥5.00 …".
func (t *tr) discount(pm Payment) string {
	r := pm.Promo
	if r == nil || r.Discount <= 0 {
		return ""
	}
	amt := Money(money.New(r.Discount, pm.Amount.Currency))
	by := ""
	for i, s := range r.Shares {
		if i > 0 {
			by += t.T("funder.sep")
		}
		by += t.funder(s, pm)
	}
	switch r.Fulfilment {
	case promo.FulfilStatementCredit:
		return t.T("discount.credit", "Amount", amt, "By", by)
	case promo.FulfilPoints:
		return t.T("discount.points", "Amount", amt, "By", by)
	}
	return t.T("discount.instant", "Amount", amt, "By", by)
}

// funder names who pays a share: the card network, a bank by its name,
// or the merchant.
func (t *tr) funder(s promo.Share, pm Payment) string {
	switch s.Kind {
	case promo.FunderNetwork:
		return t.T("funder.network")
	case promo.FunderMerchant:
		return t.T("funder.merchant")
	}
	if t.Has("bank." + s.Party) {
		return t.T("bank." + s.Party)
	}
	if s.Party == pm.BankID && pm.BankName != "" {
		return pm.BankName
	}
	return t.T("funder.bank")
}
