package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

// learnerCluster starts a ready 3-member cluster with extra flags.
func learnerCluster(t *testing.T, token string, extra ...string) *concordtest.Cluster {
	t.Helper()
	o := clusterOptions(token, extra...)
	o.LeaderOnly = false
	return concordtest.StartOptions(t, 3, o)
}

// addLearner adds l1 (on 127.0.0.4) as a learner through the Cluster API
// and starts it; it returns the member and its ID.
func addLearner(t *testing.T, c *concordtest.Cluster) (*concordtest.Member, uint64) {
	t.Helper()
	l := c.NewMember(t, "l1", "127.0.0.4")
	cl := c.Client(t)
	var resp *clientv3.MemberAddResponse
	var err error
	// Refused as "unhealthy cluster" until the peers have been connected
	// for etcd's health interval.
	waitFor(t, 30*time.Second, "the cluster to accept a learner", func() bool {
		resp, err = cl.MemberAddAsLearner(ctxT(t), []string{l.PeerURL})
		return err == nil || !strings.Contains(err.Error(), "unhealthy cluster")
	})
	if err != nil {
		t.Fatalf("member add --learner: %v", err)
	}
	l.Args = []string{"--name=l1", "--data-dir=" + l.DataDir,
		"--listen-client-urls=" + l.ClientURL, "--advertise-client-urls=" + l.ClientURL,
		"--listen-peer-urls=" + l.PeerURL, "--initial-advertise-peer-urls=" + l.PeerURL,
		"--initial-cluster=" + c.InitialCluster() + ",l1=" + l.PeerURL, "--initial-cluster-state=existing",
		"--initial-cluster-token=e2e-learner",
		"--heartbeat-interval=50", "--election-timeout=500", "--log-level=info"}
	c.AddMember(t, l)
	return l, resp.Member.ID
}

// isLearner reports whether the member list (as cl sees it) shows id as
// a learner, and whether it lists id at all.
func isLearner(t *testing.T, cl *clientv3.Client, id uint64) (learner, listed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cl.MemberList(ctx)
	if err != nil {
		return false, false
	}
	for _, m := range resp.Members {
		if m.ID == id {
			return m.IsLearner, true
		}
	}
	return false, false
}

// promoteSuccesses sums etcd_server_learner_promote_successes over ms.
func promoteSuccesses(t *testing.T, ms []*concordtest.Member) float64 {
	t.Helper()
	var n float64
	for _, m := range ms {
		n += scrapeMetrics(t, m.ClientURL+"/metrics").value("etcd_server_learner_promote_successes")
	}
	return n
}

// writeLoad puts keys through cl until stop is called; it returns how
// many puts succeeded.
func writeLoad(cl *clientv3.Client, prefix string) (stop func() int64) {
	var n atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			if _, err := cl.Put(pctx, fmt.Sprintf("%s/%d", prefix, i), strings.Repeat("v", 64)); err == nil {
				n.Add(1)
			}
			pcancel()
		}
	}()
	return func() int64 { cancel(); wg.Wait(); return n.Load() }
}

// TestLearnerAutoPromote: a learner added while clients write becomes a
// voting member with no promote command (--auto-promote-learners is on by
// default), once it has stayed in sync for --learner-promote-after; the
// leader logs etcd's "promote member" and counts it in
// etcd_server_learner_promote_successes.
func TestLearnerAutoPromote(t *testing.T) {
	c := learnerCluster(t, "e2e-learner", "--learner-promote-after=1s")
	leader := c.Leader(t)
	cl := c.Client(t)
	stop := writeLoad(cl, "autopromote")
	l, id := addLearner(t, c)
	waitFor(t, 60*time.Second, "the learner to become a voter by itself", func() bool {
		learner, listed := isLearner(t, cl, id)
		return listed && !learner
	})
	if n := stop(); n == 0 {
		t.Fatalf("no write succeeded during the promotion")
	}
	if n := promoteSuccesses(t, c.Members); n != 1 {
		t.Errorf("etcd_server_learner_promote_successes summed over members = %v, want 1", n)
	}
	e := logEntry(leader.LogTail(5000), "promote member")
	if e == nil || e["promoted-member-id"] != fmt.Sprintf("%x", id) {
		t.Errorf("leader's log: promote member line %v, want promoted-member-id %x", e, id)
	}
	if logEntry(leader.LogTail(5000), "learner is in sync with the leader; promoting it once it stays in sync") == nil {
		t.Errorf("leader did not log the learner in sync before promoting it")
	}
	c.WaitServing(t, l) // a voter now: it serves linearizable reads
}

// TestLearnerLaggingNotPromoted: a learner frozen (SIGSTOP) right after
// its start falls behind the writes; the leader keeps checking it and
// finds it lagging, and does not promote it. Resumed, it catches up and
// is promoted.
func TestLearnerLaggingNotPromoted(t *testing.T) {
	c := learnerCluster(t, "e2e-learner", "--learner-promote-after=3s")
	leader := c.Leader(t)
	cl := c.Client(t)
	l, id := addLearner(t, c)
	if err := l.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := cl.Put(ctxT(t), fmt.Sprintf("lagging/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// Two lagging checks that began after the last write: the leader
	// judged the learner against its whole log.
	checks := func() float64 {
		return scrapeMetrics(t, leader.ClientURL+"/metrics").value("concord_server_learner_promote_checks_total", "result", "lagging")
	}
	base := checks()
	waitFor(t, 30*time.Second, "two more lagging checks of the frozen learner", func() bool { return checks() >= base+2 })
	if learner, listed := isLearner(t, cl, id); !listed || !learner {
		t.Fatalf("frozen learner: listed %v, learner %v; want still a learner", listed, learner)
	}
	if n := promoteSuccesses(t, c.Members[:3]); n != 0 {
		t.Fatalf("etcd_server_learner_promote_successes = %v while the learner lags", n)
	}
	if logEntry(leader.LogTail(5000), "learner is not in sync with the leader; not promoting it") == nil {
		t.Errorf("leader did not log the lagging learner")
	}

	if err := l.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the resumed learner to be promoted", func() bool {
		learner, listed := isLearner(t, cl, id)
		return listed && !learner
	})
}
