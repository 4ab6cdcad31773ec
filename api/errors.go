package api

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
)

// toGRPC translates an internal error into etcd's gRPC status. Errors that
// already are gRPC statuses (rpctypes values) pass through.
func toGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if g, ok := authErrToGRPC(err); ok {
		return g
	}
	switch {
	case errors.Is(err, mvcc.ErrCompacted):
		return rpctypes.ErrGRPCCompacted
	case errors.Is(err, mvcc.ErrFutureRev):
		return rpctypes.ErrGRPCFutureRev
	case errors.Is(err, apply.ErrKeyNotFound):
		return rpctypes.ErrGRPCKeyNotFound
	case errors.Is(err, apply.ErrNoSpace):
		return rpctypes.ErrGRPCNoSpace
	case errors.Is(err, apply.ErrCorrupt):
		return rpctypes.ErrGRPCCorrupt
	case errors.Is(err, apply.ErrLeaseNotFound):
		return rpctypes.ErrGRPCLeaseNotFound
	case errors.Is(err, lease.ErrLeaseNotFound):
		return rpctypes.ErrGRPCLeaseNotFound
	case errors.Is(err, lease.ErrLeaseExists):
		return rpctypes.ErrGRPCLeaseExist
	case errors.Is(err, lease.ErrLeaseTTLTooLarge):
		return rpctypes.ErrGRPCLeaseTTLTooLarge
	case errors.Is(err, ErrNoLeader):
		return rpctypes.ErrGRPCNoLeader
	case errors.Is(err, ErrStopped):
		return rpctypes.ErrGRPCStopped
	case errors.Is(err, ErrTimeout):
		return rpctypes.ErrGRPCTimeout
	case errors.Is(err, membership.ErrMemberNotFound):
		return rpctypes.ErrGRPCMemberNotFound
	case errors.Is(err, membership.ErrIDExists):
		return rpctypes.ErrGRPCMemberExist
	case errors.Is(err, membership.ErrPeerURLExists):
		return rpctypes.ErrGRPCPeerURLExist
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
