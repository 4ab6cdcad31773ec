package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMemberAddJoinRemove: etcdctl member add, the new member started with
// --initial-cluster-state=existing catches up and serves the data, then
// member remove takes it out.
func TestMemberAddJoinRemove(t *testing.T) {
	c := newCluster(t, 3, "--snapshot-count=100", "--snapshot-catchup-entries=10")
	cli := c.Client(t)
	ctx := ctxT(t)
	for i := 0; i < 300; i++ { // enough to compact the raft log: the joiner needs a snapshot
		if _, err := cli.Put(ctx, "/data/"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), "v"); err != nil {
			t.Fatal(err)
		}
	}
	want, err := cli.Get(ctx, "/data/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	m4 := c.NewMember(t, "m4", "127.0.0.4")
	out, err := untilHealthy(t, c.Endpoints(), "member", "add", "m4", "--peer-urls="+m4.PeerURL)
	if err != nil || !strings.Contains(out, "Member ") || !strings.Contains(out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"") {
		t.Fatalf("member add: %v\n%s", err, out)
	}
	// etcdctl prints IDs with %16x: an ID below 2^60 is padded with spaces.
	id := regexp.MustCompile(`Member +([0-9a-f]+) added`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no member ID in %q", out)
	}
	initial := regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]+)"`).FindStringSubmatch(out)
	m4.Args = []string{"--snapshot-catchup-entries=10",
		"--name=m4", "--data-dir=" + m4.DataDir,
		"--listen-client-urls=" + m4.ClientURL, "--advertise-client-urls=" + m4.ClientURL,
		"--listen-peer-urls=" + m4.PeerURL, "--initial-advertise-peer-urls=" + m4.PeerURL,
		"--initial-cluster=" + initial[1], "--initial-cluster-state=existing",
		"--heartbeat-interval=50", "--election-timeout=500",
	}
	c.AddMember(t, m4)
	one := c.Client(t, m4)
	waitFor(t, 30*time.Second, "the new member to serve the data", func() bool {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		g, err := one.Get(sctx, "/data/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		return err == nil && g.Count == want.Count
	})
	waitFor(t, 10*time.Second, "the new member to be listed as started", func() bool {
		out, err := etcdctl(t, c.Endpoints(c.Members[0]), "", "member", "list")
		return err == nil && strings.Contains(out, id[1]+", started, m4, "+m4.PeerURL+", "+m4.ClientURL)
	})
	// The leader had compacted its log, so the new member got a snapshot.
	if b, _ := os.ReadFile(m4.LogFile); !strings.Contains(string(b), "installed snapshot") {
		t.Fatalf("the new member did not install a snapshot:\n%s", b)
	}
	// It takes part in writes: a linearizable read through it sees a write
	// made elsewhere.
	if _, err := cli.Put(ctx, "/after-join", "yes"); err != nil {
		t.Fatal(err)
	}
	g, err := one.Get(ctx, "/after-join")
	if err != nil || len(g.Kvs) != 1 {
		t.Fatalf("read through the new member: %v %v", g, err)
	}
	out, err = etcdctl(t, c.Endpoints(c.Members[0]), "", "member", "remove", id[1])
	if err != nil || !regexp.MustCompile(`Member +`+id[1]+` removed from cluster`).MatchString(out) {
		t.Fatalf("member remove: %v %s", err, out)
	}
	out, _ = etcdctl(t, c.Endpoints(c.Members[0]), "", "member", "list")
	if strings.Contains(out, id[1]) || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 {
		t.Fatalf("member list after remove:\n%s", out)
	}
	m4.Kill()
	c.Members = c.Members[:3]
}

// untilHealthy runs an etcdctl membership command until the member stops
// refusing it with "etcdserver: unhealthy cluster" (as etcd, Concord
// accepts reconfiguration only once enough voting members have been
// connected for 5 s) and returns the last output.
func untilHealthy(t *testing.T, eps []string, args ...string) (out string, err error) {
	t.Helper()
	waitFor(t, 30*time.Second, "the cluster to accept "+strings.Join(args[:2], " "), func() bool {
		out, err = etcdctl(t, eps, "", args...)
		return !strings.Contains(out, "etcdserver: unhealthy cluster")
	})
	return out, err
}

// TestStrictReconfigCheck: with a voting member down, adding a member and
// removing a live voter are refused with etcd's "unhealthy cluster" and
// change nothing; removing the member that is down is allowed. The
// requests go to a follower, which learns that the other follower is down
// only from the closed peer stream (it sends nothing to it).
func TestStrictReconfigCheck(t *testing.T) {
	c := newCluster(t, 3)
	leader, followers := c.SplitLeader(t)
	asked, down := followers[0], followers[1]
	eps := c.Endpoints(asked)
	// Healthy first: a learner add goes through once peers are connected.
	out, err := untilHealthy(t, eps, "member", "add", "l1", "--learner", "--peer-urls=http://127.0.0.9:1")
	id := regexp.MustCompile(`Member +([0-9a-f]+) added`).FindStringSubmatch(out)
	if err != nil || id == nil {
		t.Fatalf("member add --learner on a healthy cluster: %v\n%s", err, out)
	}
	if out, err := etcdctl(t, eps, "", "member", "remove", id[1]); err != nil {
		t.Fatalf("member remove of the learner: %v\n%s", err, out)
	}
	ctx := ctxT(t)
	ids := map[*concordtest.Member]uint64{}
	for _, m := range c.Members {
		if ids[m], err = m.MemberID(ctx); err != nil {
			t.Fatal(err)
		}
	}
	down.Kill()
	// Wait until the asked member's transport has seen the stream to the
	// killed one drop, as its etcd_network_active_peers gauge shows.
	gauge := fmt.Sprintf(`etcd_network_active_peers{Local="%x",Remote="%x"} 0`, ids[asked], ids[down])
	waitFor(t, 10*time.Second, "the follower to see the killed member's stream drop", func() bool {
		resp, err := http.Get(asked.ClientURL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(b), gauge)
	})
	listed := func() string {
		out, err := etcdctl(t, eps, "", "member", "list")
		if err != nil {
			t.Fatalf("member list: %v\n%s", err, out)
		}
		return out
	}
	before := listed()
	for _, args := range [][]string{
		{"member", "add", "m4", "--peer-urls=http://127.0.0.9:2"},
		{"member", "add", "m5", "--learner", "--peer-urls=http://127.0.0.9:3"},
		{"member", "remove", fmt.Sprintf("%x", ids[leader])},
	} {
		out, err := etcdctl(t, eps, "", args...)
		if err == nil || !strings.Contains(out, "etcdserver: unhealthy cluster") {
			t.Errorf("%v with a member down: %v\n%s", args, err, out)
		}
	}
	if after := listed(); after != before {
		t.Errorf("member list changed:\n%s\nnow:\n%s", before, after)
	}
	if out, err := etcdctl(t, eps, "", "member", "remove", fmt.Sprintf("%x", ids[down])); err != nil {
		t.Errorf("remove of the member that is down: %v\n%s", err, out)
	}
	if after := listed(); strings.Count(after, "\n") != 2 || strings.Contains(after, fmt.Sprintf("%x", ids[down])) {
		t.Errorf("member list after removing the down member:\n%s", after)
	}
}
