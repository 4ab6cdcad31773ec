package linearizability

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnexpectedResponse is returned (wrapped) by Do when a response does
// not have the shape its request asks for (e.g. a CAS Txn whose else
// branch returned no Range response).
var ErrUnexpectedResponse = errors.New("linearizability: unexpected response shape")

// Definite reports whether err is a failure after which the request
// certainly did not take effect: the server rejected it before proposing
// it (gRPC codes InvalidArgument, FailedPrecondition, OutOfRange,
// PermissionDenied, Unauthenticated, Unimplemented). Everything else —
// deadline exceeded, canceled, unavailable, etcd's "request timed out",
// "no leader", "leader changed", connection errors, unknown — is
// ambiguous: the request may have been committed.
func Definite(err error) bool {
	var code codes.Code
	var etcdErr rpctypes.EtcdError
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &etcdErr):
		code = etcdErr.Code()
	default:
		st, ok := status.FromError(err)
		if !ok {
			return false
		}
		code = st.Code()
	}
	switch code {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange,
		codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented:
		return true
	}
	return false
}

// readKey fills the read fields of out from a single-key Range response.
func readKey(out *Output, resp *clientv3.GetResponse) {
	if len(resp.Kvs) == 0 {
		return
	}
	kv := resp.Kvs[0]
	out.Exists, out.Value, out.ModRevision = true, string(kv.Value), kv.ModRevision
}

// Do sends in to the cluster through kv (linearizable reads; the client's
// own retry policy) and returns what was observed. A nil error means out
// is a complete response. Otherwise the request failed: when Definite(err)
// it did not take effect, else its effect is unknown.
func Do(ctx context.Context, kv clientv3.KV, in Input) (Output, error) {
	var out Output
	switch in.Kind {
	case OpGet:
		resp, err := kv.Get(ctx, in.Key)
		if err != nil {
			return out, err
		}
		out.Revision = resp.Header.Revision
		readKey(&out, resp)
	case OpPut:
		resp, err := kv.Put(ctx, in.Key, in.Value)
		if err != nil {
			return out, err
		}
		out.Revision = resp.Header.Revision
	case OpDelete:
		resp, err := kv.Delete(ctx, in.Key)
		if err != nil {
			return out, err
		}
		out.Revision, out.Deleted = resp.Header.Revision, resp.Deleted
	case OpCAS:
		cmp := clientv3.Compare(clientv3.Value(in.Key), "=", in.Expect)
		if in.ExpectAbsent {
			cmp = clientv3.Compare(clientv3.CreateRevision(in.Key), "=", 0)
		}
		resp, err := kv.Txn(ctx).If(cmp).Then(clientv3.OpPut(in.Key, in.Value)).Else(clientv3.OpGet(in.Key)).Commit()
		if err != nil {
			return out, err
		}
		out.Revision, out.Succeeded = resp.Header.Revision, resp.Succeeded
		if !resp.Succeeded {
			if len(resp.Responses) != 1 || resp.Responses[0].GetResponseRange() == nil {
				return out, fmt.Errorf("%w: cas else branch: %v", ErrUnexpectedResponse, resp.Responses)
			}
			readKey(&out, (*clientv3.GetResponse)(resp.Responses[0].GetResponseRange()))
		}
	default:
		return out, fmt.Errorf("%w: op kind %v", ErrUnexpectedResponse, in.Kind)
	}
	return out, nil
}
