package server

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/api"
	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/raftnode"
)

// featureStages is the maturity etcd gives each server feature gate, the
// "stage" label of etcd_server_feature_enabled ("" means GA). AllAlpha and
// AllBeta are the generic gates etcd's feature gate always carries.
var featureStages = map[string]string{
	"AllAlpha":                              "ALPHA",
	"AllBeta":                               "BETA",
	config.GateStopGRPCServiceOnDefrag:      "ALPHA",
	config.GateInitialCorruptCheck:          "ALPHA",
	config.GateCompactHashCheck:             "ALPHA",
	config.GateTxnModeWriteWithSharedBuffer: "BETA",
	config.GateLeaseCheckpoint:              "ALPHA",
	config.GateLeaseCheckpointPersist:       "ALPHA",
	config.GateSetMemberLocalAddr:           "ALPHA",
	config.GateFastLeaseKeepAlive:           "BETA",
	config.GatePriorityRequest:              "ALPHA",
}

// memberMetrics are the member-level series the server owns, beyond the
// info and size gauges registerServerMetrics sets up once.
type memberMetrics struct {
	// api holds the gRPC, client traffic and mvcc request series.
	api *api.Metrics
	// commitDuration is etcd_disk_backend_commit_duration_seconds: the
	// apply loop's batch commit, seconds, ExponentialBuckets(0.001, 2, 14).
	commitDuration prometheus.Histogram
	// commitWrite is etcd_debugging_disk_backend_commit_write_duration_seconds,
	// the disk-write phase of a backend commit: for Pebble that is the whole
	// batch commit (WAL write and fsync), so it observes what commitDuration
	// does. etcd's other two phases, rebalance and spill
	// (etcd_debugging_disk_backend_commit_{rebalance,spill}_duration_seconds),
	// are bbolt B+tree work that Pebble has no counterpart for; they are
	// exported with no observations.
	commitWrite, commitRebalance, commitSpill prometheus.Histogram
	// applyDuration is etcd_server_apply_duration_seconds{version, op,
	// success}: each applied request, version "v3", op etcd's name of the
	// request (Put, Txn, LeaseGrant, ClusterMemberAttrSet, ...), success
	// whether it succeeded (a compacted revision counts as success, as
	// etcd's), ExponentialBuckets(0.0001, 2, 20).
	applyDuration *prometheus.HistogramVec
	// slowApply is etcd_server_slow_apply_total: requests that took longer
	// than --warning-apply-duration to apply.
	slowApply prometheus.Counter
	// healthSuccess and healthFailures count GET /health answers.
	healthSuccess, healthFailures prometheus.Counter
	// warnApply is the slow-apply threshold.
	warnApply time.Duration
}

// registerServerMetrics registers the member-level series etcd exports
// with their etcd names, types, help texts and labels (reference §3.1):
// version/ID info gauges, DB size and quota, the backend commit histogram,
// slow applies, file descriptors, /health counts, feature gates, and the
// API's series (api.NewMetrics; grpc_server_handling_seconds with
// --metrics=extensive). Series that read the applier or the raft node are
// added by registerMemberState once those exist.
func registerServerMetrics(reg prometheus.Registerer, cfg *config.Config, id identity, db *pebble.DB) (*memberMetrics, error) {
	info := func(name, help, label, value string) {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Name: name, Help: help}, []string{label})
		g.WithLabelValues(value).Set(1)
		reg.MustRegister(g)
	}
	info("server_version", "Which version is running. 1 for 'server_version' label with current version.", "server_version", config.APIVersion)
	info("cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version", "cluster_version", config.MajorMinor(config.ClusterVersion))
	info("server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", "server_id", fmt.Sprintf("%x", id.member))
	info("server_go_version", "Which Go version server is running with. 1 for 'server_go_version' label with current version.", "server_go_version", runtime.Version())

	size := func() float64 { s, _ := dbSize(db); return float64(s) }
	// Logically in use never exceeds physically allocated: Pebble's live
	// estimate counts the memtable, which is not on disk yet.
	inUse := func() float64 { s, u := dbSize(db); return float64(min(s, u)) }
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_bytes",
			Help: "Total size of the underlying database physically allocated in bytes."}, size),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_use_in_bytes",
			Help: "Total size of the underlying database logically in use in bytes."}, inUse),
		// The pre-3.5 name, still queried by Grafana dashboard 3070.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "db_total_size_in_bytes",
			Help: "Total size of the underlying database physically allocated in bytes."}, size),
	)
	q := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "quota_backend_bytes",
		Help: "Current backend storage quota size in bytes."})
	q.Set(float64(cfg.QuotaBytes()))
	reg.MustRegister(q)

	features := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "etcd_server_feature_enabled",
		Help: "Whether or not a feature is enabled. 1 is enabled, 0 is not."}, []string{"name", "stage"})
	gates := cfg.FeatureGates
	if gates == nil {
		gates = config.DefaultFeatureGates()
	}
	for name, stage := range featureStages {
		features.WithLabelValues(name, stage).Set(b2f(gates[name]))
	}
	for name, on := range gates {
		if _, ok := featureStages[name]; !ok {
			features.WithLabelValues(name, "ALPHA").Set(b2f(on))
		}
	}
	reg.MustRegister(features)

	if _, err := fdUsed(); err == nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "os", Subsystem: "fd", Name: "used",
				Help: "The number of used file descriptors."}, func() float64 { n, _ := fdUsed(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "os", Subsystem: "fd", Name: "limit",
				Help: "The file descriptor limit."}, func() float64 { n, _ := fdLimit(); return float64(n) }),
		)
	}

	commitHist := func(ns, name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "disk", Name: name,
			Help: help, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	}
	m := &memberMetrics{
		commitDuration: commitHist("etcd", "backend_commit_duration_seconds", "The latency distributions of commit called by backend."),
		commitWrite: commitHist("etcd_debugging", "backend_commit_write_duration_seconds",
			"The latency distributions of commit.write called by bboltdb backend."),
		commitRebalance: commitHist("etcd_debugging", "backend_commit_rebalance_duration_seconds",
			"The latency distributions of commit.rebalance called by bboltdb backend."),
		commitSpill: commitHist("etcd_debugging", "backend_commit_spill_duration_seconds",
			"The latency distributions of commit.spill called by bboltdb backend."),
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "server", Name: "apply_duration_seconds",
			Help: "The latency distributions of v2 apply called by backend.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20)},
			[]string{"version", "op", "success"}),
		slowApply: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "slow_apply_total",
			Help: "The total number of slow apply requests (likely overloaded from slow disk)."}),
		healthSuccess: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "health_success",
			Help: "The total number of successful health checks"}),
		healthFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "health_failures",
			Help: "The total number of failed health checks"}),
		warnApply: cfg.WarningApplyDuration,
	}
	if m.warnApply <= 0 {
		m.warnApply = 100 * time.Millisecond
	}
	reg.MustRegister(m.commitDuration, m.commitWrite, m.commitRebalance, m.commitSpill, m.applyDuration,
		m.slowApply, m.healthSuccess, m.healthFailures)
	registerAbsentSubsystems(reg)
	var err error
	if m.api, err = api.NewMetrics(reg, cfg.Metrics == "extensive"); err != nil {
		return nil, err
	}
	return m, nil
}

// registerMemberState registers the series read from the applier and the
// raft node at scrape time: etcd_server_proposals_applied_total (a gauge
// despite the name, as etcd's: the applied index),
// etcd_server_is_learner, and etcd_network_known_peers from the
// membership. It also lets the API track
// etcd_server_proposals_pending, a gauge the raft metrics own.
func (m *memberMetrics) registerMemberState(reg prometheus.Registerer, a *apply.Applier, node *raftnode.Node, rm *raftnode.Metrics,
	local uint64, cluster *membership.Cluster) {
	reg.MustRegister(
		newKnownPeers(local, cluster.Members),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_applied_total",
			Help: "The total number of consensus proposals applied."}, func() float64 { return float64(a.Applied().Index) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "is_learner",
			Help: "Whether or not this member is a learner. 1 if is, 0 otherwise."}, func() float64 { return b2f(node.Status().IsLearner) }),
	)
	if rm != nil {
		m.api.ProposalsPending = rm.ProposalsPending
	}
}

// onRequest is the apply loop's per-request hook: mvcc request counters
// and slow applies.
func (m *memberMetrics) onRequest(r *pb.InternalRaftRequest, res *apply.Result, took time.Duration) {
	m.api.ObserveApplied(r, res)
	ok := res == nil || res.Err == nil || errors.Is(res.Err, mvcc.ErrCompacted)
	m.applyDuration.WithLabelValues("v3", applyOp(r), strconv.FormatBool(ok)).Observe(took.Seconds())
	if took > m.warnApply {
		m.slowApply.Inc()
	}
}

// onCommit is the apply loop's per-batch hook.
func (m *memberMetrics) onCommit(took time.Duration) {
	m.commitDuration.Observe(took.Seconds())
	m.commitWrite.Observe(took.Seconds())
}

// applyOp is etcd's op label of etcd_server_apply_duration_seconds for r.
func applyOp(r *pb.InternalRaftRequest) string {
	switch {
	case r.Range != nil:
		return "Range"
	case r.Put != nil:
		return "Put"
	case r.DeleteRange != nil:
		return "DeleteRange"
	case r.Txn != nil:
		return "Txn"
	case r.Compaction != nil:
		return "Compaction"
	case r.LeaseGrant != nil:
		return "LeaseGrant"
	case r.LeaseRevoke != nil:
		return "LeaseRevoke"
	case r.LeaseCheckpoint != nil:
		return "LeaseCheckpoint"
	case r.Alarm != nil:
		return "Alarm"
	case r.ClusterVersionSet != nil:
		return "ClusterVersionSet"
	case r.ClusterMemberAttrSet != nil:
		return "ClusterMemberAttrSet"
	case r.DowngradeInfoSet != nil:
		return "DowngradeInfoSet"
	}
	return "unknown"
}

// registerAbsentSubsystems registers, with etcd's names, types, help
// texts and labels, the series of etcd subsystems Concord does not have,
// so that dashboards and alerts written for etcd find every series they
// query. None of them ever moves, and each says why:
//
//   - the v2 store (etcd_debugging_store_*): etcd keeps its membership in an
//     in-memory v2 store and counts its reads and writes by action; Concord
//     keeps membership in Pebble (package membership) and serves no v2 API.
//     The action series are the ones a fresh etcd 3.6 member shows
//     (getRecursive reads; create and set writes), at 0;
//   - the gRPC proxy (etcd_grpc_proxy_*): etcd's binary registers them
//     whether or not it runs as "etcd grpc-proxy"; Concord has no proxy.
func registerAbsentSubsystems(reg prometheus.Registerer) {
	store := func(name, help string) prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: name, Help: help})
	}
	reads := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "reads_total",
		Help: "Total number of reads action by (get/getRecursive), local to this member."}, []string{"action"})
	reads.WithLabelValues("getRecursive")
	writes := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "writes_total",
		Help: "Total number of writes (e.g. set/compareAndDelete) seen by this member."}, []string{"action"})
	writes.WithLabelValues("create")
	writes.WithLabelValues("set")
	proxyGauge := func(name, help string) prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "grpc_proxy", Name: name, Help: help})
	}
	reg.MustRegister(
		reads, writes,
		store("expires_total", "Total number of expired keys."),
		store("watch_requests_total", "Total number of incoming watch requests (new or reestablished)."),
		prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "store", Name: "watchers",
			Help: "Count of currently active watchers."}),
		proxyGauge("cache_hits_total", "Total number of cache hits"),
		proxyGauge("cache_misses_total", "Total number of cache misses"),
		proxyGauge("cache_keys_total", "Total number of keys/ranges cached"),
		proxyGauge("watchers_coalescing_total", "Total number of current watchers coalescing"),
		prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "grpc_proxy", Name: "events_coalescing_total",
			Help: "Total number of events coalescing"}),
	)
}

// knownPeers is etcd_network_known_peers{Local, Remote}: 1 for every
// member of the cluster this member knows (itself included, as etcd), read
// from the membership at scrape time.
type knownPeers struct {
	desc    *prometheus.Desc
	local   uint64
	members func() []membership.Member
}

func newKnownPeers(local uint64, members func() []membership.Member) *knownPeers {
	return &knownPeers{
		desc: prometheus.NewDesc("etcd_network_known_peers", "The current number of known peers.",
			[]string{"Local", "Remote"}, nil),
		local:   local,
		members: members,
	}
}

func (k *knownPeers) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

func (k *knownPeers) Collect(ch chan<- prometheus.Metric) {
	l := fmt.Sprintf("%x", k.local)
	for _, m := range k.members() {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, 1, l, fmt.Sprintf("%x", m.ID))
	}
}

// countHealth wraps the HTTP endpoints so that every GET /health answer
// counts in etcd_server_health_success (200) or _failures (others), as
// etcd's /health handler counts.
func (m *memberMetrics) countHealth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" || r.Method != http.MethodGet {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.code == http.StatusOK {
			m.healthSuccess.Inc()
		} else {
			m.healthFailures.Inc()
		}
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// fdUsed is the number of open file descriptors of this process, counted
// in /proc/self/fd as etcd does (Linux only; an error elsewhere).
func fdUsed() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}

// fdLimit is the soft limit on open files from /proc/self/limits.
func fdLimit() (uint64, error) {
	f, err := os.Open("/proc/self/limits")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Max open files") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "Max open files"))
		if len(fields) == 0 {
			break
		}
		if fields[0] == "unlimited" {
			return 1<<63 - 1, nil
		}
		return strconv.ParseUint(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("server: no open files limit in /proc/self/limits")
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerAuthMetrics registers etcd_debugging_auth_revision, etcd's gauge
// of the auth store's revision (1 in a new cluster, one more with every
// auth change), read at scrape time.
func registerAuthMetrics(reg prometheus.Registerer, st *auth.Store) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "etcd_debugging", Subsystem: "auth", Name: "revision",
		Help: "The current revision of auth store."}, func() float64 { return float64(st.Revision()) }))
}
