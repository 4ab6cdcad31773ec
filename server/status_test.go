package server

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestStatusLatencies: the status page's percentiles are PromQL's
// histogram_quantile over the summed series of a histogram: observations
// of 1, 2, 3 and 4 ms (twice each, in two label series) in buckets of 1,
// 2, 4 and 8 ms.
func TestStatusLatencies(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "etcd_server_apply_duration_seconds",
		Buckets: []float64{0.001, 0.002, 0.004, 0.008}}, []string{"op"})
	reg.MustRegister(h)
	for _, op := range []string{"Put", "Txn"} {
		for _, v := range []float64{0.001, 0.002, 0.003, 0.004} {
			h.WithLabelValues(op).Observe(v)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	lats, _ := latencies(families)
	if len(lats) != len(statusLatencies) {
		t.Fatalf("%d latencies, want one per histogram of statusLatencies (%d)", len(lats), len(statusLatencies))
	}
	for _, l := range lats {
		if l.Name != "etcd_server_apply_duration_seconds" {
			if l.Count != 0 || l.P50 != nil {
				t.Errorf("%s: %+v, want no observations", l.Name, l)
			}
			continue
		}
		// 8 observations: cumulative 2, 4, 8, 8. Rank 4 (p50) ends the
		// 2 ms bucket; rank 7.2 (p90) is 3.2/4 into (2, 4] ms; rank 7.92
		// (p99) is 3.92/4 into it.
		for _, c := range []struct {
			name string
			got  *float64
			want float64
		}{{"p50", l.P50, 0.002}, {"p90", l.P90, 0.0036}, {"p99", l.P99, 0.00396}} {
			if c.got == nil || math.Abs(*c.got-c.want) > 1e-12 {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if l.Count != 8 {
			t.Errorf("count %d, want 8", l.Count)
		}
	}
}

// TestStatusQuantileInf: a rank in the +Inf bucket answers the highest
// finite bound, as histogram_quantile does.
func TestStatusQuantileInf(t *testing.T) {
	got := quantile(0.99, []float64{0.001, math.Inf(1)}, []uint64{1, 10}, 10)
	if got == nil || *got != 0.001 {
		t.Fatalf("got %v, want 0.001", got)
	}
}
