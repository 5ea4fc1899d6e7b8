package platform

import (
	"context"
	"time"

	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/netswitch"
	"github.com/tapwallet/tapwallet/risk"
	risksqlstore "github.com/tapwallet/tapwallet/risk/sqlstore"
	"github.com/tapwallet/tapwallet/tsp"
	"github.com/tapwallet/tapwallet/walletapi"
)

// riskParty is the risk engine and its wing (risk.db, or the schema risk):
// the network asks it before the issuer, the token service before ID&V,
// and the wallet API shows its cases as "was this you?" alerts.
type riskParty struct {
	store  *risksqlstore.Store
	engine *risk.Engine
	meter  risk.Meter // the metrics of the engine's decisions (Config.Metrics)
	stop   chan struct{}
	// placesFed is set when the wallet tells the engine each place a
	// phone reports (placeHook): the switch then reads phones' places
	// from the engine's state, not from the wallet's wing.
	placesFed bool
}

// placeHook is the wallet's hook for the places phones report, once the
// wallet has one (wallet.Service.OnLocation: f called after each reported
// place is stored).
type placeHook interface {
	OnLocation(f func(ctx context.Context, phoneID string, lat, lon float64, at time.Time))
}

// riskPlaceReported keeps a place a phone reported as its sighting in the
// risk engine's state (Engine.RecordPlace): read with the taps, no SQL on
// the authorization's path. Failures are logged (the travel rules then
// miss that place).
func (p *Platform) riskPlaceReported(ctx context.Context, phoneID string, lat, lon float64, at time.Time) {
	if err := p.risk.engine.RecordPlace(ctx, phoneID, risk.Sighting{Place: risk.Place{Lat: lat, Lon: lon}, At: at}); err != nil {
		p.Log.Error("risk: keeping a reported place failed", "err", fault.MessageOf(err))
	}
}

// newRisk opens the risk wing and builds the engine with the latest
// stored rule set (the default one when none is stored), unless
// Config.RiskOff; a periodic prune keeps the counters small. It fails like
// risksqlstore.Open and risk.Latest.
func (p *Platform) newRisk(ctx context.Context, cfg Config) error {
	if cfg.RiskOff || !(cfg.Roles.Has(RoleNetwork) || cfg.Roles.Has(RoleTSP) || cfg.Roles.Has(RoleWallet)) {
		return nil
	}
	st, err := risksqlstore.Open(ctx, cfg.DSN, cfg.DataDir)
	if err != nil {
		return err
	}
	st.DB.Now = cfg.Now
	st.SetLog(p.Log)
	set, err := risk.Latest(ctx, st)
	if fault.Has(err, fault.NotFound, risk.CodeNoVersion) {
		set, err = risk.Default(), nil
	}
	if err == nil {
		p.risk.engine, err = risk.New(set, st)
	}
	if err != nil {
		st.Close()
		return err
	}
	p.risk.store, p.risk.stop, p.risk.meter = st, make(chan struct{}), cfg.Metrics.Risk()
	if h, ok := any(p.Wallet).(placeHook); ok && p.Wallet != nil {
		h.OnLocation(p.riskPlaceReported)
		p.risk.placesFed = true
	}
	go p.pruneRisk(cfg)
	return nil
}

func (p *Platform) pruneRisk(cfg Config) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-p.risk.stop:
			return
		case <-t.C:
			if err := p.risk.store.Prune(context.Background(), cfg.Now()); err != nil {
				p.Log.Error("risk: prune failed", "err", err)
			}
		}
	}
}

// Risk returns the risk engine (nil when the platform runs without it).
func (p *Platform) Risk() *risk.Engine { return p.risk.engine }

// RiskCases returns the "was this you?" cases (nil without the engine).
func (p *Platform) RiskCases() risk.Cases {
	if p.risk.store == nil {
		return nil
	}
	return p.risk.store
}

// switchRisk is the network's risk check (nil without the engine).
func (p *Platform) switchRisk() *netswitch.Risk {
	if p.risk.engine == nil {
		return nil
	}
	r := &netswitch.Risk{Engine: risk.Metered{Engine: p.risk.engine, Meter: p.risk.meter}, Keep: p.risk.store}
	if p.Wallet != nil && !p.risk.placesFed { // until the wallet feeds the engine: a read of the wallet's wing per authorization
		r.Places = walletFacts{p}
	}
	return r
}

// bindingRisk is the token service's risk check (nil without the engine).
func (p *Platform) bindingRisk() *tsp.Risk {
	if p.risk.engine == nil {
		return nil
	}
	r := &tsp.Risk{Engine: risk.Metered{Engine: p.risk.engine, Meter: p.risk.meter}, Keep: p.risk.store}
	if p.Wallet != nil {
		r.Phones = walletFacts{p}
	}
	return r
}

// mountAlerts adds the wallet API's "was this you?" routes.
func (p *Platform) mountAlerts(cfg Config) {
	if p.API != nil && p.risk.store != nil {
		p.API.MountAlerts(walletapi.Alerts{Cases: p.risk.store, State: p.risk.store, Now: cfg.Now})
	}
}

func (p *Platform) closeRisk() {
	if p.risk.store != nil {
		close(p.risk.stop)
		p.risk.store.Close()
		p.risk.store = nil
	}
}

// walletFacts is what the wallet and the lost-phone switch know of a
// phone, for the risk checks: its last reported place (the network) and
// its and its account's age and last switch-off (the token service).
type walletFacts struct{ p *Platform }

func (w walletFacts) LastPlace(ctx context.Context, phoneID string) (risk.Sighting, bool, error) {
	ph, err := w.p.Wallet.Phone(ctx, phoneID)
	if fault.KindOf(err) == fault.NotFound {
		return risk.Sighting{}, false, nil
	}
	if err != nil || ph.Lat == nil || ph.Lon == nil || ph.LocatedAt.IsZero() {
		return risk.Sighting{}, false, err
	}
	return risk.Sighting{Place: risk.Place{Lat: *ph.Lat, Lon: *ph.Lon}, At: ph.LocatedAt}, true, nil
}

func (w walletFacts) PhoneFacts(ctx context.Context, deviceID, accountID string) (tsp.PhoneFacts, error) {
	var f tsp.PhoneFacts
	if ph, err := w.p.Wallet.Phone(ctx, deviceID); err == nil {
		f.PhoneCreated = ph.CreatedAt
	}
	if acc, err := w.p.Wallet.Account(ctx, accountID); err == nil {
		f.AccountCreated = acc.CreatedAt
	}
	if w.p.Lost != nil {
		if sw, err := w.p.Lost.History(ctx, accountID, deviceID); err == nil && len(sw) > 0 {
			f.LostAt = sw[0].OffAt
		}
	}
	return f, nil
}

// RiskDecisions returns the kept decisions and rule set versions (nil
// without the engine).
func (p *Platform) RiskDecisions() risk.Versions {
	if p.risk.store == nil {
		return nil
	}
	return p.risk.store
}
