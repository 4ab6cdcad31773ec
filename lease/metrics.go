package lease

import "github.com/prometheus/client_golang/prometheus"

// Metrics are etcd's lease series (reference §3: server/lease/metrics.go
// and etcd_debugging_server_lease_expired_total). A nil *Metrics is valid
// and records nothing.
type Metrics struct {
	granted prometheus.Counter
	revoked prometheus.Counter
	renewed prometheus.Counter
	ttl     prometheus.Histogram
	expired prometheus.Counter
}

// NewMetrics builds the lease series and registers them on reg; it panics
// if reg already holds them (as prometheus.Registerer.MustRegister).
//
//   - etcd_debugging_lease_granted_total   counter: leases granted (every member, at apply)
//   - etcd_debugging_lease_revoked_total   counter: leases revoked (every member, at apply)
//   - etcd_debugging_lease_renewed_total   counter: renewals seen by the leader
//   - etcd_debugging_lease_ttl_total       histogram: granted TTLs in seconds, buckets 1, 2, 4 … 2^23 (24)
//   - etcd_debugging_server_lease_expired_total counter: leases the leader found expired (counted once each)
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(sub, name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: sub, Name: name, Help: help})
	}
	m := &Metrics{
		granted: c("lease", "granted_total", "The total number of granted leases."),
		revoked: c("lease", "revoked_total", "The total number of revoked leases."),
		renewed: c("lease", "renewed_total", "The number of renewed leases seen by the leader."),
		ttl: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "etcd_debugging", Subsystem: "lease", Name: "ttl_total",
			Help: "Bucketed histogram of lease TTLs.",
			// 1 s to about three months (2^23 s), as etcd's 24 buckets.
			Buckets: prometheus.ExponentialBuckets(1, 2, 24),
		}),
		expired: c("server", "lease_expired_total", "The total number of expired leases."),
	}
	reg.MustRegister(m.granted, m.revoked, m.renewed, m.ttl, m.expired)
	return m
}

func (m *Metrics) grant(ttl int64) {
	if m != nil {
		m.granted.Inc()
		m.ttl.Observe(float64(ttl))
	}
}

func (m *Metrics) revoke() {
	if m != nil {
		m.revoked.Inc()
	}
}

func (m *Metrics) renew() {
	if m != nil {
		m.renewed.Inc()
	}
}

func (m *Metrics) expire(n int) {
	if m != nil && n > 0 {
		m.expired.Add(float64(n))
	}
}
