package api

import (
	"context"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/watch"
)

var (
	// ErrNoLeader: the member knows no leader (maps to etcd's "no leader").
	ErrNoLeader = errors.New("api: no leader")
	// ErrStopped: the member is shutting down ("server stopped").
	ErrStopped = errors.New("api: server stopped")
	// ErrNotLeader: the request must be served by the leader.
	ErrNotLeader = errors.New("api: not leader")
	// ErrTimeout: a proposal or read barrier did not finish within the
	// request timeout ("request timed out").
	ErrTimeout = errors.New("api: request timed out")
)

// RaftStatus is the part of the raft node's state the API reports.
type RaftStatus struct {
	Leader, Term, CommitIndex uint64
	IsLeader, IsLearner       bool
}

// Raft is what the API needs of the raft node. Implementations return
// ErrNoLeader / ErrStopped (wrapped or not) for those conditions.
type Raft interface {
	Propose(ctx context.Context, data []byte) error
	ProposeConfChange(ctx context.Context, cc raftpb.ConfChangeI) error
	ReadIndex(ctx context.Context) (uint64, error)
	Status() RaftStatus
	TransferLeadership(ctx context.Context, target uint64) error
	// LeaderChanged returns a channel closed at the next leader change.
	LeaderChanged() <-chan struct{}
	// Match returns, on the leader, member id's raft match index and the
	// leader's own; ErrNotLeader on a follower.
	Match(ctx context.Context, id uint64) (match, leaderMatch uint64, err error)
	// ActiveSince returns since when the stream to peer id has been
	// connected; the zero time if it is down.
	ActiveSince(id uint64) time.Time
}

// Config configures the services.
type Config struct {
	MemberID, ClusterID uint64
	Raft                Raft
	Applier             *apply.Applier
	KV                  *mvcc.Store
	Cluster             *membership.Cluster
	Watch               *watch.Hub
	Lessor              *lease.Lessor
	// Now is the clock for lease time-to-live; nil means time.Now.
	Now func() time.Time
	// PeerTLS dials peers' URLs for the corruption checks' hashes (nil:
	// plain http).
	PeerTLS *tls.Config
	// ForwardTLS is used to reach the leader's https client URL when
	// forwarding lease requests; nil skips verification.
	ForwardTLS *tls.Config
	Logger     *zap.Logger
	// MaxRequestBytes is --max-request-bytes: a marshalled proposal larger
	// than this fails with "etcdserver: request is too large".
	MaxRequestBytes int
	// StrictReconfigCheck is --strict-reconfig-check: refuse membership
	// changes that could cost quorum, as etcd (see reconfigCheck).
	StrictReconfigCheck bool
	// MaxTxnOps is --max-txn-ops (128).
	MaxTxnOps int
	// RequestTimeout bounds proposals and read barriers (etcd: 5s + 2 ×
	// election timeout).
	RequestTimeout time.Duration
	// Version is the etcd API version reported by Status (e.g. "3.6.0").
	Version string
	// QuotaBackendBytes is the backend quota in bytes (resolved as
	// alarm.QuotaBytes: negative disables it), reported as
	// Status.dbSizeQuota: a Put, Txn or LeaseGrant that would take DBSize's
	// size to it is refused with NOSPACE.
	QuotaBackendBytes int64
	// Alarms is the cluster's alarm store (the apply loop writes it);
	// Status lists it in its errors and /health reports it. Nil: none.
	Alarms *alarm.Store
	// DBSize returns the physical size and the estimated in-use size of the
	// storage in bytes.
	DBSize func() (size, inUse int64)
	// Defragment, if set, reclaims storage space (Maintenance.Defragment).
	Defragment func(context.Context) error
	// DB is the member's engine, read by Maintenance.Snapshot; nil makes
	// Snapshot answer Unimplemented.
	DB *pebble.DB
	// SnapshotDir is where Maintenance.Snapshot builds the etcd database it
	// streams (a temporary file, removed after); empty means os.TempDir().
	SnapshotDir string
	// ClientURLs are this member's advertised client URLs.
	ClientURLs []string
	// Metrics, if set, counts proposals pending (see Metrics); the gRPC
	// server takes its ServerOptions.
	Metrics *Metrics
	// Auth is the member's auth store (users, roles, tokens); nil serves
	// without access control and answers the Auth RPCs with
	// "authentication is not enabled".
	Auth *auth.Store
}

// Server implements the gRPC services.
type Server struct {
	pb.UnimplementedKVServer
	pb.UnimplementedMaintenanceServer
	pb.UnimplementedClusterServer
	pb.UnimplementedWatchServer
	pb.UnimplementedLeaseServer
	// Every Auth RPC is implemented (auth.go); a new one fails to compile.
	pb.UnsafeAuthServer

	cfg Config
	lg  *zap.Logger
	ids idGenerator
	lc  leaderConns

	size  *sizeCache
	quota *alarm.Quota
}

// New returns the services over cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = 128
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 7 * time.Second
	}
	s := &Server{cfg: cfg, lg: cfg.Logger}
	s.ids.init(cfg.MemberID, time.Now())
	s.size = &sizeCache{size: cfg.DBSize, now: s.now}
	s.quota = &alarm.Quota{Bytes: cfg.QuotaBackendBytes, Size: s.size.get}
	if cfg.DBSize == nil {
		s.quota.Bytes = -1
	}
	s.logQuota()
	return s
}

// idGenerator makes request IDs unique across members and restarts as
// etcd does: the low 16 bits of the member ID, then a millisecond clock
// read at start, then a counter.
type idGenerator struct {
	prefix uint64
	suffix atomic.Uint64
}

func (g *idGenerator) init(member uint64, now time.Time) {
	g.prefix = (member & 0xffff) << 48
	g.suffix.Store((uint64(now.UnixMilli()) & 0xffffffffff) << 8)
}

func (g *idGenerator) next() uint64 {
	return g.prefix | (g.suffix.Add(1) & (1<<48 - 1))
}

// Header returns a response header for revision rev with this member's
// cluster ID, member ID and raft term.
func (s *Server) Header(rev int64) *pb.ResponseHeader { return s.header(rev) }

func (s *Server) header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.cfg.ClusterID, MemberId: s.cfg.MemberID, Revision: rev, RaftTerm: s.cfg.Raft.Status().Term}
}

// fillHeader completes a header the applier produced (revision set).
func (s *Server) fillHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		return s.header(s.cfg.KV.Rev())
	}
	h.ClusterId, h.MemberId, h.RaftTerm = s.cfg.ClusterID, s.cfg.MemberID, s.cfg.Raft.Status().Term
	return h
}

// propose replicates r and waits until this member applied it. While
// auth is enabled the header names the caller of ctx and the auth revision
// its token was checked at, so the apply loop authorises the entry
// against the auth state it is applied in.
func (s *Server) propose(ctx context.Context, r *pb.InternalRaftRequest) (*apply.Result, error) {
	id := s.ids.next()
	h := &pb.RequestHeader{ID: id}
	if r.Authenticate != nil && r.Header != nil {
		h.AuthRevision = r.Header.AuthRevision // the revision the password was checked at
	}
	r.Header = h
	if s.cfg.Auth != nil && s.cfg.Auth.Enabled() && r.Authenticate == nil {
		if internalCall(ctx) {
			r.Header.Username, r.Header.AuthRevision = auth.RootUser, s.cfg.Auth.Revision()
		} else {
			ai, err := s.callerFrom(ctx)
			if err != nil {
				return nil, err
			}
			if ai != nil {
				r.Header.Username, r.Header.AuthRevision = ai.Username, ai.Revision
			}
		}
	}
	data, err := proto.Marshal(r)
	if err != nil {
		return nil, err
	}
	if s.cfg.MaxRequestBytes > 0 && len(data) > s.cfg.MaxRequestBytes {
		return nil, rpctypes.ErrGRPCRequestTooLarge
	}
	s.cfg.Metrics.proposalStarted()
	defer s.cfg.Metrics.proposalDone()
	ch := s.cfg.Applier.Register(id)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.cfg.Raft.Propose(cctx, data); err != nil {
		s.cfg.Applier.Unregister(id)
		return nil, s.ctxErr(ctx, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-cctx.Done():
		s.cfg.Applier.Unregister(id)
		return nil, s.ctxErr(ctx, cctx.Err())
	}
}

// ctxErr turns the expiry of the internal request timeout into
// ErrTimeout while keeping the caller's own cancellation as it is.
func (s *Server) ctxErr(parent context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if parent.Err() != nil {
			return parent.Err()
		}
		if s.cfg.Raft.Status().Leader == 0 {
			return ErrNoLeader
		}
		return ErrTimeout
	}
	return err
}

// linearizableBarrier waits until this member has applied everything
// committed before the call (ReadIndex, then wait for the applied index).
func (s *Server) linearizableBarrier(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	idx, err := s.cfg.Raft.ReadIndex(cctx)
	if err != nil {
		return s.ctxErr(ctx, err)
	}
	if err := s.cfg.Applier.WaitApplied(cctx, idx); err != nil {
		return s.ctxErr(ctx, err)
	}
	return nil
}

// internalKey marks a context of the member's own proposals.
type internalKey struct{}

// asMember marks ctx as the member's own (lease expiry, checkpoints,
// published attributes, alarms it raises): its proposals are authorised
// as the root user, as etcd's are.
func asMember(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func internalCall(ctx context.Context) bool {
	v, _ := ctx.Value(internalKey{}).(bool)
	return v
}

// ProposeInternal replicates an internal request (such as this member's
// published attributes) and waits until this member applied it; it is
// authorised as the member itself (root), never as a client.
func (s *Server) ProposeInternal(ctx context.Context, r *pb.InternalRaftRequest) error {
	res, err := s.propose(asMember(ctx), r)
	if err != nil {
		return err
	}
	return res.Err
}

// Barrier waits until this member has applied everything committed before
// the call (a ReadIndex round), bounded by the request timeout.
func (s *Server) Barrier(ctx context.Context) error {
	return s.linearizableBarrier(ctx)
}
