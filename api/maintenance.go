package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/membership"
)

// Status serves etcd's Maintenance.Status for this member.
func (s *Server) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.cfg.Raft.Status()
	resp := &pb.StatusResponse{
		Header:           s.header(s.cfg.KV.Rev()),
		Version:          s.cfg.Version,
		StorageVersion:   s.cfg.Version,
		Leader:           st.Leader,
		RaftIndex:        st.CommitIndex,
		RaftTerm:         st.Term,
		RaftAppliedIndex: s.cfg.Applier.Applied().Index,
		IsLearner:        st.IsLearner,
		DbSizeQuota:      s.cfg.QuotaBackendBytes,
	}
	if s.cfg.DBSize != nil {
		resp.DbSize, resp.DbSizeInUse = s.cfg.DBSize()
	}
	if st.Leader == 0 {
		resp.Errors = append(resp.Errors, rpctypes.ErrGRPCNoLeader.Error())
	}
	return resp, nil
}

// Alarm serves etcd's Maintenance.Alarm. Concord raises no alarms yet
// (no NOSPACE, no CORRUPT), so GET and DEACTIVATE answer with none.
func (s *Server) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	switch r.Action {
	case pb.AlarmRequest_GET, pb.AlarmRequest_DEACTIVATE:
		return &pb.AlarmResponse{Header: s.header(s.cfg.KV.Rev())}, nil
	}
	return nil, status.Error(codes.Unimplemented, "concord: raising alarms by request is not supported")
}

// Defragment serves etcd's Maintenance.Defragment. Concord's storage
// reclaims space by background compaction; this asks the engine to compact
// everything now, without blocking reads or writes.
func (s *Server) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if s.cfg.Defragment != nil {
		done := s.cfg.Metrics.defragStarted()
		err := s.cfg.Defragment(ctx)
		done()
		if err != nil {
			return nil, toGRPC(err)
		}
	}
	return &pb.DefragmentResponse{Header: s.header(s.cfg.KV.Rev())}, nil
}

// HashKV serves etcd's Maintenance.HashKV: a hash of the MVCC history up
// to r.Revision (0: current), equal on members with the same history.
func (s *Server) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, hashRev, compactRev, err := s.cfg.KV.HashKV(r.Revision)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &pb.HashKVResponse{Header: s.header(s.cfg.KV.Rev()), Hash: h, CompactRevision: compactRev, HashRevision: hashRev}, nil
}

// MoveLeader serves etcd's Maintenance.MoveLeader: only the leader can
// hand leadership to a voting member.
func (s *Server) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	st := s.cfg.Raft.Status()
	if !st.IsLeader {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	m, ok := s.cfg.Cluster.Member(r.TargetID)
	if !ok || m.IsLearner {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.cfg.Raft.TransferLeadership(cctx, r.TargetID); err != nil {
		return nil, toGRPC(s.ctxErr(ctx, err))
	}
	return &pb.MoveLeaderResponse{Header: s.header(s.cfg.KV.Rev())}, nil
}

func memberPB(m membership.Member) *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}
