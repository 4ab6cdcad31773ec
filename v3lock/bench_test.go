package v3lock_test

import (
	"context"
	"testing"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"
)

// BenchmarkLockUnlock measures one uncontended Lock + Unlock round trip
// through this package's service and through etcd's own (the baseline).
func BenchmarkLockUnlock(b *testing.B) {
	if env.skip != "" {
		b.Skip(env.skip)
	}
	ctx := context.Background()
	lease, err := env.cli.Grant(ctx, 600)
	if err != nil {
		b.Fatal(err)
	}
	defer env.cli.Revoke(ctx, lease.ID)
	for _, tg := range []target{{"concord", env.concord}, {"etcd", env.etcd}} {
		b.Run(tg.name, func(b *testing.B) {
			c := lockpb.NewLockClient(tg.conn)
			req := &lockpb.LockRequest{Name: []byte("bench-lock-" + tg.name), Lease: int64(lease.ID)}
			for b.Loop() {
				resp, err := c.Lock(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Unlock(ctx, &lockpb.UnlockRequest{Key: resp.GetKey()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLeader measures one Leader read of an election with a leader.
func BenchmarkLeader(b *testing.B) {
	if env.skip != "" {
		b.Skip(env.skip)
	}
	ctx := context.Background()
	lease, err := env.cli.Grant(ctx, 600)
	if err != nil {
		b.Fatal(err)
	}
	defer env.cli.Revoke(ctx, lease.ID)
	for _, tg := range []target{{"concord", env.concord}, {"etcd", env.etcd}} {
		b.Run(tg.name, func(b *testing.B) {
			c := electionpb.NewElectionClient(tg.conn)
			name := []byte("bench-leader-" + tg.name)
			if _, err := c.Campaign(ctx, &electionpb.CampaignRequest{Name: name, Lease: int64(lease.ID), Value: []byte("v")}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.Leader(ctx, &electionpb.LeaderRequest{Name: name}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
