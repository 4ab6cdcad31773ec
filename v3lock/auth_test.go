package v3lock_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"
	"github.com/concord-kv/concord/v3lock"
)

// TestAuthTokenForwarded: with auth enabled, the services act as the
// caller: an anonymous caller is refused as etcd refuses it, and a caller
// with a token succeeds although the inner client has no credentials.
func TestAuthTokenForwarded(t *testing.T) {
	if env.skip != "" {
		t.Skip(env.skip)
	}
	e, err := startEtcd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	ctx := testCtx(t)

	// The inner client: no credentials, as the server's own client is.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.clientAddr}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if _, err := cli.Get(ctx, "health"); err != nil { // waits for etcd to serve
		t.Fatalf("etcd did not come up: %v\n%s", err, e.log.String())
	}
	if _, err := cli.UserAdd(ctx, "root", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	v3lock.Register(srv, cli)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	concord, err := dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { concord.Close() })
	etcd, err := dial(e.clientAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })

	auth, err := etcdserverpb.NewAuthClient(etcd).Authenticate(ctx, &etcdserverpb.AuthenticateRequest{Name: "root", Password: "pw"})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	withToken := metadata.AppendToOutgoingContext(ctx, "token", auth.GetToken())

	for _, tg := range []target{{"concord", concord}, {"etcd", etcd}} {
		t.Run(tg.name, func(t *testing.T) {
			name := "auth-" + tg.name
			lc := lockpb.NewLockClient(tg.conn)
			_, err := lc.Lock(ctx, &lockpb.LockRequest{Name: []byte(name), Lease: int64(lease.ID)})
			wantStatus(t, err, codes.Unknown, "etcdserver: user name is empty")

			resp, err := lc.Lock(withToken, &lockpb.LockRequest{Name: []byte(name), Lease: int64(lease.ID)})
			if err != nil {
				t.Fatalf("lock with token: %v", err)
			}
			if want := fmt.Sprintf("%s/%x", name, int64(lease.ID)); string(resp.GetKey()) != want {
				t.Fatalf("key = %q, want %q", resp.GetKey(), want)
			}
			if _, err := lc.Unlock(withToken, &lockpb.UnlockRequest{Key: resp.GetKey()}); err != nil {
				t.Fatalf("unlock with token: %v", err)
			}

			ec := electionpb.NewElectionClient(tg.conn)
			_, err = ec.Leader(ctx, &electionpb.LeaderRequest{Name: []byte(name)})
			wantStatus(t, err, codes.Unknown, "etcdserver: user name is empty")
			_, err = ec.Leader(withToken, &electionpb.LeaderRequest{Name: []byte(name)})
			wantStatus(t, err, codes.Unknown, "election: no leader")
		})
	}
}
