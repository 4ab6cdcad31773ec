package api

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"

	"github.com/concord-kv/concord/apply"
	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/mvcc"
)

// Range serves etcd's KV.Range: linearizable unless r.Serializable.
func (s *Server) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	authRev := s.authRevision()
	if err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return checkRangeAuth(st, ai, r) }); err != nil {
		return nil, err
	}
	if !r.Serializable {
		if err := s.linearizableBarrier(ctx); err != nil {
			return nil, toGRPC(err)
		}
	}
	start := time.Now()
	resp, err := apply.ReadRange(ctx, s.cfg.KV, r)
	s.cfg.Metrics.observeRange(time.Since(start), err)
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := s.authUnchanged(authRev); err != nil {
		return nil, err
	}
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}

// rangeStreamChunk is the number of KVs sent per RangeStream message.
const rangeStreamChunk = 1000

// RangeStream serves the 3.7 KV.RangeStream: the result of Range cut into
// chunks; header, count and more come with the last chunk. Plain key-order
// ranges are streamed from storage without materialising the result.
func (s *Server) RangeStream(r *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	ctx := stream.Context()
	if err := checkRange(r); err != nil {
		return err
	}
	if err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return checkRangeAuth(st, ai, r) }); err != nil {
		return err
	}
	if !r.Serializable {
		if err := s.linearizableBarrier(ctx); err != nil {
			return toGRPC(err)
		}
	}
	plain := (r.SortOrder == pb.RangeRequest_NONE || (r.SortOrder == pb.RangeRequest_ASCEND && r.SortTarget == pb.RangeRequest_KEY)) &&
		r.MinModRevision == 0 && r.MaxModRevision == 0 && r.MinCreateRevision == 0 && r.MaxCreateRevision == 0
	if !plain || r.CountOnly {
		resp, err := apply.ReadRange(ctx, s.cfg.KV, r)
		if err != nil {
			return toGRPC(err)
		}
		kvs := resp.Kvs
		for len(kvs) > rangeStreamChunk {
			if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: kvs[:rangeStreamChunk]}}); err != nil {
				return err
			}
			kvs = kvs[rangeStreamChunk:]
		}
		resp.Kvs = kvs
		resp.Header = s.fillHeader(resp.Header)
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: resp})
	}
	rev := r.Revision
	if rev <= 0 {
		rev = s.cfg.KV.Rev()
	}
	limit := r.Limit
	if limit > 0 {
		limit++
	}
	var chunk []*mvccpb.KeyValue
	var sent int64
	more := false
	_, count, err := s.cfg.KV.RangeStream(ctx, r.Key, r.RangeEnd, mvcc.RangeOptions{Rev: rev, Limit: limit}, func(kv *mvccpb.KeyValue) error {
		if r.Limit > 0 && sent == r.Limit {
			more = true
			return nil
		}
		if r.KeysOnly {
			kv.Value = nil // the store hands out a fresh KeyValue per call
		}
		chunk = append(chunk, kv)
		sent++
		if len(chunk) == rangeStreamChunk {
			if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: chunk}}); err != nil {
				return err
			}
			chunk = nil
		}
		return nil
	})
	if err != nil {
		return toGRPC(err)
	}
	last := &pb.RangeResponse{Kvs: chunk, Count: count, More: more, Header: s.header(s.cfg.KV.Rev())}
	return stream.Send(&pb.RangeStreamResponse{RangeResponse: last})
}

// headered is an etcd response with a ResponseHeader.
type headered interface{ GetHeader() *pb.ResponseHeader }

// proposeWrite replicates r, waits until this member applied it, and
// returns the response the applier produced (of type T) with its header
// completed; errors are etcd's gRPC statuses.
func proposeWrite[T headered](ctx context.Context, s *Server, r *pb.InternalRaftRequest) (T, error) {
	var zero T
	res, err := s.propose(ctx, r)
	if err != nil {
		return zero, toGRPC(err)
	}
	if res.Err != nil {
		return zero, toGRPC(res.Err)
	}
	resp := res.Resp.(T)
	s.fillHeader(resp.GetHeader())
	return resp, nil
}

// Put serves etcd's KV.Put through raft.
func (s *Server) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPut(r); err != nil {
		return nil, err
	}
	if err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return s.checkPutAuth(st, ai, r) }); err != nil {
		return nil, err
	}
	if err := s.checkQuota(ctx, r); err != nil {
		return nil, err
	}
	return proposeWrite[*pb.PutResponse](ctx, s, &pb.InternalRaftRequest{Put: r})
}

// DeleteRange serves etcd's KV.DeleteRange through raft.
func (s *Server) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := checkDelete(r); err != nil {
		return nil, err
	}
	if err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return checkDeleteAuth(st, ai, r) }); err != nil {
		return nil, err
	}
	return proposeWrite[*pb.DeleteRangeResponse](ctx, s, &pb.InternalRaftRequest{DeleteRange: r})
}

// Txn serves etcd's KV.Txn. A txn without writes is served like a
// linearizable read, without a raft round of its own, as etcd does.
func (s *Server) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxn(r, s.cfg.MaxTxnOps); err != nil {
		return nil, err
	}
	authRev := s.authRevision()
	if err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return s.checkTxnAuth(st, ai, r) }); err != nil {
		return nil, err
	}
	if apply.IsReadOnlyTxn(r) {
		if err := s.linearizableBarrier(ctx); err != nil {
			return nil, toGRPC(err)
		}
		resp, err := apply.ReadTxn(ctx, s.cfg.KV, r)
		if err != nil {
			return nil, toGRPC(err)
		}
		if err := s.authUnchanged(authRev); err != nil {
			return nil, err
		}
		resp.Header = s.fillHeader(resp.Header)
		return resp, nil
	}
	if err := s.checkQuota(ctx, r); err != nil {
		return nil, err
	}
	return proposeWrite[*pb.TxnResponse](ctx, s, &pb.InternalRaftRequest{Txn: r})
}

// Compact serves etcd's KV.Compact; with r.Physical it returns only once
// the compacted versions are removed from storage.
//
// With auth enabled only root may compact (etcd 3.6.9+).
func (s *Server) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Compaction: r})
	s.size.invalidate()
	if err != nil {
		return nil, toGRPC(err)
	}
	if res.Err != nil {
		return nil, toGRPC(res.Err)
	}
	if r.Physical && res.Physical != nil {
		select {
		case <-res.Physical:
		case <-ctx.Done():
			return nil, toGRPC(ctx.Err())
		}
	}
	resp := res.Resp.(*pb.CompactionResponse)
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}
