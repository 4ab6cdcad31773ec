package monitoring

import (
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
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

// kitDir is the repository's monitoring/ directory.
func kitDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "monitoring")
}

// kitPath is the path of a file of the kit, such as "alerts.yaml".
func kitPath(rel string) string { return filepath.Join(kitDir(), filepath.FromSlash(rel)) }

// tool returns the path of the Prometheus program name ("prometheus",
// "promtool"). When it is not installed the test is skipped, unless it
// runs in CI (CI=true), where .ci/run installs Debian's prometheus package
// and a missing binary fails the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (Debian: apt-get install -y prometheus): %v", name, err)
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
	return ""
}

// promtool runs promtool with args and fails t, with its output, unless it
// succeeds.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "promtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// prom is a running Prometheus server.
type prom struct {
	name string // for messages: which configuration it runs
	base string // http://host:port
	log  string
	// exited is closed when the process has exited.
	exited chan struct{}
}

// errPromExited ends a wait on a Prometheus that is gone.
var errPromExited = errors.New("prometheus exited")

// startProm runs Prometheus on config (a file in dir, whose rule_files
// are resolved relative to it), with its TSDB in dir and its web listener
// on a free port of 127.0.0.1, and waits until it is ready. The test's
// cleanup stops it and, when the test failed, logs its log's tail.
func startProm(t *testing.T, name, dir, config string) *prom {
	t.Helper()
	bin := tool(t, "prometheus")
	addr := concordtest.FreeAddr(t, "127.0.0.1")
	p := &prom{name: name, base: "http://" + addr, log: filepath.Join(dir, "prometheus.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start prometheus: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("---- %s: last lines of the prometheus log ----\n%s", p.name, tail(p.log, 30))
		}
	})
	waitFor(t, 30*time.Second, p.name+" ready", func() error {
		if p.gone() {
			return errPromExited
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

func (p *prom) gone() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// api GETs path (with query q) from Prometheus' HTTP API and decodes the
// "data" member of a successful answer into data.
func (p *prom) api(path string, q url.Values, data any) error {
	if p.gone() {
		return errPromExited
	}
	u := p.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status    string          `json:"status"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: %s: decode %q: %w", path, resp.Status, body, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

// sample is one element of an instant vector (or a scalar, without
// labels).
type sample struct {
	labels map[string]string
	value  float64
}

func (s sample) String() string { return fmt.Sprintf("%v=%g", s.labels, s.value) }

// query evaluates expr now (/api/v1/query); vector and scalar results.
func (p *prom) query(expr string) ([]sample, error) {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &d); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	switch d.ResultType {
	case "vector":
		var vs []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(d.Result, &vs); err != nil {
			return nil, err
		}
		out := make([]sample, 0, len(vs))
		for _, v := range vs {
			f, err := parseValue(v.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, sample{labels: v.Metric, value: f})
		}
		sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].labels) < fmt.Sprint(out[j].labels) })
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return nil, err
		}
		f, err := parseValue(v)
		if err != nil {
			return nil, err
		}
		return []sample{{value: f}}, nil
	}
	return nil, fmt.Errorf("query %s: result type %q", expr, d.ResultType)
}

func parseValue(v [2]any) (float64, error) {
	s, ok := v[1].(string)
	if !ok {
		return 0, fmt.Errorf("bad sample value %v", v)
	}
	return strconv.ParseFloat(s, 64)
}

// target is an active scrape target of /api/v1/targets.
type target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

func (p *prom) targets() ([]target, error) {
	var d struct {
		ActiveTargets []target `json:"activeTargets"`
	}
	err := p.api("/api/v1/targets", url.Values{"state": {"active"}}, &d)
	return d.ActiveTargets, err
}

// alert is an alert of /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // "pending" or "firing"
	Value       string            `json:"value"`
}

func (a alert) String() string {
	return fmt.Sprintf("%s %s %v value=%s", a.Labels["alertname"], a.State, a.Labels, a.Value)
}

func (p *prom) alerts() ([]alert, error) {
	var d struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.api("/api/v1/alerts", nil, &d)
	return d.Alerts, err
}

// rule is an alerting rule of /api/v1/rules.
type rule struct {
	Name           string    `json:"name"`
	Query          string    `json:"query"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func (p *prom) rules() ([]rule, error) {
	var d struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api("/api/v1/rules", url.Values{"type": {"alert"}}, &d); err != nil {
		return nil, err
	}
	var rs []rule
	for _, g := range d.Groups {
		rs = append(rs, g.Rules...)
	}
	return rs, nil
}

// labelValues returns the values of label on the series matching match
// (/api/v1/label/<label>/values), as Grafana's label_values(match, label).
func (p *prom) labelValues(label, match string) ([]string, error) {
	var vs []string
	err := p.api("/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{"match[]": {match}}, &vs)
	return vs, err
}

// waitFor polls cond until it returns nil and fails t with cond's last
// error after timeout, or at once when a Prometheus exited.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

// poll calls cond until it returns nil (poll returns nil), timeout passes
// or cond returns an error wrapping errPromExited (poll returns cond's
// last error).
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond) // pacing of a condition wait
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if errors.Is(err, errPromExited) || time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// finite reports whether some sample of s is a finite number.
func finite(s []sample) bool {
	for _, x := range s {
		if !math.IsNaN(x.value) && !math.IsInf(x.value, 0) {
			return true
		}
	}
	return false
}
