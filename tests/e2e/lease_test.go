package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/concord-kv/concord/tests/concordtest"
)

// syncBuffer is an io.Writer safe for a process's output and a reading
// test at once.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bgEtcdctl is an etcdctl 3.4 process left running, such as `lock` or
// `elect`, which hold until SIGINT (etcdctl 3.4 unlocks and resigns on
// os.Interrupt only; SIGTERM kills it without cleaning up).
type bgEtcdctl struct {
	args []string
	cmd  *exec.Cmd
	out  *syncBuffer
	// done is closed when the process has been reaped; err is then its
	// exit status.
	done chan struct{}
	err  error
}

// startEtcdctl starts etcdctl against eps in the background; the process is
// killed at the end of the test if still running.
func startEtcdctl(t *testing.T, eps []string, args ...string) *bgEtcdctl {
	t.Helper()
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Fatalf("etcdctl not found (apt-get install etcd-client): %v", err)
	}
	p := &bgEtcdctl{args: args, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, append([]string{"--endpoints=" + strings.Join(eps, ",")}, args...)...)
	p.cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("etcdctl %v: %v", args, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *bgEtcdctl) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// interrupt sends SIGINT and waits for the process to exit; it fails the
// test if the exit is not clean.
func (p *bgEtcdctl) interrupt(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("etcdctl %v did not exit on SIGINT; output:\n%s", p.args, p.out.String())
	}
	if p.err != nil {
		t.Fatalf("etcdctl %v exited with %v; output:\n%s", p.args, p.err, p.out.String())
	}
}

// keysUnder returns the keys with prefix, in key order, read through cli.
func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatalf("get %s: %v", prefix, err)
	}
	var ks []string
	for _, kv := range g.Kvs {
		ks = append(ks, string(kv.Key))
	}
	return ks
}

// dialRaw opens a plain gRPC connection to m's client URL, for raw stubs
// whose calls no client library retries.
func dialRaw(t *testing.T, m *concordtest.Member) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(m.ClientURL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// waitPublished waits until every member sees every member's name and
// client URLs, which each member proposes through raft after it starts
// (etcd's publish); Concord's followers forward lease requests to the
// leader's client URL, so they need the leader's.
func waitPublished(t *testing.T, c *concordtest.Cluster) {
	t.Helper()
	for _, m := range c.Members {
		cli := c.Client(t, m)
		waitFor(t, 20*time.Second, m.Name+" to know every member's client URLs", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			r, err := cli.MemberList(ctx)
			if err != nil || len(r.Members) != len(c.Members) {
				return false
			}
			for _, mm := range r.Members {
				if mm.Name == "" || len(mm.ClientURLs) == 0 {
					return false
				}
			}
			return true
		})
	}
}

var grantRE = regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$`)

// TestEtcdctlLease drives the lease commands of Debian's etcdctl 3.4
// against 3 members, each command also through every single member (the
// followers forward to the leader), and checks etcdctl's exact output.
func TestEtcdctlLease(t *testing.T) {
	c := newCluster(t, 3)
	waitPublished(t, c)
	eps := c.Endpoints()
	run := func(eps []string, args ...string) string {
		t.Helper()
		out, err := etcdctl(t, eps, "", args...)
		if err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
		return out
	}
	cli := c.Client(t)
	ctx := ctxT(t)

	out := run(eps, "lease", "grant", "30")
	m := grantRE.FindStringSubmatch(out)
	if m == nil || m[2] != "30" {
		t.Fatalf("lease grant 30 printed %q", out)
	}
	id := m[1]
	for _, k := range []string{"/lease/a", "/lease/b", "/lease/c"} {
		if out := run(eps, "put", "--lease="+id, k, "v"); out != "OK\n" {
			t.Fatalf("put --lease printed %q", out)
		}
	}
	if out := run(eps, "put", "/lease/free", "v"); out != "OK\n" {
		t.Fatalf("put printed %q", out)
	}
	g, err := cli.Get(ctx, "/lease/a")
	if err != nil || len(g.Kvs) != 1 || fmt.Sprintf("%016x", g.Kvs[0].Lease) != id {
		t.Fatalf("key's lease: %v %v, want %s", g, err, id)
	}

	ttlRE := regexp.MustCompile(`^lease ` + id + ` granted with TTL\(30s\), remaining\((\d+)s\), attached keys\(\[/lease/a /lease/b /lease/c\]\)\n$`)
	for _, mem := range c.Members {
		one := c.Endpoints(mem)
		out := run(one, "lease", "timetolive", "--keys", id)
		mm := ttlRE.FindStringSubmatch(out)
		if mm == nil {
			t.Fatalf("%s: lease timetolive --keys printed %q", mem.Name, out)
		}
		if r, _ := strconv.Atoi(mm[1]); r < 20 || r > 30 {
			t.Fatalf("%s: remaining %ds of a 30s lease just granted", mem.Name, r)
		}
		if out := run(one, "lease", "timetolive", id); !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(30s\), remaining\(\d+s\)\n$`).MatchString(out) {
			t.Fatalf("%s: lease timetolive printed %q", mem.Name, out)
		}
		if out, want := run(one, "lease", "keep-alive", "--once", id), "lease "+id+" keepalived with TTL(30)\n"; out != want {
			t.Fatalf("%s: keep-alive --once printed %q, want %q", mem.Name, out, want)
		}
		// Every member lists the lease from its own lessor.
		out = run(one, "lease", "list")
		if !strings.HasPrefix(out, "found 1 leases\n") || !strings.Contains(out, "\n"+id+"\n") {
			t.Fatalf("%s: lease list printed %q", mem.Name, out)
		}
	}

	// Revoke: the attached keys go, all in one revision, the other key stays.
	before, err := cli.Get(ctx, "/lease/free")
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wch := c.Client(t, c.Members[2]).Watch(wctx, "/lease/", clientv3.WithPrefix(), clientv3.WithRev(before.Header.Revision+1))
	if out, want := run(c.Endpoints(c.Members[1]), "lease", "revoke", id), "lease "+id+" revoked\n"; out != want {
		t.Fatalf("lease revoke printed %q, want %q", out, want)
	}
	var dels []*clientv3.Event
	for len(dels) < 3 {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: %v", wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Type != mvccpb.DELETE {
					t.Fatalf("unexpected event %v %s", ev.Type, ev.Kv.Key)
				}
				dels = append(dels, ev)
			}
		case <-ctx.Done():
			t.Fatalf("saw %d of 3 DELETE events after revoke", len(dels))
		}
	}
	for i, ev := range dels {
		if want := fmt.Sprintf("/lease/%c", 'a'+i); string(ev.Kv.Key) != want {
			t.Fatalf("delete event %d for %s, want %s", i, ev.Kv.Key, want)
		}
		if ev.Kv.ModRevision != before.Header.Revision+1 {
			t.Fatalf("delete of %s at revision %d; revision before revoke was %d (want all at %d)",
				ev.Kv.Key, ev.Kv.ModRevision, before.Header.Revision, before.Header.Revision+1)
		}
	}
	after, err := cli.Get(ctx, "/lease/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision+1 || len(after.Kvs) != 1 || string(after.Kvs[0].Key) != "/lease/free" {
		t.Fatalf("after revoke: revision %d (before %d), keys %v", after.Header.Revision, before.Header.Revision, after.Kvs)
	}
	if out, want := run(eps, "lease", "timetolive", id), "lease "+id+" already expired\n"; out != want {
		t.Fatalf("timetolive after revoke printed %q, want %q", out, want)
	}
	if out := run(eps, "lease", "list"); out != "found 0 leases\n" {
		t.Fatalf("lease list after revoke printed %q", out)
	}
	if out, err := etcdctl(t, eps, "", "lease", "revoke", id); err == nil || !strings.Contains(out, "requested lease not found") {
		t.Fatalf("revoking twice: err=%v out=%q", err, out)
	}
	if out, err := etcdctl(t, eps, "", "put", "--lease="+id, "/lease/x", "v"); err == nil || !strings.Contains(out, "requested lease not found") {
		t.Fatalf("put on a revoked lease: err=%v out=%q", err, out)
	}

	// Expiry: the minimum TTL with --election-timeout=500 is
	// ceil(1.5 × 500 ms) = 1 s, so a 2 s lease keeps its TTL; the leader
	// revokes it through raft once it runs out, on every member.
	out = run(eps, "lease", "grant", "2")
	m = grantRE.FindStringSubmatch(out)
	if m == nil || m[2] != "2" {
		t.Fatalf("lease grant 2 printed %q", out)
	}
	short := m[1]
	if out := run(eps, "put", "--lease="+short, "/lease/short", "v"); out != "OK\n" {
		t.Fatalf("put --lease printed %q", out)
	}
	for _, mem := range c.Members {
		one := c.Client(t, mem)
		waitFor(t, 15*time.Second, "the 2 s lease's key to disappear on "+mem.Name, func() bool {
			g, err := one.Get(ctx, "/lease/short", clientv3.WithSerializable())
			return err == nil && g.Count == 0
		})
	}
	if out, want := run(eps, "lease", "timetolive", short), "lease "+short+" already expired\n"; out != want {
		t.Fatalf("timetolive after expiry printed %q, want %q", out, want)
	}
	if out := run(eps, "lease", "list"); out != "found 0 leases\n" {
		t.Fatalf("lease list after expiry printed %q", out)
	}
	// A 1 s lease (the minimum) expires too.
	out = run(eps, "lease", "grant", "1")
	if m = grantRE.FindStringSubmatch(out); m == nil || m[2] != "1" {
		t.Fatalf("lease grant 1 printed %q", out)
	}
	waitFor(t, 15*time.Second, "the 1 s lease to expire", func() bool {
		out, err := etcdctl(t, eps, "", "lease", "timetolive", m[1])
		return err == nil && out == "lease "+m[1]+" already expired\n"
	})
	if _, err := cli.Get(ctx, "/lease/free"); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseMinTTL: the server raises a TTL below its minimum, etcd's
// ceil(1.5 × election timeout) — 3 s with --election-timeout=2000 — and
// refuses one above 9 000 000 000 s with etcd's text.
func TestLeaseMinTTL(t *testing.T) {
	c := newCluster(t, 1, "--election-timeout=2000", "--heartbeat-interval=100")
	eps := c.Endpoints()
	for _, ttl := range []string{"1", "2", "3"} {
		out, err := etcdctl(t, eps, "", "lease", "grant", ttl)
		m := grantRE.FindStringSubmatch(out)
		if err != nil || m == nil || m[2] != "3" {
			t.Fatalf("lease grant %s: %v %q, want TTL(3s)", ttl, err, out)
		}
	}
	if out, err := etcdctl(t, eps, "", "lease", "grant", "4"); err != nil || !strings.HasSuffix(out, "granted with TTL(4s)\n") {
		t.Fatalf("lease grant 4: %v %q", err, out)
	}
	if out, err := etcdctl(t, eps, "", "lease", "grant", "9000000001"); err == nil || !strings.Contains(out, "etcdserver: too large lease TTL") {
		t.Fatalf("lease grant 9000000001: %v %q", err, out)
	}
}

// TestEtcdctlLockElect runs etcdctl 3.4's lock and elect commands, which
// use the client-side concurrency recipes: a second `lock` blocks until the
// first exits, `elect -l` follows the leader as candidates come and go.
func TestEtcdctlLockElect(t *testing.T) {
	c := newCluster(t, 3)
	cli := c.Client(t)
	m1, m2, m3 := c.Endpoints(c.Members[0]), c.Endpoints(c.Members[1]), c.Endpoints(c.Members[2])

	// lock: the holder prints its key (name/<lease hex>) and an empty value.
	first := startEtcdctl(t, m1, "lock", "/mylock")
	lockKeyRE := regexp.MustCompile(`^(/mylock/[0-9a-f]+)\n\n$`)
	waitFor(t, 10*time.Second, "the first lock", func() bool { return lockKeyRE.MatchString(first.out.String()) })
	firstKey := lockKeyRE.FindStringSubmatch(first.out.String())[1]
	second := startEtcdctl(t, m3, "lock", "/mylock")
	waitFor(t, 10*time.Second, "the second locker to queue its key", func() bool { return len(keysUnder(t, cli, "/mylock/")) == 2 })
	// A lock with a command, queued third, runs it with the lock held.
	third := startEtcdctl(t, m2, "lock", "/mylock", "--", "sh", "-c", "echo ran with $ETCD_LOCK_KEY")
	waitFor(t, 10*time.Second, "the third locker to queue its key", func() bool {
		if third.exited() {
			t.Fatalf("third lock exited: %v %q", third.err, third.out.String())
		}
		return len(keysUnder(t, cli, "/mylock/")) == 3
	})
	if out := second.out.String(); out != "" || second.exited() {
		t.Fatalf("second lock did not wait for the first: exited=%v output %q", second.exited(), out)
	}
	if out := third.out.String(); out != "" || third.exited() {
		t.Fatalf("third lock did not wait: exited=%v output %q", third.exited(), out)
	}
	first.interrupt(t)
	waitFor(t, 10*time.Second, "the second lock after the first exited", func() bool { return lockKeyRE.MatchString(second.out.String()) })
	secondKey := lockKeyRE.FindStringSubmatch(second.out.String())[1]
	if secondKey == firstKey {
		t.Fatalf("both lockers hold %s", firstKey)
	}
	if ks := keysUnder(t, cli, "/mylock/"); len(ks) != 2 || strings.Contains(strings.Join(ks, " "), firstKey) {
		t.Fatalf("after the first unlocked, lock keys are %v (first held %s)", ks, firstKey)
	}
	if out := third.out.String(); out != "" || third.exited() {
		t.Fatalf("third lock ran while the second held: %q", out)
	}
	second.interrupt(t)
	select {
	case <-third.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("third lock never ran its command; output %q", third.out.String())
	}
	if third.err != nil || !regexp.MustCompile(`^ran with /mylock/[0-9a-f]+\n$`).MatchString(third.out.String()) {
		t.Fatalf("lock with a command: err=%v output %q", third.err, third.out.String())
	}
	waitFor(t, 10*time.Second, "every lock key to be deleted", func() bool { return len(keysUnder(t, cli, "/mylock/")) == 0 })

	// elect: candidates print key and proposal once elected; the observer
	// prints the same pair for every leader in turn.
	observer := startEtcdctl(t, m3, "elect", "-l", "/myelection")
	a := startEtcdctl(t, m1, "elect", "/myelection", "alpha")
	electRE := func(prop string) *regexp.Regexp {
		return regexp.MustCompile(`^(/myelection/[0-9a-f]+)\n` + prop + `\n$`)
	}
	waitFor(t, 10*time.Second, "alpha elected", func() bool { return electRE("alpha").MatchString(a.out.String()) })
	aKey := electRE("alpha").FindStringSubmatch(a.out.String())[1]
	waitFor(t, 10*time.Second, "the observer to see alpha", func() bool { return observer.out.String() == aKey+"\nalpha\n" })
	b := startEtcdctl(t, m2, "elect", "/myelection", "beta")
	waitFor(t, 10*time.Second, "beta's candidacy key", func() bool { return len(keysUnder(t, cli, "/myelection/")) == 2 })
	if out := b.out.String(); out != "" || b.exited() {
		t.Fatalf("beta elected while alpha leads: exited=%v %q", b.exited(), out)
	}
	if out, err := etcdctl(t, m2, "", "get", "--prefix", "/myelection/", "--sort-by=CREATE", "--print-value-only"); err != nil || out != "alpha\nbeta\n" {
		t.Fatalf("election keys hold %q (%v)", out, err)
	}
	a.interrupt(t)
	waitFor(t, 10*time.Second, "beta elected after alpha resigned", func() bool { return electRE("beta").MatchString(b.out.String()) })
	bKey := electRE("beta").FindStringSubmatch(b.out.String())[1]
	waitFor(t, 10*time.Second, "the observer to see beta", func() bool {
		return observer.out.String() == aKey+"\nalpha\n"+bKey+"\nbeta\n"
	})
	b.interrupt(t)
	waitFor(t, 10*time.Second, "every candidacy key to be deleted", func() bool { return len(keysUnder(t, cli, "/myelection/")) == 0 })
	if observer.exited() {
		t.Fatalf("observer exited: %v %q", observer.err, observer.out.String())
	}
	observer.interrupt(t)
}

// TestLeaseForwardBeforeLeaderPublished asks the followers of a cluster
// that has just elected its first leader for a lease's time to live, with
// raw stubs that do not retry, over and over until every member has
// published its client URLs. etcd forwards LeaseTimeToLive to the
// leader's peer URLs, which every member knows from --initial-cluster, so
// it answers as soon as a leader exists. A Concord follower forwards to the
// leader's client URL, which it learns only once the leader's publish
// proposal (retried with a 100 ms, 200 ms, 400 ms, ... backoff from process
// start, and dropped while there is no leader) has applied; until then it
// fails with "etcdserver: no leader" (codes.Unavailable) although the
// leader is elected and commits writes. The window depends on when the
// leader's publish retry falls after its election; etcdctl 3.4 hit it in
// about one run in four of TestEtcdctlLease.
func TestLeaseForwardBeforeLeaderPublished(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.Leader(t)
	ctx := ctxT(t)
	published := func() bool {
		for _, m := range c.Members {
			r, err := pb.NewClusterClient(dialRaw(t, m)).MemberList(ctx, &pb.MemberListRequest{})
			if err != nil {
				return false
			}
			for _, mm := range r.Members {
				if len(mm.ClientURLs) == 0 {
					return false
				}
			}
		}
		return true
	}
	var followers []pb.LeaseClient
	var names []string
	for _, m := range c.Members {
		if m != leader {
			followers = append(followers, pb.NewLeaseClient(dialRaw(t, m)))
			names = append(names, m.Name)
		}
	}
	calls := 0
	waitFor(t, 20*time.Second, "every member to publish its client URLs", func() bool {
		for i, f := range followers {
			calls++
			r, err := f.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: 1})
			if err != nil {
				t.Fatalf("follower %s, leader %s elected, call %d: LeaseTimeToLive: %v", names[i], leader.Name, calls, err)
			}
			if r.TTL != -1 {
				t.Fatalf("follower %s: TTL of an unknown lease = %d, want -1", names[i], r.TTL)
			}
		}
		return published()
	})
	t.Logf("%d calls answered before every member had published", calls)
}

// leaseTTL asks cli for lease id's remaining TTL, retrying while a leader
// is being elected.
func leaseTTL(t *testing.T, cli *clientv3.Client, id clientv3.LeaseID) *clientv3.LeaseTimeToLiveResponse {
	t.Helper()
	var r *clientv3.LeaseTimeToLiveResponse
	waitFor(t, 20*time.Second, "an answer to LeaseTimeToLive", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var err error
		r, err = cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
		return err == nil
	})
	return r
}

// TestLeaseTTLSurvivesLeaderChange is etcd issue #9888: a new leader must
// not restart leases at their full TTL. With --lease-checkpoint-interval=1s
// the leader commits each lease's remaining TTL every second; after kill -9
// of the leader, twice, the new leader reports what was left, not the
// granted TTL.
func TestLeaseTTLSurvivesLeaderChange(t *testing.T) {
	const granted = 60
	c := newCluster(t, 3, "--lease-checkpoint-interval=1s")
	cli := c.Client(t)
	ctx := ctxT(t)
	g, err := cli.Grant(ctx, granted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/ttl/key", "v", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	prevTTL := int64(granted)
	for round := 1; round <= 2; round++ {
		leader, others := c.SplitLeader(t)
		via := c.Client(t, others...)
		// Let the lease age by 4 s on this leader's clock; its
		// checkpoints (every second) are then well past the reset value.
		var before int64
		waitFor(t, 20*time.Second, "the lease to age by 4 s", func() bool {
			before = leaseTTL(t, via, g.ID).TTL
			return before <= prevTTL-5
		})
		leader.Kill()
		newLeader := c.Leader(t, others...)
		r := leaseTTL(t, via, g.ID)
		t.Logf("round %d: remaining TTL %ds on leader %s before kill -9, %ds on new leader %s (granted %ds)",
			round, before, leader.Name, r.TTL, newLeader.Name, r.GrantedTTL)
		if r.GrantedTTL != granted || len(r.Keys) != 1 || string(r.Keys[0]) != "/ttl/key" {
			t.Fatalf("lease after leader change: granted %d keys %q", r.GrantedTTL, r.Keys)
		}
		if r.TTL >= granted-1 {
			t.Fatalf("new leader reset the lease to its full TTL: %ds left of %ds (was %ds before the leader died)", r.TTL, granted, before)
		}
		// The last checkpoint is at most one interval (1 s) plus one
		// leader tick (0.5 s) old and rounds up: 2 s above before.
		if r.TTL > before+2 {
			t.Fatalf("new leader extended the lease: %ds left, %ds before the leader died", r.TTL, before)
		}
		prevTTL = r.TTL
		leader.Restart(t)
	}
	gk, err := cli.Get(ctx, "/ttl/key")
	if err != nil || gk.Count != 1 {
		t.Fatalf("leased key after two leader changes: %v %v", gk, err)
	}
}
