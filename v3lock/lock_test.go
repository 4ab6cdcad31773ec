package v3lock_test

import (
	"context"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/internal/lockpb"
)

type lockResult struct {
	resp *lockpb.LockResponse
	err  error
}

func lockAsync(ctx context.Context, c lockpb.LockClient, name string, lease clientv3.LeaseID) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		resp, err := c.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(lease)})
		ch <- lockResult{resp, err}
	}()
	return ch
}

// TestLockContention: the second locker blocks until the first unlocks,
// then owns a key of its own.
func TestLockContention(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := lockpb.NewLockClient(tg.conn)
			name := "lock-contention-" + tg.name
			a, b := grant(t, ctx), grant(t, ctx)

			ra, err := c.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
			if err != nil {
				t.Fatalf("lock a: %v", err)
			}
			keyA := string(ra.GetKey())
			if want := fmt.Sprintf("%s/%x", name, int64(a)); keyA != want {
				t.Fatalf("key a = %q, want %q", keyA, want)
			}
			if ra.GetHeader().GetRevision() == 0 {
				t.Fatalf("lock a header has no revision: %v", ra.GetHeader())
			}
			// Locking again with the same lease is the same acquisition.
			again, err := c.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
			if err != nil || string(again.GetKey()) != keyA {
				t.Fatalf("relock a = %v, %v; want key %q", again, err, keyA)
			}

			wch := env.cli.Watch(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithRev(ra.GetHeader().GetRevision()+1))
			bres := lockAsync(ctx, c, name, b)
			keyB := waitEvent(t, wch, mvccpb.PUT, keyA) // b is now queued
			select {
			case r := <-bres:
				t.Fatalf("b returned while a holds the lock: %v, %v", r.resp, r.err)
			default:
			}

			ur, err := c.Unlock(ctx, &lockpb.UnlockRequest{Key: []byte(keyA)})
			if err != nil {
				t.Fatalf("unlock a: %v", err)
			}
			r := <-bres
			if r.err != nil {
				t.Fatalf("lock b: %v", r.err)
			}
			if string(r.resp.GetKey()) != keyB {
				t.Fatalf("b owns %q, want its queued key %q", r.resp.GetKey(), keyB)
			}
			if r.resp.GetHeader().GetRevision() < ur.GetHeader().GetRevision() {
				t.Fatalf("b's header revision %d is before the unlock's %d", r.resp.GetHeader().GetRevision(), ur.GetHeader().GetRevision())
			}
			// Unlocking a key that is gone is a plain delete: it succeeds.
			if _, err := c.Unlock(ctx, &lockpb.UnlockRequest{Key: []byte(keyA)}); err != nil {
				t.Fatalf("second unlock a: %v", err)
			}
			if _, err := c.Unlock(ctx, &lockpb.UnlockRequest{Key: []byte(keyB)}); err != nil {
				t.Fatalf("unlock b: %v", err)
			}
		})
	}
}

// TestLockLeaseRevoked: revoking the holder's lease hands the lock on.
func TestLockLeaseRevoked(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := lockpb.NewLockClient(tg.conn)
			name := "lock-revoke-" + tg.name
			a, b := grant(t, ctx), grant(t, ctx)
			ra, err := c.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
			if err != nil {
				t.Fatalf("lock a: %v", err)
			}
			wch := env.cli.Watch(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithRev(ra.GetHeader().GetRevision()+1))
			bres := lockAsync(ctx, c, name, b)
			waitEvent(t, wch, mvccpb.PUT, string(ra.GetKey()))
			if _, err := env.cli.Revoke(ctx, a); err != nil {
				t.Fatalf("revoke a: %v", err)
			}
			if r := <-bres; r.err != nil {
				t.Fatalf("lock b after revoking a: %v", r.err)
			}
		})
	}
}

// TestLockCancelled: a waiter whose RPC is cancelled gets Canceled and its
// queued key is removed, so it never blocks later lockers.
//
// Only Concord's service is held to this: etcd's own Lock service leaves
// the queued key behind when the cancel lands while its acquiring txn is in
// flight (clientv3/concurrency's Mutex cleans up only a failed wait), so
// against etcd this test would fail now and then.
func TestLockCancelled(t *testing.T) {
	for _, tg := range targets(t)[:1] {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := lockpb.NewLockClient(tg.conn)
			name := "lock-cancel-" + tg.name
			a, b := grant(t, ctx), grant(t, ctx)
			ra, err := c.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(a)})
			if err != nil {
				t.Fatalf("lock a: %v", err)
			}
			wch := env.cli.Watch(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithRev(ra.GetHeader().GetRevision()+1))
			bctx, cancel := context.WithCancel(ctx)
			bres := lockAsync(bctx, c, name, b)
			keyB := waitEvent(t, wch, mvccpb.PUT, string(ra.GetKey()))
			cancel()
			if r := <-bres; status.Code(r.err) != codes.Canceled {
				t.Fatalf("cancelled lock b = %v, %v; want Canceled", r.resp, r.err)
			}
			if got := waitEvent(t, wch, mvccpb.DELETE, ""); got != keyB {
				t.Fatalf("deleted %q, want b's queued key %q", got, keyB)
			}
		})
	}
}

// TestLockUnknownLease: the error's code and text are etcd's.
func TestLockUnknownLease(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			_, err := lockpb.NewLockClient(tg.conn).Lock(ctx, &lockpb.LockRequest{Name: []byte("lock-nolease"), Lease: 0x7e57})
			wantStatus(t, err, codes.Unknown, "etcdserver: requested lease not found")
		})
	}
}

func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if st := status.Convert(err); err == nil || st.Code() != code || st.Message() != msg {
		t.Fatalf("error = %v, want code %v, message %q", err, code, msg)
	}
}
