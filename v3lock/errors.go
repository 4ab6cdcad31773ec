package v3lock

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrMissingLeaderKey is returned (as codes.Unknown) by Proclaim and Resign
// when the request has no leader field. The text is etcd's, unprefixed, so
// clients that match on it keep working.
var ErrMissingLeaderKey = errors.New(`"leader" field must be provided`)

// toStatus turns an error from the concurrency recipes or the inner client
// into the error the RPC returns, as etcd's services return it: gRPC
// statuses pass through, context errors become their context status, and
// anything else, rpctypes errors included, becomes codes.Unknown with the
// error's text (etcd's in-process client has already turned its statuses
// into rpctypes.EtcdError values, which carry no gRPC status).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return status.Error(codes.Unknown, ee.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// forwardedMD lists the incoming metadata keys that are copied onto the
// inner client's requests: the caller's auth token and its require-leader
// flag.
var forwardedMD = []string{rpctypes.TokenFieldNameGRPC, rpctypes.MetadataRequireLeaderKey}

// outgoing returns ctx carrying the caller's forwarded metadata as outgoing
// metadata for the inner client.
func outgoing(ctx context.Context) context.Context {
	in, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	var kv []string
	for _, k := range forwardedMD {
		for _, v := range in.Get(k) {
			kv = append(kv, k, v)
		}
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}
