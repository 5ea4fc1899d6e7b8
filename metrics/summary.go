package metrics

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Mean is one histogram series read back: how many observations and
// their mean.
type Mean struct {
	Series string  // family{label="value",…}
	Count  uint64  // observations
	Mean   float64 // sum / count (seconds for the _seconds families)
}

// Summary are the histograms' means that `tapwallet bench auth` prints:
// the hops of an authorization and the group-commit batches.
type Summary struct {
	Hops         []Mean // tapwallet_auth_hop_seconds by hop
	BatchSizes   []Mean // tapwallet_db_batch_size by wing
	BatchSeconds []Mean // tapwallet_db_batch_seconds by wing
	// Authorizations by role and response code.
	Authorizations map[string]float64
}

// Summarize reads the histograms of families (from Registry.Gather or a
// scrape) into a Summary; series with no observation are left out, and
// the banks' wings (issuer_<bankid>) are read as one, wing="issuer_*".
func Summarize(families []*dto.MetricFamily) Summary {
	s := Summary{Authorizations: map[string]float64{}}
	for _, f := range families {
		switch f.GetName() {
		case NameHopSeconds:
			s.Hops = means(f)
		case NameBatchSize:
			s.BatchSizes = means(f)
		case NameBatchSeconds:
			s.BatchSeconds = means(f)
		case NameAuthorizations:
			for _, m := range f.GetMetric() {
				s.Authorizations[labels(m)] += m.GetCounter().GetValue()
			}
		}
	}
	return s
}

func means(f *dto.MetricFamily) []Mean {
	type acc struct {
		n   uint64
		sum float64
	}
	by := map[string]*acc{}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h.GetSampleCount() == 0 {
			continue
		}
		series := f.GetName() + "{" + bankWings.ReplaceAllString(labels(m), `wing="issuer_*"`) + "}"
		a := by[series]
		if a == nil {
			a = &acc{}
			by[series] = a
		}
		a.n += h.GetSampleCount()
		a.sum += h.GetSampleSum()
	}
	out := make([]Mean, 0, len(by))
	for series, a := range by {
		out = append(out, Mean{Series: series, Count: a.n, Mean: a.sum / float64(a.n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Series < out[j].Series })
	return out
}

// bankWings matches the label of a bank's own wing.
var bankWings = regexp.MustCompile(`wing="issuer_[a-z0-9_]+"`)

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return strings.Join(parts, ",")
}

// Gather reads the registry in process. It fails only if a collector does.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) { return r.reg.Gather() }

// Scrape reads a /metrics page (the text exposition format) at url. It
// fails when the page cannot be fetched or read.
func Scrape(client *http.Client, url string) ([]*dto.MetricFamily, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("metrics: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: scrape %s: status %d", url, resp.StatusCode)
	}
	return parse(resp.Body)
}

func parse(r io.Reader) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: read the exposition: %w", err)
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	return out, nil
}

// Print writes the summary as a small table: each series' observations
// and mean (milliseconds for times).
func (s Summary) Print(w io.Writer) {
	row := func(m Mean, unit string) {
		v := m.Mean
		if unit == "ms" {
			v *= 1000
		}
		fmt.Fprintf(w, "  %-58s %9d  mean %10.3f %s\n", m.Series, m.Count, v, unit)
	}
	for _, m := range s.Hops {
		row(m, "ms")
	}
	for _, m := range s.BatchSizes {
		row(m, "calls")
	}
	for _, m := range s.BatchSeconds {
		row(m, "ms")
	}
}

// Since returns what s observed after before was read (both of one
// registry): each series' observations and mean over that span alone.
func (s Summary) Since(before Summary) Summary {
	sub := func(now, then []Mean) []Mean {
		prev := map[string]Mean{}
		for _, m := range then {
			prev[m.Series] = m
		}
		var out []Mean
		for _, m := range now {
			p := prev[m.Series]
			if n := m.Count - p.Count; n > 0 {
				out = append(out, Mean{Series: m.Series, Count: n, Mean: (m.Mean*float64(m.Count) - p.Mean*float64(p.Count)) / float64(n)})
			}
		}
		return out
	}
	out := Summary{Hops: sub(s.Hops, before.Hops), BatchSizes: sub(s.BatchSizes, before.BatchSizes),
		BatchSeconds: sub(s.BatchSeconds, before.BatchSeconds), Authorizations: map[string]float64{}}
	for k, v := range s.Authorizations {
		if d := v - before.Authorizations[k]; d > 0 {
			out.Authorizations[k] = d
		}
	}
	return out
}
