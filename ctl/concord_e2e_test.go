package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/tests/concordtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// concordFixture is a 3-member Concord cluster shared by the subtests of
// TestConcordCluster.
type concordFixture struct {
	c   *concordtest.Cluster
	eps []string
	all string // --endpoints=<all three>
	ids []string
}

func (f *concordFixture) on(i int) string { return "--endpoints=" + f.eps[i] }

// TestConcordCluster runs concordctl's commands — seed 004's list, every one
// the server supports — against a 3-member Concord cluster, in simple, json
// and table outputs where they have them.
func TestConcordCluster(t *testing.T) {
	c := concordtest.Start(t, 3)
	f := &concordFixture{c: c, eps: c.Endpoints(), all: "--endpoints=" + strings.Join(c.Endpoints(), ",")}
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		id, err := m.MemberID(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, fmt.Sprintf("%x", id))
	}

	// Status first: a fresh cluster is where DB SIZE and IN USE are smallest.
	t.Run("endpoint status --cluster -w table", f.endpointStatus)
	t.Run("endpoint health --cluster", f.endpointHealth)
	t.Run("member list", f.memberList)
	t.Run("etcdctl 3.4 parity", f.etcdctlParity)
	t.Run("kv with kubernetes and calico keys", f.kv)
	t.Run("txn -i", f.txn)
	t.Run("watch across members", f.watch)
	t.Run("lease", f.lease)
	t.Run("lock", f.lock)
	t.Run("elect", f.elect)
	t.Run("make-mirror", f.makeMirror)
	t.Run("endpoint hashkv --cluster", f.hashKV)
	t.Run("compaction", f.compaction)
	t.Run("defrag --cluster", f.defrag)
	t.Run("alarm", f.alarm)
	t.Run("move-leader", f.moveLeader)
	t.Run("snapshot save and status", f.snapshotSave)
	t.Run("check perf", f.checkPerf)
}

// statusHeaders are etcdctl 3.6's 16 "endpoint status -w table" columns.
var statusHeaders = []string{"ENDPOINT", "ID", "VERSION", "STORAGE VERSION", "DB SIZE", "IN USE",
	"PERCENTAGE NOT IN USE", "QUOTA", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX",
	"RAFT APPLIED INDEX", "ERRORS", "DOWNGRADE TARGET VERSION", "DOWNGRADE ENABLED"}

// statusJSON is one element of "endpoint status -w json".
type statusJSON struct {
	Endpoint string
	Status   struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
		} `json:"header"`
		Version          string `json:"version"`
		DBSize           int64  `json:"dbSize"`
		DBSizeInUse      int64  `json:"dbSizeInUse"`
		Leader           uint64 `json:"leader"`
		RaftIndex        uint64 `json:"raftIndex"`
		RaftAppliedIndex uint64 `json:"raftAppliedIndex"`
	}
}

func (f *concordFixture) endpointStatus(t *testing.T) {
	// One endpoint given; --cluster expands to all three from the member list.
	r := run(t, "", f.on(0), "endpoint", "status", "--cluster", "-w", "json")
	if r.code != 0 {
		t.Fatalf("status json: %+v", r)
	}
	var sts []statusJSON
	if err := json.Unmarshal([]byte(r.out), &sts); err != nil {
		t.Fatalf("status json: %v\n%s", err, r.out)
	}
	r = run(t, "", f.on(1), "endpoint", "status", "--cluster", "-w", "table")
	if r.code != 0 {
		t.Fatalf("status table: %+v", r)
	}
	hdr, rows := parseTable(t, r.out)
	if !slices.Equal(hdr, statusHeaders) {
		t.Fatalf("headers %q, want the 16 %q", hdr, statusHeaders)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows:\n%s", len(rows), r.out)
	}
	eps := column(t, hdr, rows, "ENDPOINT")
	if !sameSet(eps, f.eps) {
		t.Errorf("endpoints %q, want %q", eps, f.eps)
	}
	if ids := column(t, hdr, rows, "ID"); !sameSet(ids, f.ids) {
		t.Errorf("IDs %q, want %q", ids, f.ids)
	}
	if n := count(column(t, hdr, rows, "IS LEADER"), "true"); n != 1 {
		t.Errorf("%d leaders:\n%s", n, r.out)
	}
	if n := count(column(t, hdr, rows, "IS LEARNER"), "false"); n != 3 {
		t.Errorf("%d voters:\n%s", n, r.out)
	}
	for _, col := range []string{"RAFT TERM", "VERSION"} {
		if v := column(t, hdr, rows, col); count(v, v[0]) != 3 {
			t.Errorf("%s differs between members: %q", col, v)
		}
	}
	if n := count(column(t, hdr, rows, "ERRORS"), ""); n != 3 {
		t.Errorf("errors reported:\n%s", r.out)
	}
	for _, p := range column(t, hdr, rows, "PERCENTAGE NOT IN USE") {
		if !regexp.MustCompile(`^\d+%$`).MatchString(p) {
			t.Errorf("PERCENTAGE NOT IN USE %q is not 0..100%% (IN USE above DB SIZE):\n%s", p, r.out)
			break
		}
	}
	// etcd: dbSizeInUse is the part of dbSize holding live data, never more.
	for _, s := range sts {
		if s.Status.DBSizeInUse > s.Status.DBSize {
			t.Errorf("%s: dbSizeInUse %d > dbSize %d", s.Endpoint, s.Status.DBSizeInUse, s.Status.DBSize)
		}
	}
	// Simple output: one line per member, 16 comma-separated fields.
	r = run(t, "", f.all, "endpoint", "status")
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("status simple: %+v", r)
	}
	for _, l := range lines {
		if n := len(strings.Split(l, ", ")); n != 16 {
			t.Errorf("simple status line has %d fields: %q", n, l)
		}
	}
}

func (f *concordFixture) endpointHealth(t *testing.T) {
	r := run(t, "", f.on(2), "endpoint", "health", "--cluster", "-w", "table")
	if r.code != 0 {
		t.Fatalf("health table: %+v", r)
	}
	hdr, rows := parseTable(t, r.out)
	if !slices.Equal(hdr, []string{"ENDPOINT", "HEALTH", "TOOK", "ERROR"}) {
		t.Fatalf("headers %q", hdr)
	}
	if eps := column(t, hdr, rows, "ENDPOINT"); !sameSet(eps, f.eps) {
		t.Errorf("endpoints %q, want %q", eps, f.eps)
	}
	if n := count(column(t, hdr, rows, "HEALTH"), "true"); n != 3 {
		t.Errorf("%d healthy:\n%s", n, r.out)
	}
	if n := count(column(t, hdr, rows, "ERROR"), ""); n != 3 {
		t.Errorf("errors:\n%s", r.out)
	}
	r = run(t, "", f.on(0), "endpoint", "health", "--cluster")
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("health simple: %+v", r)
	}
	for _, l := range lines {
		ep, rest, _ := strings.Cut(l, " ")
		if !slices.Contains(f.eps, ep) || !strings.HasPrefix(rest, "is healthy: successfully committed proposal: took = ") {
			t.Errorf("health line %q", l)
		}
	}
	r = run(t, "", f.all, "endpoint", "health", "-w", "json")
	var hs []struct {
		Endpoint string `json:"endpoint"`
		Health   bool   `json:"health"`
	}
	if err := json.Unmarshal([]byte(r.out), &hs); err != nil || len(hs) != 3 {
		t.Fatalf("health json: %v %+v", err, r)
	}
	for _, h := range hs {
		if !h.Health {
			t.Errorf("unhealthy: %+v", h)
		}
	}
}

func (f *concordFixture) memberList(t *testing.T) {
	r := run(t, "", f.on(1), "member", "list", "-w", "table")
	hdr, rows := parseTable(t, r.out)
	if !slices.Equal(hdr, []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}) {
		t.Fatalf("headers %q", hdr)
	}
	if len(rows) != 3 {
		t.Fatalf("rows:\n%s", r.out)
	}
	for _, row := range rows {
		i := slices.Index(f.ids, row[0])
		if i < 0 {
			t.Fatalf("unknown ID in %q", row)
		}
		m := f.c.Members[i]
		if want := []string{f.ids[i], "started", m.Name, m.PeerURL, m.ClientURL, "false"}; !slices.Equal(row, want) {
			t.Errorf("row %q, want %q", row, want)
		}
	}
	// Simple output lists the same rows, sorted by ID as the table.
	r2 := run(t, "", f.on(2), "member", "list")
	lines := strings.Split(strings.TrimSuffix(r2.out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("simple: %+v", r2)
	}
	for i, l := range lines {
		if want := strings.Join(rows[i], ", "); l != want {
			t.Errorf("simple line %q, want %q", l, want)
		}
	}
	r3 := run(t, "", f.on(0), "member", "list", "-w", "json")
	var ml struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
		} `json:"header"`
		Members []struct {
			ID         uint64   `json:"ID"`
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(r3.out), &ml); err != nil || len(ml.Members) != 3 || ml.Header.ClusterID == 0 {
		t.Fatalf("member list json: %v %+v", err, r3)
	}
	for _, m := range ml.Members {
		i := slices.Index(f.ids, fmt.Sprintf("%x", m.ID))
		if i < 0 || m.Name != f.c.Members[i].Name || !slices.Equal(m.ClientURLs, []string{f.c.Members[i].ClientURL}) {
			t.Errorf("json member %+v", m)
		}
	}
}

// etcdctlParity runs the same commands with Debian's etcdctl 3.4 and with
// concordctl against one Concord member, for the outputs whose format did
// not change between 3.4 and 3.6, and compares stdout, exit code and the
// error line.
func (f *concordFixture) etcdctlParity(t *testing.T) {
	g := f.on(1)
	run(t, "", g, "put", "/registry/pods/default/a", "1")
	run(t, "", g, "put", "/registry/pods/default/b", "2")
	run(t, "", g, "put", "/calico/ipam/v2/handle/ipip-tunnel-addr-k8s-node-01", `{"block":"10.200.151.128/26"}`)
	cases := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"put", "/registry/pods/default/c", "3"}},
		{"", []string{"get", "/registry/pods/default/a"}},
		{"", []string{"-w", "json", "get", "/registry/pods/default/a"}},
		{"", []string{"-w", "fields", "get", "/registry/pods/default/a"}},
		{"", []string{"-w", "protobuf", "get", "/registry/pods/default/a"}},
		{"", []string{"-w", "table", "get", "/registry/pods/default/a"}},
		{"", []string{"get", "/", "--prefix", "--keys-only"}},
		{"", []string{"get", "/registry/", "--prefix", "--limit", "1", "-w", "json"}},
		{"", []string{"get", "/registry/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"}},
		{"", []string{"get", "--from-key", "/calico", "--print-value-only"}},
		{"", []string{"--hex", "get", "/registry/pods/default/b"}},
		{"", []string{"get", "/registry/pods/default/a", "--rev=1"}},
		{"", []string{"get", "/registry/pods/default/a", "--consistency=s"}},
		{"", []string{"del", "nokey"}},
		{"", []string{"-w", "json", "del", "nokey"}},
		{"", []string{"-w", "fields", "del", "nokey"}},
		{"", []string{"member", "list"}},
		{"", []string{"-w", "json", "member", "list"}},
		{"", []string{"-w", "table", "member", "list"}},
		{"", []string{"-w", "fields", "member", "list"}},
		{"", []string{"-w", "protobuf", "member", "list"}},
		{"", []string{"alarm", "list"}},
		{"", []string{"-w", "json", "alarm", "list"}},
		{"", []string{"-w", "table", "alarm", "list"}},
		{"", []string{"lease", "timetolive", "1"}},
		{"", []string{"-w", "json", "lease", "timetolive", "1"}},
		{"", []string{"lease", "revoke", "1"}},
		{"", []string{"compaction", "1000000"}},
		{"", []string{"move-leader", "0"}},
		{"", []string{"move-leader", "1"}},
		{"", []string{"member", "remove", "1"}},
		{"", []string{"member", "update", "1", "--peer-urls=http://127.0.0.9:1"}},
		{"", []string{"user", "list"}},
		{"", []string{"auth", "enable"}},
		{"value(\"/registry/pods/default/a\") = \"nope\"\n\nput k1 v1\n\nput k2 v2\n\n", []string{"txn"}},
		{"mod(\"/registry/pods/default/a\") > \"0\"\n\nget /registry/pods/default/a\n\n\n", []string{"txn"}},
		{"mod(\"/registry/pods/default/a\") > \"0\"\n\nget /registry/pods/default/b\n\n\n", []string{"-w", "json", "txn"}},
		{"", []string{"lock", "parity-lock", "echo", "hello"}},
		{"", []string{"get"}},
		{"", []string{"put"}},
		{"", []string{"-w", "json", "endpoint", "health"}},
	}
	norm := func(s string) string { return tookRE.ReplaceAllString(s, "took") }
	for _, c := range cases {
		args := append([]string{g}, c.args...)
		want := etcdctlIn(t, c.stdin, args...)
		got := run(t, c.stdin, args...)
		if norm(got.out) != norm(want.out) || got.code != want.code {
			t.Errorf("%q:\n got (code %d) %q\nwant (code %d) %q", c.args, got.code, got.out, want.code, want.out)
		}
		if errLines(got.err) != errLines(want.err) {
			t.Errorf("%q error line:\n got %q\nwant %q", c.args, errLines(got.err), errLines(want.err))
		}
	}
}

func (f *concordFixture) kv(t *testing.T) {
	block := "/calico/ipam/v2/assignment/ipv4/block/10.200.151.128-26"
	val := `{"cidr":"10.200.151.128/26","affinity":"host:k8s-master-01","deleted":false}`
	keys := []string{
		"/registry/pods/kube-system/calico-node-22pk5",
		"/registry/pods/kube-system/coredns-8568fcb45d-ghnrd",
		"/registry/namespaces/kube-system",
		"/registry/deployments/kube-system/coredns",
	}
	for i, k := range keys {
		if r := run(t, "", f.on(i%3), "put", k, "v"+strconv.Itoa(i)); r.out != "OK\n" || r.code != 0 {
			t.Fatalf("put %s: %+v", k, r)
		}
	}
	if r := run(t, "", f.on(2), "put", block, val); r.out != "OK\n" {
		t.Fatalf("put block: %+v", r)
	}
	// Every member answers the same (linearizable reads).
	for i := range f.eps {
		if r := run(t, "", f.on(i), "get", block); r.out != block+"\n"+val+"\n" {
			t.Errorf("member %d get block: %+v", i, r)
		}
		want := "/registry/pods/kube-system/calico-node-22pk5\n\n/registry/pods/kube-system/coredns-8568fcb45d-ghnrd\n\n"
		if r := run(t, "", f.on(i), "get", "/registry/pods/kube-system/", "--prefix", "--keys-only"); r.out != want {
			t.Errorf("member %d keys-only: %q", i, r.out)
		}
	}
	r := run(t, "", f.on(0), "-w", "json", "get", "/registry/", "--prefix")
	var gr struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
		} `json:"header"`
		Kvs []struct {
			Key            []byte `json:"key"`
			Value          []byte `json:"value"`
			CreateRevision int64  `json:"create_revision"`
			ModRevision    int64  `json:"mod_revision"`
			Version        int64  `json:"version"`
		} `json:"kvs"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.out), &gr); err != nil {
		t.Fatalf("get json: %v %q", err, r.out)
	}
	if gr.Count < 4 || int64(len(gr.Kvs)) != gr.Count || fmt.Sprintf("%x", gr.Header.MemberID) != f.ids[0] {
		t.Errorf("get json: count %d kvs %d member %x", gr.Count, len(gr.Kvs), gr.Header.MemberID)
	}
	for i := 1; i < len(gr.Kvs); i++ {
		if string(gr.Kvs[i-1].Key) >= string(gr.Kvs[i].Key) {
			t.Errorf("keys not sorted: %q then %q", gr.Kvs[i-1].Key, gr.Kvs[i].Key)
		}
	}
	if r := run(t, "", f.on(1), "-w", "table", "get", block); r.code != ExitBadFeature {
		t.Errorf("get -w table: %+v", r)
	}
	if r := run(t, "", f.on(1), "-w", "fields", "get", block); !strings.Contains(r.out, `"Key" : "`+block+`"`) || !strings.Contains(r.out, `"Count" : 1`) {
		t.Errorf("get -w fields: %q", r.out)
	}
	if r := run(t, "", f.on(2), "put", "--prev-kv", keys[0], "v9"); r.out != "OK\n"+keys[0]+"\nv0\n" {
		t.Errorf("put --prev-kv: %q", r.out)
	}
	if r := run(t, "", f.on(0), "del", "--prefix", "/registry/namespaces/"); r.out != "1\n" {
		t.Errorf("del --prefix: %+v", r)
	}
	if r := run(t, "", f.on(1), "get", "/registry/namespaces/kube-system"); r.out != "" || r.code != 0 {
		t.Errorf("get after del: %+v", r)
	}
	if r := run(t, "", f.on(1), "-w", "json", "del", "--prev-kv", keys[3]); !strings.Contains(r.out, `"deleted":1`) || !strings.Contains(r.out, `"prev_kvs":[`) {
		t.Errorf("del -w json --prev-kv: %q", r.out)
	}
}

func (f *concordFixture) txn(t *testing.T) {
	in := "mod(\"t1\") > \"0\"\n\nput t1 \"overwrote\"\n\nput t1 \"created\"\nput t2 \"extra\"\n\n"
	r := run(t, in, f.on(1), "txn", "-i")
	want := "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\nOK\n\nOK\n"
	if r.out != want || r.code != 0 {
		t.Fatalf("txn -i: %q %q code %d", r.out, r.err, r.code)
	}
	if r := run(t, in, f.on(2), "txn", "-i"); !strings.HasSuffix(r.out, "SUCCESS\n\nOK\n") {
		t.Fatalf("txn -i again: %q %q", r.out, r.err)
	}
	if r := run(t, "", f.on(0), "get", "--print-value-only", "t1"); r.out != "overwrote\n" {
		t.Fatalf("t1: %q", r.out)
	}
	if r := run(t, "", f.on(0), "get", "--print-value-only", "t2"); r.out != "extra\n" {
		t.Fatalf("t2: %q", r.out)
	}
	jin := "val(\"t2\") = \"extra\"\n\ndel t2\n\n\n"
	r = run(t, jin, f.on(2), "-w", "json", "txn")
	if !strings.Contains(r.out, `"succeeded":true`) || !strings.Contains(r.out, `"ResponseDeleteRange":{"header":{"revision":`) {
		t.Fatalf("txn json: %q %q", r.out, r.err)
	}
}

// watch reproduces seed 004 §6: a watch on one member sees puts made on
// another, with concordctl and etcdctl 3.4 watching side by side.
func (f *concordFixture) watch(t *testing.T) {
	rev := syncAll(t, f.eps)
	w := startCtl(t, "", f.on(0), "watch", "/name/wgs", "--rev", strconv.FormatInt(rev+1, 10))
	ew := startEtcdctl(t, f.on(2), "watch", "/name/wgs", "--rev", strconv.FormatInt(rev+1, 10))
	wp := startCtl(t, "", f.on(1), "watch", "--prefix", "/name/", "--prev-kv", "-w", "json", "--rev", strconv.FormatInt(rev+1, 10))
	want := ""
	for i, v := range []string{"wgs", "wgs-01", "wgs-02", "wgs-03"} {
		if r := run(t, "", f.on(1+i%2), "put", "/name/wgs", v); r.out != "OK\n" {
			t.Fatalf("put: %+v", r)
		}
		want += "PUT\n/name/wgs\n" + v + "\n"
	}
	run(t, "", f.on(1), "del", "/name/wgs")
	want += "DELETE\n/name/wgs\n\n"
	full := func(s string) bool { return len(s) >= len(want) }
	if got := w.waitOut(t, "concordctl watch events", full); got != want {
		t.Errorf("concordctl watch:\n got %q\nwant %q", got, want)
	}
	if got := ew.out.waitFor(t, "etcdctl 3.4 watch events", full); got != want {
		t.Errorf("etcdctl 3.4 watch:\n got %q\nwant %q", got, want)
	}
	if r := w.interrupt(t); r.code != 0 {
		t.Errorf("watch after interrupt: %+v", r)
	}
	// Interactive watch (two watches on one stream) and watch with a command.
	pr, pw := io.Pipe()
	defer pw.Close()
	wrev := syncAll(t, f.eps)
	wi := startCtlIn(t, pr, f.on(2), "watch", "-i")
	fmt.Fprintf(pw, "watch --rev %d /wi/a\nwatch --prefix --rev %d /wi/\n", wrev+1, wrev+1)
	execArgs := []string{"watch", "--rev", strconv.FormatInt(wrev+1, 10), "/wi/a", "--", "sh", "-c", `echo "exec $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_REVISION"`}
	we := startCtl(t, "", append([]string{f.on(0)}, execArgs...)...)
	ewe := startEtcdctl(t, append([]string{f.on(1)}, execArgs...)...)
	run(t, "", f.on(1), "put", "/wi/a", "x")
	if got := wi.waitOut(t, "two interactive watches", func(s string) bool { return strings.Count(s, "\n") >= 6 }); got != "PUT\n/wi/a\nx\nPUT\n/wi/a\nx\n" {
		t.Errorf("watch -i: %q", got)
	}
	// As etcdctl: the event is printed, then the command runs with the
	// event in ETCD_WATCH_* (%q-quoted).
	wantExec := fmt.Sprintf("PUT\n/wi/a\nx\nexec \"PUT\" \"/wi/a\" \"x\" %d\n", wrev+1)
	if got := we.waitOut(t, "watch command output", func(s string) bool { return strings.Count(s, "\n") >= 4 }); got != wantExec {
		t.Errorf("watch with command printed %q, want %q", got, wantExec)
	}
	if got := ewe.out.waitFor(t, "etcdctl 3.4 watch command output", func(s string) bool { return strings.Count(s, "\n") >= 4 }); got != wantExec {
		t.Errorf("etcdctl 3.4 watch with command printed %q, want %q", got, wantExec)
	}
	pw.Close()
	if r := wi.wait(t); r.code != ExitInvalidInput {
		t.Errorf("watch -i at end of input: %+v", r)
	}

	// One JSON line per watch response; a watcher catching up from storage
	// may get several revisions in one response (as etcd's), so count events.
	got := wp.waitOut(t, "json watch events up to the delete", func(s string) bool { return strings.Contains(s, `"type":1`) })
	type event struct {
		Type int `json:"type"` // mvccpb.Event_EventType: PUT 0 (omitted), DELETE 1
		Kv   struct {
			ModRevision int64 `json:"mod_revision"`
		} `json:"kv"`
		PrevKv *struct {
			Value []byte `json:"value"`
		} `json:"prev_kv"`
	}
	var evs []event
	for i, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		var wr struct {
			Events []event `json:"Events"`
		}
		if err := json.Unmarshal([]byte(l), &wr); err != nil || len(wr.Events) == 0 {
			t.Fatalf("json watch line %d %q: %v", i, l, err)
		}
		evs = append(evs, wr.Events...)
	}
	if len(evs) != 5 {
		t.Fatalf("%d json watch events, want 5:\n%s", len(evs), got)
	}
	for i, ev := range evs {
		if ev.Kv.ModRevision != rev+1+int64(i) || (i > 0) != (ev.PrevKv != nil) || (i == 4) != (ev.Type == 1) {
			t.Errorf("json watch event %d: %+v", i, ev)
		}
	}
}

func (f *concordFixture) lease(t *testing.T) {
	r := run(t, "", f.on(0), "lease", "grant", "100")
	var id string
	if _, err := fmt.Sscanf(r.out, "lease %s granted with TTL(100s)", &id); err != nil {
		t.Fatalf("grant: %q %v", r.out, err)
	}
	if r := run(t, "", f.on(1), "put", "--lease", id, "/lease/k", "v"); r.out != "OK\n" {
		t.Fatalf("put --lease: %+v", r)
	}
	r = run(t, "", f.on(2), "lease", "timetolive", "--keys", id)
	if !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(100s\), remaining\((\d+)s\), attached keys\(\[/lease/k\]\)\n$`).MatchString(r.out) {
		t.Fatalf("timetolive: %q", r.out)
	}
	r = run(t, "", f.on(0), "-w", "json", "lease", "timetolive", "--keys", id)
	if !strings.Contains(r.out, `"granted-ttl":100`) || !strings.Contains(r.out, `"keys":["L2xlYXNlL2s="]`) {
		t.Fatalf("timetolive json: %q", r.out)
	}
	if r := run(t, "", f.on(1), "lease", "list"); !strings.HasPrefix(r.out, "found ") || !strings.Contains(r.out, "\n"+id+"\n") {
		t.Fatalf("lease list: %q", r.out)
	}
	if r := run(t, "", f.on(2), "lease", "keep-alive", "--once", id); r.out != "lease "+id+" keepalived with TTL(100)\n" {
		t.Fatalf("keep-alive --once: %+v", r)
	}
	ka := startCtl(t, "", f.on(1), "lease", "keep-alive", id)
	ka.waitOut(t, "a keep-alive", func(s string) bool { return strings.Contains(s, "\n") })
	if r := ka.interrupt(t); !strings.HasPrefix(r.out, "lease "+id+" keepalived with TTL(100)\n") || r.code != 0 {
		t.Fatalf("keep-alive: %+v", r)
	}
	if r := run(t, "", f.on(2), "lease", "revoke", id); r.out != "lease "+id+" revoked\n" {
		t.Fatalf("revoke: %+v", r)
	}
	for i := range f.eps {
		if r := run(t, "", f.on(i), "get", "/lease/k"); r.out != "" {
			t.Errorf("member %d still has the key of a revoked lease: %q", i, r.out)
		}
	}
	if r := run(t, "", f.on(0), "lease", "timetolive", id); r.out != "lease "+id+" already expired\n" {
		t.Errorf("timetolive after revoke: %+v", r)
	}
	if r := run(t, "", f.on(0), "lease", "revoke", id); r.code != ExitError || !strings.Contains(r.err, "etcdserver: requested lease not found") {
		t.Errorf("revoke twice: %+v", r)
	}
}

// lock: a second locker on another member waits until the first lets go.
func (f *concordFixture) lock(t *testing.T) {
	cl := f.c.Client(t)
	first := startCtl(t, "", f.on(0), "lock", "seedlock")
	out1 := first.waitOut(t, "first lock", func(s string) bool { return strings.Count(s, "\n") >= 2 })
	key1 := strings.SplitN(out1, "\n", 2)[0]
	if !strings.HasPrefix(key1, "seedlock/") || out1 != key1+"\n\n" {
		t.Fatalf("first lock printed %q", out1)
	}
	second := startCtl(t, "", f.on(2), "lock", "seedlock")
	waitKeys(t, cl, "seedlock/", 2, first, second)
	if s := second.out.String(); s != "" {
		t.Fatalf("second locker acquired a held lock: %q", s)
	}
	if r := first.interrupt(t); r.code != 0 {
		t.Fatalf("first lock on interrupt: %+v", r)
	}
	out2 := second.waitOut(t, "second lock", func(s string) bool { return strings.Count(s, "\n") >= 2 })
	if key2 := strings.SplitN(out2, "\n", 2)[0]; !strings.HasPrefix(key2, "seedlock/") || key2 == key1 {
		t.Fatalf("second lock printed %q after %q", out2, key1)
	}
	second.interrupt(t)
	waitKeys(t, cl, "seedlock/", 0)
	// With a command: it runs while the lock is held, with ETCD_LOCK_KEY set.
	r := run(t, "", f.on(1), "lock", "seedlock", "--", "sh", "-c", `echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV"`)
	if r.code != 0 || !regexp.MustCompile(`^seedlock/[0-9a-f]+ \d+\n$`).MatchString(r.out) {
		t.Fatalf("lock with command: %+v", r)
	}
	if r := run(t, "", f.on(1), "lock", "seedlock", "--", "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("lock command exit code: %+v", r)
	}
}

// elect: a campaigner leads, an observer on another member sees it, a
// second campaigner takes over when the first resigns.
func (f *concordFixture) elect(t *testing.T) {
	cl := f.c.Client(t)
	a := startCtl(t, "", f.on(0), "elect", "seedelect", "p1")
	outA := a.waitOut(t, "leader p1", func(s string) bool { return strings.Count(s, "\n") >= 2 })
	if !regexp.MustCompile(`^seedelect/[0-9a-f]+\np1\n$`).MatchString(outA) {
		t.Fatalf("campaign printed %q", outA)
	}
	obs := startCtl(t, "", f.on(1), "elect", "-l", "seedelect")
	obs.waitOut(t, "observer sees p1", func(s string) bool { return s == outA })
	b := startCtl(t, "", f.on(2), "elect", "seedelect", "p2")
	waitKeys(t, cl, "seedelect/", 2, a, b)
	if s := b.out.String(); s != "" {
		t.Fatalf("second campaigner leads while the first holds: %q", s)
	}
	if r := a.interrupt(t); r.code != 0 {
		t.Fatalf("first campaigner: %+v", r)
	}
	outB := b.waitOut(t, "leader p2", func(s string) bool { return strings.Count(s, "\n") >= 2 })
	if !regexp.MustCompile(`^seedelect/[0-9a-f]+\np2\n$`).MatchString(outB) {
		t.Fatalf("second campaign printed %q", outB)
	}
	obs.waitOut(t, "observer sees p2", func(s string) bool { return s == outA+outB })
	b.interrupt(t)
	obs.interrupt(t)
}

func (f *concordFixture) makeMirror(t *testing.T) {
	cl := f.c.Client(t)
	run(t, "", f.on(0), "put", "/src/a", "1")
	run(t, "", f.on(0), "put", "/src/b", "2")
	m := startCtl(t, "", f.on(1), "make-mirror", "--prefix=/src/", "--dest-prefix=/dst/", f.eps[2])
	waitKeys(t, cl, "/dst/", 2, m)
	run(t, "", f.on(0), "put", "/src/c", "3")
	waitKeys(t, cl, "/dst/", 3, m)
	if r := m.interrupt(t); r.code != 0 {
		t.Fatalf("make-mirror: %+v", r)
	}
	if r := run(t, "", f.on(2), "get", "--prefix", "/dst/"); r.out != "/dst/a\n1\n/dst/b\n2\n/dst/c\n3\n" {
		t.Fatalf("mirrored keys: %q", r.out)
	}
}

func (f *concordFixture) hashKV(t *testing.T) {
	for i := range 10 {
		run(t, "", f.on(i%3), "put", fmt.Sprintf("/hash/%d", i), strconv.Itoa(i))
	}
	rev := syncAll(t, f.eps)
	r := run(t, "", f.on(0), "endpoint", "hashkv", "--cluster")
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("hashkv: %+v", r)
	}
	var hashes, revs, eps []string
	for _, l := range lines {
		p := strings.Split(l, ", ")
		if len(p) != 3 {
			t.Fatalf("hashkv line %q", l)
		}
		eps, hashes, revs = append(eps, p[0]), append(hashes, p[1]), append(revs, p[2])
	}
	if !sameSet(eps, f.eps) || count(hashes, hashes[0]) != 3 || count(revs, strconv.FormatInt(rev, 10)) != 3 {
		t.Fatalf("members disagree at revision %d:\n%s", rev, r.out)
	}
	r = run(t, "", f.on(2), "endpoint", "hashkv", "--cluster", "-w", "table")
	hdr, rows := parseTable(t, r.out)
	if !slices.Equal(hdr, []string{"ENDPOINT", "HASH", "HASH REVISION"}) || len(rows) != 3 {
		t.Fatalf("hashkv table:\n%s", r.out)
	}
	if h := column(t, hdr, rows, "HASH"); count(h, hashes[0]) != 3 {
		t.Errorf("table hashes %q, want %s", h, hashes[0])
	}
	// At an older revision every member still agrees, on another hash.
	old := strconv.FormatInt(rev-5, 10)
	r = run(t, "", f.all, "endpoint", "hashkv", "--rev", old, "-w", "json")
	var hs []struct {
		Endpoint string
		HashKV   struct {
			Hash         uint32 `json:"hash"`
			HashRevision int64  `json:"hash_revision"`
		}
	}
	if err := json.Unmarshal([]byte(r.out), &hs); err != nil || len(hs) != 3 {
		t.Fatalf("hashkv json: %v %+v", err, r)
	}
	for _, h := range hs {
		if h.HashKV.Hash != hs[0].HashKV.Hash || strconv.FormatInt(h.HashKV.HashRevision, 10) != old {
			t.Errorf("hashkv --rev %s: %+v", old, hs)
		}
	}
	if strconv.FormatUint(uint64(hs[0].HashKV.Hash), 10) == hashes[0] {
		t.Errorf("hash at revision %s equals the hash at %d", old, rev)
	}
}

func (f *concordFixture) compaction(t *testing.T) {
	run(t, "", f.on(0), "put", "/compact/k", "old")
	r := run(t, "", f.on(0), "-w", "json", "put", "/compact/k", "new")
	var pr struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(r.out), &pr); err != nil {
		t.Fatalf("put json: %v %q", err, r.out)
	}
	rev := strconv.FormatInt(pr.Header.Revision, 10)
	before := strconv.FormatInt(pr.Header.Revision-1, 10)
	if r := run(t, "", f.on(1), "get", "/compact/k", "--rev", before, "--print-value-only"); r.out != "old\n" {
		t.Fatalf("get before compaction: %+v", r)
	}
	if r := run(t, "", f.on(1), "compaction", "--physical", rev); r.out != "compacted revision "+rev+"\n" || r.code != 0 {
		t.Fatalf("compaction: %+v", r)
	}
	for i := range f.eps {
		r := run(t, "", f.on(i), "get", "/compact/k", "--rev", before)
		if r.code != ExitError || r.err != "Error: etcdserver: mvcc: required revision has been compacted\n" {
			t.Errorf("member %d get below compaction: %+v", i, r)
		}
		if r := run(t, "", f.on(i), "get", "/compact/k", "--rev", rev, "--print-value-only"); r.out != "new\n" {
			t.Errorf("member %d get at compaction: %+v", i, r)
		}
	}
	if r := run(t, "", f.on(2), "compaction", rev); r.code != ExitError || r.err != "Error: etcdserver: mvcc: required revision has been compacted\n" {
		t.Errorf("compaction again: %+v", r)
	}
	if r := run(t, "", f.on(2), "compaction", "100000000"); r.code != ExitError || r.err != "Error: etcdserver: mvcc: required revision is a future revision\n" {
		t.Errorf("compaction in the future: %+v", r)
	}
}

var defragLine = regexp.MustCompile(`^Finished defragmenting etcd member\[(.+)\]\. took .+$`)

func (f *concordFixture) defrag(t *testing.T) {
	r := run(t, "", f.on(0), "defrag", "--cluster")
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("defrag --cluster: %+v", r)
	}
	var eps []string
	for _, l := range lines {
		m := defragLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("defrag line %q", l)
		}
		eps = append(eps, m[1])
	}
	if !sameSet(eps, f.eps) {
		t.Errorf("defragmented %q, want %q", eps, f.eps)
	}
	if r := run(t, "", f.on(1), "defrag"); r.code != 0 || !defragLine.MatchString(strings.TrimSuffix(r.out, "\n")) {
		t.Errorf("defrag: %+v", r)
	}
	// Still serving after defragmentation.
	if r := run(t, "", f.all, "put", "/after-defrag", "x"); r.out != "OK\n" {
		t.Errorf("put after defrag: %+v", r)
	}
}

func (f *concordFixture) alarm(t *testing.T) {
	for _, args := range [][]string{{"alarm", "list"}, {"alarm", "disarm"}, {"-w", "json", "alarm", "list"}} {
		r := run(t, "", append([]string{f.all}, args...)...)
		if r.code != 0 || r.err != "" {
			t.Errorf("%q: %+v", args, r)
		}
		if args[0] == "alarm" && r.out != "" {
			t.Errorf("%q printed %q with no alarm raised", args, r.out)
		}
	}
}

func (f *concordFixture) moveLeader(t *testing.T) {
	leader := f.c.Leader(t)
	li := slices.Index(f.c.Members, leader)
	ti := (li + 1) % 3
	r := run(t, "", f.all, "move-leader", f.ids[ti])
	if want := fmt.Sprintf("Leadership transferred from %s to %s\n", f.ids[li], f.ids[ti]); r.out != want || r.code != 0 {
		t.Fatalf("move-leader: %+v, want %q", r, want)
	}
	if got := f.c.Leader(t); got != f.c.Members[ti] {
		t.Fatalf("leader is %s after move-leader to %s", got.Name, f.c.Members[ti].Name)
	}
	r = run(t, "", f.on(ti), "endpoint", "status", "-w", "table")
	hdr, rows := parseTable(t, r.out)
	if l := column(t, hdr, rows, "IS LEADER"); !slices.Equal(l, []string{"true"}) {
		t.Errorf("status of the new leader:\n%s", r.out)
	}
	// Without the leader among the endpoints etcdctl refuses, as etcd's.
	follower := f.eps[(ti+1)%3]
	r = run(t, "", "--endpoints="+follower, "move-leader", f.ids[li])
	if r.code != ExitBadArgs || r.err != fmt.Sprintf("Error: no leader endpoint given at [%s]\n", follower) {
		t.Errorf("move-leader via a follower: %+v", r)
	}
}

func (f *concordFixture) snapshotSave(t *testing.T) {
	path := t.TempDir() + "/snap.db"
	rev := syncAll(t, f.eps)
	r := run(t, "", f.on(0), "snapshot", "save", path)
	if r.code != 0 || r.out != "Snapshot saved at "+path+"\nServer version "+config.APIVersion+"\n" {
		t.Errorf("snapshot save: %+v", r)
	}
	r = run(t, "", "-w", "json", "snapshot", "status", path)
	var st snapshotStatusJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != 0 {
		t.Fatalf("snapshot status -w json: %+v (%v)", r, err)
	}
	if st.Revision < rev || st.TotalKey == 0 || st.Version != "" { // an etcd file without storageVersion
		t.Errorf("snapshot status: %+v, want revision >= %d", st, rev)
	}
	r = run(t, "", f.all, "snapshot", "save", path+".2")
	if r.code != ExitInterrupted || !strings.Contains(r.err, "snapshot must be requested to one selected node, not multiple") {
		t.Errorf("snapshot save with 3 endpoints: %+v", r)
	}
}

// checkPerf runs a short "check perf": every write must succeed (etcdctl
// counts a request failed only when the server answered with an error).
func (f *concordFixture) checkPerf(t *testing.T) {
	r := run(t, "", f.all, "check", "perf", "--duration=3s", "--prefix=/check-perf/")
	if !regexp.MustCompile(`^(PASS|FAIL): Throughput (is|too low:) \d+ writes/s\n`).MatchString(r.out) ||
		!strings.Contains(r.out, "Slowest request took") || !strings.Contains(r.out, ": Stddev is ") {
		t.Fatalf("check perf: %+v", r)
	}
	if strings.Contains(r.out, "requests failed") {
		t.Errorf("check perf counted failed writes: %q", r.out)
	}
	if r := run(t, "", f.on(0), "get", "--prefix", "--count-only", "-w", "fields", "/check-perf/"); !strings.Contains(r.out, `"Count" : 0`) {
		t.Errorf("check perf left keys: %q", r.out)
	}
}

// waitKeys waits until exactly n keys exist under prefix, watching the
// prefix between checks.
func waitKeys(t *testing.T, cl *clientv3.Client, prefix string, n int64, bg ...*bgCtl) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		r, err := cl.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatalf("waiting for %d keys under %s: %v", n, prefix, err)
		}
		if r.Count == n {
			return
		}
		wch := cl.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision+1))
		select {
		case <-wch:
		case <-ctx.Done():
			now := "?"
			fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
			if fr, err := cl.Get(fctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly()); err == nil {
				now = fmt.Sprintf("%d at revision %d: %q", fr.Count, fr.Header.Revision, fr.Kvs)
			}
			fcancel()
			var cmds []string
			for _, b := range bg {
				cmds = append(cmds, "["+b.state()+"]")
			}
			t.Fatalf("waiting for %d keys under %s: %d at revision %d, watched from %d without an event; now %s; commands %s",
				n, prefix, r.Count, r.Header.Revision, r.Header.Revision+1, now, strings.Join(cmds, " "))
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// etcdctlIn runs Debian's etcdctl 3.4 with stdin.
func etcdctlIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	if _, err := os.Stat("/usr/bin/etcdctl"); err != nil {
		t.Skip("SKIPPING: /usr/bin/etcdctl absent")
	}
	cmd := exec.Command("/usr/bin/etcdctl", args...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}
