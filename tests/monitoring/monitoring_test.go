package monitoring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// TestMain removes the binaries concordtest builds on first use.
func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// job is the scrape job of the kit's Prometheus files; seed 000's
// queries select on it.
const job = "kubernetes-etcd"

// members is the size of the test cluster.
const members = 3

// keys is the number of distinct keys the traffic writes.
const keys = 24

// shortFor are the `for:` durations the test gives the alerts it makes
// fire, in its temporary copy of alerts.yaml only (the committed ones
// wait minutes: etcdMembersDown 20m, etcdInsufficientMembers 3m,
// etcdNoLeader 1m). Every other rule keeps its committed duration; the
// healthy-cluster check requires no alert at all, pending ones included,
// so durations do not hide anything there.
var shortFor = map[string]string{
	"etcdMembersDown":         "3s",
	"etcdInsufficientMembers": "3s",
	"etcdNoLeader":            "3s",
}

// check is one PromQL query and what its result must satisfy.
type check struct {
	source string
	expr   string
	want   func([]sample) error
}

// each requires n samples, every one satisfying ok.
func each(n int, what string, ok func(float64) bool) func([]sample) error {
	return func(s []sample) error {
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

func eq(v float64) func(float64) bool { return func(x float64) bool { return x == v } }
func between(lo, hi float64) func(float64) bool {
	return func(x float64) bool { return x >= lo && x <= hi }
}
func positive(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

// hasData requires a non-empty result with a finite value.
func hasData(s []sample) error {
	if len(s) == 0 {
		return errors.New("no series")
	}
	if !finite(s) {
		return fmt.Errorf("no finite value: %v", s)
	}
	return nil
}

// seed000 is seed 000's table of PromQL (监控指标), verbatim, except the
// CPU and memory rows: those query the container runtime's exporter
// (cpu_utilization_core, memory_utilization_byte), which a member does
// not export; the process collector's standard series stand in for them,
// as in the kit's dashboard.
func seed000() []check {
	j := `{job="` + job + `"}`
	return []check{
		{"seed 000: 集群节点数 (members)", `count(etcd_server_has_leader` + j + `) or vector(0)`, each(1, "3", eq(members))},
		{"seed 000: Leader 节点数 (leaders)", `count(etcd_server_is_leader` + j + ` == 1)`, each(1, "1", eq(1))},
		{"seed 000: 过去一天切主次数 (leader changes in a day)", `changes(etcd_server_leader_changes_seen_total` + j + `[1d])`, each(members, "a few", between(0, 3))},
		{"seed 000: 磁盘大小 (DB size)", `etcd_mvcc_db_total_size_in_bytes` + j, each(members, "> 0", positive)},
		{"seed 000: CPU使用量 (CPU, process collector)", `rate(process_cpu_seconds_total` + j + `[15s])*1000`, each(members, ">= 0 millicores", between(0, 1e6))},
		{"seed 000: 内存使用量 (memory, process collector)", `process_resident_memory_bytes` + j, each(members, "> 0", positive)},
		{"seed 000: backend commit 延迟 (backend commit p99)", `histogram_quantile(0.99, sum(rate(etcd_disk_backend_commit_duration_seconds_bucket` + j + `[5m])) by (instance, le))`, each(members, "finite", between(0, 100))},
		{"seed 000: kv总数 (key count)", `etcd_debugging_mvcc_keys_total` + j, each(members, "the keys written", eq(keys))},
		{"seed 000: raft proposals 情况 (committed - applied)", `etcd_server_proposals_committed_total` + j + ` - etcd_server_proposals_applied_total` + j, each(members, "a small backlog", between(0, 100))},
	}
}

// dashboardChecks are the queries of every panel of the kit's dashboard,
// with the dashboard's variables expanded: each must return a finite
// value.
func dashboardChecks(t *testing.T) []check {
	_, ps := loadDashboard(t)
	var cs []check
	for _, p := range ps {
		for _, q := range p.Targets {
			cs = append(cs, check{fmt.Sprintf("dashboard %q %s", p.Title, q.RefID), expand(q.Expr), hasData})
		}
	}
	return cs
}

// ruleMetricChecks require every metric an alert rule selects to exist
// in every scrape job: a rule on a metric Concord does not export could
// never fire.
func ruleMetricChecks(t *testing.T, jobs []string) []check {
	var cs []check
	seen := map[string]bool{}
	for _, r := range loadAlerts(t) {
		for _, m := range metricNames(r.Expr) {
			if seen[m] {
				continue
			}
			seen[m] = true
			cs = append(cs, check{fmt.Sprintf("metric %s of %s", m, r.Alert), fmt.Sprintf(`count by (job) ({__name__=%q, job=~".*etcd.*"})`, m), func(s []sample) error {
				var got []string
				for _, x := range s {
					got = append(got, x.labels["job"])
				}
				for _, j := range jobs {
					if !slices.Contains(got, j) {
						return fmt.Errorf("%s: no series in job %q (has %v)", m, j, got)
					}
				}
				return nil
			}})
		}
	}
	return cs
}

// runChecks evaluates every check on p until all hold at once (rates need
// a few scrapes), or fails t after timeout with the ones that do not; it
// logs the values.
func runChecks(t *testing.T, p *prom, timeout time.Duration, cs []check) {
	t.Helper()
	last := make([]error, len(cs))
	vals := make([][]sample, len(cs))
	waitFor(t, timeout, fmt.Sprintf("%s: %d PromQL checks", p.name, len(cs)), func() error {
		var msgs []string
		for i, c := range cs {
			s, err := p.query(c.expr)
			if errors.Is(err, errPromExited) {
				return err
			}
			if err == nil {
				err = c.want(s)
			}
			vals[i], last[i] = s, err
			if err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: %s: %v", c.source, c.expr, err))
			}
		}
		if len(msgs) > 0 {
			return fmt.Errorf("%d of %d fail:\n%s", len(msgs), len(cs), strings.Join(msgs, "\n"))
		}
		return nil
	})
	for i, c := range cs {
		vs := make([]string, len(vals[i]))
		for k, v := range vals[i] {
			vs[k] = strconv.FormatFloat(v.value, 'g', 4, 64)
		}
		t.Logf("%s: %-60s %s", p.name, c.source, strings.Join(vs, " "))
	}
}

// traffic counts what runTraffic did.
type traffic struct {
	mu     sync.Mutex
	rounds int
	errs   []error
}

// runTraffic writes the keys over and over (so the key count stays
// keys), reads them and runs a compare-and-put txn, paced by a ticker,
// until ctx ends.
func runTraffic(ctx context.Context, cli *clientv3.Client, st *traffic) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		k := fmt.Sprintf("/registry/monitoring/k%02d", i%keys)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		switch i % 3 {
		case 0:
			_, err = cli.Put(rctx, k, strconv.Itoa(i))
		case 1:
			_, err = cli.Get(rctx, k)
		case 2:
			_, err = cli.Txn(rctx).If(clientv3.Compare(clientv3.Version(k), ">", 0)).
				Then(clientv3.OpPut(k, "txn"), clientv3.OpGet(k)).Commit()
		}
		cancel()
		st.mu.Lock()
		st.rounds++
		if err != nil && ctx.Err() == nil {
			st.errs = append(st.errs, err)
		}
		st.mu.Unlock()
	}
}

// checkTargets requires want active targets on p, all up, and returns
// their jobs.
func checkTargets(p *prom, want int) error {
	ts, err := p.targets()
	if err != nil {
		return err
	}
	if len(ts) != want {
		return fmt.Errorf("%d active targets, want %d: %+v", len(ts), want, ts)
	}
	var bad []string
	for _, tg := range ts {
		if tg.Health != "up" {
			bad = append(bad, fmt.Sprintf("%s (job %s): %s: %s", tg.ScrapeURL, tg.Labels["job"], tg.Health, tg.LastError))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("targets not up:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

// firing waits until p fires alert name for each of jobs (job label),
// with value want, and returns the alerts.
func firing(t *testing.T, p *prom, name string, jobs []string, want float64) []alert {
	t.Helper()
	var got []alert
	waitFor(t, 60*time.Second, fmt.Sprintf("%s: %s firing for jobs %v", p.name, name, jobs), func() error {
		as, err := p.alerts()
		if err != nil {
			return err
		}
		got = nil
		for _, a := range as {
			if a.Labels["alertname"] == name && a.State == "firing" {
				got = append(got, a)
			}
		}
		for _, j := range jobs {
			ok := false
			for _, a := range got {
				if v, err := strconv.ParseFloat(a.Value, 64); err == nil && a.Labels["job"] == j && v == want {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("job %s: not firing with value %g; alerts: %v", j, want, as)
			}
		}
		return nil
	})
	return got
}

// TestKitAgainstCluster runs the kit's two Prometheus files, each in its
// own real Prometheus, against a 3-member cluster with TLS and client
// certificates on the client port and a plain metrics listener:
// prometheus-plain.yml scrapes the metrics listeners over http,
// prometheus-tls.yml the client ports over https with the client
// certificate. Each Prometheus also runs the scrape job the Prometheus
// Operator would render from the matching ServiceMonitor of
// kubernetes/servicemonitor.yaml (with its tlsConfig). The rules are the
// kit's alerts.yaml, with the `for:` of shortFor. Through Prometheus'
// HTTP API the test checks that every target is up, seed 000's queries,
// every dashboard query and every metric the rules use return data, that
// every rule evaluates without error and no alert is pending or firing on
// the healthy cluster, then kills one member and waits for
// etcdMembersDown (and not etcdInsufficientMembers), then kills the leader
// and waits for etcdInsufficientMembers and etcdNoLeader.
func TestKitAgainstCluster(t *testing.T) {
	tool(t, "prometheus")
	tool(t, "promtool")
	pki := concordtest.NewPKI(t)
	metricsURLs := make([]string, members)
	for i := range metricsURLs {
		metricsURLs[i] = "http://" + concordtest.FreeAddr(t, fmt.Sprintf("127.0.0.%d", i+1))
	}
	c := concordtest.StartOptions(t, members, concordtest.Options{
		Scheme:    "https",
		ClientTLS: pki.ClientTLS,
		Token:     "monitoring",
		Args: append(pki.ServerArgs(),
			"--heartbeat-interval=50", "--election-timeout=500", "--log-level=info",
			// The gRPC handling-time histogram (etcdGRPCRequestsSlow, the
			// dashboard's "gRPC p99 by method").
			"--metrics=extensive"),
		MemberArgs:  func(i int) []string { return []string{"--listen-metrics-urls=" + metricsURLs[i]} },
		WaitTimeout: 60 * time.Second,
	})
	cli := c.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < keys; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("/registry/monitoring/k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// A watch stream and a lease keep-alive stream stay open, for the
	// "Active streams" panel. The lease is kept alive through a follower,
	// which forwards to the leader (as a kube-apiserver connected to any
	// member does).
	wch := cli.Watch(ctx, "/registry/monitoring/", clientv3.WithPrefix())
	go func() {
		for range wch {
		}
	}()
	_, followers := c.SplitLeader(t)
	fcli := followers[0].Client(t)
	lease, err := fcli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithTimeout(ctx, 10*time.Second)
	if _, err := fcli.KeepAliveOnce(kctx, lease.ID); err != nil {
		// Reported, and the alert rules below see it too.
		t.Errorf("lease keep-alive through follower %s: %v", followers[0].Name, err)
	}
	kcancel()
	ka, err := fcli.KeepAlive(ctx, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ka {
		}
	}()
	var st traffic
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runTraffic(ctx, cli, &st)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	// Targets: the metrics listeners (host:port) and the client ports.
	plainTargets := make([]string, members)
	tlsTargets := make([]string, members)
	for i, m := range c.Members {
		plainTargets[i] = strings.TrimPrefix(metricsURLs[i], "http://")
		tlsTargets[i] = strings.TrimPrefix(m.ClientURL, "https://")
	}
	svcs := loadServices(t)
	var smTLS, smPlain []map[string]any
	for _, sm := range loadServiceMonitors(t) {
		switch sm.spec.Endpoints[0].Scheme {
		case "https":
			smTLS = append(smTLS, sm.scrapeJobs(t, svcs, tlsTargets, pki)...)
		case "http":
			smPlain = append(smPlain, sm.scrapeJobs(t, svcs, plainTargets, pki)...)
		}
	}
	if len(smTLS) == 0 || len(smPlain) == 0 {
		t.Fatalf("servicemonitor.yaml: want an https and an http ServiceMonitor")
	}
	jobsOf := func(extra []map[string]any) []string {
		js := []string{job}
		for _, e := range extra {
			j := e["static_configs"].([]any)[0].(map[string]any)["labels"].(map[string]any)["job"].(string)
			if !slices.Contains(js, j) {
				js = append(js, j)
			}
		}
		return js
	}

	type setup struct {
		p    *prom
		jobs []string // the job labels of its scrape jobs
		n    int      // its scrape targets
	}
	var proms []setup
	for _, s := range []struct {
		name, file string
		targets    []string
		extra      []map[string]any
	}{
		{"prometheus-plain.yml", "prometheus/prometheus-plain.yml", plainTargets, smPlain},
		{"prometheus-tls.yml", "prometheus/prometheus-tls.yml", tlsTargets, smTLS},
	} {
		dir := t.TempDir()
		rules := testRules(t, dir, shortFor)
		cfg := promConfig(t, kitPath(s.file), dir, rules, s.targets, pki, s.extra...)
		proms = append(proms, setup{startProm(t, s.name, dir, cfg), jobsOf(s.extra), members * (1 + len(s.extra))})
	}

	// A Prometheus whose targets do not come up is reported and left out
	// of the rest, so that the other's checks still run.
	var up []setup
	for _, s := range proms {
		if err := poll(30*time.Second, func() error { return checkTargets(s.p, s.n) }); err != nil {
			t.Errorf("%s: not every target up within 30s: %v", s.p.name, err)
			continue
		}
		up = append(up, s)
	}
	if len(up) == 0 {
		t.FailNow()
	}
	proms = up
	for _, s := range proms {
		cs := seed000()
		cs = append(cs, dashboardChecks(t)...)
		cs = append(cs, ruleMetricChecks(t, s.jobs)...)
		runChecks(t, s.p, 90*time.Second, cs)
		// The dashboard's template variables, as Grafana evaluates them.
		jobs, err := s.p.labelValues("job", "etcd_server_has_leader")
		if err != nil || !slices.Contains(jobs, job) {
			t.Errorf("%s: label_values(etcd_server_has_leader, job) = %v, %v; want %s among them", s.p.name, jobs, err, job)
		}
		insts, err := s.p.labelValues("instance", `etcd_server_has_leader{job=~"`+job+`"}`)
		if err != nil || len(insts) != members {
			t.Errorf("%s: label_values(etcd_server_has_leader{job=~%q}, instance) = %v, %v; want %d members", s.p.name, job, insts, err, members)
		}
	}

	// Healthy cluster: every rule evaluates without error, over data that
	// the checks above showed complete, and no alert is pending or firing
	// over several evaluations.
	start := time.Now()
	for _, s := range proms {
		waitFor(t, 30*time.Second, s.p.name+": five rule evaluations with no alert", func() error {
			as, err := s.p.alerts()
			if err != nil {
				return err
			}
			if len(as) > 0 {
				// Reported, and the member-failure checks below still run.
				failed, _ := s.p.query(`grpc_server_handled_total{grpc_code!="OK"} > 0`)
				t.Errorf("%s: alerts on a healthy cluster: %v\nfailed gRPC requests: %v", s.p.name, as, failed)
				return nil
			}
			rs, err := s.p.rules()
			if err != nil {
				return err
			}
			if len(rs) != len(loadAlerts(t)) {
				return fmt.Errorf("%d alerting rules loaded, want %d", len(rs), len(loadAlerts(t)))
			}
			for _, r := range rs {
				if r.Health == "err" {
					t.Fatalf("%s: rule %s: %s", s.p.name, r.Name, r.LastError)
				}
				if r.Health != "ok" || r.LastEvaluation.Before(start.Add(5*time.Second)) {
					return fmt.Errorf("rule %s: health %q, last evaluated %v", r.Name, r.Health, r.LastEvaluation)
				}
			}
			return nil
		})
	}
	st.mu.Lock()
	if st.rounds == 0 {
		t.Error("the traffic generator never ran")
	}
	for _, err := range st.errs {
		t.Errorf("traffic: %v", err)
	}
	st.mu.Unlock()

	// One member of three dies: members down, but a quorum is left.
	cancel()
	wg.Wait()
	leader, others := c.SplitLeader(t)
	victim := others[0]
	victim.Kill()
	t.Logf("killed %s (the leader is %s)", victim.Name, leader.Name)
	for _, s := range proms {
		as := firing(t, s.p, "etcdMembersDown", s.jobs, 1)
		t.Logf("%s: %s: %s", s.p.name, as[0], as[0].Annotations["description"])
		if !strings.HasPrefix(as[0].Annotations["description"], "1 member(s)") {
			t.Errorf("%s: etcdMembersDown description %q", s.p.name, as[0].Annotations["description"])
		}
		all, err := s.p.alerts()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range all {
			if n := a.Labels["alertname"]; n == "etcdInsufficientMembers" || n == "etcdNoLeader" {
				t.Errorf("%s: %v with two members of three up", s.p.name, a)
			}
		}
	}

	// The leader dies too: no quorum, and the last member has no leader.
	leader.Kill()
	t.Logf("killed %s", leader.Name)
	for _, s := range proms {
		as := firing(t, s.p, "etcdInsufficientMembers", s.jobs, 1)
		t.Logf("%s: %s: %s", s.p.name, as[0], as[0].Annotations["description"])
		as = firing(t, s.p, "etcdNoLeader", s.jobs, 0)
		t.Logf("%s: %s", s.p.name, as[0])
		firing(t, s.p, "etcdMembersDown", s.jobs, 2)
	}
}
