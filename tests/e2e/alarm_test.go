package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/storage"
	"github.com/concord-kv/concord/tests/concordtest"
)

// nospaceQuota is the --quota-backend-bytes of the NOSPACE comparison:
// small enough that a few dozen puts of nospaceValue fill it on etcd's
// bbolt and on Concord's Pebble.
const nospaceQuota = 8 << 20

// ctlResult is one etcdctl run: its arguments, exit code and output with
// etcdctl's retry warnings dropped and member IDs, revisions and
// endpoints replaced by placeholders.
type ctlResult struct {
	args string
	code int
	out  string
}

var (
	reMemberID = regexp.MustCompile(`memberID:\d+`)
	reRevision = regexp.MustCompile(`compacted revision \d+`)
	reMember   = regexp.MustCompile(`etcd member\[[^\]]*\]`)
	reURL      = regexp.MustCompile(`https?://[0-9.]+:\d+`)
	reTook     = regexp.MustCompile(`took = \S+`)
)

func normalizeCtl(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(l, `{"level":"warn"`) {
			continue // clientv3's "retrying of unary invoker failed"
		}
		l = reMemberID.ReplaceAllString(l, "memberID:<ID>")
		l = reRevision.ReplaceAllString(l, "compacted revision <REV>")
		l = reMember.ReplaceAllString(l, "etcd member[<EP>]")
		l = reURL.ReplaceAllString(l, "<EP>")
		l = reTook.ReplaceAllString(l, "took = <T>")
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// runCtl runs etcdctl 3.4 against ep with stdin from file in ("" for none).
func runCtl(t *testing.T, ep, in string, args ...string) ctlResult {
	t.Helper()
	cmd := exec.Command("etcdctl", append([]string{"--endpoints=" + ep, "--command-timeout=10s"}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("etcdctl %v: %v", args, err)
	}
	return ctlResult{args: strings.Join(args, " "), code: code, out: normalizeCtl(string(out))}
}

// nospaceScenario is etcd's documented NOSPACE recovery, step for step:
// fill the quota with puts of one key, then check that writes are refused
// and reads and deletes are not, compact, defragment, disarm, write again.
// valueFile holds the value; it returns the steps' results (the fill
// reports only its final failure and whether it happened).
func nospaceScenario(t *testing.T, ep, valueFile string) []ctlResult {
	t.Helper()
	var out []ctlResult
	filled := ctlResult{args: "put key <value> until it fails", code: 0, out: "quota never exceeded"}
	for i := 0; i < 400; i++ {
		r := runCtl(t, ep, valueFile, "put", "key")
		if r.code != 0 {
			filled = r
			filled.args = "put key <value> until it fails"
			t.Logf("%s: put %d refused after %d puts", ep, i+1, i)
			break
		}
	}
	out = append(out, filled)
	out = append(out,
		runCtl(t, ep, "", "alarm", "list"),
		runCtl(t, ep, "", "put", "small", "v"),
		runCtl(t, ep, "", "get", "key", "--keys-only"),
		runCtl(t, ep, "", "del", "key"),
		runCtl(t, ep, "", "endpoint", "health"),
	)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gr, err := cli.Get(ctx, "key")
	if err != nil {
		t.Fatal(err)
	}
	rev := fmt.Sprint(gr.Header.Revision)
	out = append(out,
		runCtl(t, ep, "", "compact", rev),
		runCtl(t, ep, "", "defrag"),
		runCtl(t, ep, "", "put", "small", "v"), // the alarm still holds
		runCtl(t, ep, "", "alarm", "disarm"),
		runCtl(t, ep, "", "alarm", "list"),
		runCtl(t, ep, "", "put", "small", "v"),
		runCtl(t, ep, "", "get", "small", "--print-value-only"),
		runCtl(t, ep, "", "alarm", "disarm"),
	)
	return out
}

// startEtcd starts Debian's etcd 3.4 as a one-member cluster with extra
// flags and returns its client URL once it answers; it is killed at
// cleanup.
func startEtcd(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	peer := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	return startEtcdOn(t, "etcd1", filepath.Join(dir, "data"), peer, extra...)
}

// startEtcdOn is startEtcd with the member's name, data dir (which may
// hold a restored snapshot) and peer URL given.
func startEtcdOn(t *testing.T, name, dataDir, peer string, extra ...string) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd not found (apt-get install etcd-server): %v", err)
	}
	dir := t.TempDir()
	client := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--name=" + name, "--data-dir=" + dataDir,
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=" + name + "=" + peer, "--logger=zap"}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = log.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			t.Logf("etcd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = cli.Get(ctx, "health")
			cancel()
			cli.Close()
			if err == nil {
				return client
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not serve within 20s: %v", err)
		}
		select {
		case <-exited:
			t.Fatal("etcd exited")
		case <-time.After(100 * time.Millisecond): // pacing of a condition wait
		}
	}
}

// writeValue writes a random printable value of n bytes to a file.
func writeValue(t *testing.T, n int) string {
	t.Helper()
	raw := make([]byte, n*3/4)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(raw)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlarmNoSpaceAgainstEtcd runs etcd's NOSPACE procedure against etcd
// 3.4 and against Concord with the same quota, with etcdctl 3.4, and
// requires the same exit codes and texts at every step (the number of puts
// that fit differs: bbolt and Pebble do not weigh the same bytes).
func TestAlarmNoSpaceAgainstEtcd(t *testing.T) {
	value := writeValue(t, 256<<10)
	quota := fmt.Sprintf("--quota-backend-bytes=%d", nospaceQuota)

	etcdEP := startEtcd(t, quota)
	want := nospaceScenario(t, etcdEP, value)

	c := concordtest.StartOptions(t, 1, clusterOptions("alarm-nospace", quota))
	got := nospaceScenario(t, c.Endpoints()[0], value)

	// The oracle itself must have gone through NOSPACE, or the comparison
	// proves nothing.
	if want[0].code == 0 || !strings.Contains(want[0].out, "etcdserver: mvcc: database space exceeded") {
		t.Fatalf("etcd never refused a put: %+v", want[0])
	}
	if want[1].out != "memberID:<ID> alarm:NOSPACE " {
		t.Fatalf("etcd alarm list = %q", want[1].out)
	}
	for i := range want {
		t.Logf("step %d `etcdctl %s`: exit %d %q", i, want[i].args, got[i].code, got[i].out)
		if got[i].code != want[i].code || got[i].out != want[i].out {
			t.Errorf("step %d `etcdctl %s`:\nconcord: exit %d %q\netcd:    exit %d %q", i, want[i].args, got[i].code, got[i].out, want[i].code, want[i].out)
		}
	}
	if t.Failed() {
		st, err := c.Members[0].Status(context.Background())
		if err == nil {
			t.Logf("concord status: dbSize %d, errors %q", st.DbSize, st.Errors)
		}
	}
}

// alarmList is `etcdctl alarm list` against ep, normalized.
func alarmList(t *testing.T, ep string) string {
	t.Helper()
	r := runCtl(t, ep, "", "alarm", "list")
	if r.code != 0 {
		t.Fatalf("alarm list on %s: exit %d %s", ep, r.code, r.out)
	}
	return r.out
}

// waitCond polls cond every 50 ms until it holds or d passes.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond) // pacing of a condition wait
	}
}

// TestAlarmReplicatedRestartSnapshot raises NOSPACE by request on a
// 3-member cluster: every member lists it and refuses puts at apply (the
// quota itself is far away), a restarted member still does, and a member
// that was down while it was raised learns it from a raft snapshot.
func TestAlarmReplicatedRestartSnapshot(t *testing.T) {
	c := newCluster(t, 3, "--snapshot-count=20", "--snapshot-catchup-entries=5")
	leader, others := c.SplitLeader(t)
	late := others[1]
	late.Stop()

	cli := c.Client(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := leader.MemberID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mc := pb.NewMaintenanceClient(cli.ActiveConnection())
	resp, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_NOSPACE})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Alarms) != 1 || resp.Alarms[0].MemberID != id || resp.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("ACTIVATE answered %v", resp.Alarms)
	}
	want := fmt.Sprintf("memberID:%d alarm:NOSPACE ", id)
	for _, m := range []*concordtest.Member{leader, others[0]} {
		r := runCtl(t, m.ClientURL, "", "alarm", "list")
		if r.code != 0 || r.out != "memberID:<ID> alarm:NOSPACE " {
			t.Fatalf("alarm list on %s: %+v", m.Name, r)
		}
		if r := runCtl(t, m.ClientURL, "", "put", "k", "v"); r.code == 0 || !strings.Contains(r.out, "etcdserver: mvcc: database space exceeded") {
			t.Fatalf("put on %s under NOSPACE: %+v", m.Name, r)
		}
	}
	// /health reports the alarm unless excluded, as etcd's.
	for q, want := range map[string]string{"": `{"health":"false","reason":"ALARM NOSPACE"}`, "?exclude=NOSPACE": `{"health":"true","reason":""}`} {
		resp, err := http.Get(leader.ClientURL + "/health" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != want {
			t.Fatalf("/health%s = %s %q, want %q", q, resp.Status, b, want)
		}
	}
	// Push the raft log past the late member: refused puts are entries too.
	for i := 0; i < 60; i++ {
		if _, err := cli.Delete(ctx, fmt.Sprintf("missing-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	others[0].Stop()
	others[0].Restart(t)
	late.Restart(t)
	c.WaitServing(t, others[0])
	c.WaitServing(t, late)
	waitCond(t, 20*time.Second, "late member installed a snapshot", func() bool {
		return strings.Contains(late.LogTail(400), `"msg":"installed snapshot"`)
	})
	for _, m := range []*concordtest.Member{others[0], late} {
		mcli := m.Client(t)
		st, err := mcli.Status(ctx, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Errors) != 1 || st.Errors[0] != want {
			t.Fatalf("status errors on %s = %q, want [%q]", m.Name, st.Errors, want)
		}
		// A put proposed on this member is refused by its applier.
		if _, err := mcli.Put(ctx, "k", "v"); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
			t.Fatalf("put on %s: %v", m.Name, err)
		}
	}
	// Disarm as etcdctl does; writes come back everywhere.
	r := runCtl(t, late.ClientURL, "", "alarm", "disarm")
	if r.code != 0 || r.out != "memberID:<ID> alarm:NOSPACE " {
		t.Fatalf("alarm disarm: %+v", r)
	}
	for _, m := range c.Members {
		if got := alarmList(t, m.ClientURL); got != "" {
			t.Fatalf("alarm list on %s after disarm: %q", m.Name, got)
		}
		if r := runCtl(t, m.ClientURL, "", "put", "k", "v"); r.code != 0 || r.out != "OK" {
			t.Fatalf("put on %s after disarm: %+v", m.Name, r)
		}
	}
}

// corruptValue rewrites, in the stopped member's engine, the stored value
// of every version whose value is from into to (same length): bit rot the
// raft log knows nothing of.
func corruptValue(t *testing.T, m *concordtest.Member, from, to string) {
	t.Helper()
	db, err := storage.Open(filepath.Join(m.DataDir, "db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixKeyIndex}, UpperBound: []byte{storage.PrefixKeyIndex + 1}})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if bytes.HasSuffix(v, []byte(from)) {
			nv := append(append([]byte(nil), v[:len(v)-len(from)]...), to...)
			if err := b.Set(append([]byte(nil), it.Key()...), nv, nil); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no version with value %q in %s", from, m.DataDir)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// settle waits until every running member of ms reports revision rev.
func settle(t *testing.T, ms []*concordtest.Member, rev int64) {
	t.Helper()
	waitCond(t, 20*time.Second, fmt.Sprintf("all members at revision %d", rev), func() bool {
		for _, m := range ms {
			st, err := m.Status(context.Background())
			if err != nil || st.Header.Revision < rev {
				return false
			}
		}
		return true
	})
}

// TestCorruptAlarm alters one member's stored data behind raft's back.
// With the initial check it refuses to start, as etcd; without it, the
// leader's periodic check raises CORRUPT for that member through raft:
// `etcdctl alarm list` shows it, writes fail with etcd's error and reads
// still work.
func TestCorruptAlarm(t *testing.T) {
	c := newCluster(t, 3, "--experimental-corrupt-check-time=300ms")
	leader, others := c.SplitLeader(t)
	cli := c.Client(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, err := cli.Put(ctx, "corrupt-me", "original-value")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "other", "x"); err != nil {
		t.Fatal(err)
	}
	settle(t, c.Members, pr.Header.Revision+1)
	// The checks ran meanwhile on consistent data: no false alarm.
	if got := alarmList(t, leader.ClientURL); got != "" {
		t.Fatalf("alarm on a consistent cluster: %q", got)
	}

	bad := others[0]
	badID, err := bad.MemberID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad.Stop()
	corruptValue(t, bad, "original-value", "originaX-value")

	// With the initial check, the member refuses to start.
	args := bad.Args
	bad.Args = append(append([]string(nil), args...), "--experimental-initial-corrupt-check=true")
	bad.Restart(t)
	select {
	case <-bad.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("member with corrupted data started despite the initial corruption check")
	}
	want := fmt.Sprintf("%x found data inconsistency with peers", badID)
	if !strings.Contains(bad.LogTail(20), want) {
		t.Fatalf("log does not say %q:\n%s", want, bad.LogTail(20))
	}

	// Without it, it starts and the leader's periodic check catches it.
	bad.Args = args
	bad.Restart(t)
	c.WaitServing(t, bad)
	wantAlarm := fmt.Sprintf("memberID:%d alarm:CORRUPT", badID)
	waitCond(t, 20*time.Second, "CORRUPT raised", func() bool {
		r := runCtl(t, leader.ClientURL, "", "alarm", "list")
		return r.code == 0 && strings.Contains(r.out, "alarm:CORRUPT")
	})
	for _, m := range c.Members {
		r := runCtl(t, m.ClientURL, "", "alarm", "list")
		if r.code != 0 || r.out != "memberID:<ID> alarm:CORRUPT " {
			t.Fatalf("alarm list on %s: %+v", m.Name, r)
		}
		// The raw text names the corrupted member.
		raw, _ := etcdctl(t, []string{m.ClientURL}, "", "alarm", "list")
		if strings.TrimSpace(raw) != wantAlarm {
			t.Fatalf("alarm list on %s = %q, want %q", m.Name, raw, wantAlarm)
		}
		if r := runCtl(t, m.ClientURL, "", "put", "k", "v"); r.code != 1 || r.out != "Error: etcdserver: corrupt cluster" {
			t.Fatalf("put on %s under CORRUPT: %+v", m.Name, r)
		}
		if r := runCtl(t, m.ClientURL, "", "del", "other"); r.code != 1 || r.out != "Error: etcdserver: corrupt cluster" {
			t.Fatalf("delete on %s under CORRUPT: %+v", m.Name, r)
		}
		if r := runCtl(t, m.ClientURL, "", "get", "other", "--print-value-only"); r.code != 0 || r.out != "x" {
			t.Fatalf("get on %s under CORRUPT: %+v", m.Name, r)
		}
	}
	if !strings.Contains(leader.LogTail(400), `"msg":"alarm raised","local-member-id"`) {
		t.Fatalf("leader did not log the alarm:\n%s", leader.LogTail(40))
	}
}

// TestCompactHashCheck: with the compaction hash check, a member whose
// compacted history differs from the majority's gets CORRUPT once the
// cluster compacts.
func TestCompactHashCheck(t *testing.T) {
	c := newCluster(t, 3, "--experimental-compact-hash-check-enabled=true", "--experimental-compact-hash-check-time=200ms")
	leader, others := c.SplitLeader(t)
	cli := c.Client(t, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "corrupt-me", "original-value"); err != nil {
		t.Fatal(err)
	}
	pr, err := cli.Put(ctx, "other", "x")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, c.Members, pr.Header.Revision)
	bad := others[1]
	badID, err := bad.MemberID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad.Stop()
	corruptValue(t, bad, "original-value", "originaX-value")
	bad.Restart(t)
	c.WaitServing(t, bad)
	if got := alarmList(t, leader.ClientURL); got != "" {
		t.Fatalf("alarm before any compaction: %q", got)
	}
	if _, err := cli.Compact(ctx, pr.Header.Revision); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("memberID:%d alarm:CORRUPT", badID)
	waitCond(t, 20*time.Second, "CORRUPT raised by the compaction hash check", func() bool {
		out, err := etcdctl(t, []string{leader.ClientURL}, "", "alarm", "list")
		return err == nil && strings.TrimSpace(out) == want
	})
}

// TestInitialCorruptCheckTLS: over https peer URLs with client-cert auth,
// the initial check reaches the peers' hash endpoint: a consistent member
// passes it, a corrupted one is refused.
func TestInitialCorruptCheckTLS(t *testing.T) {
	p := newPKI(t)
	c := newClusterScheme(t, 3, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.ca, "--peer-client-cert-auth",
		"--experimental-initial-corrupt-check=true")
	leader, others := c.SplitLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pr, err := c.Client(t, leader).Put(ctx, "corrupt-me", "original-value")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, c.Members, pr.Header.Revision)
	m := others[0]
	m.Stop()
	m.Restart(t)
	c.WaitServing(t, m)
	logs := m.LogTail(400)
	if !strings.Contains(logs, `"msg":"initial corruption checking passed; no corruption"`) || strings.Contains(logs, "failed hash kv request") {
		t.Fatalf("initial check on a consistent member over TLS:\n%s", logs)
	}
	m.Stop()
	corruptValue(t, m, "original-value", "originaX-value")
	m.Restart(t)
	select {
	case <-m.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("corrupted member started over TLS despite the initial check")
	}
	if !strings.Contains(m.LogTail(20), "found data inconsistency with peers") {
		t.Fatalf("log:\n%s", m.LogTail(20))
	}
}
