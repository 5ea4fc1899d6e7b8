package platform

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tapwallet/tapwallet/fault"
	"github.com/tapwallet/tapwallet/metrics"
	"github.com/tapwallet/tapwallet/reqid"
	"github.com/tapwallet/tapwallet/sqldb"
	"github.com/tapwallet/tapwallet/tsp/tsphttp"
)

// What an operator sees of a running platform: /metrics (Prometheus),
// /readyz (each database and issuer link of the roles this process runs),
// /healthz (alive), and request ids in the log lines and error answers.

// Metrics returns the platform's metrics registry (Config.Metrics, or the
// one New made).
func (p *Platform) Metrics() *metrics.Registry { return p.cfg.Metrics }

// wings returns the databases this process has open, by wing name.
func (p *Platform) openWings() map[string]*sqldb.DB {
	out := map[string]*sqldb.DB{}
	if p.wings.wallet != nil {
		out["wallet"] = p.wings.wallet.DB
	}
	if p.wings.portal != nil {
		out["portal"] = p.wings.portal.DB
	}
	if p.net.tokens != nil {
		out["tsp"] = p.net.tokens.DB
	}
	if p.NetworkDB != nil {
		out["network"] = p.NetworkDB
	}
	for id, st := range p.net.banks {
		out["issuer_"+id] = st.DB
	}
	if p.transit.store != nil {
		out["transit"] = p.transit.store.DB
	}
	if p.transit.acq != nil {
		out["acquirer"] = p.transit.acq.DB
	}
	return out
}

// meterWings hands each open wing's batches and pool (go_sql_* with
// db_name=WING) to the metrics, with the Go runtime's and the process's
// collectors.
func (p *Platform) meterWings() {
	m := p.cfg.Metrics
	m.Register(collectors.NewGoCollector())
	m.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for name, db := range p.openWings() {
		db.SetBatchMeter(m.Wing(name))
		m.Register(collectors.NewDBStatsCollector(db.SQL(), name))
	}
}

// Check is one readiness check of /readyz.
type Check struct {
	Name  string `json:"name"` // db:WING or issuer:BANK
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyTimeout bounds one /readyz.
const readyTimeout = 3 * time.Second

// Ready checks what the roles of this process need: each open database
// answers a ping and, with the network role, each bank's issuer host link
// is up (dialled and signed on); with the token service in another
// process (Config.TSPURL), it answers. It returns the checks, sorted by
// name, and whether all passed.
func (p *Platform) Ready(ctx context.Context) ([]Check, bool) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var mu sync.Mutex
	var checks []Check
	add := func(name string, err error) {
		c := Check{Name: name, OK: err == nil}
		if err != nil {
			c.Error = fault.MessageOf(err)
		}
		mu.Lock()
		checks = append(checks, c)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for name, db := range p.openWings() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			add("db:"+name, db.SQL().PingContext(ctx))
		}()
	}
	if c, ok := p.Requestor.(*tsphttp.Client); ok && p.Tokens == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			add("tsp:"+c.URL, tspAnswers(ctx, c))
		}()
	}
	if p.Switch != nil {
		for bank, err := range p.Switch.CheckIssuers(ctx) {
			add("issuer:"+bank, err)
		}
	}
	wg.Wait()
	sort.Slice(checks, func(i, j int) bool { return checks[i].Name < checks[j].Name })
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	return checks, ok
}

// tspAnswers asks the token service in another process for an empty
// device's cards, as tspClient does at start: an answer, even a refusal of
// the question, is a token service that is up and takes the secret.
func tspAnswers(ctx context.Context, c *tsphttp.Client) error {
	_, err := c.Cards(ctx, "")
	switch k := fault.KindOf(err); {
	case err == nil, k == fault.Invalid, k == fault.NotFound:
		return nil
	}
	return err
}

// readyz answers 200 when Ready passes, else 503, with the checks.
func (p *Platform) readyz(w http.ResponseWriter, r *http.Request) {
	checks, ok := p.Ready(r.Context())
	status, code := "ready", http.StatusOK
	if !ok {
		status, code = "not_ready", http.StatusServiceUnavailable
		for _, c := range checks {
			if !c.OK {
				p.Log.WarnContext(r.Context(), "not ready", "check", c.Name, "err", c.Error)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "roles": p.cfg.Roles.String(), "checks": checks})
}

// mountOps routes /metrics and /readyz on mux.
func (p *Platform) mountOps(mux *http.ServeMux) {
	mux.Handle("GET /metrics", p.cfg.Metrics.Handler())
	mux.HandleFunc("GET /readyz", p.readyz)
}

// serveHTTP wraps h with the request id (reqid.Middleware), one log line
// per request carrying it, and the HTTP metrics by route pattern.
func (p *Platform) serveHTTP(h http.Handler) http.Handler {
	return reqid.Middleware(h, func(r *http.Request, route string, status int, took time.Duration) {
		p.cfg.Metrics.HTTP(r.Method, route, status, took)
		p.Log.InfoContext(r.Context(), "http", "method", r.Method, "route", route, "path", maskPath(r.URL.Path), "status", status, "ms", took.Milliseconds())
	})
}
