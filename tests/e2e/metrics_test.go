package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// metricsJob is the scrape job name; seed 000's queries select on it.
const metricsJob = "kubernetes-etcd"

// metricsKeys is the number of distinct keys the traffic writes.
const metricsKeys = 40

// newMetricsCluster starts n members like newCluster, each also serving
// /metrics on its own --listen-metrics-urls; every member but the last
// runs with --metrics=extensive. It returns the metrics URLs.
func newMetricsCluster(t *testing.T, n int) (*concordtest.Cluster, []string) {
	t.Helper()
	metrics := make([]string, n)
	for i := range metrics {
		metrics[i] = "http://" + concordtest.FreeAddr(t, fmt.Sprintf("127.0.0.%d", i+1))
	}
	o := clusterOptions("e2e-metrics")
	o.MemberArgs = func(i int) []string {
		args := []string{"--listen-metrics-urls=" + metrics[i]}
		if i < n-1 {
			args = append(args, "--metrics=extensive")
		}
		return args
	}
	return concordtest.StartOptions(t, n, o), metrics
}

// promServer is a running Prometheus server.
type promServer struct {
	base string // http://host:port
	log  string
}

// startPrometheus runs Debian's /usr/bin/prometheus scraping targets
// (host:port) every second under job metricsJob, and waits until it is
// ready. scheme, when given, replaces the job's "scheme: http" line with
// its lines (e.g. https and a tls_config), indented as job keys.
func startPrometheus(t *testing.T, targets []string, scheme ...string) *promServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("this test runs a real Prometheus server, and no prometheus binary is installed "+
			"(Debian: apt-get install -y prometheus; .ci/run installs it): %v", err)
	}
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: %q
    metrics_path: /metrics
%s    static_configs:
      - targets: [%s]
`, metricsJob, schemeYAML(scheme), strings.Join(quoted, ", "))
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := concordtest.FreeAddr(t, "127.0.0.1")
	p := &promServer{base: "http://" + addr, log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("---- last lines of the prometheus log ----\n%s", strings.Join(lines, "\n"))
		}
	})
	metricsWait(t, 30*time.Second, "prometheus ready", func() error {
		select {
		case <-exited:
			return errPromExited
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	return p
}

var errPromExited = errors.New("process exited")

// schemeYAML is startPrometheus' scheme block: "scheme: http" by default.
func schemeYAML(lines []string) string {
	if len(lines) == 0 {
		lines = []string{"scheme: http"}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// promSample is one element of an instant vector.
type promSample struct {
	labels map[string]string
	value  float64
}

func (s promSample) String() string {
	return fmt.Sprintf("%v=%g", s.labels, s.value)
}

// query evaluates q now through Prometheus' HTTP API (/api/v1/query). It
// accepts vector and scalar results.
func (p *promServer) query(q string) ([]promSample, error) {
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode %q: %w", body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", q, r.Status, r.Error)
	}
	parse := func(v []any) (float64, error) {
		if len(v) != 2 {
			return 0, fmt.Errorf("bad value %v", v)
		}
		s, _ := v[1].(string)
		return strconv.ParseFloat(s, 64)
	}
	switch r.Data.ResultType {
	case "vector":
		var vs []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vs); err != nil {
			return nil, err
		}
		out := make([]promSample, 0, len(vs))
		for _, v := range vs {
			f, err := parse(v.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, promSample{labels: v.Metric, value: f})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].labels["instance"] < out[j].labels["instance"] })
		return out, nil
	case "scalar":
		var v []any
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			return nil, err
		}
		f, err := parse(v)
		if err != nil {
			return nil, err
		}
		return []promSample{{value: f}}, nil
	}
	return nil, fmt.Errorf("query %s: unexpected result type %q", q, r.Data.ResultType)
}

// metricsWait polls cond until it returns nil, failing the test with the last
// error after timeout.
func metricsWait(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond) // polling interval of a condition wait
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if errors.Is(err, errPromExited) || time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		<-tick.C
	}
}

// promCheck is one PromQL query and what its result must satisfy.
type promCheck struct {
	source string // where the query comes from
	query  string
	want   func([]promSample) error
}

// Result predicates.

// seriesEach requires exactly n samples, every one satisfying ok.
func seriesEach(n int, what string, ok func(float64) bool) func([]promSample) error {
	return func(s []promSample) error {
		if len(s) != n {
			return fmt.Errorf("want %d series, got %d: %v", n, len(s), s)
		}
		for _, x := range s {
			if !ok(x.value) {
				return fmt.Errorf("want %s, got %v", what, s)
			}
		}
		return nil
	}
}

// seriesOne requires a single sample satisfying ok.
func seriesOne(what string, ok func(float64) bool) func([]promSample) error {
	return seriesEach(1, what, ok)
}

func valueEq(v float64) func(float64) bool { return func(x float64) bool { return x == v } }
func valuePositive(x float64) bool         { return x > 0 && !math.IsInf(x, 0) }
func valueNonNegative(x float64) bool      { return x >= 0 && !math.IsInf(x, 0) }
func valueIn(lo, hi float64) func(float64) bool {
	return func(x float64) bool { return x >= lo && x <= hi }
}

// seriesNone requires no samples.
func seriesNone(s []promSample) error {
	if len(s) != 0 {
		return fmt.Errorf("want no series, got %v", s)
	}
	return nil
}

// metricsTraffic counts what the traffic generator did.
type metricsTraffic struct {
	mu     sync.Mutex
	rounds int
	errs   []error
}

// runMetricsTraffic writes the metricsKeys keys over and over (so the key count
// stays metricsKeys), reads them, runs a compare-and-put txn, deletes a
// key that never exists and asks for a future revision (an OutOfRange
// error, for the failed-RPC panels), paced by a ticker, until ctx ends.
func runMetricsTraffic(ctx context.Context, cli *clientv3.Client, st *metricsTraffic) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		k := fmt.Sprintf("/metrics/k%02d", i%metricsKeys)
		var err error
		switch i % 5 {
		case 0, 1:
			_, err = cli.Put(ctx, k, strconv.Itoa(i))
		case 2:
			_, err = cli.Get(ctx, k)
		case 3:
			_, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(k), ">", 0)).
				Then(clientv3.OpPut(k, "txn"), clientv3.OpGet(k)).Commit()
		case 4:
			if _, err = cli.Delete(ctx, "/metrics-never-written"); err == nil {
				_, _ = cli.Get(ctx, k, clientv3.WithRev(1<<40)) // fails: future revision
			}
		}
		st.mu.Lock()
		st.rounds++
		if err != nil && ctx.Err() == nil {
			st.errs = append(st.errs, err)
		}
		st.mu.Unlock()
	}
}

// TestMetricsPrometheus scrapes a 3-member cluster with a real Prometheus
// and evaluates the PromQL of seed 000's monitoring table and of Grafana
// dashboard 3070 (reference §3.3/§3.4) through Prometheus' HTTP API.
func TestMetricsPrometheus(t *testing.T) {
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatalf("this test runs a real Prometheus server, and no prometheus binary is installed "+
			"(Debian: apt-get install -y prometheus; .ci/run installs it): %v", err)
	}
	c, metricsURLs := newMetricsCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The first pass writes every key once.
	for i := 0; i < metricsKeys; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("/metrics/k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// A watch stream and a lease keep-alive stream stay open: the "Active
	// Streams" panel counts them.
	wch := cli.Watch(ctx, "/metrics/", clientv3.WithPrefix())
	go func() {
		for range wch {
		}
	}()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ka {
		}
	}()
	// /health on every metrics listener, for etcd_server_health_success.
	targets := make([]string, len(metricsURLs))
	for i, u := range metricsURLs {
		targets[i] = strings.TrimPrefix(u, "http://")
		resp, err := http.Get(u + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s/health: %s", u, resp.Status)
		}
	}

	var st metricsTraffic
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runMetricsTraffic(ctx, cli, &st)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	prom := startPrometheus(t, targets)
	metricsWait(t, 60*time.Second, "three healthy scrape targets", func() error {
		s, err := prom.query(`count(up{job="` + metricsJob + `"} == 1)`)
		if err != nil {
			return err
		}
		return seriesOne("3 targets up", valueEq(3))(s)
	})

	j := `{job="` + metricsJob + `"}`
	n := float64(len(c.Members))
	checks := []promCheck{
		// Seed 000's table ("监控指标"), verbatim.
		{"seed 000: members", `count(etcd_server_has_leader` + j + `) or vector(0)`, seriesOne("3 members", valueEq(n))},
		{"seed 000: leaders", `count(etcd_server_is_leader` + j + ` == 1)`, seriesOne("one leader", valueEq(1))},
		{"seed 000: leader changes in a day", `changes(etcd_server_leader_changes_seen_total` + j + `[1d])`, seriesEach(3, "a few changes at most", valueIn(0, 3))},
		{"seed 000: DB size", `etcd_mvcc_db_total_size_in_bytes` + j, seriesEach(3, "> 0", valuePositive)},
		// CPU and memory come from the container runtime's exporter, not
		// from etcd: the queries are valid and empty here; the process
		// collector's series stand in for them below.
		{"seed 000: CPU", `cpu_utilization_core{container="etcd"}*1000`, seriesNone},
		{"seed 000: memory", `memory_utilization_byte{container="etcd"}`, seriesNone},
		{"seed 000: backend commit p99", `histogram_quantile(0.99, sum(rate(etcd_disk_backend_commit_duration_seconds_bucket` + j + `[5m])) by (instance, le))`, seriesEach(3, "a finite p99 in the histogram's range", valueIn(0, 8.192))},
		{"seed 000: key count", `etcd_debugging_mvcc_keys_total` + j, seriesEach(3, "the keys written", valueEq(metricsKeys))},
		{"seed 000: committed - applied", `etcd_server_proposals_committed_total` + j + ` - etcd_server_proposals_applied_total` + j, seriesEach(3, "a small backlog, never negative", valueIn(0, 50))},

		// Grafana dashboard 3070 (reference §3.4), verbatim.
		{"3070: active nodes", `sum(etcd_server_has_leader)`, seriesOne("3", valueEq(n))},
		{"3070: has a leader", `max(etcd_server_has_leader)`, seriesOne("1", valueEq(1))},
		{"3070: leader changes", `max(etcd_server_leader_changes_seen_total)`, seriesOne(">= 1", valueIn(1, 10))},
		{"3070: RPC rate", `sum(rate(grpc_server_started_total{grpc_type="unary"}[5m]))`, seriesOne("> 0", valuePositive)},
		{"3070: RPC failed rate", `sum(rate(grpc_server_handled_total{grpc_type="unary",grpc_code!="OK"}[5m]))`, seriesOne("> 0 (future-revision reads fail)", valuePositive)},
		{"3070: active watch streams", `sum(grpc_server_started_total{grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"})`, seriesOne(">= 1", valueIn(1, 10))},
		{"3070: active lease streams", `sum(grpc_server_started_total{grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"}) - sum(grpc_server_handled_total{grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"})`, seriesOne(">= 1", valueIn(1, 10))},
		{"3070: DB size (pre-3.5 name)", `etcd_debugging_mvcc_db_total_size_in_bytes`, seriesEach(3, "> 0", valuePositive)},
		{"3070: WAL fsync p99", `histogram_quantile(0.99, sum(rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])) by (instance, le))`, seriesEach(3, "finite", valueIn(0, 8.192))},
		{"3070: backend commit p99", `histogram_quantile(0.99, sum(rate(etcd_disk_backend_commit_duration_seconds_bucket[5m])) by (instance, le))`, seriesEach(3, "finite", valueIn(0, 8.192))},
		{"3070: memory", `process_resident_memory_bytes`, seriesEach(3, "> 0", valuePositive)},
		{"3070: client traffic in", `rate(etcd_network_client_grpc_received_bytes_total[5m])`, seriesEach(3, ">= 0", valueNonNegative)},
		{"3070: client traffic out", `rate(etcd_network_client_grpc_sent_bytes_total[5m])`, seriesEach(3, ">= 0", valueNonNegative)},
		{"3070: peer traffic in", `sum(rate(etcd_network_peer_received_bytes_total[5m])) by (instance)`, seriesEach(3, "> 0", valuePositive)},
		{"3070: peer traffic out", `sum(rate(etcd_network_peer_sent_bytes_total[5m])) by (instance)`, seriesEach(3, "> 0", valuePositive)},
		{"3070: failed proposals", `sum(rate(etcd_server_proposals_failed_total[5m]))`, seriesOne(">= 0", valueNonNegative)},
		{"3070: pending proposals", `sum(etcd_server_proposals_pending)`, seriesOne("small", valueIn(0, 50))},
		{"3070: committed rate", `sum(rate(etcd_server_proposals_committed_total[5m]))`, seriesOne("> 0", valuePositive)},
		{"3070: applied rate", `sum(rate(etcd_server_proposals_applied_total[5m]))`, seriesOne("> 0", valuePositive)},
		{"3070: elections per day", `changes(etcd_server_leader_changes_seen_total[1d])`, seriesEach(3, "a few", valueIn(0, 3))},
		{"3070: WAL fsync time", `sum(rate(etcd_disk_wal_fsync_duration_seconds_sum[1m]))`, seriesOne("> 0", valuePositive)},
		{"3070: backend commit time", `sum(rate(etcd_disk_backend_commit_duration_seconds_sum[1m]))`, seriesOne("> 0", valuePositive)},
		{"3070: network in", `sum(rate(etcd_network_client_grpc_received_bytes_total[1m]))`, seriesOne("> 0", valuePositive)},
		{"3070: network out", `sum(rate(etcd_network_client_grpc_sent_bytes_total[1m]))`, seriesOne("> 0", valuePositive)},
		{"3070: snapshot duration", `sum(rate(etcd_debugging_snap_save_total_duration_seconds_sum[1m]))`, seriesOne(">= 0", valueNonNegative)},

		// The highlighted metrics of reference §3.3 not covered above.
		{"3.3: quota use", `etcd_mvcc_db_total_size_in_bytes / etcd_server_quota_backend_bytes`, seriesEach(3, "well under the 95% alert", valueIn(0, 0.95))},
		{"3.3: size in use", `etcd_mvcc_db_total_size_in_use_in_bytes`, seriesEach(3, "> 0", valuePositive)},
		{"3.3: versions", `etcd_server_version * on(instance) group_left etcd_cluster_version`, seriesEach(3, "1", valueEq(1))},
		{"3.3: cpu (process)", `rate(process_cpu_seconds_total[1m])`, seriesEach(3, ">= 0", valueNonNegative)},

		// The other series this package exports, with etcd's semantics.
		{"grpc zero-initialised", `grpc_server_handled_total{grpc_service="etcdserverpb.Maintenance",grpc_method="Defragment",grpc_code="OK"}`, seriesEach(3, "0", valueEq(0))},
		{"grpc handling histogram only with --metrics=extensive", `count(grpc_server_handling_seconds_count) by (instance)`, func(s []promSample) error {
			if len(s) != 2 || s[0].labels["instance"] != targets[0] || s[1].labels["instance"] != targets[1] {
				return fmt.Errorf("want the histogram on %v only, got %v", targets[:2], s)
			}
			return nil
		}},
		{"mixin: etcdGRPCRequestsSlow", `histogram_quantile(0.99, sum(rate(grpc_server_handling_seconds_bucket{grpc_method!="Defragment", grpc_type="unary"}[5m])) without(grpc_type))`, func(s []promSample) error {
			if len(s) == 0 {
				return errors.New("no series")
			}
			return nil
		}},
		{"mixin: etcdNoLeader", `etcd_server_has_leader == 0`, seriesNone},
		{"puts applied on every member", `etcd_mvcc_put_total`, seriesEach(3, "> 0", valuePositive)},
		{"deletes applied on every member", `etcd_mvcc_delete_total`, seriesEach(3, "> 0", valuePositive)},
		{"txns applied on every member", `etcd_mvcc_txn_total`, seriesEach(3, "> 0", valuePositive)},
		{"ranges", `sum(etcd_mvcc_range_total)`, seriesOne("> 0", valuePositive)},
		{"client requests", `sum(etcd_server_client_requests_total{type="unary"})`, seriesOne("> 0", valuePositive)},
		{"client streams", `sum(etcd_server_client_requests_total{type="stream"})`, seriesOne(">= 2", valueIn(2, math.MaxFloat64))},
		{"health checks", `etcd_server_health_success`, seriesEach(3, ">= 1", valueIn(1, math.MaxFloat64))},
		{"no learners", `etcd_server_is_learner`, seriesEach(3, "0", valueEq(0))},
		{"fds", `os_fd_used <= os_fd_limit and os_fd_used > 0`, seriesEach(3, "> 0", valuePositive)},
		{"feature gates", `etcd_server_feature_enabled{name="TxnModeWriteWithSharedBuffer",stage="BETA"}`, seriesEach(3, "1", valueEq(1))},
		{"slow applies", `etcd_server_slow_apply_total`, seriesEach(3, ">= 0", valueNonNegative)},
	}

	// Every check must hold at one evaluation; rates need a few scrapes, so
	// evaluate until all pass.
	last := map[string]error{}
	values := map[string][]promSample{}
	metricsWait(t, 90*time.Second, "every PromQL promCheck to hold", func() error {
		failed := 0
		for _, ch := range checks {
			s, err := prom.query(ch.query)
			if err == nil {
				err = ch.want(s)
			}
			values[ch.source] = s
			last[ch.source] = err
			if err != nil {
				failed++
			}
		}
		if failed > 0 {
			var msgs []string
			for _, ch := range checks {
				if err := last[ch.source]; err != nil {
					msgs = append(msgs, fmt.Sprintf("%s: %s: %v", ch.source, ch.query, err))
				}
			}
			return fmt.Errorf("%d of %d checks fail:\n%s", failed, len(checks), strings.Join(msgs, "\n"))
		}
		return nil
	})
	for _, ch := range checks {
		vs := make([]string, len(values[ch.source]))
		for i, v := range values[ch.source] {
			vs[i] = strconv.FormatFloat(v.value, 'g', 4, 64)
		}
		t.Logf("%-55s %s", ch.source, strings.Join(vs, " "))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rounds == 0 {
		t.Fatal("the traffic generator never ran")
	}
	for _, err := range st.errs {
		t.Errorf("traffic: %v", err)
	}
}
