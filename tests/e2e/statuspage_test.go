package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/tests/concordtest"
)

// pageStatus is the part of /ui/status.json the tests read.
type pageStatus struct {
	Name         string
	MemberID     string
	Leader       string
	LeaderName   string
	RaftTerm     uint64
	CommitIndex  uint64
	AppliedIndex uint64
	DBSize       int64
	DBSizeInUse  int64
	Keys         int64
	Alarms       []struct{ MemberID, Alarm string }
	Members      []struct {
		ID, Name            string
		ClientURLs          []string
		IsLeader, Reachable bool
		IsLearner           bool
		RaftIndex, RaftTerm uint64
		DBSize              int64
	}
	Latencies []struct {
		Name          string
		Count         uint64
		P50, P90, P99 *float64
	}
	LeaderChanges []struct {
		Leader string
		Term   uint64
	}
}

// statusCluster starts 3 members, each with a --listen-metrics-urls URL
// (returned in member order).
func statusCluster(t *testing.T) (*concordtest.Cluster, []string) {
	t.Helper()
	metrics := make([]string, 3)
	for i := range metrics {
		metrics[i] = "http://" + concordtest.FreeAddr(t, fmt.Sprintf("127.0.0.%d", i+1))
	}
	o := clusterOptions("e2e-status")
	o.LeaderOnly = false // the page names the members: wait until they published
	o.MemberArgs = func(i int) []string { return []string{"--listen-metrics-urls=" + metrics[i]} }
	return concordtest.StartOptions(t, 3, o), metrics
}

func getStatus(t *testing.T, base string) (*pageStatus, error) {
	t.Helper()
	resp, err := http.Get(base + "/ui/status.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		return nil, fmt.Errorf("%s: %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var st pageStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("%v: %s", err, body)
	}
	return &st, nil
}

// TestStatusPageJSON: /ui/status.json on a follower's metrics listener of
// a live 3-member cluster shows the three members (reachable, one leader,
// the one the members agree on), the member's raft state, its key count
// and sizes, an activated alarm, its latency percentiles and the leader
// change it saw; the page and "/"'s redirect are served on the client URL
// too.
func TestStatusPageJSON(t *testing.T) {
	c, metrics := statusCluster(t)
	leader, others := c.SplitLeader(t)
	follower := others[0]
	base := metrics[memberIndex(c, follower)]
	leaderID, err := leader.MemberID(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}

	cl := c.Client(t, follower)
	for i := range 5 {
		if _, err := cl.Put(ctxT(t), fmt.Sprintf("status/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// A linearizable read on the follower: it has applied the puts.
	if _, err := cl.Get(ctxT(t), "status/0"); err != nil {
		t.Fatal(err)
	}
	fid, err := follower.MemberID(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	mc := pb.NewMaintenanceClient(cl.ActiveConnection())
	if _, err := mc.Alarm(ctxT(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: fid, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = mc.Alarm(context.Background(), &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: fid, Alarm: pb.AlarmType_NOSPACE})
	}()

	st, err := getStatus(t, base)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", leaderID)
	if st.Name != follower.Name || st.MemberID != fmt.Sprintf("%x", fid) || st.Leader != want || st.LeaderName != leader.Name {
		t.Errorf("name %q id %s leader %s (%q), want %q %x %s (%q)", st.Name, st.MemberID, st.Leader, st.LeaderName, follower.Name, fid, want, leader.Name)
	}
	if st.RaftTerm == 0 || st.AppliedIndex == 0 || st.CommitIndex < st.AppliedIndex {
		t.Errorf("term %d commit %d applied %d", st.RaftTerm, st.CommitIndex, st.AppliedIndex)
	}
	if st.Keys != 5 || st.DBSize <= 0 || st.DBSizeInUse <= 0 || st.DBSizeInUse > st.DBSize {
		t.Errorf("keys %d db size %d in use %d", st.Keys, st.DBSize, st.DBSizeInUse)
	}
	if len(st.Alarms) != 1 || st.Alarms[0].Alarm != "NOSPACE" || st.Alarms[0].MemberID != fmt.Sprintf("%x", fid) {
		t.Errorf("alarms %+v, want NOSPACE on %x", st.Alarms, fid)
	}
	names := map[string]bool{}
	leaders := 0
	for _, m := range st.Members {
		names[m.Name] = true
		if !m.Reachable || m.RaftIndex == 0 || m.RaftTerm != st.RaftTerm || m.DBSize <= 0 || m.IsLearner {
			t.Errorf("member %+v", m)
		}
		if m.IsLeader {
			leaders++
			if m.ID != want {
				t.Errorf("leader row %s, want %s", m.ID, want)
			}
		}
	}
	if len(st.Members) != 3 || !names["m1"] || !names["m2"] || !names["m3"] || leaders != 1 {
		t.Errorf("members %+v", st.Members)
	}
	applies := false
	for _, l := range st.Latencies {
		if l.Count == 0 {
			continue
		}
		if l.P50 == nil || l.P90 == nil || l.P99 == nil || *l.P50 > *l.P90 || *l.P90 > *l.P99 || *l.P50 <= 0 {
			t.Errorf("%s: percentiles %v %v %v", l.Name, l.P50, l.P90, l.P99)
		}
		applies = applies || l.Name == "etcd_server_apply_duration_seconds"
	}
	if !applies {
		t.Errorf("no apply latencies: %+v", st.Latencies)
	}
	if len(st.LeaderChanges) == 0 || st.LeaderChanges[0].Leader != want || st.LeaderChanges[0].Term != st.RaftTerm {
		t.Errorf("leader changes %+v, want the newest %s at term %d", st.LeaderChanges, want, st.RaftTerm)
	}

	// The client URL serves the page; "/" sends a browser to it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(follower.ClientURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui" {
		t.Errorf("GET /: %s Location %q, want 302 to /ui", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = http.Get(follower.ClientURL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(page), "/ui/status.json") {
		t.Errorf("GET /ui on the client URL: %s %q", resp.Header.Get("Content-Type"), page)
	}
	for _, ext := range []string{"<script src", "<link ", "http://", "https://"} {
		if strings.Contains(string(page), ext) {
			t.Errorf("the page refers to an external asset (%q)", ext)
		}
	}
}

func memberIndex(c *concordtest.Cluster, m *concordtest.Member) int {
	for i, x := range c.Members {
		if x == m {
			return i
		}
	}
	return -1
}

// chromium runs headless Chromium on url with args, returning stdout.
func chromium(t *testing.T, url string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install chromium): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	home := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, path, append(append(base, args...), url)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// TestStatusPageBrowser: headless Chromium renders the status page of a
// live 3-member cluster from a member's metrics listener: the members'
// names appear in the members table (written by the page's script from
// status.json), and a screenshot is saved under the test's temp dir.
func TestStatusPageBrowser(t *testing.T) {
	c, metrics := statusCluster(t)
	c.Leader(t)
	url := metrics[0] + "/ui"
	dom := chromium(t, url, "--dump-dom")
	for _, m := range c.Members {
		if !strings.Contains(dom, `<td class="name">`+m.Name+`</td>`) {
			t.Errorf("member %s not in the rendered page:\n%s", m.Name, dom)
		}
	}
	if !strings.Contains(dom, `class="tag leader"`) {
		t.Errorf("no leader tag in the rendered page")
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, url, "--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars")
	fi, err := os.Stat(shot)
	if err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v %v", shot, fi, err)
	}
	if dst := os.Getenv("CONCORD_STATUS_SCREENSHOT"); dst != "" {
		data, _ := os.ReadFile(shot)
		_ = os.WriteFile(dst, data, 0o644)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, fi.Size())
}
