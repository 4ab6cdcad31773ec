package mvcc

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store-level series etcd exports from its mvcc package,
// with etcd's names, types, help texts and buckets. Request counters
// (etcd_mvcc_put_total, _delete_total, _range_total, _txn_total) count
// requests, so the apply and API layers own them. Every field is usable
// when the store was opened without a Registerer (then nothing exports it).
type metrics struct {
	// now is the clock the durations are measured with (Options.Now).
	now func() time.Time
	// compactedKeys counts Pebble keys removed by the compactor
	// (etcd_debugging_mvcc_db_compaction_keys_total).
	compactedKeys prometheus.Counter
	// compactionPause is etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds:
	// one observation per compactor batch (the time the compactor holds its
	// lock, as etcd's per-batch pause of its backend), milliseconds,
	// ExponentialBuckets(1, 2, 13).
	compactionPause prometheus.Histogram
	// compactionTotal is etcd_debugging_mvcc_db_compaction_total_duration_milliseconds:
	// one observation per finished physical compaction, from its first batch
	// to its last, milliseconds, ExponentialBuckets(100, 2, 14).
	compactionTotal prometheus.Histogram
	// compactionLast is etcd_debugging_mvcc_db_compaction_last: the Unix
	// time, seconds, of the last finished physical compaction (0 until one
	// finishes after start, as etcd's).
	compactionLast prometheus.Gauge
	// indexCompactionPause is etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds
	// (ExponentialBuckets(0.5, 2, 14)). It stays at zero observations: etcd
	// times the compaction of its in-memory key index, and Concord keeps no
	// such index (versions are found by seeks in Pebble), so there is no
	// such pause.
	indexCompactionPause prometheus.Histogram
	// hashRev is etcd_mvcc_hash_rev_duration_seconds: one observation per
	// HashKV that hashed the history, seconds, ExponentialBuckets(.01, 2, 15).
	hashRev prometheus.Histogram
	// hash is etcd_mvcc_hash_duration_seconds (same buckets). It stays at
	// zero observations: etcd times its Maintenance.Hash (a hash of the
	// whole backend file), which Concord does not serve.
	hash prometheus.Histogram
	// putSize is etcd_debugging_mvcc_total_put_size_in_bytes: the sum of
	// len(key)+len(value) of every Put this member's store has applied (a
	// gauge, as etcd's).
	putSize prometheus.Gauge
	// openReads is etcd_mvcc_db_open_read_transactions: the reads (Range,
	// RangeStream, Events, HashKV) holding a Pebble iterator or snapshot
	// right now, as etcd counts its open backend read transactions.
	openReads atomic.Int64
}

// registerMetrics creates the store's metrics and registers them on r
// (nil: created but not registered). On error nothing stays registered.
func (s *Store) registerMetrics(r prometheus.Registerer, now func() time.Time) error {
	m := &s.metrics
	if now == nil {
		now = time.Now
	}
	m.now = now
	hist := func(ns, name, help string, b []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "mvcc", Name: name, Help: help, Buckets: b})
	}
	m.compactedKeys = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd_debugging",
		Subsystem: "mvcc",
		Name:      "db_compaction_keys_total",
		Help:      "Total number of db keys compacted.",
	})
	m.compactionPause = hist("etcd_debugging", "db_compaction_pause_duration_milliseconds",
		"Bucketed histogram of db compaction pause duration.", prometheus.ExponentialBuckets(1, 2, 13))
	m.compactionTotal = hist("etcd_debugging", "db_compaction_total_duration_milliseconds",
		"Bucketed histogram of db compaction total duration.", prometheus.ExponentialBuckets(100, 2, 14))
	m.indexCompactionPause = hist("etcd_debugging", "index_compaction_pause_duration_milliseconds",
		"Bucketed histogram of index compaction pause duration.", prometheus.ExponentialBuckets(0.5, 2, 14))
	m.compactionLast = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "db_compaction_last",
		Help: "The unix time of the last db compaction. Resets to 0 on start."})
	m.hashRev = hist("etcd", "hash_rev_duration_seconds",
		"The latency distribution of storage hash by revision operation.", prometheus.ExponentialBuckets(.01, 2, 15))
	m.hash = hist("etcd", "hash_duration_seconds",
		"The latency distribution of storage hash operation.", prometheus.ExponentialBuckets(.01, 2, 15))
	m.putSize = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "total_put_size_in_bytes",
		Help: "The total size of put kv pairs seen by this member."})
	if r == nil {
		return nil
	}
	cs := []prometheus.Collector{
		m.compactedKeys, m.compactionPause, m.compactionTotal, m.indexCompactionPause, m.compactionLast,
		m.hashRev, m.hash, m.putSize,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "etcd",
			Subsystem: "mvcc",
			Name:      "db_open_read_transactions",
			Help:      "The number of currently open read transactions",
		}, func() float64 { return float64(m.openReads.Load()) }),
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

// readOpened counts one open read; call the returned func when it ends.
func (m *metrics) readOpened() func() {
	m.openReads.Add(1)
	return func() { m.openReads.Add(-1) }
}

// millis is d in (fractional) milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
