package bench

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaseKeepaliveOptions are the flags of lease-keepalive.
type LeaseKeepaliveOptions struct {
	// Total is the number of LeaseKeepAlive round trips (--total, 10000).
	Total int
}

// DefaultLeaseKeepaliveOptions returns etcd benchmark lease-keepalive's defaults.
func DefaultLeaseKeepaliveOptions() LeaseKeepaliveOptions {
	return LeaseKeepaliveOptions{Total: 10000}
}

// RunLeaseKeepalive grants one lease of TTL 100 s per client, then sends
// o.Total KeepAliveOnce requests spread over the clients, and returns one
// section "lease-keepalive". The leases are left to expire, as etcd does.
func RunLeaseKeepalive(ctx context.Context, env Env, pool *Pool, o LeaseKeepaliveOptions, cfg Config) (Outcome, error) {
	if o.Total < 0 {
		return Outcome{}, invalid("--total must be ≥ 0")
	}
	env = env.withDefaults()
	leases := make([]clientv3.LeaseID, len(pool.Clients))
	for i, c := range pool.Clients {
		resp, err := c.Grant(ctx, 100)
		if err != nil {
			return Outcome{}, fmt.Errorf("bench: lease grant: %w", err)
		}
		leases[i] = resp.ID
	}
	rec := NewRecorder("lease-keepalive", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)
	rec.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, nil,
		func(int) struct{} { return struct{}{} },
		func(ctx context.Context, w int, c *clientv3.Client, _ struct{}) error {
			_, err := c.KeepAliveOnce(ctx, leases[w])
			return err
		}, into[struct{}](rec))
	stats := rec.Stop()
	bar.finish()
	return Outcome{Sections: []Section{{Stats: stats}}}, ctx.Err()
}
