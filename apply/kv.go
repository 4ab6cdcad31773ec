package apply

import (
	"bytes"
	"cmp"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/concord-kv/concord/mvcc"
)

// reader is what Range and compares read from: a write transaction (which
// sees its own changes) or a read view pinned at one revision.
type reader interface {
	Range(key, end []byte, o mvcc.RangeOptions) (*mvcc.RangeResult, error)
}

// writer is a write transaction of one revision.
type writer interface {
	reader
	Put(key, value []byte, lease int64) (*mvccpb.KeyValue, error)
	DeleteRange(key, end []byte) ([]*mvccpb.KeyValue, error)
}

// LeaseChecker reports whether a lease ID exists; nil means no leases
// exist yet, so every non-zero lease is ErrLeaseNotFound.
type LeaseChecker func(id int64) bool

// Range executes r against rd with etcd's semantics: count ignores limit
// and the mod/create revision filters; sorting other than ascending by key
// fetches everything and truncates after sorting; more reports truncation;
// keys_only drops values. Errors: mvcc.ErrCompacted, mvcc.ErrFutureRev.
func Range(rd reader, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	limit := r.Limit
	filtering := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	if r.SortOrder != pb.RangeRequest_NONE || filtering {
		limit = 0
	}
	if limit > 0 {
		limit++ // one more to learn whether there is more
	}
	rr, err := rd.Range(r.Key, r.RangeEnd, mvcc.RangeOptions{Limit: limit, Rev: r.Revision, CountOnly: r.CountOnly})
	if err != nil {
		return nil, err
	}
	kvs := rr.KVs
	if filtering {
		kvs = filterKVs(kvs, r)
	}
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	} else if r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND {
		order = pb.RangeRequest_NONE // already ascending by key
	}
	if order != pb.RangeRequest_NONE {
		sortKVs(kvs, r.SortTarget, order == pb.RangeRequest_DESCEND)
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: rr.Rev}, Count: rr.Count}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly {
		for _, kv := range kvs {
			kv.Value = nil // each range returns fresh KeyValues
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

func filterKVs(kvs []*mvccpb.KeyValue, r *pb.RangeRequest) []*mvccpb.KeyValue {
	out := kvs[:0]
	for _, kv := range kvs {
		if r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision {
			continue
		}
		if r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision {
			continue
		}
		if r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision {
			continue
		}
		if r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func sortKVs(kvs []*mvccpb.KeyValue, target pb.RangeRequest_SortTarget, desc bool) {
	less := func(a, b *mvccpb.KeyValue) bool {
		switch target {
		case pb.RangeRequest_VERSION:
			return a.Version < b.Version
		case pb.RangeRequest_CREATE:
			return a.CreateRevision < b.CreateRevision
		case pb.RangeRequest_MOD:
			return a.ModRevision < b.ModRevision
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value) < 0
		default:
			return bytes.Compare(a.Key, b.Key) < 0
		}
	}
	if desc {
		sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[j], kvs[i]) })
	} else {
		sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[i], kvs[j]) })
	}
}

// put executes a validated PutRequest in tw.
func put(tw writer, r *pb.PutRequest) (*pb.PutResponse, error) {
	var prev *mvccpb.KeyValue
	if r.IgnoreValue || r.IgnoreLease || r.PrevKv {
		rr, err := tw.Range(r.Key, nil, mvcc.RangeOptions{})
		if err != nil {
			return nil, err
		}
		if len(rr.KVs) > 0 {
			prev = rr.KVs[0]
		}
	}
	val, lease := r.Value, r.Lease
	if r.IgnoreValue || r.IgnoreLease {
		if prev == nil {
			return nil, ErrKeyNotFound
		}
		if r.IgnoreValue {
			val = prev.Value
		}
		if r.IgnoreLease {
			lease = prev.Lease
		}
	}
	if _, err := tw.Put(r.Key, val, lease); err != nil {
		return nil, err
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	if r.PrevKv {
		resp.PrevKv = prev
	}
	return resp, nil
}

// deleteRange executes a DeleteRangeRequest in tw.
func deleteRange(tw writer, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	deleted, err := tw.DeleteRange(r.Key, r.RangeEnd)
	if err != nil {
		return nil, err
	}
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: int64(len(deleted))}
	if r.PrevKv {
		resp.PrevKvs = deleted
	}
	return resp, nil
}

// checkPut validates a put against the state before the request runs:
// the lease must exist, and ignore_value / ignore_lease need the key.
func checkPut(rd reader, r *pb.PutRequest, leases LeaseChecker) error {
	if r.Lease != 0 && !r.IgnoreLease && (leases == nil || !leases(r.Lease)) {
		return ErrLeaseNotFound
	}
	if r.IgnoreValue || r.IgnoreLease {
		rr, err := rd.Range(r.Key, nil, mvcc.RangeOptions{Limit: 1})
		if err != nil {
			return err
		}
		if len(rr.KVs) == 0 {
			return ErrKeyNotFound
		}
	}
	return nil
}

// Compare evaluates one Txn compare against rd as etcd: a compare over a
// range holds only if it holds for every key in it; a missing key compares
// as the zero KeyValue, except that a VALUE compare on a missing key is
// always false.
func Compare(rd reader, c *pb.Compare) (bool, error) {
	rr, err := rd.Range(c.Key, c.RangeEnd, mvcc.RangeOptions{})
	if err != nil {
		return false, err
	}
	if len(rr.KVs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false, nil
		}
		return compareKV(c, &mvccpb.KeyValue{}), nil
	}
	for _, kv := range rr.KVs {
		if !compareKV(c, kv) {
			return false, nil
		}
	}
	return true, nil
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		r = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		r = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		r = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return false
}

// txnPath is the outcome of evaluating all compares of a txn and its
// nested txns before anything runs: succeeded[i] says which branch the
// i-th txn met in depth-first order takes.
type txnPath []bool

func evalPath(rd reader, r *pb.TxnRequest, path *txnPath) error {
	ok := true
	for _, c := range r.Compare {
		res, err := Compare(rd, c)
		if err != nil {
			return err
		}
		if !res {
			ok = false
			break
		}
	}
	*path = append(*path, ok)
	for _, op := range branch(r, ok) {
		if t := op.GetRequestTxn(); t != nil {
			if err := evalPath(rd, t, path); err != nil {
				return err
			}
		}
	}
	return nil
}

func branch(r *pb.TxnRequest, ok bool) []*pb.RequestOp {
	if ok {
		return r.Success
	}
	return r.Failure
}

// checkPath validates the ops on the chosen path before any runs, so a
// txn either applies whole or not at all: puts as checkPut, ranges'
// revisions against the compaction point and the current revision.
func checkPath(rd reader, r *pb.TxnRequest, path txnPath, i *int, leases LeaseChecker) error {
	ok := path[*i]
	*i++
	for _, op := range branch(r, ok) {
		switch {
		case op.GetRequestPut() != nil:
			if err := checkPut(rd, op.GetRequestPut(), leases); err != nil {
				return err
			}
		case op.GetRequestRange() != nil:
			// Probe the revision now so a compacted or future revision
			// fails the txn before anything is written.
			rr := op.GetRequestRange()
			if rr.Revision > 0 {
				if _, err := rd.Range(rr.Key, rr.RangeEnd, mvcc.RangeOptions{Rev: rr.Revision, Limit: 1}); err != nil {
					return err
				}
			}
		case op.GetRequestTxn() != nil:
			if err := checkPath(rd, op.GetRequestTxn(), path, i, leases); err != nil {
				return err
			}
		}
	}
	return nil
}

// runPath executes the chosen branches; w is nil for a read-only txn.
func runPath(rd reader, w writer, r *pb.TxnRequest, path txnPath, i *int) (*pb.TxnResponse, error) {
	ok := path[*i]
	*i++
	ops := branch(r, ok)
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok, Responses: make([]*pb.ResponseOp, 0, len(ops))}
	for _, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			rr, err := Range(rd, op.GetRequestRange())
			if err != nil {
				return nil, err
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}})
		case op.GetRequestPut() != nil:
			pr, err := put(w, op.GetRequestPut())
			if err != nil {
				return nil, err
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: pr}})
		case op.GetRequestDeleteRange() != nil:
			dr, err := deleteRange(w, op.GetRequestDeleteRange())
			if err != nil {
				return nil, err
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: dr}})
		case op.GetRequestTxn() != nil:
			tr, err := runPath(rd, w, op.GetRequestTxn(), path, i)
			if err != nil {
				return nil, err
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: tr}})
		}
	}
	return resp, nil
}

// setRevisions fills the header revision of every nested response the way
// etcd reports them: writes carry the txn's revision, ranges the revision
// they read at.
func setRevisions(resp *pb.TxnResponse, rev int64) {
	resp.Header.Revision = rev
	for _, op := range resp.Responses {
		switch v := op.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			v.ResponsePut.Header.Revision = rev
		case *pb.ResponseOp_ResponseDeleteRange:
			v.ResponseDeleteRange.Header.Revision = rev
		case *pb.ResponseOp_ResponseTxn:
			setRevisions(v.ResponseTxn, rev)
		}
	}
}

// IsReadOnlyTxn reports whether r (with its nested txns) has no writes;
// such a txn is served like a read, without going through raft.
func IsReadOnlyTxn(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil, op.GetRequestDeleteRange() != nil:
				return false
			case op.GetRequestTxn() != nil:
				if !IsReadOnlyTxn(op.GetRequestTxn()) {
					return false
				}
			}
		}
	}
	return true
}
