package v3lock

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// orphanSession opens a concurrency.Session on lease (0 grants a fresh
// lease with the session default TTL of 60 s, as etcd does) and orphans it
// at once: the caller owns the lease and refreshes it; the session only
// carries the lease ID and the client into the recipes.
func orphanSession(ctx context.Context, cli *clientv3.Client, lease int64) (*concurrency.Session, error) {
	s, err := concurrency.NewSession(cli,
		concurrency.WithLease(clientv3.LeaseID(lease)),
		concurrency.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	s.Orphan()
	return s, nil
}

// observerLease is the lease ID of sessions used only to read an election
// (Leader, Observe); no key is ever written under it. etcd uses the same.
const observerLease = -1
