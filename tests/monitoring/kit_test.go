package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// mixinAlerts are the alerts of etcd's monitoring mixin (etcd-io/etcd,
// contrib/mixin) by name and severity, with the mixin's `for:` durations:
// the committed rules must have exactly these.
var mixinAlerts = map[string]map[string]time.Duration{
	"etcdMembersDown":                    {"warning": 20 * time.Minute},
	"etcdInsufficientMembers":            {"critical": 3 * time.Minute},
	"etcdNoLeader":                       {"critical": time.Minute},
	"etcdHighNumberOfLeaderChanges":      {"warning": 5 * time.Minute},
	"etcdHighNumberOfFailedGRPCRequests": {"warning": 10 * time.Minute, "critical": 5 * time.Minute},
	"etcdGRPCRequestsSlow":               {"critical": 10 * time.Minute},
	"etcdMemberCommunicationSlow":        {"warning": 10 * time.Minute},
	"etcdHighNumberOfFailedProposals":    {"warning": 15 * time.Minute},
	"etcdHighFsyncDurations":             {"warning": 10 * time.Minute, "critical": 10 * time.Minute},
	"etcdHighCommitDurations":            {"warning": 10 * time.Minute},
	"etcdDatabaseQuotaLowSpace":          {"critical": 10 * time.Minute},
	"etcdExcessiveDatabaseGrowth":        {"warning": 10 * time.Minute},
	"etcdDatabaseHighFragmentationRatio": {"warning": 10 * time.Minute},
}

// alertRule is one alerting rule of monitoring/alerts.yaml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadAlerts decodes monitoring/alerts.yaml strictly (unknown fields fail).
func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	decodeStrict(t, kitPath("alerts.yaml"), &f)
	var rs []alertRule
	for _, g := range f.Groups {
		rs = append(rs, g.Rules...)
	}
	return rs
}

// decodeStrict decodes the YAML file p into v, failing t on unknown fields.
func decodeStrict(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// selectorRE matches a metric name followed by a label selector, as every
// selector of the kit's queries is written.
var selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// notMetrics are PromQL keywords selectorRE could take for metric names.
var notMetrics = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true}

// metricNames returns the metric names the selectors of expr name.
func metricNames(expr string) []string {
	var out []string
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		if !notMetrics[m[1]] && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestAlertRules checks monitoring/alerts.yaml: promtool check rules and
// promtool test rules (monitoring/alerts_test.yaml) pass, and the rules
// are etcd-mixin's alerts with its severities and `for:` durations, each
// with a summary and a description, selecting the etcd jobs.
func TestAlertRules(t *testing.T) {
	out := promtool(t, "check", "rules", kitPath("alerts.yaml"))
	t.Logf("promtool check rules: %s", strings.TrimSpace(out))
	out = promtool(t, "test", "rules", kitPath("alerts_test.yaml"))
	t.Logf("promtool test rules: %s", strings.TrimSpace(out))

	got := map[string]map[string]time.Duration{}
	for _, r := range loadAlerts(t) {
		if r.Alert == "" {
			t.Errorf("a rule without an alert name (recording rules belong elsewhere): %q", r.Expr)
			continue
		}
		d, err := time.ParseDuration(r.For)
		if err != nil {
			t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
		}
		sev := r.Labels["severity"]
		if got[r.Alert] == nil {
			got[r.Alert] = map[string]time.Duration{}
		}
		if _, dup := got[r.Alert][sev]; dup {
			t.Errorf("%s: two rules of severity %q", r.Alert, sev)
		}
		got[r.Alert][sev] = d
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: wants a summary and a description, has %v", r.Alert, r.Annotations)
		}
		for _, sel := range regexp.MustCompile(`\{[^}]*\}`).FindAllString(r.Expr, -1) {
			if !strings.Contains(sel, `job=~".*etcd.*"`) {
				t.Errorf("%s: selector %s does not select the etcd jobs (job=~\".*etcd.*\")", r.Alert, sel)
			}
		}
	}
	for name, want := range mixinAlerts {
		for sev, d := range want {
			if g, ok := got[name][sev]; !ok {
				t.Errorf("missing alert %s (severity %s)", name, sev)
			} else if g != d {
				t.Errorf("%s (%s): for %v, want etcd-mixin's %v", name, sev, g, d)
			}
		}
	}
	for name, sevs := range got {
		for sev := range sevs {
			if _, ok := mixinAlerts[name][sev]; !ok {
				t.Errorf("alert %s (severity %s) is not one of etcd-mixin's", name, sev)
			}
		}
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Query    any    `json:"query"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dsRef      `json:"datasource"`
	Targets    []dashExpr  `json:"targets"`
	Panels     []dashPanel `json:"panels"` // of a collapsed row
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

type dashExpr struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Datasource *dsRef `json:"datasource"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboard decodes monitoring/dashboard.json and returns it with its
// panels that query (rows' nested panels included, rows left out).
func loadDashboard(t *testing.T) (*dashboard, []dashPanel) {
	t.Helper()
	b, err := os.ReadFile(kitPath("dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var ps []dashPanel
	var walk func([]dashPanel)
	walk = func(in []dashPanel) {
		for _, p := range in {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			ps = append(ps, p)
		}
	}
	walk(d.Panels)
	return &d, ps
}

// dashboardVars are the values the tests give the dashboard's template
// variables: the job of the kit's scrape configs, every member, and a
// rate window of 15 scrapes at the tests' 1 s scrape interval.
var dashboardVars = []string{
	"$__rate_interval", "15s",
	"$instance", ".*",
	"$job", "kubernetes-etcd",
}

// expand substitutes dashboardVars into a dashboard query.
func expand(expr string) string { return strings.NewReplacer(dashboardVars...).Replace(expr) }

// seed000Panels are the nine panels of seed 000's table, each with the
// metric the dashboard's panel must query.
var seed000Panels = map[string]string{
	"members":                       "etcd_server_has_leader",
	"leaders":                       "etcd_server_is_leader",
	"leader changes in a day":       "etcd_server_leader_changes_seen_total",
	"DB size":                       "etcd_mvcc_db_total_size_in_bytes",
	"CPU":                           "process_cpu_seconds_total",
	"memory":                        "process_resident_memory_bytes",
	"backend commit p99":            "etcd_disk_backend_commit_duration_seconds_bucket",
	"key count":                     "etcd_debugging_mvcc_keys_total",
	"proposals committed - applied": "etcd_server_proposals_applied_total",
}

// commonPanels are the panels of the usual etcd dashboards (etcd-mixin,
// Grafana 3070), each with a metric its query must use.
var commonPanels = map[string]string{
	"RPC rate":           "grpc_server_started_total",
	"active streams":     "grpc_server_handled_total",
	"raft proposals":     "etcd_server_proposals_committed_total",
	"disk sync duration": "etcd_disk_wal_fsync_duration_seconds_bucket",
	"client traffic":     "etcd_network_client_grpc_received_bytes_total",
	"peer traffic":       "etcd_network_peer_sent_bytes_total",
	"peer round trip":    "etcd_network_peer_round_trip_time_seconds_bucket",
}

// TestDashboard checks monitoring/dashboard.json's shape: unique panel
// IDs on a 24-column grid, every panel with queries on the dashboard's
// data-source variable, only known template variables, and a panel for
// each of seed 000's nine and each usual etcd panel.
func TestDashboard(t *testing.T) {
	d, ps := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"datasource", "job", "instance"} {
		if !vars[v] {
			t.Errorf("no template variable %q", v)
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range ps {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: grid position %+v off the 24-column grid", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if q.Expr == "" || q.RefID == "" {
				t.Errorf("panel %q: query %+v", p.Title, q)
			}
			if q.Datasource == nil || q.Datasource.Type != "prometheus" || q.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %s has data source %+v, want the ${datasource} variable", p.Title, q.RefID, q.Datasource)
			}
			if left := expand(q.Expr); strings.Contains(left, "$") {
				t.Errorf("panel %q: unknown template variable in %s", p.Title, left)
			}
			for _, m := range metricNames(q.Expr) {
				used[m] = true
			}
		}
	}
	for what, m := range seed000Panels {
		if !used[m] {
			t.Errorf("no panel for seed 000's %q (metric %s)", what, m)
		}
	}
	for what, m := range commonPanels {
		if !used[m] {
			t.Errorf("no %q panel (metric %s)", what, m)
		}
	}
	t.Logf("%d panels, %d metrics", len(ps), len(used))
}

// k8sObject is one document of a Kubernetes manifest file.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec    yaml.Node `yaml:"spec"`
	Subsets yaml.Node `yaml:"subsets"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
	Protocol   string `yaml:"protocol"`
}

type serviceSpec struct {
	Type      string            `yaml:"type"`
	ClusterIP string            `yaml:"clusterIP"`
	Selector  map[string]string `yaml:"selector"`
	Ports     []servicePort     `yaml:"ports"`
}

type endpointSubset struct {
	Addresses []struct {
		IP       string `yaml:"ip"`
		NodeName string `yaml:"nodeName"`
	} `yaml:"addresses"`
	Ports []servicePort `yaml:"ports"`
}

type serviceMonitorSpec struct {
	JobLabel  string `yaml:"jobLabel"`
	Endpoints []struct {
		Port      string `yaml:"port"`
		Interval  string `yaml:"interval"`
		Scheme    string `yaml:"scheme"`
		Path      string `yaml:"path"`
		TLSConfig *struct {
			CAFile             string `yaml:"caFile"`
			CertFile           string `yaml:"certFile"`
			KeyFile            string `yaml:"keyFile"`
			ServerName         string `yaml:"serverName"`
			InsecureSkipVerify bool   `yaml:"insecureSkipVerify"`
		} `yaml:"tlsConfig"`
	} `yaml:"endpoints"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	NamespaceSelector struct {
		MatchNames []string `yaml:"matchNames"`
	} `yaml:"namespaceSelector"`
}

// decodeNode decodes n into v strictly (unknown fields fail).
func decodeNode(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// loadManifests decodes every document of the kit's Kubernetes file rel.
func loadManifests(t *testing.T, rel string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(kitPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var objs []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", rel, len(objs)+1, err)
		}
		objs = append(objs, o)
	}
}

// kitServices are the Services (with their Endpoints' subsets, for those
// without a selector) of kubernetes/service.yaml.
type kitService struct {
	obj     k8sObject
	spec    serviceSpec
	subsets []endpointSubset
}

func loadServices(t *testing.T) []*kitService {
	t.Helper()
	var svcs []*kitService
	var eps []k8sObject
	for _, o := range loadManifests(t, "kubernetes/service.yaml") {
		switch {
		case o.APIVersion == "v1" && o.Kind == "Service":
			s := &kitService{obj: o}
			if err := decodeNode(&o.Spec, &s.spec); err != nil {
				t.Fatalf("Service %s: %v", o.Metadata.Name, err)
			}
			svcs = append(svcs, s)
		case o.APIVersion == "v1" && o.Kind == "Endpoints":
			eps = append(eps, o)
		default:
			t.Errorf("service.yaml: unexpected %s %s", o.APIVersion, o.Kind)
		}
	}
	for _, e := range eps {
		var s *kitService
		for _, c := range svcs {
			if c.obj.Metadata.Name == e.Metadata.Name && c.obj.Metadata.Namespace == e.Metadata.Namespace {
				s = c
			}
		}
		if s == nil {
			t.Errorf("Endpoints %s/%s: no Service of that name and namespace", e.Metadata.Namespace, e.Metadata.Name)
			continue
		}
		if s.spec.Selector != nil {
			t.Errorf("Endpoints %s: its Service has a selector, so Kubernetes would overwrite them", e.Metadata.Name)
		}
		if err := decodeNode(&e.Subsets, &s.subsets); err != nil {
			t.Fatalf("Endpoints %s: %v", e.Metadata.Name, err)
		}
	}
	return svcs
}

// port returns s's port named name.
func (s *kitService) port(name string) (servicePort, bool) {
	for _, p := range s.spec.Ports {
		if p.Name == name {
			return p, true
		}
	}
	return servicePort{}, false
}

// TestKubernetesManifests checks kubernetes/service.yaml and
// servicemonitor.yaml as the API server and the Prometheus Operator read
// them: a Service on the metrics port 2381 (seed 000), a headless Service
// on the client port 2379 with Endpoints of the same name listing member
// IPs (seed 001), and ServiceMonitors whose selectors, namespaces, ports,
// job labels and TLS files match those Services and the kit's Prometheus
// files.
func TestKubernetesManifests(t *testing.T) {
	svcs := loadServices(t)
	var metrics, external *kitService
	for _, s := range svcs {
		if p, ok := s.port("metrics"); ok && p.Port == 2381 && s.spec.Selector["component"] == "etcd" {
			metrics = s
		}
		if p, ok := s.port("port"); ok && p.Port == 2379 && s.spec.ClusterIP == "None" && len(s.subsets) > 0 {
			external = s
		}
	}
	if metrics == nil {
		t.Errorf("no Service selecting component=etcd with a port \"metrics\" 2381 (seed 000)")
	}
	if external == nil {
		t.Fatalf("no headless Service with a port \"port\" 2379 and Endpoints (seed 001)")
	}
	for _, sub := range external.subsets {
		if len(sub.Addresses) == 0 {
			t.Errorf("Endpoints %s: a subset without addresses", external.obj.Metadata.Name)
		}
		for _, a := range sub.Addresses {
			if net.ParseIP(a.IP) == nil {
				t.Errorf("Endpoints %s: address %q is not an IP", external.obj.Metadata.Name, a.IP)
			}
		}
		for _, p := range sub.Ports {
			if sp, ok := external.port(p.Name); !ok || sp.Port != p.Port {
				t.Errorf("Endpoints %s: port %+v is not the Service's", external.obj.Metadata.Name, p)
			}
		}
	}

	for _, sm := range loadServiceMonitors(t) {
		name := sm.obj.Metadata.Name
		matched := sm.services(svcs)
		if len(matched) == 0 {
			t.Errorf("ServiceMonitor %s selects no Service of service.yaml", name)
			continue
		}
		for _, s := range matched {
			if _, ok := s.obj.Metadata.Labels[sm.spec.JobLabel]; !ok {
				t.Errorf("ServiceMonitor %s: jobLabel %q is no label of Service %s", name, sm.spec.JobLabel, s.obj.Metadata.Name)
			}
			for _, ep := range sm.spec.Endpoints {
				p, ok := s.port(ep.Port)
				if !ok {
					t.Errorf("ServiceMonitor %s: Service %s has no port %q", name, s.obj.Metadata.Name, ep.Port)
					continue
				}
				if _, err := time.ParseDuration(ep.Interval); err != nil {
					t.Errorf("ServiceMonitor %s: interval %q: %v", name, ep.Interval, err)
				}
				switch ep.Scheme {
				case "https":
					tc := ep.TLSConfig
					if p.Port != 2379 || tc == nil || tc.CAFile == "" || tc.CertFile == "" || tc.KeyFile == "" {
						t.Errorf("ServiceMonitor %s: https on port %d wants the client port 2379 and a tlsConfig with caFile, certFile and keyFile, has %+v", name, p.Port, tc)
						continue
					}
					// The operator mounts spec.secrets at
					// /etc/prometheus/secrets/<secret>/: the three files
					// come from one secret.
					dir := path.Dir(tc.CAFile)
					if !strings.HasPrefix(dir, "/etc/prometheus/secrets/") || path.Dir(tc.CertFile) != dir || path.Dir(tc.KeyFile) != dir {
						t.Errorf("ServiceMonitor %s: TLS files %s, %s, %s are not in one mounted secret", name, tc.CAFile, tc.CertFile, tc.KeyFile)
					}
					if tc.InsecureSkipVerify {
						t.Errorf("ServiceMonitor %s: insecureSkipVerify", name)
					}
				case "http":
					if p.Port != 2381 {
						t.Errorf("ServiceMonitor %s: plain http on port %d, want the metrics port 2381", name, p.Port)
					}
				default:
					t.Errorf("ServiceMonitor %s: scheme %q", name, ep.Scheme)
				}
			}
		}
	}
}

// kitServiceMonitor is a ServiceMonitor of kubernetes/servicemonitor.yaml.
type kitServiceMonitor struct {
	obj  k8sObject
	spec serviceMonitorSpec
}

func loadServiceMonitors(t *testing.T) []*kitServiceMonitor {
	t.Helper()
	var sms []*kitServiceMonitor
	for _, o := range loadManifests(t, "kubernetes/servicemonitor.yaml") {
		if o.APIVersion != "monitoring.coreos.com/v1" || o.Kind != "ServiceMonitor" {
			t.Errorf("servicemonitor.yaml: unexpected %s %s", o.APIVersion, o.Kind)
			continue
		}
		sm := &kitServiceMonitor{obj: o}
		if err := decodeNode(&o.Spec, &sm.spec); err != nil {
			t.Fatalf("ServiceMonitor %s: %v", o.Metadata.Name, err)
		}
		sms = append(sms, sm)
	}
	if len(sms) == 0 {
		t.Fatal("servicemonitor.yaml has no ServiceMonitor")
	}
	return sms
}

// services returns the Services of svcs that sm selects.
func (sm *kitServiceMonitor) services(svcs []*kitService) []*kitService {
	var out []*kitService
	for _, s := range svcs {
		if !slices.Contains(sm.spec.NamespaceSelector.MatchNames, s.obj.Metadata.Namespace) {
			continue
		}
		ok := len(sm.spec.Selector.MatchLabels) > 0
		for k, v := range sm.spec.Selector.MatchLabels {
			if s.obj.Metadata.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// scrapeJobs renders the ServiceMonitor's endpoints as the Prometheus
// Operator does, as scrape configurations of a Prometheus that reaches the
// members at targets: job name serviceMonitor/<namespace>/<name>/<i>, the
// job label from the selected Service's jobLabel label, the scheme, path
// and TLS settings of the endpoint, the TLS files of the mounted secret
// replaced by p's files of the same role. The scrape interval is the
// test's.
func (sm *kitServiceMonitor) scrapeJobs(t *testing.T, svcs []*kitService, targets []string, p *concordtest.PKI) []map[string]any {
	t.Helper()
	matched := sm.services(svcs)
	if len(matched) != 1 {
		t.Fatalf("ServiceMonitor %s selects %d Services, want 1", sm.obj.Metadata.Name, len(matched))
	}
	jobLabel := matched[0].obj.Metadata.Labels[sm.spec.JobLabel]
	var jobs []map[string]any
	for i, ep := range sm.spec.Endpoints {
		job := map[string]any{
			"job_name":     fmt.Sprintf("serviceMonitor/%s/%s/%d", sm.obj.Metadata.Namespace, sm.obj.Metadata.Name, i),
			"scheme":       ep.Scheme,
			"metrics_path": ep.Path,
			"static_configs": []any{map[string]any{
				"targets": targets,
				"labels":  map[string]any{"job": jobLabel},
			}},
		}
		if tc := ep.TLSConfig; tc != nil {
			c := map[string]any{
				"ca_file":              p.CA,
				"cert_file":            p.ClientCert,
				"key_file":             p.ClientKey,
				"insecure_skip_verify": tc.InsecureSkipVerify,
			}
			if tc.ServerName != "" {
				c["server_name"] = tc.ServerName
			}
			job["tls_config"] = c
		}
		jobs = append(jobs, job)
	}
	return jobs
}

// promConfig rewrites the kit's Prometheus configuration file src into
// dir/prometheus.yml for the test: global scrape and evaluation intervals
// of 1 s, rule_files the given (test) rule file, the static targets of its
// one scrape job replaced by targets, its tls_config files by p's (when
// the job has one), and the extra jobs appended. Nothing else changes.
// promtool check config must pass on the result. It returns the path.
func promConfig(t *testing.T, src, dir, rules string, targets []string, p *concordtest.PKI, extra ...map[string]any) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	g, _ := c["global"].(map[string]any)
	if g == nil {
		g = map[string]any{}
		c["global"] = g
	}
	g["scrape_interval"], g["scrape_timeout"], g["evaluation_interval"] = "1s", "1s", "1s"
	if rf, _ := c["rule_files"].([]any); len(rf) != 1 || rf[0] != "../alerts.yaml" {
		t.Fatalf("%s: rule_files %v, want [../alerts.yaml]", src, c["rule_files"])
	}
	c["rule_files"] = []any{rules}
	jobs, _ := c["scrape_configs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("%s: %d scrape jobs, want 1", src, len(jobs))
	}
	job := jobs[0].(map[string]any)
	sc, _ := job["static_configs"].([]any)
	if len(sc) != 1 {
		t.Fatalf("%s: %d static_configs, want 1", src, len(sc))
	}
	st := sc[0].(map[string]any)
	if old, _ := st["targets"].([]any); len(old) != len(targets) {
		t.Fatalf("%s: %d targets, the test runs %d members", src, len(old), len(targets))
	}
	st["targets"] = targets
	if tc, ok := job["tls_config"].(map[string]any); ok {
		for k, v := range map[string]string{"ca_file": p.CA, "cert_file": p.ClientCert, "key_file": p.ClientKey} {
			if _, ok := tc[k]; !ok {
				t.Fatalf("%s: tls_config has no %s", src, k)
			}
			tc[k] = v
		}
	}
	for _, e := range extra {
		jobs = append(jobs, e)
	}
	c["scrape_configs"] = jobs
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "config", dst)
	return dst
}

// testRules writes the kit's alert rules to dir/alerts.yaml with the
// `for:` durations of the alerts in shortFor replaced (so that the test
// sees them fire in seconds instead of minutes); every other rule and
// field is as committed. promtool check rules must pass. It returns the
// path.
func testRules(t *testing.T, dir string, shortFor map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(kitPath("alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range f["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			r := r.(map[string]any)
			name, _ := r["alert"].(string)
			if d, ok := shortFor[name]; ok {
				r["for"] = d
				seen[name] = true
			}
		}
	}
	for name := range shortFor {
		if !seen[name] {
			t.Fatalf("alerts.yaml has no alert %s", name)
		}
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", dst)
	return dst
}

// TestPrometheusConfigs checks the kit's Prometheus files with promtool
// check config: prometheus-plain.yml as committed (its rule file is the
// kit's), prometheus-tls.yml with its certificate paths pointed at files
// that exist (promtool opens them).
func TestPrometheusConfigs(t *testing.T) {
	out := promtool(t, "check", "config", kitPath("prometheus/prometheus-plain.yml"))
	t.Logf("plain: %s", strings.TrimSpace(out))
	p := concordtest.NewPKI(t)
	dir := t.TempDir()
	targets := []string{"127.0.0.1:2379", "127.0.0.2:2379", "127.0.0.3:2379"}
	promConfig(t, kitPath("prometheus/prometheus-tls.yml"), dir, kitPath("alerts.yaml"), targets, p)
}
