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

// Mean is one histogram series read back: how many observations, their
// mean and their buckets (P99 estimates the 99th percentile from them).
type Mean struct {
	Series string  // family{label="value",…}
	Count  uint64  // observations
	Mean   float64 // sum / count (seconds for the _seconds families)
	// Buckets are the cumulative counts at each upper bound, in order.
	Buckets []Bucket
}

// Bucket is a histogram's cumulative count of observations up to Le.
type Bucket struct {
	Le    float64
	Count uint64
}

// P99 estimates the 99th percentile of the observations: the upper bound
// of the bucket that holds it, interpolated linearly within the bucket
// (as Prometheus's histogram_quantile). With no buckets or no
// observations it returns 0; above the last bound it returns that bound.
func (m Mean) P99() float64 { return m.Quantile(0.99) }

// Quantile estimates the q-quantile (0 < q < 1) as P99 does.
func (m Mean) Quantile(q float64) float64 {
	if m.Count == 0 || len(m.Buckets) == 0 {
		return 0
	}
	rank := q * float64(m.Count)
	lo, below := 0.0, uint64(0)
	for _, b := range m.Buckets {
		if float64(b.Count) >= rank {
			if b.Count == below {
				return b.Le
			}
			return lo + (b.Le-lo)*(rank-float64(below))/float64(b.Count-below)
		}
		lo, below = b.Le, b.Count
	}
	return m.Buckets[len(m.Buckets)-1].Le
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
		n       uint64
		sum     float64
		buckets map[float64]uint64
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
			a = &acc{buckets: map[float64]uint64{}}
			by[series] = a
		}
		a.n += h.GetSampleCount()
		a.sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			a.buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	out := make([]Mean, 0, len(by))
	for series, a := range by {
		m := Mean{Series: series, Count: a.n, Mean: a.sum / float64(a.n)}
		for le, n := range a.buckets {
			m.Buckets = append(m.Buckets, Bucket{Le: le, Count: n})
		}
		sort.Slice(m.Buckets, func(i, j int) bool { return m.Buckets[i].Le < m.Buckets[j].Le })
		out = append(out, m)
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
		v, p99 := m.Mean, m.P99()
		if unit == "ms" {
			v, p99 = v*1000, p99*1000
		}
		fmt.Fprintf(w, "  %-58s %9d  mean %10.3f %s  p99 ≈ %9.3f %s\n", m.Series, m.Count, v, unit, p99, unit)
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
				d := Mean{Series: m.Series, Count: n, Mean: (m.Mean*float64(m.Count) - p.Mean*float64(p.Count)) / float64(n)}
				was := map[float64]uint64{}
				for _, b := range p.Buckets {
					was[b.Le] = b.Count
				}
				for _, b := range m.Buckets {
					d.Buckets = append(d.Buckets, Bucket{Le: b.Le, Count: b.Count - was[b.Le]})
				}
				out = append(out, d)
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
