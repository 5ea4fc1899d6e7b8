package platform

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/promo"
	promostore "github.com/tapwallet/tapwallet/promo/sqlstore"
)

// promoParty is the network's promotions (docs/promotions.md): the promo
// wing, its reservations group-committed (Batch), and the switch's view
// of the campaigns, rebuilt when they change.
type promoParty struct {
	store  *promostore.Store
	batch  *promostore.Batch // store, with Reserve batched; closes store
	sw     *netswitch.StorePromotions
	mu     sync.Mutex // one refresh at a time (the loop's, RefreshPromotions)
	seen   [32]byte   // the campaigns' fingerprint sw was built from
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// promoRefresh is how often the campaigns are read again for changes
// (saved, paused) made by the command or another process.
const promoRefresh = 3 * time.Second

// promoOff reports Config.PromoOff.
func promoOff(cfg Config) bool { return cfg.PromoOff }

// newPromo opens the promo wing, seeds promo.Defaults() when it has no
// campaigns, and starts following the campaigns' changes. Nothing with
// Config.PromoOff. It fails like promo/sqlstore.Open and the store.
func (p *Platform) newPromo(ctx context.Context, cfg Config) error {
	if promoOff(cfg) {
		return nil
	}
	st, err := promostore.Open(ctx, p.Place.DSN, p.Place.Dir)
	if err != nil {
		return err
	}
	st.DB.Now = cfg.Now
	pp := &p.net.promo
	pp.store, pp.batch = st, promostore.NewBatch(st)
	cs, err := st.Campaigns(ctx)
	if err == nil && len(cs) == 0 {
		if cs, err = promo.Defaults(); err == nil {
			if err = st.Save(ctx, cs); err == nil {
				cs, err = st.Campaigns(ctx)
			}
		}
	}
	if err != nil {
		p.closePromo()
		return err
	}
	pp.sw = netswitch.NewPromotions(pp.batch, cs)
	if soleNetwork(cfg) {
		pp.sw.Ahead = promo.NewMirror(pp.batch)
	}
	pp.seen = fingerprint(cs)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pp.cancel = cancel
	pp.wg.Add(1)
	go func() {
		defer pp.wg.Done()
		t := time.NewTicker(promoRefresh)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				p.refreshPromo(rctx)
			}
		}
	}()
	return nil
}

// soleNetwork reports whether this process is the only network process
// reserving in the promotions' store: every role runs here (serve, demo,
// bench). Then the switch decides the holds in memory (promo.Mirror) and
// stores them while the issuer is asked; with --roles, other network
// processes may share the store and each hold is stored before the
// issuer is asked (docs/promotions.md).
func soleNetwork(cfg Config) bool { return cfg.Roles == nil }

// refreshPromo reads the campaigns and rebuilds the switch's matcher when
// they changed, and has the mirror read the budgets again; a failure keeps
// what it had (logged).
func (p *Platform) refreshPromo(ctx context.Context) {
	pp := &p.net.promo
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if m := pp.sw.Ahead; m != nil {
		if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("promotions: cannot read the budgets; counting what is known", "err", fault.MessageOf(err))
		}
	}
	cs, err := pp.store.Campaigns(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.Log.Warn("promotions: cannot read the campaigns; matching with the ones known", "err", fault.MessageOf(err))
		}
		return
	}
	if f := fingerprint(cs); f != pp.seen {
		pp.sw.Set(netswitch.NewPromoSet(cs))
		pp.seen = f
		p.Log.Info("promotions: campaigns changed; matcher rebuilt", "campaigns", len(cs))
	}
}

// RefreshPromotions reads the campaigns again now and rebuilds the
// switch's matcher if they changed, as the platform does by itself every
// few seconds: for whoever just saved or paused a campaign in this process
// (the demo) and wants the next authorization to see it. Nothing with
// Config.PromoOff.
func (p *Platform) RefreshPromotions(ctx context.Context) {
	if p.net.promo.sw != nil {
		p.refreshPromo(ctx)
	}
}

// fingerprint is a hash of the campaigns as stored (definitions and
// pauses).
func fingerprint(cs []promo.Campaign) [32]byte {
	b, _ := json.Marshal(cs)
	return sha256.Sum256(b)
}

// closePromo stops following the campaigns and closes the promo wing.
func (p *Platform) closePromo() {
	pp := &p.net.promo
	if pp.cancel != nil {
		pp.cancel()
		pp.wg.Wait()
		pp.cancel = nil
	}
	if pp.batch != nil {
		pp.batch.Close() // closes pp.store too
	} else if pp.store != nil {
		pp.store.Close()
	}
	pp.batch, pp.store, pp.sw = nil, nil, nil
}

// Promotions returns the network's promo store (the promo wing, its
// reservations batched) for the command, the wallet API and the portal;
// nil with Config.PromoOff.
func (p *Platform) Promotions() promo.Store {
	if p.net.promo.batch == nil {
		return nil
	}
	return p.net.promo.batch
}

// switchPromotions is the switch's Config.Promotions: nil with
// Config.PromoOff.
func (p *Platform) switchPromotions() netswitch.Promotions {
	if p.net.promo.sw == nil {
		return nil
	}
	return p.net.promo.sw
}
