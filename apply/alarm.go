package apply

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/alarm"
)

// refused is the alarms' veto on a committed request, as etcd's
// applierV3Corrupt and applierV3Capped (stacked, as etcd restores them):
// under CORRUPT, Put, DeleteRange, Txn and LeaseGrant fail with
// ErrCorrupt; under NOSPACE, Put, LeaseGrant and a Txn that puts fail with
// ErrNoSpace. Everything else (reads, compaction, lease revokes, alarms,
// membership) goes through.
func (a *Applier) refused(r *pb.InternalRaftRequest) error {
	as := a.cfg.Alarms
	if as == nil {
		return nil
	}
	if as.Active(pb.AlarmType_CORRUPT) && (r.Put != nil || r.DeleteRange != nil || r.Txn != nil || r.LeaseGrant != nil) {
		return ErrCorrupt
	}
	if as.Active(pb.AlarmType_NOSPACE) {
		switch {
		case r.Put != nil, r.LeaseGrant != nil:
			return ErrNoSpace
		case r.Txn != nil && alarm.Cost(r.Txn) > 0:
			return ErrNoSpace
		}
	}
	return nil
}

// applyAlarm applies etcd's AlarmRequest: GET answers the alarms of the
// type asked (NONE: all); ACTIVATE raises the alarm for MemberID (NONE
// raises nothing) and answers it; DEACTIVATE clears exactly that member's
// alarm of that type and answers it, or nothing if it was not active.
func (a *Applier) applyAlarm(b *pebble.Batch, r *pb.AlarmRequest) (*Result, []*mvccpb.Event, error) {
	resp := &pb.AlarmResponse{Header: &pb.ResponseHeader{Revision: a.cfg.KV.Rev()}}
	as := a.cfg.Alarms
	if as == nil {
		return &Result{Resp: resp}, nil, nil
	}
	switch r.Action {
	case pb.AlarmRequest_GET:
		resp.Alarms = as.Get(r.Alarm)
	case pb.AlarmRequest_ACTIVATE:
		m, first, err := as.Activate(b, r.MemberID, r.Alarm)
		if err != nil {
			return nil, nil, err
		}
		if m != nil {
			resp.Alarms = append(resp.Alarms, m)
		}
		if first {
			a.lg.Warn("alarm raised", zap.String("alarm", m.Alarm.String()), zap.String("from", fmt.Sprintf("%x", m.MemberID)))
		}
	case pb.AlarmRequest_DEACTIVATE:
		m, last, err := as.Deactivate(b, r.MemberID, r.Alarm)
		if err != nil {
			return nil, nil, err
		}
		if m != nil {
			resp.Alarms = append(resp.Alarms, m)
		}
		if last {
			a.lg.Warn("alarm disarmed", zap.String("alarm", m.Alarm.String()), zap.String("from", fmt.Sprintf("%x", m.MemberID)))
		}
	}
	return &Result{Resp: resp}, nil, nil
}
