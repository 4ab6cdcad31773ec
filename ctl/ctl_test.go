package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const etcdBinary = "/usr/bin/etcd"

// freePort returns a 127.0.0.1 port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd starts a one-member etcd from /usr/bin/etcd in a temp dir and
// returns its client endpoint once a Get succeeds.
func startEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		t.Skip("SKIPPING: " + etcdBinary + " is absent; install etcd-server to run the etcd oracle tests")
	}
	cport, pport := freePort(t), freePort(t)
	curl := fmt.Sprintf("http://127.0.0.1:%d", cport)
	purl := fmt.Sprintf("http://127.0.0.1:%d", pport)
	dir := t.TempDir()
	cmd := exec.Command(etcdBinary, "--name", "t1", "--data-dir", dir+"/data",
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		"--initial-cluster", "t1="+purl)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{curl}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := cli.Get(ctx, "ready")
		cancel()
		if err == nil {
			return curl
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not ready: %v\n%s", err, logs.String())
		}
	}
}

type result struct {
	out, err string
	code     int
}

// run executes concordctl in process.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRootCommand(Env{
		In: strings.NewReader(stdin), Out: &out, Err: &errb,
		Lookup:           func(string) (string, bool) { return "", false },
		RangeDeleteDelay: -1,
	})
	root.SetArgs(args)
	err := root.Execute()
	if err != nil && !strings.Contains(err.Error(), ErrNoReport.Error()) {
		fmt.Fprintln(&errb, "Error:", err)
	}
	return result{out.String(), errb.String(), CodeOf(err)}
}

// etcdctl runs Debian's etcdctl 3.4 as the oracle.
func etcdctl(t *testing.T, args ...string) result {
	t.Helper()
	if _, err := os.Stat("/usr/bin/etcdctl"); err != nil {
		t.Skip("SKIPPING: /usr/bin/etcdctl absent")
	}
	cmd := exec.Command("/usr/bin/etcdctl", args...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

var tookRE = regexp.MustCompile(`took = [^\n]*|"took":"[^"]*"`)

func TestAgainstEtcdctl(t *testing.T) {
	ep := startEtcd(t)
	g := "--endpoints=" + ep
	// Each step runs the same command with etcdctl and concordctl on fresh
	// keys so both see the same state.
	cases := [][]string{
		{"put", "k1", "v1"},
		{"get", "k1"},
		{"-w", "json", "get", "k1"},
		{"-w", "fields", "get", "k1"},
		{"get", "--prefix", "k"},
		{"get", "--prefix", "--keys-only", "k"},
		{"--hex", "get", "k1"},
		{"-w", "json", "del", "nokey"},
		{"del", "nokey"},
		{"member", "list"},
		{"-w", "table", "member", "list"},
		{"-w", "json", "member", "list"},
		{"-w", "json", "endpoint", "health"},
		{"-w", "table", "get", "k1"},
		{"get"},
		{"put"},
		{"del"},
		{"lease", "grant"},
	}
	for _, c := range cases {
		args := append([]string{g}, c...)
		want := etcdctl(t, args...)
		got := run(t, "", args...)
		norm := func(s string) string { return tookRE.ReplaceAllString(s, "took") }
		if norm(got.out) != norm(want.out) || got.code != want.code {
			t.Errorf("%v:\n got (code %d) %q\nwant (code %d) %q", c, got.code, got.out, want.code, want.out)
		}
		if want.code != 0 && got.err != want.err {
			t.Errorf("%v stderr:\n got %q\nwant %q", c, got.err, want.err)
		}
	}
	// etcdctl 3.6 prints healthy endpoints on stdout (3.4 used stderr).
	if r := run(t, "", g, "endpoint", "health"); !strings.HasPrefix(r.out, ep+" is healthy: successfully committed proposal: took = ") {
		t.Errorf("endpoint health: %+v", r)
	}
	if r := run(t, "", g, "put", "--prev-kv", "k1", "v2"); r.out != "OK\nk1\nv1\n" {
		t.Errorf("put --prev-kv: %q", r.out)
	}
	// del with prev-kv.
	run(t, "", g, "put", "d1", "x")
	if r := run(t, "", g, "del", "--prev-kv", "d1"); r.out != "1\nd1\nx\n" {
		t.Errorf("del --prev-kv: %q", r.out)
	}
}

func TestTxnAndWatchAndLease(t *testing.T) {
	ep := startEtcd(t)
	g := "--endpoints=" + ep
	in := "mod(\"t1\") > \"0\"\n\nput t1 \"overwrote\"\n\nput t1 \"created\"\nput t2 \"extra\"\n\n"
	r := run(t, in, g, "txn", "-i")
	want := "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\nOK\n\nOK\n"
	if r.out != want || r.code != 0 {
		t.Fatalf("txn -i: %q %q code %d", r.out, r.err, r.code)
	}
	r = run(t, in, g, "txn")
	if r.out != "SUCCESS\n\nOK\n" {
		t.Fatalf("txn: %q %q", r.out, r.err)
	}
	if r := run(t, "", g, "get", "--print-value-only", "t1"); r.out != "overwrote\n" {
		t.Fatalf("get value only: %q", r.out)
	}
	if r := run(t, "bad(\n\n\n\n", g, "txn"); r.code != ExitInvalidInput {
		t.Fatalf("bad txn code %d %q", r.code, r.err)
	}

	// watch --rev 1 replays history; interrupt ends it.
	stop := make(chan struct{})
	var out, errb bytes.Buffer
	root := NewRootCommand(Env{Out: &syncBuf{b: &out, n: 3, done: stop}, Err: &errb, In: strings.NewReader(""),
		Lookup: func(string) (string, bool) { return "", false }, Interrupt: stop})
	root.SetArgs([]string{g, "watch", "--rev", "1", "t1"})
	if err := root.Execute(); err != nil {
		t.Fatalf("watch: %v %s", err, errb.String())
	}
	if !strings.HasPrefix(out.String(), "PUT\nt1\noverwrote\n") && !strings.HasPrefix(out.String(), "PUT\nt1\ncreated\n") {
		t.Fatalf("watch output %q", out.String())
	}

	r = run(t, "", g, "lease", "grant", "100")
	var id string
	if _, err := fmt.Sscanf(r.out, "lease %s granted with TTL(100s)", &id); err != nil {
		t.Fatalf("grant: %q %v", r.out, err)
	}
	run(t, "", g, "put", "--lease", id, "lk", "v")
	r = run(t, "", g, "lease", "timetolive", "--keys", id)
	if !strings.Contains(r.out, "attached keys([lk])") {
		t.Fatalf("timetolive: %q", r.out)
	}
	if r := run(t, "", g, "lease", "revoke", id); r.out != "lease "+id+" revoked\n" {
		t.Fatalf("revoke: %q", r.out)
	}
	if r := run(t, "", g, "compaction", "2"); r.out != "compacted revision 2\n" {
		t.Fatalf("compaction: %q %q", r.out, r.err)
	}
	path := t.TempDir() + "/snap.db"
	if r := run(t, "", g, "snapshot", "save", path); r.code != 0 || !strings.HasPrefix(r.out, "Snapshot saved at "+path+"\n") {
		t.Fatalf("snapshot save: %q %q", r.out, r.err)
	}
	// An etcd snapshot: concordctl's status has etcdctl's hash, revision
	// and size (and the live keys where etcdctl 3.4 counts every pair).
	r = run(t, "", "-w", "json", "snapshot", "status", path)
	var st snapshotStatusJSON
	if r.code != 0 || json.Unmarshal([]byte(r.out), &st) != nil {
		t.Fatalf("snapshot status: %+v", r)
	}
	er := etcdctl(t, "-w", "json", "snapshot", "status", path)
	var est snapshotStatusJSON
	if er.code != 0 || json.Unmarshal([]byte(er.out), &est) != nil || est.Hash != st.Hash || est.Revision != st.Revision || est.TotalSize != st.TotalSize {
		t.Fatalf("snapshot status %+v; etcdctl's %+v", st, er)
	}
	r = run(t, "", g, "-w", "table", "endpoint", "status")
	if !strings.Contains(r.out, "| STORAGE VERSION |") || !strings.Contains(r.out, "DOWNGRADE ENABLED") {
		t.Fatalf("endpoint status table: %q %q", r.out, r.err)
	}
	if r := run(t, "", g, "role", "add", "r1"); r.out != "Role r1 created\n" {
		t.Fatalf("role add: %q %q", r.out, r.err)
	}
	if r := run(t, "", g, "role", "grant-permission", "--prefix", "r1", "readwrite", "/a"); r.out != "Role r1 updated\n" {
		t.Fatalf("grant: %q %q", r.out, r.err)
	}
	if r := run(t, "", g, "role", "get", "r1"); r.out != "Role r1\nKV Read:\n\t[/a, /b) (prefix /a)\nKV Write:\n\t[/a, /b) (prefix /a)\n" {
		t.Fatalf("role get: %q", r.out)
	}
}

// syncBuf closes done once n lines were written.
type syncBuf struct {
	b    *bytes.Buffer
	n    int
	done chan struct{}
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.b.Write(p)
	if s.done != nil && strings.Count(s.b.String(), "\n") >= s.n {
		close(s.done)
		s.done = nil
	}
	return len(p), nil
}

func TestDeadEndpointFailsWithinDialTimeout(t *testing.T) {
	port := freePort(t)
	r := run(t, "", fmt.Sprintf("--endpoints=127.0.0.1:%d", port), "--dial-timeout=300ms", "--command-timeout=30s", "get", "k")
	if r.code != ExitError || r.err != "Error: context deadline exceeded\n" {
		t.Fatalf("dead endpoint: %+v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"get"}, ExitBadArgs, "Error: get command needs one argument as key and an optional argument as range_end\n"},
		{[]string{"put"}, ExitBadArgs, "Error: put command needs 1 argument and input from stdin or 2 arguments\n"},
		{[]string{"del", "a", "b", "c"}, ExitBadArgs, "Error: del command needs one argument as key and an optional argument as range_end\n"},
		{[]string{"compaction"}, ExitBadArgs, "Error: compaction command needs 1 argument\n"},
		{[]string{"lease", "grant"}, ExitBadArgs, "Error: lease grant command needs TTL argument\n"},
		{[]string{"member", "remove"}, ExitBadArgs, "Error: member ID is not provided\n"},
		{[]string{"watch"}, ExitBadArgs, "Error: bad number of arguments\n"},
		{[]string{"txn", "x"}, ExitBadArgs, "Error: txn command does not accept argument\n"},
		{[]string{"elect", "e"}, ExitBadArgs, "Error: no proposal argument but -l not set\n"},
		{[]string{"-w", "bogus", "get", "k"}, ExitBadFeature, "Error: unsupported output format\n"},
	} {
		r := run(t, "", c.args...)
		if r.code != c.code || r.err != c.msg {
			t.Errorf("%v: code %d err %q, want %d %q", c.args, r.code, r.err, c.code, c.msg)
		}
	}
}

func TestEnvVars(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"ETCDCTL_DIAL_TIMEOUT": "250ms", "ETCDCTL_ENDPOINTS": "127.0.0.1:1"}
	root := NewRootCommand(Env{Out: &out, Err: &errb, In: strings.NewReader(""),
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	root.SetArgs([]string{"--debug", "version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ETCDCTL_DIAL_TIMEOUT=250ms\n", "ETCDCTL_ENDPOINTS=[127.0.0.1:1]\n"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("debug output lacks %q: %s", want, errb.String())
		}
	}
}

func TestRenderTable(t *testing.T) {
	var b bytes.Buffer
	renderTable(&b, []string{"endpoint", "hash_revision", "ID"}, [][]string{{"127.0.0.1:2379", "5", "abc"}})
	want := "" +
		"+----------------+---------------+-----+\n" +
		"|    ENDPOINT    | HASH REVISION | ID  |\n" +
		"+----------------+---------------+-----+\n" +
		"| 127.0.0.1:2379 |             5 | abc |\n" +
		"+----------------+---------------+-----+\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 9: "9 B", 10: "10 B", 999: "999 B", 1000: "1.0 kB", 20480: "20 kB", 25000: "25 kB", 1234567: "1.2 MB", 2_100_000_000: "2.1 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestArgifyAndCompare(t *testing.T) {
	args, err := argify(`put k1 "a \"b\"" 'c d' e`)
	if err != nil || strings.Join(args, "|") != `put|k1|a "b"|c d|e` {
		t.Fatalf("argify: %q %v", args, err)
	}
	for _, line := range []string{`mod("k") > "0"`, `ver("k") = "1"`, `val("k") != "x"`, `c("k") < "5"`, `lease("k") = "0"`} {
		if _, err := parseCompare(line); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}
	for _, line := range []string{`mod "k"`, `foo("k") = "1"`, `ver("k") = "x"`, `val("k") ~ "x"`} {
		if _, err := parseCompare(line); err == nil {
			t.Errorf("%s: no error", line)
		}
	}
}

// TestCompletion: etcdctl 3.6's completion command (cobra's generator)
// writes a script for each shell it names.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "# bash completion V2 for concordctl",
		"zsh":        "#compdef concordctl",
		"fish":       "# fish completion for concordctl",
		"powershell": "# powershell completion for concordctl",
	} {
		r := run(t, "", "completion", shell)
		if r.code != 0 || !strings.HasPrefix(r.out, want) || r.err != "" {
			t.Errorf("completion %s: code %d, stderr %q, starts %.60q", shell, r.code, r.err, r.out)
		}
	}
}
