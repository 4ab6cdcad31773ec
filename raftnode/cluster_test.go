package raftnode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/concord-kv/concord/storage"
)

const testClusterID = 0xc0c0

// fakeApp is the test's apply loop: it applies "k=v" entries to a map and
// to Pebble (state range), with the applied index in the same batch.
type fakeApp struct {
	db *pebble.DB

	mu        sync.Mutex // guards the fields below
	kv        map[string]string
	order     []string          // applied entries, in order, since the last snapshot
	appliedAt map[string]uint64 // key -> index it was last applied at
	applied   uint64
	snapshots int
}

func stateKey(k string) []byte { return append([]byte{storage.PrefixKeyIndex}, k...) }

// load rebuilds the map from Pebble.
func (a *fakeApp) load() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kv = map[string]string{}
	a.appliedAt = map[string]uint64{}
	it, err := a.db.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixKeyIndex}, UpperBound: []byte{storage.PrefixKeyIndex + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		a.kv[string(it.Key()[1:])] = string(it.Value())
	}
	if err := it.Close(); err != nil {
		return err
	}
	ai, err := storage.ReadAppliedIndex(a.db)
	a.applied = ai.Index
	return err
}

func (a *fakeApp) run(n *Node, notify func()) {
	for ap := range n.Apply() {
		if ap.Snapshot != nil {
			b := a.db.NewBatch()
			err := ap.Snapshot.WriteTo(b)
			if err == nil {
				err = b.Commit(pebble.Sync)
			}
			b.Close()
			if err == nil {
				err = a.load()
			}
			a.mu.Lock()
			a.snapshots++
			a.order = nil
			applied := a.applied
			a.mu.Unlock()
			ap.Snapshot.Done(err)
			n.ReportApplied(applied)
			notify()
			continue
		}
		if len(ap.Entries) == 0 {
			continue
		}
		b := a.db.NewBatch()
		a.mu.Lock()
		for _, e := range ap.Entries {
			if e.GetType() != 0 || len(e.GetData()) == 0 {
				continue
			}
			k, v, _ := strings.Cut(string(e.GetData()), "=")
			_ = b.Set(stateKey(k), []byte(v), nil)
			a.kv[k] = v
			a.appliedAt[k] = e.GetIndex()
			a.order = append(a.order, string(e.GetData()))
		}
		last := ap.Entries[len(ap.Entries)-1]
		_ = storage.WriteAppliedIndex(b, storage.AppliedIndex{Index: last.GetIndex(), Term: last.GetTerm()})
		if ap.ConfState != nil {
			_ = WriteConfState(b, ap.ConfState)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			panic(err)
		}
		b.Close()
		a.applied = last.GetIndex()
		a.mu.Unlock()
		n.ReportApplied(last.GetIndex())
		notify()
	}
}

func (a *fakeApp) get(k string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.kv[k]
	return v, ok
}

func (a *fakeApp) snapshot() (map[string]string, []string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.kv), append([]string(nil), a.order...), a.snapshots
}

type testMember struct {
	id      uint64
	db      *pebble.DB
	dataDir string
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	node    *Node
	app     *fakeApp
	appDone chan struct{}
}

type testCluster struct {
	t       testing.TB
	members []*testMember
	tweak   func(*Config)

	mu sync.Mutex // guards ch
	ch chan struct{}
}

// newCluster starts n members over real HTTP on 127.0.0.1.
func newCluster(t testing.TB, n int, tweak func(*Config)) *testCluster {
	c := &testCluster{t: t, tweak: tweak, ch: make(chan struct{})}
	for i := 1; i <= n; i++ {
		m := &testMember{id: uint64(i), db: openMemDB(t, nil), dataDir: t.TempDir()}
		m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := m.handler.Load()
			if h == nil {
				_ = http.NewResponseController(w).EnableFullDuplex()
				http.Error(w, "member down", http.StatusServiceUnavailable)
				return
			}
			(*h).ServeHTTP(w, r)
		}))
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		c.start(m)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.stop(m)
			m.srv.Close()
			m.db.Close()
		}
	})
	return c
}

func (c *testCluster) peers() []Peer {
	var ps []Peer
	for _, m := range c.members {
		ps = append(ps, Peer{ID: m.id, URLs: []string{m.srv.URL}, Context: []byte(fmt.Sprintf("member-%d", m.id))})
	}
	return ps
}

func (c *testCluster) start(m *testMember) {
	cfg := Config{
		ID: m.id, ClusterID: testClusterID, Peers: c.peers(), Bootstrap: true,
		ElectionTicks: 10, HeartbeatTicks: 1, TickInterval: 10 * time.Millisecond,
		DB: m.db, DataDir: m.dataDir,
		Logger: zaptest.NewLogger(c.t, zaptest.Level(testLogLevel)).With(zap.Uint64("member", m.id)),
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	n, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	m.app = &fakeApp{db: m.db}
	if err := m.app.load(); err != nil {
		c.t.Fatal(err)
	}
	m.node = n
	h := n.Handler()
	m.handler.Store(&h)
	m.appDone = make(chan struct{})
	go func() {
		defer close(m.appDone)
		m.app.run(n, c.notify)
	}()
	go func() {
		for {
			ch := n.LeaderChanged()
			select {
			case <-ch:
				c.notify()
			case <-n.Done():
				return
			}
		}
	}()
}

func (c *testCluster) stop(m *testMember) {
	if m.node == nil {
		return
	}
	m.handler.Store(nil)
	m.node.Stop()
	<-m.appDone
	m.node = nil
	c.notify()
}

func (c *testCluster) notify() {
	c.mu.Lock()
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

func (c *testCluster) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// waitFor waits until cond holds, re-checking on every cluster event (and
// at a slow interval for events that do not notify), failing after 20s.
func (c *testCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	recheck := time.NewTicker(50 * time.Millisecond)
	defer recheck.Stop()
	for {
		ch := c.changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (c *testCluster) running() []*testMember {
	var out []*testMember
	for _, m := range c.members {
		if m.node != nil {
			out = append(out, m)
		}
	}
	return out
}

// waitLeader waits until every running member knows the same leader, which
// is running, and returns it.
func (c *testCluster) waitLeader() *testMember {
	c.t.Helper()
	var leader *testMember
	c.waitFor("a leader", func() bool {
		leader = nil
		var id uint64
		for _, m := range c.running() {
			st := m.node.Status()
			if st.Leader == 0 || (id != 0 && st.Leader != id) {
				return false
			}
			id = st.Leader
			if st.IsLeader {
				leader = m
			}
		}
		return leader != nil && leader.id == id
	})
	return leader
}

// put proposes k=v through m (retrying while leadership settles) and waits
// until every running member applied it.
func (c *testCluster) put(m *testMember, k, v string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ch := c.changed()
		err := m.node.Propose(ctx, []byte(k+"="+v))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			c.t.Fatalf("propose %s: %v", k, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	c.waitFor("apply of "+k, func() bool {
		for _, m := range c.running() {
			if got, _ := m.app.get(k); got != v {
				return false
			}
		}
		return true
	})
}

func TestClusterReplicatesInOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	// Proposals on any member, followers' forwarded by raft.
	for i := 0; i < 30; i++ {
		m := c.members[i%3]
		c.put(m, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	_, want, _ := leader.app.snapshot()
	if len(want) != 30 {
		t.Fatalf("leader applied %d entries, want 30", len(want))
	}
	for _, m := range c.members {
		_, got, _ := m.app.snapshot()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("member %d applied %v, leader %v", m.id, got, want)
		}
	}
	// ReadIndex on every member is at least the index of the last write.
	leader.app.mu.Lock()
	lastWrite := leader.app.appliedAt["k29"]
	leader.app.mu.Unlock()
	for _, m := range c.members {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		idx, err := m.node.ReadIndex(ctx)
		cancel()
		if err != nil || idx < lastWrite {
			t.Fatalf("member %d ReadIndex = %d, %v; want >= %d", m.id, idx, err, lastWrite)
		}
	}
	st := leader.node.Status()
	if !st.IsLeader || st.CommitIndex < lastWrite || st.Term == 0 || st.ID != leader.id {
		t.Fatalf("leader status %+v", st)
	}
}

func TestReadIndexBatches(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.waitLeader()
	c.put(c.members[0], "a", "1")
	var follower *testMember
	for _, m := range c.members {
		if !m.node.Status().IsLeader {
			follower = m
		}
	}
	const readers = 50
	// Hold the raft goroutine so that every call joins one batch.
	release := make(chan struct{})
	follower.node.ctrlc <- func() { <-release }
	before := follower.node.readRounds.Load()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if idx, err := follower.node.ReadIndex(ctx); err != nil || idx == 0 {
				errs <- fmt.Errorf("ReadIndex = %d, %w", idx, err)
			}
		}()
	}
	c.waitFor("readers to join a batch", func() bool {
		follower.node.readMu.Lock()
		defer follower.node.readMu.Unlock()
		return follower.node.readNext != nil && follower.node.readNext.calls == readers
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rounds := follower.node.readRounds.Load() - before; rounds != 1 {
		t.Fatalf("%d concurrent ReadIndex calls took %d raft rounds, want 1", readers, rounds)
	}
}

func TestLeaderFailoverAndRestart(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader()
	c.put(old, "before", "1")
	c.stop(old)
	leader := c.waitLeader()
	if leader == old {
		t.Fatal("stopped member still leader")
	}
	for i := 0; i < 10; i++ {
		c.put(leader, fmt.Sprintf("after%d", i), "2")
	}
	// The old leader restarts from its Pebble state and catches up.
	c.start(old)
	c.waitFor("restarted member to catch up", func() bool {
		v, _ := old.app.get("after9")
		return v == "2"
	})
	want, _, _ := leader.app.snapshot()
	got, _, snaps := old.app.snapshot()
	if !maps.Equal(got, want) || snaps != 0 {
		t.Fatalf("restarted member state %v (snapshots %d), want %v", got, snaps, want)
	}
	c.waitLeader()
	c.put(old, "last", "3")
}

func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	// One unregistered Metrics per member, kept across its restarts.
	metrics := map[uint64]*Metrics{}
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotCount = 20
		cfg.SnapshotCatchUpEntries = 5
		if metrics[cfg.ID] == nil {
			m, err := NewMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			metrics[cfg.ID] = m
		}
		cfg.Metrics = metrics[cfg.ID]
	})
	leader := c.waitLeader()
	var lagger *testMember
	for _, m := range c.members {
		if m != leader {
			lagger = m
		}
	}
	c.put(leader, "x", "0")
	c.stop(lagger)
	for i := 0; i < 120; i++ {
		c.put(leader, fmt.Sprintf("k%03d", i), fmt.Sprint(i))
	}
	c.waitFor("leader log truncation", func() bool {
		first, _ := leader.node.ls.FirstIndex()
		return first > 100
	})
	c.start(lagger)
	c.waitFor("lagging member to catch up", func() bool {
		v, _ := lagger.app.get("k119")
		return v == "119"
	})
	want, _, _ := leader.app.snapshot()
	got, _, snaps := lagger.app.snapshot()
	if snaps == 0 {
		t.Fatal("lagging member caught up without a snapshot")
	}
	if !maps.Equal(got, want) {
		t.Fatalf("state after snapshot differs:\n got %v\nwant %v", got, want)
	}
	// The snapshot stream and its install moved etcd's snapshot series on
	// both sides, and nothing is left in flight.
	lm, fm := metrics[leader.id], metrics[lagger.id]
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
		want func(float64) bool
	}{
		{"leader etcd_network_snapshot_send_total_duration_seconds", lm.SnapshotSendDuration.WithLabelValues(idLabel(lagger.id)).(prometheus.Histogram), atLeast1},
		{"leader etcd_network_snapshot_send_inflights_total", lm.SnapshotSendInflights.WithLabelValues(idLabel(lagger.id)), is0},
		{"lagger etcd_network_snapshot_receive_total_duration_seconds", fm.SnapshotReceiveDuration.WithLabelValues(idLabel(leader.id)).(prometheus.Histogram), atLeast1},
		{"lagger etcd_network_snapshot_receive_inflights_total", fm.SnapshotReceiveInflights.WithLabelValues(idLabel(leader.id)), is0},
		{"lagger etcd_snap_db_save_total_duration_seconds", fm.SnapDBSaveDuration, atLeast1},
		{"lagger etcd_snap_db_fsync_duration_seconds", fm.SnapDBFsyncDuration, atLeast1},
		{"lagger etcd_debugging_snap_save_total_duration_seconds", fm.SnapSaveDuration, atLeast1},
		{"lagger etcd_server_snapshot_apply_in_progress_total", fm.SnapshotApplyInProgress, is0},
	} {
		// The leader learns the outcome and the lagger's raft goroutine
		// finishes the install after the state became readable.
		c.waitFor(tc.name, func() bool { return tc.want(sampleValue(t, tc.c)) })
	}
	// Writes continue on top of the installed snapshot, and a restart after
	// the install keeps the state.
	c.put(leader, "post", "snap")
	c.stop(lagger)
	c.start(lagger)
	c.put(leader, "post2", "snap")
	got, _, _ = lagger.app.snapshot()
	if got["post"] != "snap" || got["k000"] != "0" {
		t.Fatalf("after restart: %v", got)
	}
	if leader.node.ls.held.count() != 0 {
		t.Fatal("leader still holds Pebble snapshots")
	}
}

func TestClusterIDMismatch(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.waitLeader()
	req, _ := http.NewRequest(http.MethodPost, c.members[0].srv.URL+"/raft/stream", strings.NewReader(""))
	req.Header.Set(headerClusterID, "bad")
	req.Header.Set(headerFrom, "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := make([]byte, 100)
	k, _ := resp.Body.Read(body)
	if resp.StatusCode != http.StatusPreconditionFailed || !strings.Contains(string(body[:k]), "cluster ID mismatch") {
		t.Fatalf("got %d %q", resp.StatusCode, body[:k])
	}
}

func TestSingleMemberProposeAndStop(t *testing.T) {
	c := newCluster(t, 1, nil)
	m := c.waitLeader()
	c.put(m, "a", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if idx, err := m.node.ReadIndex(ctx); err != nil || idx == 0 {
		t.Fatalf("ReadIndex = %d, %v", idx, err)
	}
	n := m.node
	c.stop(m)
	n.Stop() // idempotent
	if err := n.Propose(ctx, []byte("x=y")); err == nil {
		t.Fatal("Propose after Stop succeeded")
	}
}

var testLogLevel = zap.WarnLevel

func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	var target *testMember
	for _, m := range c.members {
		if m != leader {
			target = m
			break
		}
	}
	c.put(leader, "a", "1") // target is caught up
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := leader.node.TransferLeadership(ctx, target.id); err != nil {
		t.Fatal(err)
	}
	if got := c.waitLeader(); got != target {
		t.Fatalf("leader is %d after transfer to %d", got.id, target.id)
	}
	if err := target.node.TransferLeadership(ctx, 99); !errors.Is(err, ErrLeaderTransfer) {
		t.Fatalf("transfer to a non-member: %v, want ErrLeaderTransfer", err)
	}
	c.put(leader, "b", "2")
}

// TestAddLearner joins a fourth member (fresh data dir, no bootstrap) as a
// learner through ProposeConfChange; it receives the log and the
// ConfState reaches the apply loop.
func TestAddLearner(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	c.put(leader, "before", "1")

	m := &testMember{id: 4, db: openMemDB(t, nil), dataDir: t.TempDir()}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := m.handler.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		_ = http.NewResponseController(w).EnableFullDuplex()
		http.Error(w, "member down", http.StatusServiceUnavailable)
	}))
	c.members = append(c.members, m)
	for _, o := range c.members[:3] {
		o.node.UpdatePeers(c.peers())
	}
	tweak := c.tweak
	c.tweak = func(cfg *Config) {
		if cfg.ID == 4 {
			cfg.Bootstrap = false
		}
		if tweak != nil {
			tweak(cfg)
		}
	}
	c.start(m)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc := &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(uint64(4))}
	if err := leader.node.ProposeConfChange(ctx, cc); err != nil {
		t.Fatal(err)
	}
	c.put(leader, "after", "2") // waits for all four members
	if v, _ := m.app.get("before"); v != "1" {
		t.Fatalf("learner misses earlier writes: %q", v)
	}
	c.waitFor("learner status", func() bool { return m.node.Status().IsLearner })
	cs, err := ReadConfState(leader.db)
	if err != nil || fmt.Sprint(cs.GetLearners()) != "[4]" || len(cs.GetVoters()) != 3 {
		t.Fatalf("stored ConfState = %v, %v", cs, err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	c := newCluster(t, 1, func(cfg *Config) { cfg.Metrics = metrics })
	m := c.waitLeader()
	c.put(m, "a", "b")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				values[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				values[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				values[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for name, min := range map[string]float64{
		"etcd_server_is_leader":                 1,
		"etcd_server_has_leader":                1,
		"etcd_server_leader_changes_seen_total": 1,
		"etcd_server_proposals_committed_total": 2,
		"etcd_disk_wal_fsync_duration_seconds":  1,
		"etcd_disk_wal_write_bytes_total":       1,
	} {
		if values[name] < min {
			t.Errorf("%s = %v, want >= %v", name, values[name], min)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.sent(1, 10) // nil-safe
}

func atLeast1(v float64) bool { return v >= 1 }
func is0(v float64) bool      { return v == 0 }

// sampleValue is a gauge's or counter's value, or a histogram's sample
// count, of the single series c collects.
func sampleValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}
