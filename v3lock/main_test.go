package v3lock_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/concord-kv/concord/v3lock"
)

// etcdBinary is the reference etcd server (Debian's etcd-server, 3.4).
const etcdBinary = "/usr/bin/etcd"

// env is shared by the package's tests: one real etcd, a client of it, the
// services of this package served over that client, and raw gRPC
// connections to both the services and etcd's own Lock/Election services.
var env struct {
	skip    string           // why the tests are skipped; "" if they run
	cli     *clientv3.Client // client of etcd
	concord *grpc.ClientConn // to this package's services
	etcd    *grpc.ClientConn // to etcd's client port (etcd's own services)
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if _, err := os.Stat(etcdBinary); err != nil {
		env.skip = fmt.Sprintf("SKIPPING v3lock tests: %s not found (apt-get install etcd-server): %v", etcdBinary, err)
		fmt.Fprintln(os.Stderr, "!!!!", env.skip)
		return m.Run()
	}
	e, err := startEtcd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.stop()

	env.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{e.clientAddr}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	defer env.cli.Close()
	// Wait for etcd to serve: the client retries an idempotent read while
	// the server is unavailable, until the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err = env.cli.Get(ctx, "health")
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd did not come up: %v\n%s", err, e.log.String())
		return 1
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	v3lock.Register(srv, env.cli)
	go srv.Serve(lis)
	defer srv.Stop()

	if env.concord, err = dial(lis.Addr().String()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.concord.Close()
	if env.etcd, err = dial(e.clientAddr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.etcd.Close()

	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "etcd log:\n%s", e.log.String())
	}
	return code
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// etcdProc is a running etcd 3.4 member on free 127.0.0.1 ports.
type etcdProc struct {
	cmd        *exec.Cmd
	dir        string
	clientAddr string
	log        *syncBuffer
}

func startEtcd(extra ...string) (*etcdProc, error) {
	dir, err := os.MkdirTemp("", "v3lock-etcd-")
	if err != nil {
		return nil, err
	}
	cport, pport, err := freePorts()
	if err != nil {
		return nil, err
	}
	curl := fmt.Sprintf("http://127.0.0.1:%d", cport)
	purl := fmt.Sprintf("http://127.0.0.1:%d", pport)
	args := append([]string{
		"--name", "v3lock-test",
		"--data-dir", dir,
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		"--initial-cluster", "v3lock-test=" + purl,
		"--log-level", "warn",
	}, extra...)
	e := &etcdProc{cmd: exec.Command(etcdBinary, args...), dir: dir, clientAddr: fmt.Sprintf("127.0.0.1:%d", cport), log: &syncBuffer{}}
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	if err := e.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	return e, nil
}

func (e *etcdProc) stop() {
	e.cmd.Process.Kill()
	e.cmd.Wait()
	os.RemoveAll(e.dir)
}

// freePorts returns two ports that were free a moment ago.
func freePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// target is a server of the Lock and Election services: this package's
// (backed by etcd) or etcd's own. Tests run on both, so etcd is the oracle.
type target struct {
	name string
	conn *grpc.ClientConn
}

func targets(t *testing.T) []target {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
	return []target{{"concord", env.concord}, {"etcd", env.etcd}}
}

// testCtx is a deadline for a whole test, so a bug hangs nothing forever.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func grant(t *testing.T, ctx context.Context) clientv3.LeaseID {
	t.Helper()
	resp, err := env.cli.Grant(ctx, 60)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	t.Cleanup(func() { env.cli.Revoke(context.Background(), resp.ID) })
	return resp.ID
}

// waitEvent reads wch until an event of type typ on a key other than
// except arrives, and returns that key.
func waitEvent(t *testing.T, wch clientv3.WatchChan, typ mvccpb.Event_EventType, except string) string {
	t.Helper()
	for wr := range wch {
		if err := wr.Err(); err != nil {
			t.Fatalf("watch: %v", err)
		}
		for _, ev := range wr.Events {
			if ev.Type == typ && string(ev.Kv.Key) != except {
				return string(ev.Kv.Key)
			}
		}
	}
	t.Fatalf("watch closed before a %v event", typ)
	return ""
}
