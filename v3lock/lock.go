package v3lock

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"
)

// LockServer implements v3lockpb.Lock over a key-value client. It holds no
// state besides the client and is safe for concurrent use.
type LockServer struct {
	lockpb.UnimplementedLockServer
	cli *clientv3.Client
}

// NewLockServer returns the Lock service that runs its recipes through cli.
// cli must stay open for as long as the service is served.
func NewLockServer(cli *clientv3.Client) *LockServer {
	return &LockServer{cli: cli}
}

// Lock blocks until the caller holds the lock req.Name, as etcd's
// v3lock Lock: it puts "name/<lease hex>" bound to req.Lease (a Mutex in a
// session on that lease), waits until every key under "name/" with a lower
// create revision is deleted, and returns that key with the header of the
// read that confirmed ownership. Locking again with the same lease returns
// the same key at once. If the RPC's context ends first the waiter key is
// deleted and the context's status is returned; an unknown lease fails with
// "etcdserver: requested lease not found"; if the key vanished while waiting
// (lease expired) it fails with "mutex: session is expired".
func (s *LockServer) Lock(ctx context.Context, req *lockpb.LockRequest) (*lockpb.LockResponse, error) {
	ctx = outgoing(ctx)
	sess, err := orphanSession(ctx, s.cli, req.GetLease())
	if err != nil {
		return nil, toStatus(err)
	}
	m := concurrency.NewMutex(sess, string(req.GetName()))
	// The waiter key this call would queue: name/<lease in hex>. If it does
	// not exist yet and the call fails (e.g. it is cancelled while the
	// acquiring txn is in flight), the key the txn may have created is
	// removed, so no orphaned waiter blocks the lock until its lease ends.
	// A key that existed before (the lease already queues or holds the
	// lock) is left alone.
	myKey := fmt.Sprintf("%s/%x", req.GetName(), int64(sess.Lease()))
	pre, err := s.cli.Get(ctx, myKey, clientv3.WithKeysOnly())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := m.Lock(ctx); err != nil {
		if len(pre.Kvs) == 0 {
			cctx, cancel := context.WithTimeout(outgoing(context.WithoutCancel(ctx)), 5*time.Second)
			_, _ = s.cli.Txn(cctx).If(clientv3.Compare(clientv3.CreateRevision(myKey), ">", pre.Header.Revision)).
				Then(clientv3.OpDelete(myKey)).Commit()
			cancel()
		}
		return nil, toStatus(err)
	}
	return &lockpb.LockResponse{Header: m.Header(), Key: []byte(m.Key())}, nil
}

// Unlock deletes req.Key, the ownership key returned by Lock, which hands
// the lock to the oldest waiter. As in etcd it is a plain delete: unlocking
// a key that no longer exists succeeds. The header is the delete's.
func (s *LockServer) Unlock(ctx context.Context, req *lockpb.UnlockRequest) (*lockpb.UnlockResponse, error) {
	resp, err := s.cli.Delete(outgoing(ctx), string(req.GetKey()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &lockpb.UnlockResponse{Header: resp.Header}, nil
}

// Register registers the Lock and Election services on s, both running
// their recipes through cli (normally a client of the same server's client
// listener). cli must carry no credentials of its own (no Username): the
// services forward each caller's "token" metadata, and a client that adds
// its own token would act with its rights instead. Call it before s.Serve.
func Register(s *grpc.Server, cli *clientv3.Client) {
	lockpb.RegisterLockServer(s, NewLockServer(cli))
	electionpb.RegisterElectionServer(s, NewElectionServer(cli))
}
