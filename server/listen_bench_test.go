package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// echoKV answers Range with an empty response and Put with its key's
// size: the transport is all that is measured.
type echoKV struct{ pb.UnimplementedKVServer }

func (echoKV) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	return &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 1}}, nil
}

func (echoKV) Put(_ context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	return &pb.PutResponse{Header: &pb.ResponseHeader{Revision: int64(len(r.Value))}}, nil
}

// BenchmarkClientTransport compares the ways a client URL can carry gRPC:
// grpc-go's own transport (grpc.Server.Serve behind cmux, what the client
// URLs do, plaintext and TLS; and Serve with grpc-go's TLS credentials on
// a listener of its own) and net/http's HTTP/2 server handing calls to
// grpc.Server.ServeHTTP (what etcd does for TLS, and what plaintext would
// do through h2c), each serial and parallel, a Put of a 256-byte value
// per op.
//
//	CGO_ENABLED=0 go test ./server/ -run '^$' -bench ClientTransport -benchtime 3s
func BenchmarkClientTransport(b *testing.B) {
	info, err := transport.SelfCert(zap.NewNop(), b.TempDir(), []string{"127.0.0.1"}, 1)
	if err != nil {
		b.Fatal(err)
	}
	lg := zap.NewNop()
	newGS := func(opts ...grpc.ServerOption) *grpc.Server {
		gs := grpc.NewServer(opts...)
		pb.RegisterKVServer(gs, echoKV{})
		return gs
	}
	serverTLS, err := info.ServerConfig()
	if err != nil {
		b.Fatal(err)
	}
	clientTLS := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed test certificate
	plainURL := func() url.URL { return url.URL{Scheme: "http", Host: "127.0.0.1:0"} }
	tlsURL := func() url.URL { return url.URL{Scheme: "https", Host: "127.0.0.1:0"} }

	type setup func(b *testing.B) (addr string, creds credentials.TransportCredentials, stop func())
	endpointSetup := func(u func() url.URL, creds credentials.TransportCredentials) setup {
		return func(b *testing.B) (string, credentials.TransportCredentials, func()) {
			gs := newGS()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			uu := u()
			uu.Host = addr
			ep, err := newClientEndpoint(lg, uu, serveGRPC|serveHTTP, &info, gs, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			ep.serve()
			return addr, creds, func() { ep.close(); gs.Stop() }
		}
	}
	cases := []struct {
		name  string
		setup setup
	}{
		{"plain/cmux+Serve", endpointSetup(plainURL, insecure.NewCredentials())},
		{"plain/h2c+ServeHTTP", func(b *testing.B) (string, credentials.TransportCredentials, func()) {
			gs := newGS()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := newHTTPServer(routeHandler(gs, nil), 0, lg)
			go func() { _ = hs.Serve(l) }()
			return l.Addr().String(), insecure.NewCredentials(), func() { _ = hs.Close(); gs.Stop() }
		}},
		{"tls/cmux+Serve", endpointSetup(tlsURL, credentials.NewTLS(clientTLS))},
		{"tls/ServeHTTP", func(b *testing.B) (string, credentials.TransportCredentials, func()) {
			gs := newGS()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			tl, err := tlsListener(l, info, lg)
			if err != nil {
				b.Fatal(err)
			}
			hs := newHTTPServer(routeHandler(gs, nil), 0, lg)
			go func() { _ = hs.Serve(tl) }()
			return l.Addr().String(), credentials.NewTLS(clientTLS), func() { _ = hs.Close(); gs.Stop() }
		}},
		{"tls/Serve", func(b *testing.B) (string, credentials.TransportCredentials, func()) {
			gs := newGS(grpc.Creds(credentials.NewTLS(serverTLS)))
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = gs.Serve(l) }()
			return l.Addr().String(), credentials.NewTLS(clientTLS), func() { gs.Stop() }
		}},
	}
	val := make([]byte, 256)
	for _, c := range cases {
		for _, parallel := range []bool{false, true} {
			name := c.name + "/serial"
			if parallel {
				name = c.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				addr, creds, stop := c.setup(b)
				defer stop()
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				kv := pb.NewKVClient(conn)
				ctx := context.Background()
				if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k")}); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for b.Loop() {
						if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: val}); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(8)
				b.RunParallel(func(pb2 *testing.PB) {
					for pb2.Next() {
						if _, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: val}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
