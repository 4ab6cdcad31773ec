package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

// jsonLogLines reads path and returns its lines, failing t for any that
// is not one etcd-shaped JSON log entry (level, ts, caller, msg).
func jsonLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s:%d is not JSON: %q", filepath.Base(path), n, line)
			continue
		}
		for _, k := range []string{"level", "ts", "caller", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("%s:%d has no %q: %q", filepath.Base(path), n, k, line)
			}
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func hasMsg(recs []map[string]any, msg string) bool {
	for _, r := range recs {
		if r["msg"] == msg {
			return true
		}
	}
	return false
}

// TestLogsAreJSON starts members with no logging flag at all, drives them
// (writes, reads, a watch, a lease, a snapshot, a graceful stop) and
// asserts that every line they wrote on stdout and stderr is a JSON log
// entry: Pebble's, gRPC's and the standard library's lines included.
func TestLogsAreJSON(t *testing.T) {
	c := concordtest.StartOptions(t, 3, concordtest.Options{Token: "e2e-logs"})
	eps := c.Endpoints()
	for _, args := range [][]string{
		{"put", "k", "v"},
		{"get", "k"},
		{"lease", "grant", "30"},
		{"snapshot", "save", filepath.Join(t.TempDir(), "s.db")},
	} {
		if out, err := etcdctl(t, eps[:1], "", args...); err != nil {
			t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// A watch stream opened and closed: from revision 1 it prints the put
	// at once, then is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch := exec.CommandContext(ctx, "etcdctl", "--endpoints="+eps[0], "watch", "k", "--rev=1")
	watch.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "v" {
	}
	cancel()
	_ = watch.Wait()
	c.Stop()
	for _, m := range c.Members {
		recs := jsonLogLines(t, m.LogFile)
		if !hasMsg(recs, "starting concord") {
			t.Errorf("%s: no \"starting concord\" entry among %d", m.Name, len(recs))
		}
		for _, r := range recs {
			if r["logger"] == "pebble" {
				goto pebbleSeen
			}
		}
		t.Errorf("%s: Pebble's lines are not zap entries named pebble", m.Name)
	pebbleSeen:
	}
}

// TestLogOutputsFile starts a member with --log-outputs=<file>: the file
// gets the JSON entries and stdout/stderr get nothing.
func TestLogOutputsFile(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "concord.log")
	c := concordtest.StartOptions(t, 1, concordtest.Options{Token: "e2e-log-file", Args: []string{"--log-outputs=" + logFile}})
	if out, err := etcdctl(t, c.Endpoints(), "", "put", "k", "v"); err != nil {
		t.Fatalf("etcdctl put: %v\n%s", err, out)
	}
	c.Stop()
	recs := jsonLogLines(t, logFile)
	for _, msg := range []string{"starting concord", "concord stopped"} {
		if !hasMsg(recs, msg) {
			t.Errorf("%s has no %q entry among %d", logFile, msg, len(recs))
		}
	}
	b, err := os.ReadFile(c.Members[0].LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0 {
		t.Errorf("with --log-outputs=<file> the member still wrote on stdout/stderr:\n%s", b)
	}
}
