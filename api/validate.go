package api

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The checks below run before a request is proposed, as etcd's v3rpc
// layer does; they return rpctypes errors.

func checkRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func checkPut(r *pb.PutRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

func checkTxn(r *pb.TxnRequest, maxOps int) error {
	n := len(r.Compare)
	if len(r.Success) > n {
		n = len(r.Success)
	}
	if len(r.Failure) > n {
		n = len(r.Failure)
	}
	if n > maxOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := checkOp(op, maxOps-n); err != nil {
				return err
			}
		}
	}
	if _, _, err := checkIntervals(r.Success); err != nil {
		return err
	}
	_, _, err := checkIntervals(r.Failure)
	return err
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch {
	case op.GetRequestRange() != nil:
		return checkRange(op.GetRequestRange())
	case op.GetRequestPut() != nil:
		return checkPut(op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		return checkDelete(op.GetRequestDeleteRange())
	case op.GetRequestTxn() != nil:
		return checkTxn(op.GetRequestTxn(), maxOps)
	}
	return rpctypes.ErrGRPCKeyNotFound // an empty op, as etcd answers
}

// interval is a deleted range [start, end); end nil means the single key.
// Comparison is bytewise, as etcd's interval tree does ("\x00" as a range
// end is not treated as infinity here).
type interval struct{ start, end []byte }

func (iv interval) contains(k []byte) bool {
	if iv.end == nil {
		return bytes.Equal(iv.start, k)
	}
	return bytes.Compare(iv.start, k) <= 0 && bytes.Compare(k, iv.end) < 0
}

func intersects(dels []interval, k []byte) bool {
	for _, d := range dels {
		if d.contains(k) {
			return true
		}
	}
	return false
}

// checkIntervals enforces the duplicate-key rule for one branch: no key
// may be put twice, or put and deleted; the two branches of a nested txn
// may put the same key because only one of them runs.
func checkIntervals(ops []*pb.RequestOp) (map[string]bool, []interval, error) {
	var dels []interval
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			iv := interval{start: d.Key}
			if len(d.RangeEnd) != 0 {
				iv.end = d.RangeEnd
			}
			dels = append(dels, iv)
		}
	}
	puts := map[string]bool{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if puts[k] || intersects(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = true
		}
		for k := range putsElse {
			if puts[k] && !putsThen[k] {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			if intersects(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = true
		}
		dels = append(dels, delsThen...)
		dels = append(dels, delsElse...)
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if puts[k] || intersects(dels, p.Key) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[k] = true
	}
	return puts, dels, nil
}
