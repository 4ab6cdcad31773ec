package mvcc

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store-level series etcd exports from its mvcc package,
// with etcd's names, types and help texts. Request counters
// (etcd_mvcc_put_total, _delete_total, _range_total, _txn_total) count
// requests, so the apply and API layers own them.
type metrics struct {
	// compactedKeys counts Pebble keys removed by the compactor.
	compactedKeys prometheus.Counter
}

// registerMetrics creates the store's metrics and registers them on r
// (nil: created but not registered). On error nothing stays registered.
func (s *Store) registerMetrics(r prometheus.Registerer) error {
	s.metrics.compactedKeys = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_keys_total",
		Help:      "Total number of db keys compacted.",
	})
	if r == nil {
		return nil
	}
	cs := []prometheus.Collector{
		s.metrics.compactedKeys,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "etcd_debugging",
			Subsystem: "mvcc",
			Name:      "current_revision",
			Help:      "The current revision of store.",
		}, func() float64 { return float64(s.Rev()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "etcd_debugging",
			Subsystem: "mvcc",
			Name:      "compact_revision",
			Help:      "The revision of the last compaction in store.",
		}, func() float64 { return float64(s.CompactRev()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "etcd_debugging",
			Subsystem: "mvcc",
			Name:      "keys_total",
			Help:      "Total number of keys.",
		}, func() float64 { return float64(s.KeyCount()) }),
	}
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			for _, done := range cs[:i] {
				r.Unregister(done)
			}
			return fmt.Errorf("mvcc: register metrics: %w", err)
		}
	}
	return nil
}
