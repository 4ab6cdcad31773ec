package watch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are etcd's watch series (reference §3.1). A nil *Metrics is
// valid and records nothing.
type Metrics struct {
	watcherTotal    prometheus.Gauge
	streamTotal     prometheus.Gauge
	slowTotal       prometheus.Gauge
	pendingTotal    prometheus.Gauge
	eventsSentTotal prometheus.Counter
}

// NewMetrics registers the watch series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: name, Help: help})
	}
	m := &Metrics{
		watcherTotal: g("watcher_total", "Total number of watchers."),
		streamTotal:  g("watch_stream_total", "Total number of watch streams."),
		slowTotal:    g("slow_watcher_total", "Total number of unsynced slow watchers."),
		pendingTotal: g("pending_events_total", "Total number of pending events to be sent."),
		eventsSentTotal: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "events_total",
			Help: "Total number of events sent by this member."}),
	}
	reg.MustRegister(m.watcherTotal, m.streamTotal, m.slowTotal, m.pendingTotal, m.eventsSentTotal)
	return m
}

func (m *Metrics) watchers(d int) {
	if m != nil {
		m.watcherTotal.Add(float64(d))
	}
}

func (m *Metrics) streams(d int) {
	if m != nil {
		m.streamTotal.Add(float64(d))
	}
}

func (m *Metrics) slow(d int) {
	if m != nil {
		m.slowTotal.Add(float64(d))
	}
}

func (m *Metrics) pending(d int) {
	if m != nil {
		m.pendingTotal.Add(float64(d))
	}
}

func (m *Metrics) events(n int) {
	if m != nil {
		m.eventsSentTotal.Add(float64(n))
	}
}
