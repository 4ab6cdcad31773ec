package apply

import (
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/concord-kv/concord/auth"
)

// applyAuth hands an auth entry to the auth store, inside the batch. A
// refused request is a Result error; a storage failure stops the member.
func (a *Applier) applyAuth(b *pebble.Batch, r *pb.InternalRaftRequest) (*Result, []*mvccpb.Event, bool, error) {
	if a.cfg.Auth == nil {
		return nil, nil, false, nil
	}
	resp, handled, err := a.cfg.Auth.Apply(b, r)
	if !handled {
		return nil, nil, false, nil
	}
	if errors.Is(err, auth.ErrStorage) {
		return nil, nil, true, err
	}
	return &Result{Resp: resp, Err: err}, nil, true, nil
}

// authRefused is etcd's authApplierV3 for committed writes: while auth is
// enabled, the user and auth revision in r.Header must be allowed the
// request at the current auth state, so no decision taken against an
// older state commits. Put needs write on its key, read too with prev_kv,
// and write on every key already attached to its lease; DeleteRange needs
// write on its range, read too with prev_kv; a Txn needs read on every
// compare and every op of both branches, nested txns included, checked as
// Range/Put/DeleteRange; LeaseRevoke needs write on every attached key.
// A LeaseRevoke naming no user is the leader's revoke of an expired lease
// (the API layer refuses client revokes without a user before proposing).
func (a *Applier) authRefused(r *pb.InternalRaftRequest) error {
	as := a.cfg.Auth
	if as == nil || !as.Enabled() {
		return nil
	}
	ai := auth.HeaderAuthInfo(r)
	switch {
	case r.Put != nil:
		return a.checkPutAuth(ai, r.Put)
	case r.DeleteRange != nil:
		return checkDeleteAuth(as, ai, r.DeleteRange)
	case r.Txn != nil:
		return a.checkTxnAuth(ai, r.Txn)
	case r.LeaseRevoke != nil:
		if ai == nil {
			return nil
		}
		return a.checkLeaseKeys(ai, r.LeaseRevoke.ID)
	}
	return nil
}

func (a *Applier) checkPutAuth(ai *auth.AuthInfo, r *pb.PutRequest) error {
	as := a.cfg.Auth
	if err := as.IsPutPermitted(ai, r.Key); err != nil {
		return err
	}
	if r.Lease != 0 {
		// a user who could not revoke the lease may not attach to it
		if err := a.checkLeaseKeys(ai, r.Lease); err != nil {
			return err
		}
	}
	if r.PrevKv {
		return as.IsRangePermitted(ai, r.Key, nil)
	}
	return nil
}

func checkDeleteAuth(as *auth.Store, ai *auth.AuthInfo, r *pb.DeleteRangeRequest) error {
	if err := as.IsDeleteRangePermitted(ai, r.Key, r.RangeEnd); err != nil {
		return err
	}
	if r.PrevKv {
		return as.IsRangePermitted(ai, r.Key, r.RangeEnd)
	}
	return nil
}

func (a *Applier) checkLeaseKeys(ai *auth.AuthInfo, id int64) error {
	if a.cfg.Lessor == nil {
		return nil
	}
	_, _, keys, err := a.cfg.Lessor.TimeToLive(id, time.Time{})
	if err != nil {
		return nil // no such lease: the request fails on its own
	}
	for _, k := range keys {
		if err := a.cfg.Auth.IsPutPermitted(ai, k); err != nil {
			return err
		}
	}
	return nil
}

// checkTxnAuth checks the compares and both branches whichever runs, as
// etcd (a denied branch that would not run still denies the txn).
func (a *Applier) checkTxnAuth(ai *auth.AuthInfo, r *pb.TxnRequest) error {
	as := a.cfg.Auth
	for _, c := range r.Compare {
		if err := as.IsRangePermitted(ai, c.Key, c.RangeEnd); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := a.checkOpAuth(ai, op); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *Applier) checkOpAuth(ai *auth.AuthInfo, op *pb.RequestOp) error {
	as := a.cfg.Auth
	switch {
	case op.GetRequestRange() != nil:
		rr := op.GetRequestRange()
		return as.IsRangePermitted(ai, rr.Key, rr.RangeEnd)
	case op.GetRequestPut() != nil:
		return a.checkPutAuth(ai, op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		return checkDeleteAuth(as, ai, op.GetRequestDeleteRange())
	case op.GetRequestTxn() != nil:
		return a.checkTxnAuth(ai, op.GetRequestTxn())
	}
	return nil
}
