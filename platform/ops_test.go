package platform_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/tapwallet/tapwallet/platform"
	"github.com/tapwallet/tapwallet/reqid"
)

// startOps starts a platform whose log lines carry request ids, as serve's do.
func startOps(t *testing.T, issuersAt map[string]string) *env {
	t.Helper()
	logs := &syncBuffer{}
	data := t.TempDir()
	p, err := platform.Start(context.Background(), platform.Config{DataDir: data, HTTPAddr: "127.0.0.1:0", ArgonTime: 1, IssuersAt: issuersAt,
		Log: slog.New(reqid.Handler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &env{p: p, logs: logs, data: data, clock: &atomic.Int64{}}
}

type readiness struct {
	Status string           `json:"status"`
	Checks []platform.Check `json:"checks"`
}

// TestOperations: after a payment, /readyz passes with a check of every
// wing and every bank's issuer link, /metrics shows the authorization at
// the network and the issuer, each hop, the batches and the pools, and the
// HTTP requests by route pattern; one request's id is echoed, in its error
// answer and in its log lines.
func TestOperations(t *testing.T) {
	e := startOps(t, nil)
	ph, c, conn := e.payingPhone(t, "ops@example.com")
	if rc := tap(t, conn, ph.SE, c, 1234); rc != "00" {
		t.Fatalf("payment answered %s, want 00", rc)
	}

	status, body := callBody(t, "GET", e.p.URL+"/readyz", "", nil)
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil || status != 200 || r.Status != "ready" {
		t.Fatalf("/readyz: %d %s (%v)", status, body, err)
	}
	names := map[string]bool{}
	issuers := 0
	for _, c := range r.Checks {
		names[c.Name] = c.OK
		if strings.HasPrefix(c.Name, "issuer:") {
			issuers++
		}
	}
	for _, want := range []string{"db:tsp", "db:network", "db:wallet", "db:issuer_" + e.p.Banks.Banks[0].ID} {
		if !names[want] {
			t.Errorf("/readyz has no passing check %s: %s", want, body)
		}
	}
	if issuers != len(e.p.Banks.Banks) {
		t.Errorf("/readyz checks %d issuer links, want one per bank (%d)", issuers, len(e.p.Banks.Banks))
	}
	if status, body := callBody(t, "GET", e.p.URL+"/healthz", "", nil); status != 200 {
		t.Errorf("/healthz: %d %s", status, body)
	}

	// An error answer carries the request id it was given, as the header does.
	status, body = callBody(t, "GET", e.p.URL+"/v1/phones", "nope", map[string]string{reqid.Header: "ops-test-1"})
	if status != 401 || !strings.Contains(body, `"request_id":"ops-test-1"`) {
		t.Errorf("GET /v1/phones with a bad session: %d %s; want 401 carrying the id", status, body)
	}
	req, _ := http.NewRequest("GET", e.p.URL+"/v1/phones", nil)
	req.Header.Set(reqid.Header, "ops-test-1")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get(reqid.Header) != "ops-test-1" {
		t.Errorf("X-Request-Id echoed: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	var lines int
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `"request_id":"ops-test-1"`) {
			lines++
			if !strings.Contains(l, `"route":"GET /v1/phones"`) && !strings.Contains(l, `"msg"`) {
				t.Errorf("log line %s", l)
			}
		}
	}
	if lines == 0 {
		t.Errorf("no log line carries the request id:\n%s", e.logs.String())
	}

	_, page := callBody(t, "GET", e.p.URL+"/metrics", "", nil)
	bank := e.p.Banks.Banks[0].ID
	for _, want := range []string{
		`tapwallet_authorizations_total{code="00",role="network"} 1`,
		`tapwallet_authorizations_total{code="00",role="issuer"} 1`,
		`tapwallet_auth_hop_seconds_count{hop="switch"} 1`,
		`tapwallet_auth_hop_seconds_count{hop="token_check"} 1`,
		`tapwallet_auth_hop_seconds_count{hop="issuer"} 1`,
		`tapwallet_auth_hop_seconds_count{hop="ledger_commit"} 1`,
		`tapwallet_db_batch_size_count{wing="network"}`,
		`tapwallet_db_batch_size_count{wing="issuer_`,
		`go_sql_open_connections{db_name="tsp"}`,
		`go_sql_open_connections{db_name="issuer_` + bank + `"}`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
		`tapwallet_http_requests_total{method="POST",route="POST /v1/phones/{phone}/cards",status="201"} 1`,
		`tapwallet_http_requests_total{method="GET",route="GET /v1/phones",status="401"} 2`,
		`tapwallet_http_requests_total{method="GET",route="GET /readyz",status="200"} 1`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(page, "\n") {
			if strings.HasPrefix(l, "tapwallet_") && !strings.Contains(l, "_bucket") {
				t.Log(l)
			}
		}
	}
	// Route labels are patterns: no phone id, token or other raw path.
	for _, m := range regexp.MustCompile(`route="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[1], "ph_") || strings.Contains(m[1], "tok_") || regexp.MustCompile(`\d{6,}`).MatchString(m[1]) {
			t.Errorf("route label %q holds an id", m[1])
		}
	}
}

// TestNotReadyWithoutIssuer: a bank whose issuer host cannot be reached
// fails /readyz (503) with that bank's link named; /healthz still passes.
func TestNotReadyWithoutIssuer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nobody listens there now
	probe := startOps(t, nil)
	bank := probe.p.Banks.Banks[3].ID
	probe.p.Close()

	e := startOps(t, map[string]string{bank: dead})
	status, body := callBody(t, "GET", e.p.URL+"/readyz", "", nil)
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil || status != http.StatusServiceUnavailable || r.Status != "not_ready" {
		t.Fatalf("/readyz: %d %s, want 503 not_ready", status, body)
	}
	for _, c := range r.Checks {
		if want := c.Name != "issuer:"+bank; c.OK != want {
			t.Errorf("check %s ok=%v (%s), want %v", c.Name, c.OK, c.Error, want)
		}
	}
	if status, _ := callBody(t, "GET", e.p.URL+"/healthz", "", nil); status != 200 {
		t.Errorf("/healthz: %d, want 200 (alive though not ready)", status)
	}
}

// TestDocumentedRoutesServed keys the API documents on the mux the
// platform builds: each documented operation, asked of a platform running
// every role, is served by the route pattern of the same method and path
// (the pattern the HTTP metrics name), not by a fallback.
func TestDocumentedRoutesServed(t *testing.T) {
	e := startOps(t, nil)
	want := map[string]bool{}
	for _, path := range []string{"../docs/openapi.yaml", "../docs/openapi-operators.yaml"} {
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for p, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				want[method+" "+p] = true
				url := e.p.URL + regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(p, "x")
				req, _ := http.NewRequest(method, url, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
		}
	}
	fams, err := e.p.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != "tapwallet_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					served[l.GetValue()] = true
				}
			}
		}
	}
	t.Logf("%d documented, %d route patterns served", len(want), len(served))
	if len(want) < 30 {
		t.Fatalf("only %d documented operations: the documents did not load", len(want))
	}
	for r := range want {
		if !served[r] {
			t.Errorf("documented %s: the platform's mux has no such route pattern", r)
		}
	}
}

// TestReadyFollowsRemoteTSP: a process reaching the token service in
// another process is ready while it answers and not once it is gone.
func TestReadyFollowsRemoteTSP(t *testing.T) {
	ctx := context.Background()
	tspData, frontData := t.TempDir(), t.TempDir()
	back, err := platform.Start(ctx, platform.Config{DataDir: tspData, HTTPAddr: "127.0.0.1:0", Roles: platform.Roles{platform.RoleTSP: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	for _, f := range []string{"keys.json", "tsp-secret"} {
		b, err := os.ReadFile(filepath.Join(tspData, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(frontData, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	front, err := platform.Start(ctx, platform.Config{DataDir: frontData, HTTPAddr: "127.0.0.1:0", ArgonTime: 1,
		Roles: platform.Roles{platform.RoleWallet: true}, TSPURL: back.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	tspCheck := func() platform.Check {
		t.Helper()
		checks, _ := front.Ready(ctx)
		for _, c := range checks {
			if strings.HasPrefix(c.Name, "tsp:") {
				return c
			}
		}
		t.Fatalf("no tsp check in %+v", checks)
		return platform.Check{}
	}
	if c := tspCheck(); !c.OK {
		t.Errorf("token service up: check %+v, want ok", c)
	}
	back.Close()
	if c := tspCheck(); c.OK || c.Error == "" {
		t.Errorf("token service gone: check %+v, want failed with why", c)
	}
	if status, body := callBody(t, "GET", front.URL+"/readyz", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the token service gone: %d %s, want 503", status, body)
	}
}
