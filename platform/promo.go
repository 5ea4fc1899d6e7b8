package platform

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"github.com/tapwallet/tapwallet/datasync"
	"os"
	"path/filepath"
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
	mark   string            // DATA/promo.clean, left by a clean close (none on PostgreSQL without a data folder)
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
	if soleNetwork(cfg) {
		// The mirror decides every hold and the wing stores it behind the
		// record that names it: after a stop, the records give the wing
		// what it missed.
		if err := p.restorePromoHolds(ctx); err != nil {
			p.closePromo()
			return err
		}
	}
	pp.sw = netswitch.NewPromotions(pp.batch, cs)
	if soleNetwork(cfg) {
		pp.sw.Ahead = promo.NewMirror(pp.batch)
		if err := pp.sw.Ahead.Refresh(ctx); err != nil {
			p.closePromo()
			return err
		}
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

// promoRestoreWindow is how far before the switch's last record a start
// after a stop looks for holds the records name (a hold is stored within
// milliseconds of its record; minutes leave room for a busy disk).
const promoRestoreWindow = 10 * time.Minute

// restorePromoHolds gives the promo wing again, after a stop that did not
// close it clean (no mark DATA/promo.clean), the holds the switch's last
// records name: the switch answers an approval once its record (which
// names the hold) is stored, and the wing stores its copy behind, so a
// stop between the two can leave a discount given without its hold in the
// wing. Idempotent by the records' identities. It takes the mark away (a
// clean close puts it back). It fails when the records or the wing cannot
// be read.
func (p *Platform) restorePromoHolds(ctx context.Context) error {
	pp := &p.net.promo
	if p.Place.Dir != "" {
		pp.mark = filepath.Join(p.Place.Dir, promoCleanMark)
		if _, err := os.Stat(pp.mark); err == nil {
			// Gone for good before anything is decided: a stop from now
			// on must find no mark.
			err := os.Remove(pp.mark)
			if err == nil {
				err = datasync.Dir(p.Place.Dir)
			}
			if err != nil {
				return fault.Wrap(err, fault.Unavailable, "promo_mark", "remove the promotions' clean mark")
			}
			return nil
		}
	}
	if p.Records == nil {
		return nil
	}
	as, err := p.Records.Promoted(ctx, promoRestoreWindow)
	if err != nil {
		return err
	}
	var hs []promo.Hold
	for _, a := range as {
		if h, ok := netswitch.PromoHold(a); ok {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return nil
	}
	refused, err := pp.store.Restore(ctx, hs)
	if err != nil {
		return err
	}
	p.Log.Info("promotions: the holds the switch's last records name given to the wing again", "holds", len(hs), "refused", refused)
	return nil
}

// promoCleanMark is the file a clean close of the promo wing leaves in
// the data folder (every hold the switch decided stored).
const promoCleanMark = "promo.clean"

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
	// Clean: every hold the mirror decided is in the wing (the switch is
	// stopped: no more decisions).
	clean := pp.sw != nil && pp.sw.Ahead != nil && pp.sw.Ahead.Settle() == 0
	var err error
	if pp.batch != nil {
		err = pp.batch.Close() // closes pp.store too
	} else if pp.store != nil {
		err = pp.store.Close()
	}
	if clean && err == nil && pp.mark != "" {
		if err := os.WriteFile(pp.mark, nil, 0o600); err == nil {
			_ = datasync.Dir(filepath.Dir(pp.mark))
		}
	}
	pp.batch, pp.store, pp.sw = nil, nil, nil
}

// Promotions returns the network's promo store (the promo wing, its
// reservations batched) for the command, the wallet API and the portal;
// nil with Config.PromoOff.
func (p *Platform) Promotions() promo.Store {
	pp := &p.net.promo
	if pp.batch == nil {
		return nil
	}
	if pp.sw != nil && pp.sw.Ahead != nil {
		// What the switch decided is what its readers see.
		return promo.SettledStore{MirrorStore: pp.batch, M: pp.sw.Ahead}
	}
	return pp.batch
}

// switchPromotions is the switch's Config.Promotions: nil with
// Config.PromoOff.
func (p *Platform) switchPromotions() netswitch.Promotions {
	if p.net.promo.sw == nil {
		return nil
	}
	return p.net.promo.sw
}
