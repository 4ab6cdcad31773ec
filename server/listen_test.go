package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// fakeConn reads a fixed byte stream in chunks of at most step bytes.
type fakeConn struct {
	net.Conn
	data []byte
	step int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), f.step, len(f.data))
	copy(p, f.data[:n])
	f.data = f.data[n:]
	return n, nil
}

func frame(typ, flags byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, 0, 0, 0, 1}, payload...)
}

// TestSettingsAckConn: the client stream loses exactly its first SETTINGS
// ACK, whatever the read sizes; every other byte passes in order.
func TestSettingsAckConn(t *testing.T) {
	settings := frame(0x4, 0, []byte{0, 3, 0, 0, 0, 100})
	ack := frame(0x4, 0x1, nil)
	// A DATA frame whose payload looks like a SETTINGS ACK header.
	data := frame(0x0, 0, ack)
	headers := frame(0x1, 0x4, []byte("hpack-bytes"))
	in := bytes.Join([][]byte{[]byte(http2Preface), settings, data, headers, ack, headers, ack}, nil)
	want := bytes.Join([][]byte{[]byte(http2Preface), settings, data, headers, headers, ack}, nil)
	for step := 1; step <= len(in); step++ {
		c := &settingsAckConn{Conn: &fakeConn{data: append([]byte(nil), in...), step: step}, preface: len(http2Preface)}
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("step %d: %v\ngot  %x\nwant %x", step, err, got, want)
		}
	}
}

// peerKV reports through Range whether the call saw the client's TLS
// certificate.
type peerKV struct{ pb.UnimplementedKVServer }

func (peerKV) Range(ctx context.Context, _ *pb.RangeRequest) (*pb.RangeResponse, error) {
	p, _ := peer.FromContext(ctx)
	var n int64
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		n = int64(len(ti.State.PeerCertificates))
	}
	return &pb.RangeResponse{Count: n}, nil
}

// TestClientEndpointTLSAuthInfo: over an https client URL, gRPC calls see
// the client certificate as grpc-go's TLS credentials would show it.
func TestClientEndpointTLSAuthInfo(t *testing.T) {
	lg := zap.NewNop()
	info, err := transport.SelfCert(lg, t.TempDir(), []string{"127.0.0.1"}, 1, x509.ExtKeyUsageClientAuth)
	if err != nil {
		t.Fatal(err)
	}
	info.ClientCertAuth = true
	info.TrustedCAFile = info.CertFile // self-signed: the certificate is its own CA
	gs := grpc.NewServer(grpc.Creds(tlsConnCreds{}))
	pb.RegisterKVServer(gs, peerKV{})
	defer gs.Stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ep, err := newClientEndpoint(lg, url.URL{Scheme: "https", Host: addr}, serveGRPC|serveHTTP, &info, gs, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ep.serve()
	defer ep.close()
	pair, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true, //nolint:gosec // self-signed test certificate
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := pb.NewKVClient(conn).Range(context.Background(), &pb.RangeRequest{Key: []byte("k")})
	if err != nil || resp.Count != 1 {
		t.Fatalf("Range: %v %v, want the client's one certificate", resp, err)
	}
}
