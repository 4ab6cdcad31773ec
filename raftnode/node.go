package raftnode

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// Apply is one handoff from the raft goroutine to the apply loop. Handoffs
// arrive on Node.Apply() in log order; the apply loop handles each fully
// (one Pebble batch, applied index included) before the next.
type Apply struct {
	// Entries are committed entries in index order: EntryNormal entries
	// carry proposals (empty Data: the no-op a new leader appends, which
	// still advances the applied index), EntryConfChange/EntryConfChangeV2
	// carry membership changes already applied to raft. May be empty.
	Entries []*pb.Entry
	// ConfState is non-nil when a conf change in Entries changed it; the
	// apply loop writes it with WriteConfState in the same batch as the
	// applied index.
	ConfState *pb.ConfState
	// Snapshot, when non-nil, must be installed BEFORE Entries.
	Snapshot *SnapshotInstall
}

// Status is a cheap copy of the raft state, refreshed after every Ready.
type Status struct {
	ID          uint64
	Leader      uint64 // 0 when no leader is known
	Term        uint64
	CommitIndex uint64
	// AppliedIndex is raft's applied index: the last entry handed to the
	// apply loop (it may not be applied yet).
	AppliedIndex uint64
	IsLeader     bool
	IsLearner    bool
	RaftState    raft.StateType
}

// proposal is a Propose or ProposeConfChange call waiting for raft to take it.
type proposal struct {
	data []byte
	cc   pb.ConfChangeI
	errc chan error
}

// readBatch is one ReadIndex request to raft shared by every ReadIndex call
// that arrived while the previous one was in flight.
type readBatch struct {
	id    uint64
	calls int // ReadIndex calls sharing it; guarded by Node.readMu until sent
	done  chan struct{}
	index uint64
	err   error
}

// report is an asynchronous observation from the transport.
type report struct {
	to       uint64
	snapshot bool // MsgSnap outcome; otherwise the peer is unreachable
	ok       bool
}

// Node is a running raft member. Create it with Start; all methods are safe
// for concurrent use.
type Node struct {
	cfg Config
	lg  *zap.Logger
	m   *Metrics
	ls  *logStore
	tr  *transport

	propc    chan *proposal
	recvc    chan *pb.Message
	readc    chan struct{}
	appliedc chan struct{}
	reportc  chan report
	ctrlc    chan func()
	applyc   chan *Apply
	stopc    chan struct{}
	donec    chan struct{}
	stopOnce sync.Once
	stopCtx  context.Context
	cancel   context.CancelFunc
	// senders counts snapshot senders; Stop waits for them so no Pebble
	// snapshot outlives the Node.
	senders sync.WaitGroup

	status  atomic.Pointer[Status]
	applied atomic.Uint64 // highest index passed to ReportApplied

	leaderMu sync.Mutex // guards leaderCh
	leaderCh chan struct{}

	readMu   sync.Mutex // guards readNext
	readNext *readBatch
	// readRounds counts ReadIndex requests given to raft (not retries).
	readRounds atomic.Uint64

	// Fields below are owned by the raft goroutine.
	rn           *raft.RawNode
	raftState    raft.StateType
	lead         uint64
	confState    *pb.ConfState
	readInflight *readBatch
	readSeq      uint64
	readTicks    int
	hbSent       map[uint64]time.Time
	spoolPending []string
	deferred     []report
}

// Start opens the raft state in cfg.DB and starts the member's goroutines.
// A data dir with raft state restarts from it (hard state, log, ConfState,
// Config.Applied = the stored applied index); an empty one bootstraps a new
// cluster when cfg.Bootstrap, and otherwise waits to be sent the log or a
// snapshot by the leader (a member joining an existing cluster). Errors wrap
// ErrInvalidConfig or the storage error.
func Start(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ls, err := openLogStore(cfg.DB, 0)
	if err != nil {
		return nil, err
	}
	applied, err := storage.ReadAppliedIndex(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("raftnode: read applied index: %w", err)
	}
	cs, err := ReadConfState(cfg.DB)
	if err != nil {
		return nil, err
	}
	if err := cleanSpoolDir(cfg.DataDir); err != nil {
		return nil, err
	}
	fresh := ls.empty()
	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   ls,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		StepDownOnRemoval:         true,
		Logger:                    newRaftLogger(cfg.Logger.Named("raft")),
	}
	if !fresh {
		rc.Applied = applied.Index
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	switch {
	case fresh && cfg.Bootstrap:
		peers := make([]raft.Peer, 0, len(cfg.Peers))
		for _, p := range cfg.Peers {
			peers = append(peers, raft.Peer{ID: p.ID, Context: p.Context})
		}
		slices.SortFunc(peers, func(a, b raft.Peer) int { return cmp.Compare(a.ID, b.ID) })
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
	case !fresh && cfg.Bootstrap:
		cfg.Logger.Info("raft state exists; restarting instead of bootstrapping",
			zap.Uint64("applied-index", applied.Index))
	}

	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:       cfg,
		lg:        cfg.Logger,
		m:         cfg.Metrics,
		ls:        ls,
		propc:     make(chan *proposal, 256),
		recvc:     make(chan *pb.Message, 4096),
		readc:     make(chan struct{}, 1),
		appliedc:  make(chan struct{}, 1),
		reportc:   make(chan report, 1024),
		ctrlc:     make(chan func()),
		applyc:    make(chan *Apply, 64),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		stopCtx:   ctx,
		cancel:    cancel,
		leaderCh:  make(chan struct{}),
		rn:        rn,
		confState: cs,
		hbSent:    map[uint64]time.Time{},
	}
	n.tr = newTransport(n)
	n.tr.update(cfg.Peers)
	n.publishStatus()
	n.m.setLeader(false, false)
	// The committed gauge starts from the stored commit index, so that
	// committed - applied is never negative after a restart.
	n.m.committed(n.ls.hardState().GetCommit())
	go n.run()
	return n, nil
}

// Apply returns the channel of handoffs to the apply loop, in log order. It
// is closed after Stop. The apply loop must keep draining it: the raft
// goroutine blocks when it is full.
func (n *Node) Apply() <-chan *Apply { return n.applyc }

// Propose submits data (an encoded request) for replication and returns
// once raft accepted it, not when it is committed: the caller learns the
// outcome when the entry reaches the apply loop. Errors: ErrNoLeader,
// ErrProposalDropped, ErrStopped, or ctx's error.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	return n.propose(ctx, &proposal{data: data, errc: make(chan error, 1)})
}

// ProposeConfChange submits a membership change (raftpb.ConfChange or
// ConfChangeV2); it is applied to raft when committed and then reaches the
// apply loop with the resulting ConfState. Errors as Propose.
func (n *Node) ProposeConfChange(ctx context.Context, cc pb.ConfChangeI) error {
	return n.propose(ctx, &proposal{cc: cc, errc: make(chan error, 1)})
}

func (n *Node) propose(ctx context.Context, p *proposal) error {
	err := n.proposeWait(ctx, p)
	if err != nil {
		n.m.proposalFailed()
	}
	return err
}

func (n *Node) proposeWait(ctx context.Context, p *proposal) error {
	if n.Status().Leader == raft.None {
		return ErrNoLeader
	}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case err := <-p.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
}

// ReadIndex is the linearizable read barrier (etcd's linearizableReadNotify):
// it returns a commit index such that a read served once the applied index
// reaches it observes every write committed before the call. Concurrent
// calls share one raft ReadIndex round. Errors: ErrNoLeader when no leader
// is known at the call, ErrStopped, or ctx's error (counted in
// etcd_server_read_indexes_failed_total).
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.Status().Leader == raft.None {
		n.m.readIndexFailed()
		return 0, ErrNoLeader
	}
	n.readMu.Lock()
	if n.readNext == nil {
		n.readNext = &readBatch{done: make(chan struct{})}
	}
	b := n.readNext
	b.calls++
	n.readMu.Unlock()
	select {
	case n.readc <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		if b.err != nil {
			n.m.readIndexFailed()
		}
		return b.index, b.err
	case <-ctx.Done():
		n.m.readIndexFailed()
		return 0, ctx.Err()
	case <-n.donec:
		return 0, ErrStopped
	}
}

// ReportApplied tells the node that the apply loop committed everything up
// to index. It never blocks; it drives log truncation.
func (n *Node) ReportApplied(index uint64) {
	for {
		cur := n.applied.Load()
		if index <= cur || n.applied.CompareAndSwap(cur, index) {
			break
		}
	}
	select {
	case n.appliedc <- struct{}{}:
	default:
	}
}

// Status returns the state as of the last Ready; cheap and lock-free.
func (n *Node) Status() Status { return *n.status.Load() }

// LeaderChanged returns a channel closed at the next change of the known
// leader (including to "none"); call it again for the following change.
// Read Status after the channel closes to learn the new leader.
func (n *Node) LeaderChanged() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderCh
}

// TransferLeadership asks the leader to hand leadership to target (a voter)
// and waits until target is leader or ctx ends (etcd's MoveLeader).
// Errors: ErrLeaderTransfer, ErrNoLeader, ErrStopped, ctx's error.
func (n *Node) TransferLeadership(ctx context.Context, target uint64) error {
	errc := make(chan error, 1)
	f := func() {
		if !slices.Contains(n.confState.GetVoters(), target) {
			errc <- fmt.Errorf("%w: %x is not a voter", ErrLeaderTransfer, target)
			return
		}
		if n.lead == raft.None {
			errc <- ErrNoLeader
			return
		}
		n.rn.TransferLeader(target)
		errc <- nil
	}
	select {
	case n.ctrlc <- f:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	if err := <-errc; err != nil {
		return err
	}
	for {
		ch := n.LeaderChanged()
		if n.Status().Leader == target {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.donec:
			return ErrStopped
		}
	}
}

// ErrNotLeader: the call needs the leader's view of the followers.
var ErrNotLeader = errors.New("raftnode: not leader")

// Match returns, on the leader, how far member id's log is known to match
// the leader's (raft's Progress.Match) and the leader's own match index.
// ErrNotLeader on a follower. Used to refuse promoting a learner that has
// not caught up.
func (n *Node) Match(ctx context.Context, id uint64) (match, leaderMatch uint64, err error) {
	type res struct {
		match, leader uint64
		err           error
	}
	resc := make(chan res, 1)
	f := func() {
		st := n.rn.Status()
		if st.RaftState != raft.StateLeader {
			resc <- res{err: ErrNotLeader}
			return
		}
		pr, ok := st.Progress[id]
		if !ok {
			resc <- res{err: fmt.Errorf("raftnode: no progress for member %x", id)}
			return
		}
		resc <- res{match: pr.Match, leader: st.Progress[n.cfg.ID].Match}
	}
	select {
	case n.ctrlc <- f:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-n.donec:
		return 0, 0, ErrStopped
	}
	r := <-resc
	return r.match, r.leader, r.err
}

// ActiveSince returns since when this member's stream to peer id has
// been connected, or the zero time if it is down or id is not a peer (as
// etcd's rafthttp Transport.ActiveSince). Safe from any goroutine.
func (n *Node) ActiveSince(id uint64) time.Time { return n.tr.activeSince(id) }

// Handler returns the peer HTTP handler. Mount it on the peer listener with
// mux.Handle("/raft/", node.Handler()) (the prefix is not stripped). The
// peer http.Server must not set ReadTimeout or WriteTimeout: streams are
// long-lived.
func (n *Node) Handler() http.Handler { return n.tr }

// UpdatePeers replaces the transport's view of the members: new IDs get a
// sender, removed ones are stopped, changed URLs take effect on the next
// connection. This member's own entry is ignored.
func (n *Node) UpdatePeers(peers []Peer) { n.tr.update(peers) }

// Stop stops the raft goroutine and the transport, releases held
// snapshots and closes Apply(). Idempotent; waits for the goroutines.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stopc)
		n.cancel()
		<-n.donec
		n.tr.stop()
		n.senders.Wait()
		n.ls.held.releaseAll()
	})
}

// Done is closed when the raft goroutine has exited (after Stop, or on a
// fatal storage error).
func (n *Node) Done() <-chan struct{} { return n.donec }

// campaign makes this member start an election (tests).
func (n *Node) campaign() {
	select {
	case n.ctrlc <- func() { _ = n.rn.Campaign() }:
	case <-n.donec:
	}
}

// run is the raft goroutine.
func (n *Node) run() {
	defer func() {
		n.failReads(ErrStopped)
		close(n.applyc)
		close(n.donec)
	}()
	tickc := n.cfg.tickC
	if tickc == nil {
		t := time.NewTicker(n.cfg.TickInterval)
		defer t.Stop()
		tickc = t.C
	}
	for {
		select {
		case <-tickc:
			n.rn.Tick()
			n.tickReadIndex()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.handleProposal(p)
		case <-n.readc:
		case <-n.appliedc:
		case r := <-n.reportc:
			n.handleReport(r)
		case f := <-n.ctrlc:
			f()
		case <-n.stopc:
			return
		}
		n.drain()
		if err := n.processReady(); err != nil {
			if !errors.Is(err, ErrStopped) {
				n.lg.Error("raft goroutine stopping on error", zap.Error(err))
			}
			return
		}
		n.maybeCompact()
	}
}

// drain takes queued inputs without blocking so one Ready (and one fsync)
// covers many of them.
func (n *Node) drain() {
	for i := 0; i < 1024; i++ {
		select {
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.handleProposal(p)
		case r := <-n.reportc:
			n.handleReport(r)
		default:
			return
		}
	}
}

func (n *Node) handleProposal(p *proposal) {
	var err error
	if p.cc != nil {
		err = n.rn.ProposeConfChange(p.cc)
	} else {
		err = n.rn.Propose(p.data)
	}
	if errors.Is(err, raft.ErrProposalDropped) {
		if n.lead == raft.None {
			err = ErrNoLeader
		} else {
			err = ErrProposalDropped
		}
	}
	p.errc <- err
}

func (n *Node) handleReport(r report) {
	if r.snapshot {
		st := raft.SnapshotFinish
		if !r.ok {
			st = raft.SnapshotFailure
		}
		n.rn.ReportSnapshot(r.to, st)
		return
	}
	n.rn.ReportUnreachable(r.to)
}

// step feeds an inbound message to raft.
func (n *Node) step(m *pb.Message) {
	switch m.GetType() {
	case pb.MsgSnap:
		if path, ok := spoolPath(m.GetSnapshot().GetData()); ok {
			n.spoolPending = append(n.spoolPending, path)
		}
	case pb.MsgHeartbeatResp:
		if t, ok := n.hbSent[m.GetFrom()]; ok {
			n.m.rtt(m.GetFrom(), time.Since(t))
			delete(n.hbSent, m.GetFrom())
		}
	}
	if err := n.rn.Step(m); err != nil {
		n.lg.Debug("raft refused message", zap.Stringer("type", m.GetType()),
			zap.String("from", idLabel(m.GetFrom())), zap.Error(err))
	}
}

// processReady handles Readys until raft has none.
func (n *Node) processReady() error {
	for {
		n.maybeStartReadIndex()
		if !n.rn.HasReady() {
			break
		}
		if err := n.handleReady(n.rn.Ready()); err != nil {
			return err
		}
		for _, r := range n.deferred {
			n.handleReport(r)
		}
		n.deferred = n.deferred[:0]
	}
	// A received snapshot raft did not take is of no further use.
	for _, p := range n.spoolPending {
		_ = os.Remove(p)
	}
	n.spoolPending = n.spoolPending[:0]
	return nil
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.raftState = rd.SoftState.RaftState
		if rd.SoftState.Lead != n.lead {
			if rd.SoftState.Lead != raft.None {
				n.m.leaderChanged()
			}
			n.lead = rd.SoftState.Lead
			// The batch in flight may have gone to the old leader: ask again.
			if n.readInflight != nil && n.lead != raft.None {
				n.rn.ReadIndex(readCtx(n.readInflight.id))
				n.readTicks = 0
			}
			defer n.notifyLeader()
		}
		n.m.setLeader(n.lead != raft.None, n.raftState == raft.StateLeader)
	}
	for _, rs := range rd.ReadStates {
		if b := n.readInflight; b != nil && bytes.Equal(rs.RequestCtx, readCtx(b.id)) {
			b.index = rs.Index
			close(b.done)
			n.readInflight = nil
		}
	}
	isLeader := n.raftState == raft.StateLeader
	if isLeader {
		// Leader: replicate while persisting (Raft thesis §10.2.1).
		n.send(rd.Messages)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd); err != nil {
			return err
		}
	}
	start := time.Now()
	size, err := n.ls.save(rd.HardState, rd.Entries, rd.MustSync)
	if err != nil {
		return err
	}
	if size > 0 {
		n.m.walWrite(time.Since(start), size, rd.MustSync)
	}
	if rd.HardState != nil {
		n.m.committed(rd.HardState.GetCommit())
	}
	if !isLeader {
		n.send(rd.Messages)
	}
	if len(rd.CommittedEntries) > 0 {
		if err := n.handOff(rd.CommittedEntries); err != nil {
			return err
		}
	}
	n.rn.Advance(rd)
	n.publishStatus()
	return nil
}

// installSnapshot hands the received snapshot to the apply loop and waits
// until it is installed.
func (n *Node) installSnapshot(rd raft.Ready) error {
	start := time.Now()
	n.m.applyingSnapshot(true)
	defer n.m.applyingSnapshot(false)
	snap := rd.Snapshot
	path, ok := spoolPath(snap.GetData())
	if !ok {
		return fmt.Errorf("%w: snapshot at index %d carries no received state", ErrCorrupt, snap.GetMetadata().GetIndex())
	}
	n.spoolPending = slices.DeleteFunc(n.spoolPending, func(p string) bool { return p == path })
	defer os.Remove(path)
	hs := n.ls.hardState()
	if !raft.IsEmptyHardState(rd.HardState) {
		hs = proto.Clone(rd.HardState).(*pb.HardState)
	}
	if hs.GetCommit() < snap.GetMetadata().GetIndex() {
		hs.Commit = new(snap.GetMetadata().GetIndex())
	}
	inst := &SnapshotInstall{meta: snap.GetMetadata(), path: path, hard: hs, done: make(chan error, 1)}
	select {
	case n.applyc <- &Apply{Snapshot: inst}:
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case err := <-inst.done:
		if err != nil {
			return fmt.Errorf("raftnode: install snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	case <-n.stopc:
		return ErrStopped
	}
	n.ls.installed(snap.GetMetadata(), hs)
	n.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*pb.ConfState)
	n.m.snapSaved(time.Since(start))
	n.lg.Info("installed snapshot", zap.Uint64("index", snap.GetMetadata().GetIndex()),
		zap.Uint64("term", snap.GetMetadata().GetTerm()), zap.Duration("took", time.Since(start)))
	return nil
}

// handOff applies conf changes to raft and passes committed entries to the
// apply loop.
func (n *Node) handOff(ents []*pb.Entry) error {
	var cs *pb.ConfState
	for _, e := range ents {
		var cc pb.ConfChangeI
		switch e.GetType() {
		case pb.EntryConfChange:
			c := &pb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("%w: conf change at %d: %v", ErrCorrupt, e.GetIndex(), err)
			}
			cc = c
		case pb.EntryConfChangeV2:
			c := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("%w: conf change at %d: %v", ErrCorrupt, e.GetIndex(), err)
			}
			cc = c
		default:
			continue
		}
		cs = n.rn.ApplyConfChange(cc)
	}
	if cs != nil {
		n.confState = cs
	}
	select {
	case n.applyc <- &Apply{Entries: ents, ConfState: cs}:
		return nil
	case <-n.stopc:
		return ErrStopped
	}
}

// send queues outbound messages; it never blocks on the network.
func (n *Node) send(msgs []*pb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		if to == n.cfg.ID {
			continue
		}
		if m.GetType() == pb.MsgSnap {
			n.startSnapshot(m)
			continue
		}
		data, err := proto.Marshal(m)
		if err != nil {
			n.lg.Error("marshal raft message", zap.Error(err))
			continue
		}
		if m.GetType() == pb.MsgHeartbeat {
			if _, ok := n.hbSent[to]; !ok {
				n.hbSent[to] = time.Now()
			}
		}
		if !n.tr.send(to, data) {
			n.m.sendFailed(to)
			if m.GetType() == pb.MsgHeartbeat {
				n.m.heartbeatFailed()
			}
			n.deferred = append(n.deferred, report{to: to})
		}
	}
}

// startSnapshot streams the held Pebble snapshot named by a MsgSnap.
func (n *Node) startSnapshot(m *pb.Message) {
	to := m.GetTo()
	id, ok := heldID(m.GetSnapshot().GetData())
	var snap = n.ls.held.take(id)
	if !ok || snap == nil {
		n.lg.Warn("MsgSnap without a held snapshot", zap.String("to", idLabel(to)))
		n.m.snapshotSent(to, false)
		n.deferred = append(n.deferred, report{to: to, snapshot: true})
		return
	}
	n.senders.Add(1)
	go func() {
		defer n.senders.Done()
		n.sendSnapshot(m, snap)
	}()
}

// maybeCompact truncates the log once SnapshotCount entries were applied
// past the truncation point, keeping SnapshotCatchUpEntries.
func (n *Node) maybeCompact() {
	applied := n.applied.Load()
	first, _ := n.ls.FirstIndex()
	floor := first - 1
	if applied <= floor+n.cfg.SnapshotCount || applied <= n.cfg.SnapshotCatchUpEntries {
		return
	}
	target := applied - n.cfg.SnapshotCatchUpEntries
	if target <= floor {
		return
	}
	if err := n.ls.compact(target); err != nil {
		n.lg.Warn("truncate raft log", zap.Uint64("index", target), zap.Error(err))
		return
	}
	n.lg.Debug("truncated raft log", zap.Uint64("index", target), zap.Uint64("applied-index", applied))
}

func (n *Node) publishStatus() {
	bs := n.rn.BasicStatus()
	st := &Status{
		ID:           n.cfg.ID,
		Leader:       bs.Lead,
		Term:         bs.GetTerm(),
		CommitIndex:  bs.GetCommit(),
		AppliedIndex: bs.Applied,
		IsLeader:     bs.RaftState == raft.StateLeader,
		IsLearner:    slices.Contains(n.confState.GetLearners(), n.cfg.ID),
		RaftState:    bs.RaftState,
	}
	n.status.Store(st)
}

func (n *Node) notifyLeader() {
	n.publishStatus()
	n.leaderMu.Lock()
	close(n.leaderCh)
	n.leaderCh = make(chan struct{})
	n.leaderMu.Unlock()
}

// maybeStartReadIndex sends the waiting ReadIndex batch when none is in flight.
func (n *Node) maybeStartReadIndex() {
	if n.readInflight != nil {
		return
	}
	n.readMu.Lock()
	b := n.readNext
	n.readNext = nil
	n.readMu.Unlock()
	if b == nil {
		return
	}
	n.readSeq++
	n.readRounds.Add(1)
	b.id = n.readSeq
	n.readInflight = b
	n.readTicks = 0
	n.rn.ReadIndex(readCtx(b.id))
}

// tickReadIndex re-sends a ReadIndex that got no answer within an election
// timeout (raft drops it silently without a leader).
func (n *Node) tickReadIndex() {
	if n.readInflight == nil {
		return
	}
	n.readTicks++
	if n.readTicks >= n.cfg.ElectionTicks {
		n.m.slowReadIndex()
		n.readTicks = 0
		n.rn.ReadIndex(readCtx(n.readInflight.id))
	}
}

// failReads ends every ReadIndex waiter with err.
func (n *Node) failReads(err error) {
	if b := n.readInflight; b != nil {
		b.err = err
		close(b.done)
		n.readInflight = nil
	}
	n.readMu.Lock()
	b := n.readNext
	n.readNext = nil
	n.readMu.Unlock()
	if b != nil {
		b.err = err
		close(b.done)
	}
}

func readCtx(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}
