package apply

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

// Result is what applying one request produced, handed to the goroutine
// that proposed it. Resp is the etcdserverpb response (its header revision
// set, cluster fields left to the API layer); Err is a request error (the
// request changed nothing); Physical, for a compaction, is closed once the
// compacted versions are physically gone.
type Result struct {
	Resp     proto.Message
	Err      error
	Physical <-chan struct{}
}

// Config configures an Applier.
type Config struct {
	DB      *pebble.DB
	KV      *mvcc.Store
	Cluster *membership.Cluster
	Logger  *zap.Logger
	// Lessor holds the leases; keys written with a lease are attached to
	// it and detached when overwritten or deleted. Nil: no leases exist.
	Lessor *lease.Lessor
	// Alarms holds the cluster's alarms, written by InternalRaftRequest.Alarm
	// entries; New and Restore load it from DB. While NOSPACE or CORRUPT is
	// active, writes are refused (see the alarm package). Nil: no alarms.
	Alarms *alarm.Store
	// Auth holds users, roles and the enabled flag, written by the auth
	// entries; New and Restore load it from DB. While auth is enabled,
	// committed writes are checked against the user in their header (see
	// authRefused). Nil: auth entries are ErrUnknownRequest.
	Auth *auth.Store
	// WarnApplyDuration is etcd's --warning-apply-duration (100ms): a
	// request slower to apply is logged as "apply request took too long".
	WarnApplyDuration time.Duration
	// OnApplied, if set, is called on the apply goroutine after each
	// committed batch with the events it produced (watchers hook here).
	OnApplied func(rev int64, events []*mvccpb.Event)
	// OnRequest, if set, is called on the apply goroutine after each
	// request is applied (not for storage failures), with its result and
	// how long applying it took; the metrics hook here.
	OnRequest func(r *pb.InternalRaftRequest, res *Result, took time.Duration)
	// OnCommit, if set, is called on the apply goroutine with the duration
	// of each batch commit (etcd_disk_backend_commit_duration_seconds).
	OnCommit func(took time.Duration)
}

// Applier applies committed entries. See the package doc for goroutines.
type Applier struct {
	cfg    Config
	lg     *zap.Logger
	leases LeaseChecker

	wmu     sync.Mutex // guards waiters
	waiters map[uint64]chan *Result

	amu       sync.Mutex // guards applied, appliedCh
	applied   storage.AppliedIndex
	appliedCh chan struct{} // closed and replaced whenever applied moves
}

// New returns an Applier whose applied index is read from cfg.DB.
func New(cfg Config) (*Applier, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.WarnApplyDuration == 0 {
		cfg.WarnApplyDuration = 100 * time.Millisecond
	}
	ai, err := storage.ReadAppliedIndex(cfg.DB)
	if err != nil {
		return nil, err
	}
	if cfg.Alarms != nil {
		if err := cfg.Alarms.Load(cfg.DB); err != nil {
			return nil, err
		}
	}
	if cfg.Auth != nil {
		if err := cfg.Auth.Load(cfg.DB); err != nil {
			return nil, err
		}
	}
	a := &Applier{cfg: cfg, lg: cfg.Logger, waiters: map[uint64]chan *Result{}, applied: ai, appliedCh: make(chan struct{})}
	if cfg.Lessor != nil {
		a.leases = cfg.Lessor.Exists
	}
	return a, nil
}

// Register returns the channel on which the result of request id will be
// delivered once applied on this member. Cancel with Unregister.
func (a *Applier) Register(id uint64) <-chan *Result {
	ch := make(chan *Result, 1)
	a.wmu.Lock()
	a.waiters[id] = ch
	a.wmu.Unlock()
	return ch
}

// Unregister drops the waiter for id (the proposer gave up).
func (a *Applier) Unregister(id uint64) {
	a.wmu.Lock()
	delete(a.waiters, id)
	a.wmu.Unlock()
}

// Applied returns the applied index.
func (a *Applier) Applied() storage.AppliedIndex {
	a.amu.Lock()
	defer a.amu.Unlock()
	return a.applied
}

// WaitApplied blocks until the applied index reaches index or ctx ends.
func (a *Applier) WaitApplied(ctx context.Context, index uint64) error {
	for {
		a.amu.Lock()
		if a.applied.Index >= index {
			a.amu.Unlock()
			return nil
		}
		ch := a.appliedCh
		a.amu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *Applier) setApplied(ai storage.AppliedIndex) {
	a.amu.Lock()
	a.applied = ai
	close(a.appliedCh)
	a.appliedCh = make(chan struct{})
	a.amu.Unlock()
}

type delivery struct {
	id  uint64
	res *Result
}

// Apply applies ents in one Pebble batch together with the applied index
// (and, when cs is non-nil, the conf state written by writeConfState), then
// publishes the new revisions and answers waiters. Only the apply loop calls
// it. An error is a storage failure: the member must stop.
func (a *Applier) Apply(ents []*raftpb.Entry, cs *raftpb.ConfState, writeConfState func(pebble.Writer, *raftpb.ConfState) error) error {
	if len(ents) == 0 && cs == nil {
		return nil
	}
	b := a.cfg.DB.NewIndexedBatch()
	defer b.Close()
	var out []delivery
	var events []*mvccpb.Event
	for _, e := range ents {
		id, res, evs, err := a.applyEntry(b, e)
		if err != nil {
			return fmt.Errorf("apply: entry %d: %w", e.GetIndex(), err)
		}
		events = append(events, evs...)
		if id != 0 {
			out = append(out, delivery{id, res})
		}
	}
	if n := len(ents); n > 0 {
		last := ents[n-1]
		if err := storage.WriteAppliedIndex(b, storage.AppliedIndex{Index: last.GetIndex(), Term: last.GetTerm()}); err != nil {
			return err
		}
	}
	if cs != nil && writeConfState != nil {
		if err := writeConfState(b, cs); err != nil {
			return err
		}
	}
	commitStart := time.Now()
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("apply: commit: %w", err)
	}
	if a.cfg.OnCommit != nil {
		a.cfg.OnCommit(time.Since(commitStart))
	}
	a.cfg.KV.Publish()
	if a.cfg.OnApplied != nil && len(events) > 0 {
		a.cfg.OnApplied(a.cfg.KV.Rev(), events)
	}
	if n := len(ents); n > 0 {
		last := ents[n-1]
		a.setApplied(storage.AppliedIndex{Index: last.GetIndex(), Term: last.GetTerm()})
	}
	a.wmu.Lock()
	for _, d := range out {
		if ch, ok := a.waiters[d.id]; ok {
			ch <- d.res
			delete(a.waiters, d.id)
		}
	}
	a.wmu.Unlock()
	return nil
}

// Revision is the MVCC store's published revision.
func (a *Applier) Revision() int64 { return a.cfg.KV.Rev() }

// Restore replaces the whole state from a raft snapshot: write fills one
// batch (state range and raft metadata), which is committed with sync;
// then the in-memory views are reloaded from storage.
func (a *Applier) Restore(write func(*pebble.Batch) error) error {
	// The compactor must not record progress against the state being
	// replaced; Reload resumes it.
	a.cfg.KV.PauseCompaction()
	b := a.cfg.DB.NewBatch()
	defer b.Close()
	if err := write(b); err != nil {
		return fmt.Errorf("apply: restore: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("apply: restore commit: %w", err)
	}
	if err := a.cfg.KV.Reload(); err != nil {
		return err
	}
	if err := a.cfg.Cluster.Load(a.cfg.DB); err != nil {
		return err
	}
	if a.cfg.Lessor != nil {
		if err := a.cfg.Lessor.Load(a.cfg.DB); err != nil {
			return err
		}
	}
	if a.cfg.Alarms != nil {
		if err := a.cfg.Alarms.Load(a.cfg.DB); err != nil {
			return err
		}
	}
	if a.cfg.Auth != nil {
		if err := a.cfg.Auth.Load(a.cfg.DB); err != nil {
			return err
		}
	}
	ai, err := storage.ReadAppliedIndex(a.cfg.DB)
	if err != nil {
		return err
	}
	a.setApplied(ai)
	return nil
}

func (a *Applier) applyEntry(b *pebble.Batch, e *raftpb.Entry) (uint64, *Result, []*mvccpb.Event, error) {
	switch e.GetType() {
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return 0, nil, nil, err
		}
		res := a.applyConfChange(b, cc.GetType(), cc.GetNodeId(), cc.GetContext())
		return cc.GetId(), res, nil, nil
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return 0, nil, nil, err
		}
		var res *Result
		for _, ch := range cc.GetChanges() {
			res = a.applyConfChange(b, ch.GetType(), ch.GetNodeId(), cc.GetContext())
		}
		return 0, res, nil, nil
	}
	if len(e.GetData()) == 0 {
		return 0, nil, nil, nil // a new leader's empty entry
	}
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(e.GetData(), &r); err != nil {
		return 0, nil, nil, err
	}
	start := time.Now()
	res, evs, err := a.applyRequest(b, &r)
	d := time.Since(start)
	if err == nil && a.cfg.OnRequest != nil {
		a.cfg.OnRequest(&r, res, d)
	}
	if d > a.cfg.WarnApplyDuration {
		a.lg.Warn("apply request took too long",
			zap.Duration("took", d),
			zap.Duration("expected-duration", a.cfg.WarnApplyDuration),
			zap.String("prefix", "write request"),
			zap.String("request", requestKind(&r)))
	}
	return r.GetHeader().GetID(), res, evs, err
}

func requestKind(r *pb.InternalRaftRequest) string {
	switch {
	case r.Put != nil:
		return "put"
	case r.DeleteRange != nil:
		return "delete_range"
	case r.Txn != nil:
		return "txn"
	case r.Compaction != nil:
		return "compaction"
	case r.Alarm != nil:
		return "alarm"
	case r.Authenticate != nil:
		return "authenticate"
	}
	return "other"
}

func (a *Applier) applyConfChange(b *pebble.Batch, t raftpb.ConfChangeType, node uint64, ctx []byte) *Result {
	var err error
	switch t {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		var m *membership.Member
		m, err = membership.Unmarshal(ctx)
		if err == nil {
			if _, exists := a.cfg.Cluster.Member(node); exists && t == raftpb.ConfChangeAddNode {
				err = a.cfg.Cluster.Promote(b, node)
			} else {
				m.ID = node
				m.IsLearner = t == raftpb.ConfChangeAddLearnerNode
				err = a.cfg.Cluster.Add(b, m)
			}
		}
	case raftpb.ConfChangeRemoveNode:
		err = a.cfg.Cluster.Remove(b, node)
	case raftpb.ConfChangeUpdateNode:
		var m *membership.Member
		m, err = membership.Unmarshal(ctx)
		if err == nil {
			err = a.cfg.Cluster.Update(b, node, m.PeerURLs)
		}
	}
	if err != nil {
		a.lg.Warn("conf change not applied to membership", zap.Uint64("member-id", node), zap.Error(err))
	}
	return &Result{Err: err}
}

func (a *Applier) applyRequest(b *pebble.Batch, r *pb.InternalRaftRequest) (*Result, []*mvccpb.Event, error) {
	if res, evs, handled, err := a.applyAuth(b, r); handled {
		return res, evs, err
	}
	if err := a.authRefused(r); err != nil {
		return &Result{Err: err}, nil, nil
	}
	if err := a.refused(r); err != nil {
		return &Result{Err: err}, nil, nil
	}
	switch {
	case r.Put != nil:
		tw := a.cfg.KV.Write(b)
		if err := checkPut(tw, r.Put, a.leases); err != nil {
			tw.End()
			return &Result{Err: err}, nil, nil
		}
		resp, err := put(tw, r.Put)
		if err != nil {
			return nil, nil, err
		}
		return a.endWrite(b, tw, resp, resp.Header)
	case r.DeleteRange != nil:
		tw := a.cfg.KV.Write(b)
		resp, err := deleteRange(tw, r.DeleteRange)
		if err != nil {
			return nil, nil, err
		}
		return a.endWrite(b, tw, resp, resp.Header)
	case r.Txn != nil:
		return a.applyTxn(b, r.Txn)
	case r.Compaction != nil:
		done, err := a.cfg.KV.Compact(b, r.Compaction.Revision)
		if err != nil {
			return &Result{Err: err}, nil, nil
		}
		tw := a.cfg.KV.Write(b)
		rev := tw.End()
		return &Result{Resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: rev}}, Physical: done}, nil, nil
	case r.LeaseGrant != nil:
		return a.applyLeaseGrant(b, r.LeaseGrant)
	case r.LeaseRevoke != nil:
		return a.applyLeaseRevoke(b, r.LeaseRevoke)
	case r.LeaseCheckpoint != nil:
		if a.cfg.Lessor != nil {
			for _, cp := range r.LeaseCheckpoint.Checkpoints {
				if err := a.cfg.Lessor.ApplyCheckpoint(b, cp.ID, cp.Remaining_TTL); err != nil {
					return nil, nil, err
				}
			}
		}
		return &Result{Resp: &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{}}}, nil, nil
	case r.Alarm != nil:
		return a.applyAlarm(b, r.Alarm)
	case r.ClusterMemberAttrSet != nil:
		s := r.ClusterMemberAttrSet
		err := a.cfg.Cluster.SetAttributes(b, s.GetMember_ID(), s.GetMemberAttributes().GetName(), s.GetMemberAttributes().GetClientUrls())
		return &Result{Err: err, Resp: &pb.EmptyResponse{}}, nil, nil
	}
	return &Result{Err: ErrUnknownRequest}, nil, nil
}

func (a *Applier) applyTxn(b *pebble.Batch, r *pb.TxnRequest) (*Result, []*mvccpb.Event, error) {
	tw := a.cfg.KV.Write(b)
	var path txnPath
	if err := evalPath(tw, r, &path); err != nil {
		tw.End()
		return &Result{Err: err}, nil, nil
	}
	i := 0
	if err := checkPath(tw, r, path, &i, a.leases); err != nil {
		tw.End()
		return &Result{Err: err}, nil, nil
	}
	i = 0
	resp, err := runPath(tw, tw, r, path, &i)
	if err != nil {
		// Every op was validated above; a failure now is storage trouble
		// and the batch may hold half a txn: stop the member.
		return nil, nil, err
	}
	evs := tw.Changes()
	setRevisions(resp, tw.End())
	if err := a.trackLeases(b, evs); err != nil {
		return nil, nil, err
	}
	return &Result{Resp: resp}, evs, nil
}

// endWrite ends a write txn: the response header gets its revision and the
// keys' lease attachments follow the changes.
func (a *Applier) endWrite(b *pebble.Batch, tw *mvcc.TxnWrite, resp proto.Message, h *pb.ResponseHeader) (*Result, []*mvccpb.Event, error) {
	evs := tw.Changes()
	h.Revision = tw.End()
	if err := a.trackLeases(b, evs); err != nil {
		return nil, nil, err
	}
	return &Result{Resp: resp}, evs, nil
}

// trackLeases keeps lease attachments in step with the keys written: a
// key leaves its old lease when overwritten or deleted and joins its new
// one.
func (a *Applier) trackLeases(b *pebble.Batch, evs []*mvccpb.Event) error {
	le := a.cfg.Lessor
	if le == nil {
		return nil
	}
	for _, ev := range evs {
		if p := ev.PrevKv; p != nil && p.Lease != 0 && (ev.Type == mvccpb.Event_DELETE || p.Lease != ev.Kv.Lease) {
			if err := le.Detach(b, p.Lease, p.Key); err != nil {
				return err
			}
		}
		if ev.Type == mvccpb.Event_PUT && ev.Kv.Lease != 0 && (ev.PrevKv == nil || ev.PrevKv.Lease != ev.Kv.Lease) {
			if err := le.Attach(b, ev.Kv.Lease, ev.Kv.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyLeaseGrant creates a lease (etcd's LeaseGrant; the API layer chose
// the ID). The TTL granted is raised to the minimum TTL.
func (a *Applier) applyLeaseGrant(b *pebble.Batch, r *pb.LeaseGrantRequest) (*Result, []*mvccpb.Event, error) {
	if a.cfg.Lessor == nil {
		return &Result{Err: ErrUnknownRequest}, nil, nil
	}
	ttl, err := a.cfg.Lessor.Grant(b, r.ID, r.TTL)
	if err != nil {
		return &Result{Err: err}, nil, nil
	}
	rev := a.cfg.KV.Write(b).End()
	return &Result{Resp: &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: rev}, ID: r.ID, TTL: ttl}}, nil, nil
}

// applyLeaseRevoke removes a lease and deletes all its keys in one
// revision (etcd's LeaseRevoke, also used for expiry).
func (a *Applier) applyLeaseRevoke(b *pebble.Batch, r *pb.LeaseRevokeRequest) (*Result, []*mvccpb.Event, error) {
	if a.cfg.Lessor == nil {
		return &Result{Err: lease.ErrLeaseNotFound}, nil, nil
	}
	keys, err := a.cfg.Lessor.Revoke(b, r.ID)
	if err != nil {
		return &Result{Err: err}, nil, nil
	}
	tw := a.cfg.KV.Write(b)
	for _, k := range keys {
		if _, err := tw.DeleteRange(k, nil); err != nil {
			return nil, nil, err
		}
	}
	evs := tw.Changes()
	rev := tw.End()
	return &Result{Resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: rev}}}, evs, nil
}

// view reads published state pinned at one revision.
type view struct {
	kv  *mvcc.Store
	ctx context.Context
	rev int64
}

func (v view) Range(key, end []byte, o mvcc.RangeOptions) (*mvcc.RangeResult, error) {
	if o.Rev <= 0 {
		o.Rev = v.rev
	}
	rr, err := v.kv.Range(v.ctx, key, end, o)
	if err != nil {
		return nil, err
	}
	rr.Rev = v.rev
	return rr, nil
}

// ReadRange serves a Range from published state (the caller has already
// waited for the read barrier if it is linearizable).
func ReadRange(ctx context.Context, kv *mvcc.Store, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	return Range(view{kv: kv, ctx: ctx, rev: kv.Rev()}, r)
}

// ReadTxn serves a read-only txn (IsReadOnlyTxn) from published state: all
// compares and ranges see one revision.
func ReadTxn(ctx context.Context, kv *mvcc.Store, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	v := view{kv: kv, ctx: ctx, rev: kv.Rev()}
	var path txnPath
	if err := evalPath(v, r, &path); err != nil {
		return nil, err
	}
	i := 0
	if err := checkPath(v, r, path, &i, nil); err != nil {
		return nil, err
	}
	i = 0
	resp, err := runPath(v, nil, r, path, &i)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = v.rev
	return resp, nil
}
