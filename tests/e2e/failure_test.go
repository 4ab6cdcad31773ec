package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// writer puts keys until stopped and records every acknowledged one.
type writer struct {
	mu    sync.Mutex
	acked map[string]string
}

func (w *writer) run(ctx context.Context, cli *clientv3.Client, prefix string, done chan<- struct{}) {
	defer close(done)
	for i := 0; ctx.Err() == nil; i++ {
		k, v := fmt.Sprintf("%s%06d", prefix, i), fmt.Sprintf("v%d", i)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Put(cctx, k, v)
		cancel()
		if err == nil {
			w.mu.Lock()
			w.acked[k] = v
			w.mu.Unlock()
		}
	}
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a condition wait
	}
}

func checkAcked(t *testing.T, ctx context.Context, cli *clientv3.Client, acked map[string]string, prefix string) {
	t.Helper()
	g, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, kv := range g.Kvs {
		have[string(kv.Key)] = string(kv.Value)
	}
	for k, v := range acked {
		if have[k] != v {
			t.Fatalf("acknowledged write %s=%s lost (have %q); %d acked, %d stored", k, v, have[k], len(acked), len(have))
		}
	}
}

// TestKillLeader kills -9 the leader of 3 under write load: writes resume
// through the others and no acknowledged write is lost, also after the old
// leader comes back.
func TestKillLeader(t *testing.T) {
	c := newCluster(t, 3)
	leader, others := c.SplitLeader(t)
	cli := c.Client(t, others...)
	w := &writer{acked: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go w.run(ctx, cli, "/w/", done)
	waitFor(t, 20*time.Second, "writes before the kill", func() bool { return w.count() >= 200 })
	leader.Kill()
	killedAt := w.count()
	newLeader := c.Leader(t, others...)
	if newLeader == leader {
		t.Fatal("killed member still leader")
	}
	waitFor(t, 20*time.Second, "writes after the kill", func() bool { return w.count() >= killedAt+200 })
	cancel()
	<-done
	leader.Restart(t)
	c.Leader(t)
	cctx := ctxT(t)
	checkAcked(t, cctx, cli, w.acked, "/w/")
	// The restarted member serves the same data from its own store.
	g, err := c.Client(t, leader).Get(cctx, "/w/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if g.Count < int64(len(w.acked)) {
		t.Fatalf("restarted member has %d keys, %d acknowledged", g.Count, len(w.acked))
	}
}

// TestKillAll kills -9 every member under load and restarts them: every
// acknowledged write is back.
func TestKillAll(t *testing.T) {
	c := newCluster(t, 3, "--snapshot-count=300")
	cli := c.Client(t)
	w := &writer{acked: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go w.run(ctx, cli, "/all/", done)
	waitFor(t, 30*time.Second, "writes", func() bool { return w.count() >= 1000 })
	for _, m := range c.Members {
		m.Kill()
	}
	cancel()
	<-done
	for _, m := range c.Members {
		m.Restart(t)
	}
	c.Leader(t)
	checkAcked(t, ctxT(t), c.Client(t), w.acked, "/all/")
}

// TestNoLeader: with 2 of 3 members gone the survivor loses its leader and
// refuses hasleader requests with etcd's "no leader".
func TestNoLeader(t *testing.T) {
	c := newCluster(t, 3)
	survivor := c.Members[0]
	c.Members[1].Kill()
	c.Members[2].Kill()
	cli := c.Client(t, survivor)
	waitFor(t, 20*time.Second, "the survivor to lose its leader", func() bool {
		st, err := survivor.Status(context.Background())
		return err == nil && st.Leader == 0
	})
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), 5*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "k", "v")
	if !errors.Is(err, rpctypes.ErrNoLeader) {
		t.Fatalf("put without leader: %v", err)
	}
}

// TestGracefulStopTransfersLeadership is etcd's graceful shutdown: a leader
// stopped with SIGTERM hands leadership to a follower before it exits, so
// right after its exit the others already follow a new leader, one term
// later, without waiting out an election timeout.
func TestGracefulStopTransfersLeadership(t *testing.T) {
	c := newCluster(t, 3)
	leader, others := c.SplitLeader(t)
	ctx := ctxT(t)
	before, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader.Stop()
	for _, m := range others {
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader == 0 || st.Leader == before.Header.MemberId || st.RaftTerm != before.RaftTerm+1 {
			t.Errorf("%s right after the leader's stop: leader %x term %d, want a new leader (not %x) in term %d",
				m.Name, st.Leader, st.RaftTerm, before.Header.MemberId, before.RaftTerm+1)
		}
	}
	if !strings.Contains(leader.LogTail(200), "leadership transfer finished") {
		t.Errorf("the stopped leader's log has no transfer line:\n%s", leader.LogTail(20))
	}
}
