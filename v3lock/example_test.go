package v3lock_test

import (
	"net"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/concord-kv/concord/v3lock"
)

// Example wires the Lock and Election services into a gRPC server whose
// client port is 127.0.0.1:2379, using a client of that same port for the
// services' key-value requests. The client must carry no credentials: the
// services forward each caller's own auth token.
func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:2379")
	if err != nil {
		return
	}
	srv := grpc.NewServer()
	// ... register KV, Watch, Lease and the other etcd services on srv ...
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{lis.Addr().String()}})
	if err != nil {
		return
	}
	defer cli.Close()
	v3lock.Register(srv, cli)
	srv.Serve(lis)
}
