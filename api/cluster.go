package api

import (
	"context"
	"errors"
	"net/url"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/concord-kv/concord/membership"
)

// MemberList serves etcd's Cluster.MemberList; with r.Linearizable it
// first waits for the read barrier.
func (s *Server) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if r.Linearizable {
		if err := s.linearizableBarrier(ctx); err != nil {
			return nil, toGRPC(err)
		}
	}
	return &pb.MemberListResponse{Header: s.header(s.cfg.KV.Rev()), Members: s.members()}, nil
}

func (s *Server) members() []*pb.Member {
	ms := s.cfg.Cluster.Members()
	out := make([]*pb.Member, len(ms))
	for i, m := range ms {
		out[i] = memberPB(m)
	}
	return out
}

func validURLs(us []string) bool {
	if len(us) == 0 {
		return false
	}
	for _, u := range us {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https" && p.Scheme != "unix" && p.Scheme != "unixs") {
			return false
		}
	}
	return true
}

// confChange proposes cc and waits until this member applied it.
func (s *Server) confChange(ctx context.Context, cc *raftpb.ConfChange) error {
	ch := s.cfg.Applier.Register(cc.GetId())
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.cfg.Raft.ProposeConfChange(cctx, cc); err != nil {
		s.cfg.Applier.Unregister(cc.GetId())
		return s.ctxErr(ctx, err)
	}
	select {
	case res := <-ch:
		return res.Err
	case <-cctx.Done():
		s.cfg.Applier.Unregister(cc.GetId())
		return s.ctxErr(ctx, cctx.Err())
	}
}

// MemberAdd serves etcd's Cluster.MemberAdd (voter or learner).
func (s *Server) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if !validURLs(r.PeerURLs) {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	now := time.Now()
	m := &membership.Member{ID: membership.ComputeMemberID(r.PeerURLs, "", &now), PeerURLs: r.PeerURLs, IsLearner: r.IsLearner}
	for _, o := range s.cfg.Cluster.Members() {
		for _, u := range o.PeerURLs {
			for _, v := range r.PeerURLs {
				if u == v {
					return nil, rpctypes.ErrGRPCPeerURLExist
				}
			}
		}
	}
	if err := s.checkReconfig(func(c reconfigCheck) error { return c.add(r.IsLearner) }); err != nil {
		return nil, err
	}
	t := raftpb.ConfChangeAddNode
	if r.IsLearner {
		t = raftpb.ConfChangeAddLearnerNode
	}
	cc := &raftpb.ConfChange{Id: new(s.ids.next()), Type: &t, NodeId: &m.ID, Context: m.Marshal()}
	if err := s.confChange(ctx, cc); err != nil {
		return nil, toGRPC(err)
	}
	return &pb.MemberAddResponse{Header: s.header(s.cfg.KV.Rev()), Member: memberPB(*m), Members: s.members()}, nil
}

// MemberRemove serves etcd's Cluster.MemberRemove.
func (s *Server) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	if _, ok := s.cfg.Cluster.Member(r.ID); !ok {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	if err := s.checkReconfig(func(c reconfigCheck) error { return c.remove(r.ID) }); err != nil {
		return nil, err
	}
	t := raftpb.ConfChangeRemoveNode
	cc := &raftpb.ConfChange{Id: new(s.ids.next()), Type: &t, NodeId: &r.ID}
	if err := s.confChange(ctx, cc); err != nil {
		return nil, toGRPC(err)
	}
	return &pb.MemberRemoveResponse{Header: s.header(s.cfg.KV.Rev()), Members: s.members()}, nil
}

// MemberUpdate serves etcd's Cluster.MemberUpdate (peer URLs).
func (s *Server) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if !validURLs(r.PeerURLs) {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	m, ok := s.cfg.Cluster.Member(r.ID)
	if !ok {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	m.PeerURLs = r.PeerURLs
	t := raftpb.ConfChangeUpdateNode
	cc := &raftpb.ConfChange{Id: new(s.ids.next()), Type: &t, NodeId: &r.ID, Context: m.Marshal()}
	if err := s.confChange(ctx, cc); err != nil {
		return nil, toGRPC(err)
	}
	return &pb.MemberUpdateResponse{Header: s.header(s.cfg.KV.Rev()), Members: s.members()}, nil
}

// MemberPromote serves etcd's Cluster.MemberPromote: a learner becomes a
// voter.
func (s *Server) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	m, ok := s.cfg.Cluster.Member(r.ID)
	if !ok {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	if !m.IsLearner {
		return nil, rpctypes.ErrGRPCMemberNotLearner
	}
	// As etcd: only a learner whose log matches at least 90% of the
	// leader's may become a voter; the leader decides, followers forward.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	match, leaderMatch, err := s.cfg.Raft.Match(cctx, r.ID)
	if errors.Is(err, ErrNotLeader) {
		conn, err := s.leaderConn(cctx)
		if err != nil {
			return nil, toGRPC(err)
		}
		return pb.NewClusterClient(conn).MemberPromote(forwardCtx(ctx, cctx), r)
	}
	if err != nil {
		return nil, toGRPC(s.ctxErr(ctx, err))
	}
	if float64(match) < float64(leaderMatch)*0.9 {
		s.cfg.Metrics.promoted(rpctypes.ErrGRPCLearnerNotReady)
		return nil, rpctypes.ErrGRPCLearnerNotReady
	}
	if err := s.checkReconfig(reconfigCheck.promote); err != nil {
		s.cfg.Metrics.promoted(err)
		return nil, err
	}
	t := raftpb.ConfChangeAddNode
	cc := &raftpb.ConfChange{Id: new(s.ids.next()), Type: &t, NodeId: &r.ID, Context: m.Marshal()}
	if err := s.confChange(ctx, cc); err != nil {
		s.cfg.Metrics.promoted(err)
		return nil, toGRPC(err)
	}
	s.cfg.Metrics.promoted(nil)
	return &pb.MemberPromoteResponse{Header: s.header(s.cfg.KV.Rev()), Members: s.members()}, nil
}

// checkReconfig runs one of the --strict-reconfig-check rules against the
// current members and this member's peer connections; nil when the flag
// is off.
func (s *Server) checkReconfig(rule func(reconfigCheck) error) error {
	if !s.cfg.StrictReconfigCheck {
		return nil
	}
	return rule(reconfigCheck{
		members:     s.cfg.Cluster.Members(),
		self:        s.cfg.MemberID,
		activeSince: s.cfg.Raft.ActiveSince,
		now:         time.Now(),
	})
}
