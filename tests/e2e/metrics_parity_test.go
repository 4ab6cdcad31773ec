package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/concord-kv/concord/tests/concordtest"
)

// etcdMetricsFile is the checked-in list of the metric families etcd 3.6
// shows on /metrics after runParityTraffic: measured on a real etcd by
// scripts/etcd-metrics-list.sh (TestMetricsParity -update-etcd-metrics).
const etcdMetricsFile = "testdata/etcd-3.6-metrics.txt"

var (
	updateEtcdMetrics = flag.Bool("update-etcd-metrics", false,
		"TestMetricsParity: run -etcd with the parity traffic and rewrite "+etcdMetricsFile+" from its /metrics")
	etcdBinary = flag.String("etcd", "/tmp/etcd36/bin/etcd", "the etcd 3.6 binary -update-etcd-metrics measures")
)

// metricShape is what parity compares of one metric family: its type,
// the names of its labels (le and quantile excluded) and, for a histogram,
// its bucket upper bounds as the exposition lists them (+Inf last).
type metricShape struct {
	Type    string
	Labels  []string
	Buckets []string
}

func (s metricShape) String() string {
	l := "-"
	if len(s.Labels) > 0 {
		l = strings.Join(s.Labels, ",")
	}
	b := ""
	if len(s.Buckets) > 0 {
		b = " " + strings.Join(s.Buckets, ",")
	}
	return s.Type + " " + l + b
}

// scrape is one parsed /metrics answer.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics GETs url (…/metrics) and parses the text exposition.
func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mfs
}

// shapes reduces a scrape to each family's shape.
func (s scrape) shapes() map[string]metricShape {
	out := map[string]metricShape{}
	for name, mf := range s {
		sh := metricShape{Type: strings.ToLower(mf.GetType().String())}
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
			if h := m.GetHistogram(); h != nil && sh.Buckets == nil {
				for _, b := range h.GetBucket() {
					sh.Buckets = append(sh.Buckets, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
				}
			}
		}
		for l := range labels {
			sh.Labels = append(sh.Labels, l)
		}
		sort.Strings(sh.Labels)
		out[name] = sh
	}
	return out
}

// value is the sum over series of name's samples whose labels include
// every pair of match (counter, gauge or untyped value; a histogram's or
// summary's sample count, or with suffix "_sum" its sum).
func (s scrape) value(name string, match ...string) float64 {
	field := "count"
	mf, ok := s[name]
	if !ok && strings.HasSuffix(name, "_sum") {
		mf, ok = s[strings.TrimSuffix(name, "_sum")]
		field = "sum"
	}
	if !ok {
		return 0
	}
	var v float64
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(match); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool {
				return lp.GetName() == match[i] && lp.GetValue() == match[i+1]
			}) {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		case m.GetHistogram() != nil && field == "sum":
			v += m.GetHistogram().GetSampleSum()
		case m.GetHistogram() != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.GetSummary() != nil:
			v += float64(m.GetSummary().GetSampleCount())
		}
	}
	return v
}

// parityPuts are the puts of runParityTraffic outside its txn, and
// parityPutBytes the key+value bytes of all its puts (txn and leased key
// included): etcd_debugging_mvcc_total_put_size_in_bytes moves by that.
var parityPuts = [][2]string{{"foo1", "bar1"}, {"foo2", "bar2"}, {"foo3", "bar3"}, {"foo", "x"}}

const parityPutBytes = 8 + 8 + 8 + 4 + len("foo2new") + len("leasedv")

// runParityTraffic drives the member at ep (host:port, serving /metrics
// on http://ep) with Debian's etcdctl 3.4 through every kind of request
// whose metrics parity compares: a watch, puts, gets, a txn, a delete, a
// lease granted, kept alive, read and revoked, a compaction, a defrag, a
// snapshot save, hashkv, member list, endpoint status, and GET /health.
func runParityTraffic(t *testing.T, ep string) {
	t.Helper()
	eps := []string{ep}
	run := func(in string, args ...string) string {
		t.Helper()
		out, err := etcdctl(t, eps, in, args...)
		if err != nil {
			t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	watch := exec.CommandContext(ctx, "etcdctl", "--endpoints="+ep, "watch", "foo")
	watch.Env = append(os.Environ(), "ETCDCTL_API=3")
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = watch.Wait()
	}()
	metricsWait(t, 30*time.Second, "the watch to register", func() error {
		if v := scrapeMetrics(t, "http://"+ep+"/metrics").value("etcd_debugging_mvcc_watcher_total"); v < 1 {
			return fmt.Errorf("etcd_debugging_mvcc_watcher_total = %v", v)
		}
		return nil
	})
	for _, kv := range parityPuts {
		run("", "put", kv[0], kv[1])
	}
	run("", "get", "foo")
	run("", "get", "foo", "--prefix")
	run("value(\"foo1\") = \"bar1\"\n\nput foo2 new\n\nput foo3 no\n\n", "txn")
	run("", "del", "foo3")
	grant := run("", "lease", "grant", "60")
	id := regexp.MustCompile(`lease ([0-9a-f]+) granted`).FindStringSubmatch(grant)
	if id == nil {
		t.Fatalf("lease grant printed %q", grant)
	}
	run("", "put", "leased", "v", "--lease="+id[1])
	run("", "lease", "keep-alive", "--once", id[1])
	run("", "lease", "timetolive", id[1])
	run("", "lease", "revoke", id[1])
	run("", "compact", "3")
	run("", "defrag")
	run("", "snapshot", "save", filepath.Join(t.TempDir(), "snap.db"))
	run("", "endpoint", "hashkv")
	run("", "member", "list")
	run("", "endpoint", "status")
	resp, err := http.Get("http://" + ep + "/health")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestMetricsParity runs the same traffic against a Concord member as
// scripts/etcd-metrics-list.sh ran against etcd 3.6, and asserts that
// Concord's /metrics has every family etcd's had, with the same type,
// label names and histogram buckets, and that the series of the requests
// made moved by what those requests do.
func TestMetricsParity(t *testing.T) {
	if *updateEtcdMetrics {
		writeEtcdMetrics(t)
	}
	want := readEtcdMetrics(t)

	c := concordtest.StartOptions(t, 1, clusterOptions("e2e-parity"))
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	ep := strings.TrimPrefix(c.Members[0].ClientURL, "http://")
	url := "http://" + ep + "/metrics"
	before := scrapeMetrics(t, url)
	runParityTraffic(t, ep)
	after := scrapeMetrics(t, url)

	got := after.shapes()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		switch {
		case !ok:
			t.Errorf("%s: missing (etcd: %s)", n, want[n])
		case g.String() != want[n].String():
			t.Errorf("%s: concord %s, etcd %s", n, g, want[n])
		}
	}

	// The series of what the traffic did moved, by what it did.
	delta := func(name string, match ...string) float64 {
		return after.value(name, match...) - before.value(name, match...)
	}
	for _, tc := range []struct {
		name  string
		match []string
		want  func(float64) bool
		what  string
	}{
		{"etcd_disk_backend_defrag_duration_seconds", nil, valueEq(1), "one defrag"},
		{"etcd_disk_backend_snapshot_duration_seconds", nil, valueEq(1), "one snapshot save"},
		{"etcd_mvcc_hash_rev_duration_seconds", nil, valueEq(1), "one hashkv"},
		{"etcd_debugging_mvcc_total_put_size_in_bytes", nil, valueEq(float64(parityPutBytes)), "the puts' key and value bytes"},
		{"etcd_mvcc_put_total", nil, valueEq(float64(len(parityPuts) + 2)), "the puts, the txn's and the leased key's"},
		{"etcd_debugging_mvcc_put_total", nil, valueEq(float64(len(parityPuts) + 2)), "as etcd_mvcc_put_total"},
		{"etcd_mvcc_delete_total", nil, valueIn(1, 10), "the delete (and the lease's key)"},
		{"etcd_mvcc_txn_total", nil, valueIn(1, 10), "the txn"},
		{"etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds", nil, valueIn(1, 100), "a compaction batch"},
		{"etcd_debugging_mvcc_db_compaction_total_duration_milliseconds", nil, valueEq(1), "one compaction"},
		{"etcd_debugging_lease_ttl_total", nil, valueEq(1), "one lease granted"},
		{"etcd_debugging_lease_ttl_total_sum", nil, valueEq(60), "its 60 s TTL"},
		{"etcd_server_apply_duration_seconds", []string{"op", "Put", "success", "true"}, valueEq(float64(len(parityPuts) + 1)), "puts applied"},
		{"etcd_server_apply_duration_seconds", []string{"op", "Txn"}, valueEq(1), "one txn applied"},
		{"etcd_server_apply_duration_seconds", []string{"op", "Compaction"}, valueEq(1), "one compaction applied"},
		{"etcd_server_apply_duration_seconds", []string{"op", "LeaseGrant"}, valueEq(1), "one lease grant applied"},
		{"etcd_server_range_duration_seconds", []string{"success", "true"}, valueIn(2, 100), "the gets"},
		{"etcd_disk_wal_write_duration_seconds", nil, valuePositive, "raft log writes"},
		{"promhttp_metric_handler_requests_total", []string{"code", "200"}, valueIn(1, 1000), "the scrapes"},
		{"etcd_server_health_success", nil, valueEq(1), "one GET /health"},
	} {
		if d := delta(tc.name, tc.match...); !tc.want(d) {
			t.Errorf("%s%v moved by %v over the traffic; want %s", tc.name, tc.match, d, tc.what)
		}
	}
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"etcd_disk_defrag_inflight", 0},
		{"etcd_mvcc_db_open_read_transactions", 0},
		{"etcd_server_snapshot_apply_in_progress_total", 0},
		{"etcd_network_known_peers", 1},
		{"etcd_debugging_auth_revision", 1},
	} {
		if v := after.value(tc.name); v != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, v, tc.want)
		}
	}
	if last := after.value("etcd_debugging_mvcc_db_compaction_last"); last < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("etcd_debugging_mvcc_db_compaction_last = %v, want the Unix time of the compaction", last)
	}
	if v := after.value("etcd_server_version", "server_version", "3.6.0"); v != 1 {
		t.Errorf(`etcd_server_version{server_version="3.6.0"} = %v, want 1`, v)
	}
	if v := after.value("etcd_cluster_version", "cluster_version", "3.6"); v != 1 {
		t.Errorf(`etcd_cluster_version{cluster_version="3.6"} = %v, want 1`, v)
	}
}

// readEtcdMetrics parses etcdMetricsFile: one family a line, "name type
// labels [buckets]", labels "-" for none; # starts a comment.
func readEtcdMetrics(t *testing.T) map[string]metricShape {
	t.Helper()
	f, err := os.Open(etcdMetricsFile)
	if err != nil {
		t.Fatalf("%v (regenerate with scripts/etcd-metrics-list.sh)", err)
	}
	defer f.Close()
	out := map[string]metricShape{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 3 || len(fs) > 4 {
			t.Fatalf("%s: bad line %q", etcdMetricsFile, line)
		}
		sh := metricShape{Type: fs[1]}
		if fs[2] != "-" {
			sh.Labels = strings.Split(fs[2], ",")
		}
		if len(fs) == 4 {
			sh.Buckets = strings.Split(fs[3], ",")
		}
		out[fs[0]] = sh
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("%s lists %d families; etcd shows well over 100", etcdMetricsFile, len(out))
	}
	return out
}

// writeEtcdMetrics starts *etcdBinary as a single member on free ports,
// runs the parity traffic and writes the shapes of its /metrics to
// etcdMetricsFile.
func writeEtcdMetrics(t *testing.T) {
	t.Helper()
	ver, err := exec.Command(*etcdBinary, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", *etcdBinary, err)
	}
	version := strings.SplitN(strings.TrimSpace(string(ver)), "\n", 2)[0]
	if !strings.Contains(version, "3.6.") {
		t.Fatalf("%s is %q; the list is etcd 3.6's", *etcdBinary, version)
	}
	dir := t.TempDir()
	client, peer := concordtest.FreeAddr(t, "127.0.0.1"), concordtest.FreeAddr(t, "127.0.0.1")
	logPath := filepath.Join(dir, "etcd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(*etcdBinary, "--name=parity", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls=http://"+client, "--advertise-client-urls=http://"+client,
		"--listen-peer-urls=http://"+peer, "--initial-advertise-peer-urls=http://"+peer,
		"--initial-cluster=parity=http://"+peer)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("etcd log:\n%s", b)
		}
	})
	metricsWait(t, 30*time.Second, "etcd healthy", func() error {
		out, err := etcdctl(t, []string{client}, "", "endpoint", "health")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	runParityTraffic(t, client)
	shapes := scrapeMetrics(t, "http://"+client+"/metrics").shapes()
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# The metric families etcd shows on /metrics after TestMetricsParity's traffic\n")
	fmt.Fprintf(&b, "# (runParityTraffic), measured on %s: name, type, label names (- for none),\n", version)
	fmt.Fprintf(&b, "# histogram bucket upper bounds. Generated by scripts/etcd-metrics-list.sh; do not edit.\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%s %s\n", n, shapes[n])
	}
	if err := os.MkdirAll(filepath.Dir(etcdMetricsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(etcdMetricsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d families to %s", len(names), etcdMetricsFile)
}

// TestMetricsLearnerPromote adds a learner to a one-member cluster, starts
// it and promotes it with etcdctl member promote: the leader's
// etcd_server_learner_promote_successes counts the promotion, and the new
// member's etcd_server_is_learner goes from 1 to 0.
func TestMetricsLearnerPromote(t *testing.T) {
	c := concordtest.StartOptions(t, 1, clusterOptions("e2e-promote", "--auto-promote-learners=false"))
	leader := c.Members[0]
	eps := c.Endpoints(leader)
	l := c.NewMember(t, "l1", "127.0.0.2")
	out, err := untilHealthy(t, eps, "member", "add", "l1", "--learner", "--peer-urls="+l.PeerURL)
	id := regexp.MustCompile(`Member +([0-9a-f]+) added`).FindStringSubmatch(out)
	initial := regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]+)"`).FindStringSubmatch(out)
	if err != nil || id == nil || initial == nil {
		t.Fatalf("member add --learner: %v\n%s", err, out)
	}
	l.Args = []string{"--name=l1", "--data-dir=" + l.DataDir,
		"--listen-client-urls=" + l.ClientURL, "--advertise-client-urls=" + l.ClientURL,
		"--listen-peer-urls=" + l.PeerURL, "--initial-advertise-peer-urls=" + l.PeerURL,
		"--initial-cluster=" + initial[1], "--initial-cluster-state=existing",
		"--heartbeat-interval=50", "--election-timeout=500",
	}
	c.AddMember(t, l)
	learnerMetrics := l.ClientURL + "/metrics"
	metricsWait(t, 30*time.Second, "the learner to serve /metrics as a learner", func() error {
		resp, err := http.Get(learnerMetrics)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if v := scrapeMetrics(t, learnerMetrics).value("etcd_server_is_learner"); v != 1 {
			return fmt.Errorf("etcd_server_is_learner = %v", v)
		}
		return nil
	})
	if v := scrapeMetrics(t, leader.ClientURL+"/metrics").value("etcd_server_learner_promote_successes"); v != 0 {
		t.Fatalf("etcd_server_learner_promote_successes before any promotion = %v", v)
	}
	// Refused with "learner not ready" until the learner has caught up.
	metricsWait(t, 30*time.Second, "member promote", func() error {
		out, err := etcdctl(t, eps, "", "member", "promote", id[1])
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	after := scrapeMetrics(t, leader.ClientURL+"/metrics")
	if v := after.value("etcd_server_learner_promote_successes"); v != 1 {
		t.Errorf("etcd_server_learner_promote_successes after the promotion = %v, want 1", v)
	}
	if v := after.value("etcd_server_learner_promote_failures"); v != 0 {
		// Only "learner not ready" refusals may have been counted.
		if n := after.value("etcd_server_learner_promote_failures", "Reason",
			"etcdserver: can only promote a learner member which is in sync with leader"); n != v {
			t.Errorf("etcd_server_learner_promote_failures = %v, of which %v for a learner not ready", v, n)
		}
	}
	metricsWait(t, 30*time.Second, "the promoted member's etcd_server_is_learner to drop", func() error {
		if v := scrapeMetrics(t, learnerMetrics).value("etcd_server_is_learner"); v != 0 {
			return fmt.Errorf("etcd_server_is_learner = %v", v)
		}
		return nil
	})
}
