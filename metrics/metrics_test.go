package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/tapwallet/tapwallet/metrics"
)

func TestInstrumentsExposedAndReadBack(t *testing.T) {
	r := metrics.New()
	sw, iss := r.Party("network"), r.Party("issuer")
	sw.Hop(metrics.HopSwitch, 4*time.Millisecond)
	sw.Hop(metrics.HopSwitch, 6*time.Millisecond)
	sw.Hop(metrics.HopTokenCheck, time.Millisecond)
	sw.Answered("00")
	sw.Answered("00")
	sw.Answered("51")
	iss.Answered("00")
	w := r.Wing("issuer_0102")
	w.Batch(10, 2*time.Millisecond)
	w.Batch(30, 4*time.Millisecond)
	r.Wing("issuer_0103").Batch(20, time.Millisecond)
	r.Wing("network").Batch(7, time.Millisecond)
	r.HTTP("GET", "GET /v1/phones/{phone}/cards", 200, time.Millisecond)
	r.HTTP("BREW", "", 404, time.Millisecond)
	r.Register(collectors.NewGoCollector())
	r.Register(collectors.NewGoCollector()) // twice: counted once, no panic

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tapwallet_authorizations_total{code="00",role="network"} 2`,
		`tapwallet_authorizations_total{code="51",role="network"} 1`,
		`tapwallet_authorizations_total{code="00",role="issuer"} 1`,
		`tapwallet_auth_hop_seconds_count{hop="switch"} 2`,
		`tapwallet_db_batch_size_sum{wing="issuer_0102"} 40`,
		`tapwallet_http_requests_total{method="GET",route="GET /v1/phones/{phone}/cards",status="200"} 1`,
		`tapwallet_http_requests_total{method="other",route="unmatched",status="404"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	fams, err := metrics.Scrape(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := metrics.Summarize(fams)
	local, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := metrics.Summarize(local); len(got.Hops) != len(s.Hops) || len(got.BatchSizes) != len(s.BatchSizes) {
		t.Errorf("in process %+v, scraped %+v: want the same series", got, s)
	}
	mean := func(ms []metrics.Mean, series string) float64 {
		for _, m := range ms {
			if m.Series == series {
				return m.Mean
			}
		}
		t.Errorf("no series %s in %+v", series, ms)
		return 0
	}
	// The banks' wings are read as one.
	if got := mean(s.BatchSizes, `tapwallet_db_batch_size{wing="issuer_*"}`); got != 20 {
		t.Errorf("mean batch size of the banks' wings %v, want 20", got)
	}
	if got := mean(s.BatchSizes, `tapwallet_db_batch_size{wing="network"}`); got != 7 {
		t.Errorf("mean batch size of the network's wing %v, want 7", got)
	}
	if got := mean(s.Hops, `tapwallet_auth_hop_seconds{hop="switch"}`); got < 0.00499 || got > 0.00501 {
		t.Errorf("mean switch hop %v s, want 0.005", got)
	}
	if got := s.Authorizations[`code="00",role="network"`]; got != 2 {
		t.Errorf("authorizations 00 at the network: %v, want 2", got)
	}
	// What came after a reading, alone.
	w.Batch(100, time.Millisecond)
	local, _ = r.Gather()
	d := metrics.Summarize(local).Since(s)
	if len(d.BatchSizes) != 1 || d.BatchSizes[0].Count != 1 || d.BatchSizes[0].Mean != 100 || len(d.Hops) != 0 {
		t.Errorf("Since: %+v, want one batch of 100 and no hop", d)
	}
	var out strings.Builder
	s.Print(&out)
	if !strings.Contains(out.String(), `tapwallet_db_batch_size{wing="issuer_*"}`) || !strings.Contains(out.String(), "5.000 ms") {
		t.Errorf("Print:\n%s", out.String())
	}
}

// TestNilPartyRecordsNothing: a zero Party (no registry) is a valid meter.
func TestNilPartyRecordsNothing(t *testing.T) {
	var p metrics.Party
	p.Hop(metrics.HopIssuer, time.Second)
	p.Answered("00")
	var r *metrics.Registry
	r.HTTP("GET", "/", 200, time.Second)
}
