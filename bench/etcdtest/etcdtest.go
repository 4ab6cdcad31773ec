package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultBinary is where Debian installs etcd.
const DefaultBinary = "/usr/bin/etcd"

// Binary returns $ETCD_BIN when set, else DefaultBinary.
func Binary() string {
	if b := os.Getenv("ETCD_BIN"); b != "" {
		return b
	}
	return DefaultBinary
}

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string
	DataDir   string
	LogFile   string
	// Exited is closed when the process has exited.
	Exited chan struct{}
	cmd    *exec.Cmd
}

// Cluster is a set of etcd members started together.
type Cluster struct {
	Members []*Member
	// ClientTLS is the client TLS configuration of an https cluster (nil
	// for http).
	ClientTLS *tls.Config
}

// Options configure StartOptions.
type Options struct {
	// Scheme of the client URLs: "http" (default) or "https". Peer URLs
	// stay http.
	Scheme string
	// Args are extra flags for every member (the TLS flags of an https
	// cluster: --cert-file, --key-file, --trusted-ca-file, …).
	Args []string
	// ClientTLS is what the readiness check and Client use for https.
	ClientTLS *tls.Config
}

// Endpoints returns the members' client URLs.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Client returns a client of all endpoints, closed at test cleanup.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 10 * time.Second, TLS: c.ClientTLS, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, n)
	ports := make([]int, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("etcdtest: free port: %v", err)
		}
		ls[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// Start launches an n-member etcd cluster (n ≥ 1) with a fresh data
// directory per member under the test's temporary directory, waits until
// it serves linearizable reads, and stops it at test cleanup. It skips the
// test, with a loud message, when the etcd binary is absent. On failure it
// prints the members' logs.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartOptions(t, n, Options{})
}

// StartOptions is Start with client URLs of o.Scheme and o.Args added to
// every member's flags.
func StartOptions(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	scheme := o.Scheme
	if scheme == "" {
		scheme = "http"
	}
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("!!! SKIPPING: etcd binary %s not found (%v); install Debian's etcd-server or set ETCD_BIN — CI must have it !!!", bin, err)
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	ports := freePorts(t, 2*n)
	dir := t.TempDir()
	c := &Cluster{ClientTLS: o.ClientTLS}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			DataDir:   filepath.Join(dir, fmt.Sprintf("m%d.etcd", i)),
			LogFile:   filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
			Exited:    make(chan struct{}),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		log, err := os.Create(m.LogFile)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		m.cmd = exec.Command(bin, append([]string{
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "etcdtest",
			"--logger", "zap",
			"--log-outputs", "stderr",
		}, o.Args...)...)
		m.cmd.Stdout, m.cmd.Stderr = log, log
		if err := m.cmd.Start(); err != nil {
			_ = log.Close()
			t.Fatalf("etcdtest: start %s: %v", m.Name, err)
		}
		go func() {
			_ = m.cmd.Wait()
			_ = log.Close()
			close(m.Exited)
		}()
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			_ = m.cmd.Process.Kill()
		}
		for _, m := range c.Members {
			<-m.Exited
		}
		if t.Failed() {
			c.dumpLogs(t)
		}
	})
	if err := c.waitReady(60 * time.Second); err != nil {
		c.dumpLogs(t)
		t.Fatalf("etcdtest: cluster not ready: %v", err)
	}
	return c
}

// waitReady retries a linearizable Get on every member until all answer
// (so a leader is elected and every member has joined), a member exits,
// or timeout passes. Each attempt blocks in the client, so no sleeping.
func (c *Cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, m := range c.Members {
		cl, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, TLS: c.ClientTLS, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		var last error
		for {
			if time.Now().After(deadline) {
				_ = cl.Close()
				return fmt.Errorf("%s: %w", m.Name, errors.Join(context.DeadlineExceeded, last))
			}
			select {
			case <-m.Exited:
				_ = cl.Close()
				return fmt.Errorf("%s exited during start-up", m.Name)
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, last = cl.Get(ctx, "etcdtest-ready")
			if last == nil {
				cancel()
				break
			}
			// The client retries unavailable reads until the attempt's
			// deadline; an attempt that failed sooner (a hard error) is
			// paced to the same window so the loop does not spin.
			<-ctx.Done()
			cancel()
		}
		_ = cl.Close()
	}
	return nil
}

func (c *Cluster) dumpLogs(t testing.TB) {
	for _, m := range c.Members {
		b, _ := os.ReadFile(m.LogFile)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		t.Logf("etcdtest: log tail of %s:\n%s", m.Name, b)
	}
}
