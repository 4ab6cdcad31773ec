package server

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/api"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/raftnode"
)

// leaseTick is how often the leader looks for expired leases and due
// checkpoints (etcd checks every 500 ms).
const leaseTick = 500 * time.Millisecond

// runLeases does the leader's lease duties: it makes the lessor primary
// when this member becomes leader (after applying everything committed, so
// the previous leader's checkpoints are in), proposes revokes for expired
// leases and proposes remaining-TTL checkpoints; it demotes the lessor when
// leadership is lost. Expiry is thus decided by the leader and always
// committed through raft.
func runLeases(ctx context.Context, lg *zap.Logger, node *raftnode.Node, svc *api.Server, le *lease.Lessor) {
	t := time.NewTicker(leaseTick)
	defer t.Stop()
	revoking := make(chan struct{}, 16) // bounds concurrent revoke proposals
	for {
		changed := node.LeaderChanged()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
		if !node.Status().IsLeader {
			if le.IsPrimary() {
				le.Demote()
			}
			continue
		}
		if !le.IsPrimary() {
			if err := svc.Barrier(ctx); err != nil {
				continue
			}
			le.Promote(time.Now())
			lg.Info("lessor promoted: this member tracks lease expiry")
		}
		for _, id := range le.Expired(time.Now(), 1000) {
			select {
			case revoking <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func(id int64) {
				defer func() { <-revoking }()
				err := svc.ProposeInternal(ctx, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
				if err != nil && ctx.Err() == nil {
					lg.Debug("revoking expired lease failed; will retry", zap.Int64("lease-id", id), zap.Error(err))
				}
			}(id)
		}
		if cps := le.Checkpoints(time.Now()); len(cps) > 0 {
			req := &pb.LeaseCheckpointRequest{Checkpoints: make([]*pb.LeaseCheckpoint, len(cps))}
			for i, cp := range cps {
				req.Checkpoints[i] = &pb.LeaseCheckpoint{ID: cp.ID, Remaining_TTL: cp.RemainingTTL}
			}
			if err := svc.ProposeInternal(ctx, &pb.InternalRaftRequest{LeaseCheckpoint: req}); err != nil && ctx.Err() == nil {
				lg.Debug("lease checkpoint failed", zap.Error(err))
			}
		}
	}
}
