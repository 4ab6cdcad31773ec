package api

import (
	"context"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// requireLeader reports whether the caller asked, with etcd's "hasleader"
// metadata, to be refused when the member has no leader.
func requireLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	vs := md.Get(rpctypes.MetadataRequireLeaderKey)
	return len(vs) > 0 && vs[0] == rpctypes.MetadataHasLeader
}

// UnaryInterceptor refuses calls carrying hasleader=true while the member
// has no leader, with etcd's "no leader" error, then applies the method's
// access rule (see authorize) and hands the caller to the handler.
func (s *Server) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if requireLeader(ctx) && s.cfg.Raft.Status().Leader == 0 {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamInterceptor is UnaryInterceptor for streams.
func (s *Server) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if requireLeader(ss.Context()) && s.cfg.Raft.Status().Leader == 0 {
		return rpctypes.ErrGRPCNoLeader
	}
	if err := s.authorizeStream(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
