package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/url"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
)

// leaderConns caches gRPC connections to other members' client URLs, used
// to forward lease requests that only the leader can answer.
type leaderConns struct {
	mu    sync.Mutex // guards conns
	conns map[uint64]*grpc.ClientConn
}

// leaderClient returns a Lease client of the current leader, or
// ErrNoLeader.
func (s *Server) leaderClient(ctx context.Context) (pb.LeaseClient, error) {
	c, err := s.leaderConn(ctx)
	if err != nil {
		return nil, err
	}
	return pb.NewLeaseClient(c), nil
}

// leaderConn returns a connection to the current leader's client URL, or
// ErrNoLeader. A just-elected leader may not have published its client
// URLs yet: wait for them until ctx ends.
func (s *Server) leaderConn(ctx context.Context) (*grpc.ClientConn, error) {
	var st RaftStatus
	var m membership.Member
	for {
		st = s.cfg.Raft.Status()
		var ok bool
		if st.Leader != 0 {
			m, ok = s.cfg.Cluster.Member(st.Leader)
		}
		if ok && len(m.ClientURLs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ErrNoLeader
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.lc.mu.Lock()
	defer s.lc.mu.Unlock()
	if s.lc.conns == nil {
		s.lc.conns = map[uint64]*grpc.ClientConn{}
	}
	if c := s.lc.conns[st.Leader]; c != nil {
		return c, nil
	}
	u, err := url.Parse(m.ClientURLs[0])
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		t := s.cfg.ForwardTLS
		if t == nil {
			t = &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- member-to-member, identity checked by cluster membership
		}
		creds = credentials.NewTLS(t)
	}
	c, err := grpc.NewClient("passthrough:///"+u.Host, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	s.lc.conns[st.Leader] = c
	return c, nil
}

// CloseForwarding closes the connections used to forward to the leader.
func (s *Server) CloseForwarding() {
	s.lc.mu.Lock()
	defer s.lc.mu.Unlock()
	for id, c := range s.lc.conns {
		c.Close()
		delete(s.lc.conns, id)
	}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// localLeader reports whether this member leads and its lessor tracks
// expiry; a new leader's lessor becomes primary shortly after election.
func (s *Server) localLeader(ctx context.Context) bool {
	for {
		if !s.cfg.Raft.Status().IsLeader {
			return false
		}
		if s.cfg.Lessor.IsPrimary() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// LeaseGrant serves etcd's Lease.LeaseGrant: TTL in seconds (raised to the
// minimum TTL); ID 0 lets the server choose. ErrGRPCLeaseTTLTooLarge above
// 9 000 000 000 s; ErrGRPCLeaseExist for a taken ID.
func (s *Server) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.TTL > lease.MaxLeaseTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	req := &pb.LeaseGrantRequest{TTL: r.TTL, ID: r.ID}
	if req.ID == 0 {
		req.ID = int64(s.ids.next() & (1<<63 - 1))
	}
	if err := s.checkQuota(ctx, req); err != nil {
		return nil, err
	}
	return proposeWrite[*pb.LeaseGrantResponse](ctx, s, &pb.InternalRaftRequest{LeaseGrant: req})
}

// LeaseRevoke serves etcd's Lease.LeaseRevoke: the lease and all its keys
// go in one revision. ErrGRPCLeaseNotFound if unknown.
//
// With auth enabled the caller needs write permission on every key
// attached (checked here and again in the apply loop), as etcd.
func (s *Server) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	if err := s.checkLeaseAuth(ctx, r.ID, false); err != nil {
		return nil, err
	}
	return proposeWrite[*pb.LeaseRevokeResponse](ctx, s, &pb.InternalRaftRequest{LeaseRevoke: r})
}

// LeaseTimeToLive serves etcd's Lease.LeaseTimeToLive: answered by the
// leader (followers forward); an unknown lease gets TTL -1, as etcd.
//
// With auth enabled the caller must be a user, and with r.Keys needs read
// permission on every attached key, as etcd 3.7.
func (s *Server) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	if r.Keys {
		if err := s.checkLeaseAuth(ctx, r.ID, true); err != nil {
			return nil, err
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if !s.localLeader(cctx) {
		lc, err := s.leaderClient(cctx)
		if err != nil {
			return nil, toGRPC(err)
		}
		return lc.LeaseTimeToLive(forwardCtx(ctx, cctx), r)
	}
	granted, remaining, keys, err := s.cfg.Lessor.TimeToLive(r.ID, s.now())
	if errors.Is(err, lease.ErrLeaseNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: s.header(s.cfg.KV.Rev()), ID: r.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPC(err)
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: s.header(s.cfg.KV.Rev()), ID: r.ID, TTL: remaining, GrantedTTL: granted}
	if r.Keys {
		resp.Keys = keys
	}
	return resp, nil
}

// LeaseLeases serves etcd's Lease.LeaseLeases from this member's lessor.
//
// With auth enabled a caller without the root role needs read permission
// on every key attached to any lease, as etcd 3.7.
func (s *Server) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	ids := s.cfg.Lessor.Leases()
	for _, id := range ids {
		if err := s.checkLeaseAuth(ctx, id, true); err != nil {
			return nil, err
		}
	}
	resp := &pb.LeaseLeasesResponse{Header: s.header(s.cfg.KV.Rev()), Leases: make([]*pb.LeaseStatus, len(ids))}
	for i, id := range ids {
		resp.Leases[i] = &pb.LeaseStatus{ID: id}
	}
	return resp, nil
}

// LeaseKeepAlive serves etcd's Lease.LeaseKeepAlive stream: each request
// renews the lease on the leader (followers forward on one stream to the
// leader) and is answered with the TTL; an unknown or expired lease gets
// TTL 0.
func (s *Server) LeaseKeepAlive(stream grpc.BidiStreamingServer[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	ctx := stream.Context()
	var fwd grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]
	var fwdCancel context.CancelFunc
	defer func() {
		if fwdCancel != nil {
			fwdCancel()
		}
	}()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// As etcd 3.7: a user, with write permission on the lease's keys.
		if err := s.checkLeaseAuth(ctx, req.ID, false); err != nil {
			return err
		}
		var resp *pb.LeaseKeepAliveResponse
		for attempt := 0; resp == nil; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
			rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
			local := s.localLeader(rctx)
			cancel()
			if local {
				if fwdCancel != nil {
					fwdCancel()
					fwd, fwdCancel = nil, nil
				}
				ttl, err := s.cfg.Lessor.Renew(req.ID, s.now())
				if err != nil {
					if !errors.Is(err, lease.ErrLeaseNotFound) {
						continue // lost leadership meanwhile: try again
					}
					ttl = 0
				}
				resp = &pb.LeaseKeepAliveResponse{Header: s.header(s.cfg.KV.Rev()), ID: req.ID, TTL: ttl}
				break
			}
			if attempt*50*int(time.Millisecond) > int(s.cfg.RequestTimeout) {
				return toGRPC(ErrNoLeader)
			}
			if fwd == nil {
				lctx, lcancel := context.WithTimeout(ctx, time.Second)
				lc, err := s.leaderClient(lctx)
				lcancel()
				if err != nil {
					continue
				}
				fctx, c := context.WithCancel(forwardCtx(ctx, ctx))
				f, err := lc.LeaseKeepAlive(fctx)
				if err != nil {
					c()
					continue
				}
				fwd, fwdCancel = f, c
			}
			if err := fwd.Send(req); err != nil {
				fwdCancel()
				fwd, fwdCancel = nil, nil
				continue
			}
			r, err := fwd.Recv()
			if err != nil {
				fwdCancel()
				fwd, fwdCancel = nil, nil
				continue
			}
			resp = r
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// checkLeaseAuth refuses, while auth is enabled, an anonymous caller and a
// caller without permission (read if read, else write) on a key attached
// to lease id; root may do all.
func (s *Server) checkLeaseAuth(ctx context.Context, id int64, read bool) error {
	return s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error {
		if ai.Username == "" {
			return auth.ErrUserEmpty
		}
		return s.checkLeaseKeys(st, ai, id, read)
	})
}

// forwardCtx is out carrying the caller's token from the incoming context
// in, so that a request forwarded to the leader is authorised there as
// the caller.
func forwardCtx(in, out context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(in)
	if !ok {
		return out
	}
	for _, k := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if v := md.Get(k); len(v) > 0 {
			return metadata.AppendToOutgoingContext(out, rpctypes.TokenFieldNameGRPC, v[0])
		}
	}
	return out
}
