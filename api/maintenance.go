package api

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"

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
	resp.Errors = append(resp.Errors, s.alarmErrors()...)
	return resp, nil
}

// Defragment serves etcd's Maintenance.Defragment. Concord's storage
// reclaims space by background compaction; this waits until the last MVCC
// compaction's versions are physically deleted, then asks the engine to
// compact everything now, without blocking reads or writes, so that the
// database size (and the NOSPACE quota check) drops as etcd's does after
// compact + defrag.
func (s *Server) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := s.cfg.KV.WaitCompaction(ctx); err != nil {
		return nil, toGRPC(err)
	}
	if s.cfg.Defragment != nil {
		done := s.cfg.Metrics.defragStarted()
		err := s.cfg.Defragment(ctx)
		done()
		if err != nil {
			return nil, toGRPC(err)
		}
	}
	s.size.invalidate()
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

// TransferLeadershipOnStop hands leadership to the most caught-up connected
// voter when this member is the leader of a multi-voter cluster and is
// stopping, as etcd's graceful stop does, so the others elect no one and
// wait out no election timeout. It returns at once on a follower, and
// gives up (logging why) when ctx ends first; the stop goes on either way.
func (s *Server) TransferLeadershipOnStop(ctx context.Context) {
	st := s.cfg.Raft.Status()
	if !st.IsLeader {
		return
	}
	var target, best uint64
	for _, m := range s.cfg.Cluster.Members() {
		if m.ID == s.cfg.MemberID || m.IsLearner || s.cfg.Raft.ActiveSince(m.ID).IsZero() {
			continue
		}
		match, _, err := s.cfg.Raft.Match(ctx, m.ID)
		if err != nil {
			continue
		}
		if target == 0 || match > best {
			target, best = m.ID, match
		}
	}
	if target == 0 {
		return
	}
	s.lg.Info("leadership transfer starting", zap.String("current-leader-member-id", fmt.Sprintf("%x", s.cfg.MemberID)),
		zap.String("transferee-member-id", fmt.Sprintf("%x", target)))
	if err := s.cfg.Raft.TransferLeadership(ctx, target); err != nil {
		s.lg.Warn("leadership transfer failed", zap.String("transferee-member-id", fmt.Sprintf("%x", target)), zap.Error(err))
		return
	}
	s.lg.Info("leadership transfer finished", zap.String("old-leader-member-id", fmt.Sprintf("%x", s.cfg.MemberID)),
		zap.String("new-leader-member-id", fmt.Sprintf("%x", target)))
}
