package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"

	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

func newTestMetrics(t *testing.T, cfg *config.Config) (*memberMetrics, *prometheus.Registry) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	mm, err := registerServerMetrics(reg, cfg, identity{member: 0xabc, cluster: 0xdef}, db)
	if err != nil {
		t.Fatal(err)
	}
	return mm, reg
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestServerMetricsExposition(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.FeatureGates[config.GateStopGRPCServiceOnDefrag] = true
	_, reg := newTestMetrics(t, cfg)
	text := gatherText(t, reg)
	for _, line := range []string{
		"# HELP etcd_disk_backend_commit_duration_seconds The latency distributions of commit called by backend.",
		"# TYPE etcd_disk_backend_commit_duration_seconds histogram",
		`etcd_disk_backend_commit_duration_seconds_bucket{le="0.001"} 0`,
		`etcd_disk_backend_commit_duration_seconds_bucket{le="8.192"} 0`,
		"# HELP etcd_server_slow_apply_total The total number of slow apply requests (likely overloaded from slow disk).",
		"# TYPE etcd_server_slow_apply_total counter",
		"# HELP etcd_server_health_success The total number of successful health checks",
		"# HELP etcd_server_health_failures The total number of failed health checks",
		"# HELP etcd_server_feature_enabled Whether or not a feature is enabled. 1 is enabled, 0 is not.",
		"# TYPE etcd_server_feature_enabled gauge",
		`etcd_server_feature_enabled{name="AllAlpha",stage="ALPHA"} 0`,
		`etcd_server_feature_enabled{name="AllBeta",stage="BETA"} 0`,
		`etcd_server_feature_enabled{name="StopGRPCServiceOnDefrag",stage="ALPHA"} 1`,
		`etcd_server_feature_enabled{name="TxnModeWriteWithSharedBuffer",stage="BETA"} 1`,
		`etcd_server_id{server_id="abc"} 1`,
		"# TYPE etcd_mvcc_db_total_size_in_bytes gauge",
		"# TYPE etcd_debugging_mvcc_db_total_size_in_bytes gauge",
		"# TYPE etcd_server_quota_backend_bytes gauge",
		"# TYPE etcd_network_client_grpc_sent_bytes_total counter",
		"# TYPE etcd_mvcc_put_total counter",
		// Subsystems Concord lacks, present at zero.
		`etcd_debugging_store_reads_total{action="getRecursive"} 0`,
		`etcd_debugging_store_writes_total{action="set"} 0`,
		"etcd_debugging_store_watchers 0",
		"etcd_grpc_proxy_cache_hits_total 0",
		"# TYPE etcd_grpc_proxy_events_coalescing_total counter",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
	if strings.Contains(text, "etcd_disk_backend_commit_duration_seconds_bucket{le=\"16.384\"}") {
		t.Error("backend commit histogram has more than etcd's 14 buckets")
	}
	if strings.Contains(text, "grpc_server_handling_seconds") {
		t.Error("grpc_server_handling_seconds without --metrics=extensive")
	}
	if _, err := os.Stat("/proc/self/fd"); err == nil {
		for _, line := range []string{"# HELP os_fd_used The number of used file descriptors.", "# HELP os_fd_limit The file descriptor limit."} {
			if !strings.Contains(text, line+"\n") {
				t.Errorf("exposition lacks %q", line)
			}
		}
		used, err := fdUsed()
		if err != nil || used <= 0 {
			t.Errorf("fdUsed = %d, %v", used, err)
		}
		limit, err := fdLimit()
		if err != nil || limit < uint64(used) {
			t.Errorf("fdLimit = %d, %v (used %d)", limit, err, used)
		}
	}
}

func TestApplyHooks(t *testing.T) {
	cfg := config.DefaultConfig()
	cfg.WarningApplyDuration = 100 * time.Millisecond
	mm, reg := newTestMetrics(t, cfg)
	put := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}}
	mm.onRequest(put, &apply.Result{Resp: &pb.PutResponse{}}, time.Millisecond)
	mm.onRequest(put, &apply.Result{Resp: &pb.PutResponse{}}, 150*time.Millisecond)
	mm.onRequest(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a")}}, &apply.Result{Err: mvcc.ErrCompacted}, time.Millisecond)
	mm.onRequest(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}}, &apply.Result{Err: errors.New("lease not found")}, time.Millisecond)
	mm.onRequest(&pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{}}, &apply.Result{}, time.Millisecond)
	mm.onCommit(3 * time.Millisecond)
	if got := counterValue(t, mm.slowApply); got != 1 {
		t.Errorf("etcd_server_slow_apply_total = %v, want 1", got)
	}
	if got := counterValue(t, mm.api.Put); got != 2 {
		t.Errorf("etcd_mvcc_put_total = %v, want 2", got)
	}
	text := gatherText(t, reg)
	for _, line := range []string{
		`etcd_disk_backend_commit_duration_seconds_bucket{le="0.002"} 0`,
		`etcd_disk_backend_commit_duration_seconds_bucket{le="0.004"} 1`,
		"etcd_disk_backend_commit_duration_seconds_count 1",
		// Pebble's commit is the write phase of etcd's bbolt commit; it
		// has no rebalance or spill.
		"etcd_debugging_disk_backend_commit_write_duration_seconds_count 1",
		"etcd_debugging_disk_backend_commit_rebalance_duration_seconds_count 0",
		"etcd_debugging_disk_backend_commit_spill_duration_seconds_count 0",
		`etcd_server_apply_duration_seconds_count{op="Put",success="true",version="v3"} 2`,
		`etcd_server_apply_duration_seconds_count{op="Range",success="true",version="v3"} 1`,
		`etcd_server_apply_duration_seconds_count{op="LeaseRevoke",success="false",version="v3"} 1`,
		`etcd_server_apply_duration_seconds_count{op="ClusterMemberAttrSet",success="true",version="v3"} 1`,
		`etcd_server_apply_duration_seconds_bucket{op="Put",success="true",version="v3",le="0.0001"} 0`,
		`etcd_server_apply_duration_seconds_bucket{op="Put",success="true",version="v3",le="0.0016"} 1`,
		`etcd_server_apply_duration_seconds_bucket{op="Put",success="true",version="v3",le="52.4288"} 2`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

func TestCountHealth(t *testing.T) {
	mm, _ := newTestMetrics(t, config.DefaultConfig())
	healthy := true
	h := mm.countHealth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy && r.URL.Path == "/health" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte("{}"))
	}))
	do := func(method, path string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	}
	do(http.MethodGet, "/health")
	do(http.MethodGet, "/health?serializable=true")
	healthy = false
	do(http.MethodGet, "/health")
	do(http.MethodPost, "/health") // refused by etcd before checking: not counted
	do(http.MethodGet, "/readyz")
	do(http.MethodGet, "/version")
	if got := counterValue(t, mm.healthSuccess); got != 2 {
		t.Errorf("etcd_server_health_success = %v, want 2", got)
	}
	if got := counterValue(t, mm.healthFailures); got != 1 {
		t.Errorf("etcd_server_health_failures = %v, want 1", got)
	}
}
