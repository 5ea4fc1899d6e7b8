// Package metrics is what `tapwallet serve` tells Prometheus: one registry
// per process and its typed instruments — authorizations by role and
// response code, the latency of each hop of an authorization, the sizes
// and times of group-commit batches, the token service's and the risk
// engine's decisions, HTTP requests by route pattern and status, and the
// database pools of each storage wing. The parties never import it (nor
// Prometheus): each takes a small interface or function field in its
// config (netswitch.Meter, issuer.Meter, tsp.Meter, risk.Meter,
// sqldb.BatchMeter), and the platform hands them the values this package
// makes.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The hops of an authorization, the values of the label hop of
// tapwallet_auth_hop_seconds.
const (
	HopSwitch       = "switch"        // terminal → network: the switch's whole decision, from the 0100 read to the answer
	HopTokenCheck   = "token_check"   // the switch asking the token service (detokenize, cryptogram, counters)
	HopIssuer       = "issuer"        // the switch's round trip to the issuer host over ISO 8583
	HopPromotion    = "promotion"     // the switch matching the campaigns and reserving the best one's budget
	HopLedgerCommit = "ledger_commit" // the issuer host's hold in its ledger, queueing for its batch included
)

// Names of the metric families, for readers (bench auth) and docs.
const (
	NameAuthorizations = "tapwallet_authorizations_total"
	NameHopSeconds     = "tapwallet_auth_hop_seconds"
	NameBatchSize      = "tapwallet_db_batch_size"
	NameBatchSeconds   = "tapwallet_db_batch_seconds"
	NameHTTPRequests   = "tapwallet_http_requests_total"
	NameHTTPSeconds    = "tapwallet_http_request_seconds"
)

// Registry is one process's metrics: a Prometheus registry with
// tapwallet's instruments, and the collectors the assembly adds (Register:
// the Go runtime, the process, the database pools — this package imports
// no database package). Its methods are safe for concurrent use; a nil
// *Registry records nothing.
type Registry struct {
	reg          *prometheus.Registry
	auths        *prometheus.CounterVec
	hops         *prometheus.HistogramVec
	batchSize    *prometheus.HistogramVec
	batchSeconds *prometheus.HistogramVec
	httpReqs     *prometheus.CounterVec
	httpSeconds  *prometheus.HistogramVec
	dec          decisions // the token service's and the risk engine's (decisions.go)

	// hopObs and answered are the hops' histograms and the authorization
	// counters by role and code, each looked up in its family the first
	// time it is used only (an authorization records four or five hops).
	hopObs   seriesCache[string, prometheus.Observer]
	answered seriesCache[[2]string, prometheus.Counter]
}

// latencyBuckets span a tenth of a millisecond (a cached token check) to
// five seconds (beyond the issuer timeout).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// New makes a registry with every instrument registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.auths = prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameAuthorizations,
		Help: "Authorizations (0100) answered, by the role that answered (network: the switch to the acquirer; issuer: a bank's host to the network) and ISO 8583 response code."},
		[]string{"role", "code"})
	r.hops = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameHopSeconds,
		Help:    "Time of one hop of an authorization: switch (terminal to network, whole decision), token_check, issuer (round trip), ledger_commit (the issuer's hold).",
		Buckets: latencyBuckets}, []string{"hop"})
	r.batchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameBatchSize,
		Help:    "Calls gathered into one group-commit batch (one transaction), by storage wing.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048}}, []string{"wing"})
	r.batchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameBatchSeconds,
		Help:    "Time of one group-commit batch's transaction, by storage wing.",
		Buckets: latencyBuckets}, []string{"wing"})
	r.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameHTTPRequests,
		Help: "HTTP requests answered, by method, route pattern (never the raw path) and status."},
		[]string{"method", "route", "status"})
	r.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameHTTPSeconds,
		Help: "Time to answer an HTTP request, by route pattern.", Buckets: latencyBuckets}, []string{"route"})
	r.reg.MustRegister(r.auths, r.hops, r.batchSize, r.batchSeconds, r.httpReqs, r.httpSeconds)
	r.dec = newDecisions(r.reg)
	return r
}

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Gatherer is the registry, for reading it in process (Summarize).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Party is the meter of one role (network, issuer): the switch and the
// issuer hosts take it as their Meter.
type Party struct {
	r    *Registry
	role string
}

// Party returns the meter of role.
func (r *Registry) Party(role string) Party { return Party{r: r, role: role} }

// Hop records how long one hop of an authorization took.
func (p Party) Hop(hop string, took time.Duration) {
	if p.r == nil {
		return
	}
	p.r.hopObs.get(hop, func() prometheus.Observer { return p.r.hops.WithLabelValues(hop) }).Observe(took.Seconds())
}

// Answered counts an authorization answered with the response code rc.
func (p Party) Answered(rc string) {
	if p.r != nil {
		if rc == "" {
			rc = "none"
		}
		p.r.answered.get([2]string{p.role, rc}, func() prometheus.Counter { return p.r.auths.WithLabelValues(p.role, rc) }).Inc()
	}
}

// maxKept bounds the series a Registry keeps looked up (hops and codes are
// few: this is a guard, not a limit one meets).
const maxKept = 4096

// seriesCache keeps series looked up, by key: read without a lock (the
// map is never changed once published; a new key publishes a copy), so
// the switch's and the issuer hosts' goroutines on every core share no
// lock word per hop.
type seriesCache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // publishing a copy
}

// get returns the series kept under key, or looks it up (lookup) and keeps
// it.
func (c *seriesCache[K, V]) get(key K, lookup func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[key]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var prev map[K]V
	if m := c.m.Load(); m != nil {
		prev = *m
	}
	if v, ok := prev[key]; ok {
		return v
	}
	v := lookup()
	if len(prev) < maxKept {
		m := make(map[K]V, len(prev)+1)
		for k, kv := range prev {
			m[k] = kv
		}
		m[key] = v
		c.m.Store(&m)
	}
	return v
}

// Wing is the meter of one storage wing's group-commit batches (a
// sqldb.BatchMeter).
type Wing struct {
	size, secs prometheus.Observer
}

// Wing returns the batch meter of the wing named name.
func (r *Registry) Wing(name string) Wing {
	return Wing{size: r.batchSize.WithLabelValues(name), secs: r.batchSeconds.WithLabelValues(name)}
}

// Batch records one batch of size calls whose transaction took took.
func (w Wing) Batch(size int, took time.Duration) {
	w.size.Observe(float64(size))
	w.secs.Observe(took.Seconds())
}

// Register adds a collector (the Go runtime's, the process's, a database
// pool's: prometheus/collectors). A collector of the same metrics as one
// registered before is left out: the first stays.
func (r *Registry) Register(c prometheus.Collector) {
	_ = r.reg.Register(c) // only prometheus.AlreadyRegisteredError
}

// HTTP counts one request answered: its method, the route pattern that
// matched ("" when none did: counted as "unmatched"), its status and time.
func (r *Registry) HTTP(method, route string, status int, took time.Duration) {
	if r == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
	default:
		method = "other" // a client's made-up method is not a new series
	}
	r.httpReqs.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	r.httpSeconds.WithLabelValues(route).Observe(took.Seconds())
}
