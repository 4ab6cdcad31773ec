package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/alarm"
)

// Alarm serves etcd's Maintenance.Alarm. Every action goes through raft,
// as etcd's: GET answers the cluster's alarms of the type asked (NONE: all)
// as this member applied them after the request; ACTIVATE raises
// r.Alarm for r.MemberID; DEACTIVATE clears exactly that member's alarm of
// that type (etcdctl alarm disarm lists the alarms, then disarms each).
// The response holds the alarms concerned, as etcd's.
//
// With auth enabled, GET needs a user and the other actions the root role,
// as etcd 3.7.
func (s *Server) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if r.Action != pb.AlarmRequest_GET {
		if err := s.checkAdmin(ctx); err != nil {
			return nil, err
		}
	}
	req := &pb.AlarmRequest{Action: r.Action, MemberID: r.MemberID, Alarm: r.Alarm}
	return proposeWrite[*pb.AlarmResponse](ctx, s, &pb.InternalRaftRequest{Alarm: req})
}

// alarmErrors are the active alarms as Status lists them in its errors,
// etcd's "memberID:<id> alarm:<TYPE> ".
func (s *Server) alarmErrors() []string {
	if s.cfg.Alarms == nil {
		return nil
	}
	var out []string
	for _, m := range s.cfg.Alarms.Get(pb.AlarmType_NONE) {
		out = append(out, alarm.String(m))
	}
	return out
}

// checkQuota refuses r (a Put, Txn or LeaseGrant) before it is proposed
// if it would take the database past the quota, as etcd's quotaKVServer
// and quotaLeaseServer: this member raises NOSPACE for itself through raft
// (waiting for it, its outcome ignored) and answers ErrGRPCNoSpace.
func (s *Server) checkQuota(ctx context.Context, r any) error {
	if s.quota.Available(r) {
		return nil
	}
	req := &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: s.cfg.MemberID, Alarm: pb.AlarmType_NOSPACE}}
	if _, err := s.propose(asMember(ctx), req); err != nil {
		s.lg.Warn("failed to raise the NOSPACE alarm", zap.Error(err))
	}
	return rpctypes.ErrGRPCNoSpace
}

// logQuota logs the quota in force at start, as etcd's NewBackendQuota.
func (s *Server) logQuota() {
	q := s.cfg.QuotaBackendBytes
	switch {
	case q < 0:
		s.lg.Warn("disabled backend quota", zap.String("quota-name", "v3-applier"), zap.Int64("quota-size-bytes", q))
		return
	case q > alarm.MaxQuotaBytes:
		s.lg.Warn("quota exceeds the maximum value", zap.String("quota-name", "v3-applier"), zap.Int64("quota-size-bytes", q),
			zap.String("quota-size", humanBytes(q)), zap.Int64("quota-maximum-size-bytes", alarm.MaxQuotaBytes), zap.String("quota-maximum-size", humanBytes(alarm.MaxQuotaBytes)))
	}
	s.lg.Info("enabled backend quota", zap.String("quota-name", "v3-applier"), zap.Int64("quota-size-bytes", q), zap.String("quota-size", humanBytes(q)))
}

// humanBytes formats n in SI units as go-humanize's Bytes ("2.1 GB").
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

// sizeCache memoises the database size for the quota check, for at most
// sizeCacheTTL: measuring it walks the engine's file metadata, too much
// for every write. Compact and Defragment invalidate it.
type sizeCache struct {
	size func() (int64, int64)
	now  func() time.Time

	mu  sync.Mutex // guards at, val
	at  time.Time
	val int64
}

const sizeCacheTTL = 100 * time.Millisecond

func (c *sizeCache) get() int64 {
	if c.size == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= sizeCacheTTL || now.Before(c.at) {
		c.val, _ = c.size()
		c.at = now
	}
	return c.val
}

func (c *sizeCache) invalidate() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}
