package linearizability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/tests/concordtest"
)

const (
	// trafficKeys is the size of the key set: small, so that clients
	// contend on every key.
	trafficKeys = 5
	// opTimeout bounds one request; a request to a dead member blocks in
	// the client (wait-for-ready) until it expires.
	opTimeout = 2 * time.Second
	// faultRounds is how many times the leader and then a follower are
	// killed and restarted, before every member is.
	faultRounds = 2
	// checkTimeout bounds porcupine's search.
	checkTimeout = 60 * time.Second
)

// traffic drives concurrent clients and records their operations.
type traffic struct {
	rec       *Recorder
	succeeded atomic.Int64 // completed requests, all clients
	unknown   atomic.Int64 // writes of unknown outcome
	failed    atomic.Int64 // failed reads and definitely failed writes
	// fatal receives the first client error that is a bug of the
	// response, not of availability.
	fatal chan error
}

// run issues random requests through kv as client id until ctx ends.
func (tr *traffic) run(ctx context.Context, id int, kv clientv3.KV, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	// seen is the last value this client saw per key ("" and false when
	// it saw the key absent), the expected value of its CAS requests.
	type seenValue struct {
		value  string
		exists bool
	}
	seen := map[string]seenValue{}
	for seq := 0; ctx.Err() == nil; seq++ {
		in := Input{Key: fmt.Sprintf("k%d", rng.IntN(trafficKeys))}
		value := fmt.Sprintf("c%d-%d", id, seq)
		switch p := rng.IntN(100); {
		case p < 40:
			in.Kind = OpGet
		case p < 65:
			in.Kind, in.Value = OpPut, value
		case p < 78:
			in.Kind = OpDelete
		default:
			in.Kind, in.Value = OpCAS, value
			s := seen[in.Key]
			in.Expect, in.ExpectAbsent = s.value, !s.exists
		}
		call := tr.rec.Now()
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		out, err := Do(octx, kv, in)
		cancel()
		ret := tr.rec.Now()
		switch {
		case err == nil:
			tr.rec.Add(id, in, call, out, ret)
			tr.succeeded.Add(1)
			switch {
			case in.Kind == OpGet || (in.Kind == OpCAS && !out.Succeeded):
				seen[in.Key] = seenValue{out.Value, out.Exists}
			case in.Kind == OpPut || in.Kind == OpCAS:
				seen[in.Key] = seenValue{in.Value, true}
			case in.Kind == OpDelete:
				seen[in.Key] = seenValue{}
			}
		case errors.Is(err, ErrUnexpectedResponse):
			select {
			case tr.fatal <- fmt.Errorf("client %d: %w", id, err):
			default:
			}
		case in.Kind == OpGet, Definite(err):
			// A failed read has no effect; a definite failure did not
			// happen. Neither is part of the history.
			tr.failed.Add(1)
		default:
			tr.rec.Add(id, in, call, Output{Unknown: true, Err: err.Error()}, ret)
			tr.unknown.Add(1)
		}
	}
}

// waitOps waits until n more requests than at the call have completed,
// failing t after timeout.
func (tr *traffic) waitOps(t *testing.T, n int64, timeout time.Duration, what string) {
	t.Helper()
	target := tr.succeeded.Load() + n
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for tr.succeeded.Load() < target {
		select {
		case err := <-tr.fatal:
			t.Fatal(err)
		case <-deadline.C:
			t.Fatalf("%s: %d of %d requests completed within %v", what, n-(target-tr.succeeded.Load()), n, timeout)
		case <-tick.C: // pacing of a condition wait
		}
	}
}

// verdict is the outcome of checking one history.
type verdict struct {
	result porcupine.CheckResult
	// vizPath is the porcupine visualization written when result is not
	// Ok ("" otherwise).
	vizPath string
	// revisions is CheckRevisions' error.
	revisions error
}

// check runs porcupine (Model, after PatchAmbiguous) and CheckRevisions on
// history. Unless the history is linearizable it writes porcupine's
// visualization, with notes on the nemesis row, to a temporary file that
// outlives the test.
func check(t testing.TB, history []porcupine.Operation, notes []porcupine.Annotation) verdict {
	t.Helper()
	history = PatchAmbiguous(history)
	v := verdict{revisions: CheckRevisions(history)}
	var info porcupine.LinearizationInfo
	v.result, info = porcupine.CheckOperationsVerbose(Model(), history, checkTimeout)
	if v.result == porcupine.Ok {
		return v
	}
	f, err := os.CreateTemp("", "concord-linearizability-*.html")
	if err != nil {
		t.Fatalf("visualization file: %v", err)
	}
	f.Close()
	info.AddAnnotations(notes)
	if err := porcupine.VisualizePath(Model(), info, f.Name()); err != nil {
		t.Fatalf("writing visualization: %v", err)
	}
	v.vizPath = f.Name()
	return v
}

// TestLinearizableUnderKill runs six clients (one pinned to each member,
// three on all endpoints) against a 3-member cluster (snapshots every 500
// entries, so restarted members may catch up from one) while it kills -9
// the leader and restarts it, pauses the leader (SIGSTOP) until the others
// elect a new one and resumes it, kills -9 a follower and restarts it
// (all twice), then kills -9 every member and restarts them all. The
// recorded history must be linearizable, its revisions consistent with
// real time, and the members must end with the same data.
func TestLinearizableUnderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a 3-member cluster")
	}
	c := newCluster(t, 3)
	tr := &traffic{rec: NewRecorder(), fatal: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	seed := uint64(time.Now().UnixNano())
	t.Logf("traffic seed %d", seed)
	var kvs []clientv3.KV
	for _, m := range c.Members {
		kvs = append(kvs, c.Client(t, m))
	}
	for range 3 {
		kvs = append(kvs, c.Client(t))
	}
	for id, kv := range kvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.run(ctx, id, kv, seed)
		}()
	}
	rec := tr.rec
	tr.waitOps(t, 200, 30*time.Second, "before faults")

	for round := range faultRounds {
		// Kill -9 the leader; the others elect a new one and serve;
		// restart it.
		leader, others := c.SplitLeader(t)
		start := rec.Now()
		leader.Kill()
		rec.Note("kill -9 leader "+leader.Name, start, rec.Now())
		start = rec.Now()
		if l := c.Leader(t, others...); l == leader {
			t.Fatalf("killed %s still leader", leader.Name)
		}
		rec.Note("new leader elected", start, rec.Now())
		tr.waitOps(t, 300, 30*time.Second, "after killing the leader")
		start = rec.Now()
		leader.Restart(t)
		c.WaitServing(t, leader)
		rec.Note("restart "+leader.Name, start, rec.Now())
		tr.waitOps(t, 150, 30*time.Second, "after restarting the old leader")

		// Pause the leader (SIGSTOP) until the others elect a new one,
		// then resume it: it must not serve a read or write as the
		// deposed leader. Requests its pinned client sent meanwhile are
		// still within their deadline when it resumes.
		leader, others = c.SplitLeader(t)
		start = rec.Now()
		if err := leader.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		if l := c.Leader(t, others...); l == leader {
			t.Fatalf("paused %s still leader", leader.Name)
		}
		tr.waitOps(t, 50, 30*time.Second, "while the old leader is paused")
		if err := leader.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		rec.Note("SIGSTOP leader "+leader.Name+" until a new leader serves, SIGCONT", start, rec.Now())
		c.WaitServing(t, leader)
		tr.waitOps(t, 150, 30*time.Second, "after resuming the old leader")

		// Kill -9 a follower (a different one each round) and restart it.
		leader = c.Leader(t)
		follower := c.Members[round%len(c.Members)]
		if follower == leader {
			follower = c.Members[(round+1)%len(c.Members)]
		}
		start = rec.Now()
		follower.Kill()
		rec.Note("kill -9 follower "+follower.Name, start, rec.Now())
		tr.waitOps(t, 300, 30*time.Second, "after killing a follower")
		start = rec.Now()
		follower.Restart(t)
		c.WaitServing(t, follower)
		rec.Note("restart "+follower.Name, start, rec.Now())
		tr.waitOps(t, 150, 30*time.Second, "after restarting the follower")
	}

	// Kill -9 every member, then restart them all.
	start := rec.Now()
	for _, m := range c.Members {
		m.Kill()
	}
	rec.Note("kill -9 all members", start, rec.Now())
	start = rec.Now()
	for _, m := range c.Members {
		m.Restart(t)
	}
	c.Leader(t)
	rec.Note("restart all members", start, rec.Now())
	tr.waitOps(t, 300, 30*time.Second, "after restarting every member")

	cancel()
	wg.Wait()
	select {
	case err := <-tr.fatal:
		t.Fatal(err)
	default:
	}

	for _, n := range rec.Notes() {
		t.Logf("fault: %s at %.2fs, took %v", n.Description, float64(n.Start)/1e9, time.Duration(n.End-n.Start).Round(time.Millisecond))
	}
	checkReplicasAgree(t, c)

	history := rec.History()
	t.Logf("requests: %d completed, %d writes of unknown outcome, %d failed reads or definitely failed writes (not recorded)",
		tr.succeeded.Load(), tr.unknown.Load(), tr.failed.Load())
	logStats(t, history)
	checkStart := time.Now()
	v := check(t, history, rec.Notes())
	t.Logf("porcupine and revision checks took %v", time.Since(checkStart).Round(time.Millisecond))
	if v.revisions != nil {
		t.Error(v.revisions)
	}
	switch v.result {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Errorf("history of %d operations is not linearizable; visualization: %s", len(history), v.vizPath)
	default:
		t.Errorf("porcupine gave no verdict within %v on %d operations; visualization: %s", checkTimeout, len(history), v.vizPath)
	}
}

// checkReplicasAgree reads the traffic's keys linearizably, then waits
// until every member has applied that revision and checks that each
// serves, from its own store (serializable Range at that revision), the
// same keys with the same values, revisions and versions: no member lost
// or diverged on applied entries across the kills.
func checkReplicasAgree(t *testing.T, c *concordtest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := c.Client(t).Get(ctx, "k", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	rev := want.Header.Revision
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, m := range c.Members {
		cli := c.Client(t, m)
		for {
			got, err := cli.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithRev(rev))
			if err == nil {
				if fmt.Sprint(got.Kvs) != fmt.Sprint(want.Kvs) {
					t.Errorf("%s at revision %d serves %v, the cluster %v", m.Name, rev, got.Kvs, want.Kvs)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s does not serve revision %d: %v", m.Name, rev, err)
			case <-tick.C: // pacing of a condition wait (member catching up)
			}
		}
	}
}

// logStats logs how many operations of each kind and outcome the history
// holds, and fails t when the traffic exercised too little (no successful
// CAS, no read of a written value) to mean anything.
func logStats(t *testing.T, history []porcupine.Operation) {
	t.Helper()
	counts := map[string]int{}
	for _, op := range history {
		in, out := op.Input.(Input), op.Output.(Output)
		key := in.Kind.String()
		switch {
		case out.Unknown:
			key += " unknown"
		case in.Kind == OpCAS && out.Succeeded:
			key += " succeeded"
		case in.Kind == OpCAS:
			key += " failed"
		case in.Kind == OpGet && out.Exists:
			key += " found"
		case in.Kind == OpGet:
			key += " absent"
		case in.Kind == OpDelete && out.Deleted > 0:
			key += " deleted"
		case in.Kind == OpDelete:
			key += " nothing"
		}
		counts[key]++
	}
	t.Logf("history: %d operations: %v", len(history), counts)
	if counts["cas succeeded"] == 0 || counts["get found"] == 0 || counts["delete deleted"] == 0 {
		t.Errorf("traffic too weak to test anything: %v", counts)
	}
}
