package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/internal/lockpb"
	"github.com/concord-kv/concord/tests/concordtest"
)

// curlResult is what curl fetched: the status, the HTTP version it spoke
// ("1.1" or "2") and the body.
type curlResult struct {
	code    string
	version string
	body    string
}

// curl runs /usr/bin/curl with args and the URL u.
func curl(t *testing.T, u string, args ...string) (curlResult, error) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl not found (apt-get install curl): %v", err)
	}
	body := filepath.Join(t.TempDir(), "body")
	cmd := exec.Command(path, append(args, "-sS", "--max-time", "10", "-o", body, "-w", "%{http_code} %{http_version}", u)...)
	out, err := cmd.Output()
	b, _ := os.ReadFile(body)
	code, version, _ := strings.Cut(string(out), " ")
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
	}
	return curlResult{code: code, version: version, body: string(b)}, err
}

// checkHTTPEndpoints fetches /metrics, /health and /version from base
// with curl (args select TLS files and the HTTP version) and checks they
// answer 200 over HTTP version want with etcd's content.
func checkHTTPEndpoints(t *testing.T, base, want string, args ...string) {
	t.Helper()
	for _, c := range []struct{ path, body string }{
		{"/metrics", "etcd_server_has_leader 1"},
		{"/health", `"health":"true"`},
		{"/version", `"etcdserver":"3.6.0"`},
	} {
		r, err := curl(t, base+c.path, args...)
		if err != nil || r.code != "200" || r.version != want || !strings.Contains(r.body, c.body) {
			t.Errorf("curl %v %s: err %v, status %s, HTTP/%s (want HTTP/%s 200 with %q), body %.200q", args, c.path, err, r.code, r.version, want, c.body, r.body)
		}
	}
}

// putGet writes and reads a key through cl.
func putGet(t *testing.T, cl *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Put(ctx, key, "v"); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	resp, err := cl.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get %s: %v %v", key, resp, err)
	}
}

// TestClientPortTLS: on one https client URL with client certificates
// required, Prometheus-style scrapes (curl over HTTP/2 by ALPN and over
// HTTP/1.1), the JSON gateway, the Go client and Debian's etcdctl 3.4 are
// all served; a too-large request still gets etcd's error.
func TestClientPortTLS(t *testing.T) {
	p := newPKI(t)
	metrics := "https://" + concordtest.FreeAddr(t, "127.0.0.1")
	c := newClusterScheme(t, 1, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.ca,
		"--enable-grpc-gateway", "--listen-metrics-urls="+metrics)
	m := c.Members[0]
	tlsArgs := []string{"--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey}
	checkHTTPEndpoints(t, m.ClientURL, "2", tlsArgs...)
	checkHTTPEndpoints(t, m.ClientURL, "1.1", append(tlsArgs, "--http1.1")...)
	checkHTTPEndpoints(t, metrics, "2", tlsArgs...)

	if e := logEntry(m.LogTail(500), "serving client traffic securely"); e == nil || e["traffic"] != "grpc+http" || e["address"] != strings.TrimPrefix(m.ClientURL, "https://") {
		t.Errorf("serving client traffic securely: %v", e)
	}
	putGet(t, c.Client(t), "/tls/go")
	for _, args := range [][]string{{"put", "/tls/ctl", "x"}, {"get", "/tls/ctl", "--print-value-only"}} {
		if out, err := etcdctl(t, c.Endpoints(), "", append([]string{"--cacert=" + p.ca, "--cert=" + p.clientCert, "--key=" + p.clientKey}, args...)...); err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
	}
	// The gateway over HTTP/2 and HTTP/1.1.
	for _, v := range [][]string{nil, {"--http1.1"}} {
		r, err := curl(t, m.ClientURL+"/v3/kv/range", append(append(tlsArgs, v...), "-X", "POST", "-d", `{"key":"L3Rscy9nbw=="}`)...)
		if err != nil || r.code != "200" || !strings.Contains(r.body, `"value":"dg=="`) {
			t.Errorf("gateway range %v: %v %+v", v, err, r)
		}
	}
	// gRPC's receive limit sits above --max-request-bytes, so the server's
	// own check answers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client(t).Put(ctx, "/tls/big", strings.Repeat("x", 1600*1024)); err == nil || !strings.Contains(err.Error(), "etcdserver: request is too large") {
		t.Errorf("1.6 MiB put: %v, want etcdserver: request is too large", err)
	}
	// The Lock service runs on the member's own client, which must pass
	// --client-cert-auth.
	lockRPC(t, c.Client(t), "/tls/lock")
}

// TestPrometheusScrapeHTTPS: real Prometheus scrapes /metrics from an
// https client URL that requires client certificates (Prometheus
// negotiates HTTP/2 by ALPN) and sees the member up.
func TestPrometheusScrapeHTTPS(t *testing.T) {
	p := newPKI(t)
	c := newClusterScheme(t, 1, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey)
	target := strings.TrimPrefix(c.Members[0].ClientURL, "https://")
	prom := startPrometheus(t, []string{target}, "scheme: https", "tls_config:",
		"  ca_file: "+p.ca, "  cert_file: "+p.clientCert, "  key_file: "+p.clientKey)
	metricsWait(t, 30*time.Second, "up and etcd_server_has_leader over https", func() error {
		for _, q := range []string{`up{job="` + metricsJob + `"}`, `etcd_server_has_leader{job="` + metricsJob + `"}`} {
			s, err := prom.query(q)
			if err != nil {
				return err
			}
			if len(s) != 1 || s[0].value != 1 {
				return fmt.Errorf("%s = %v", q, s)
			}
		}
		return nil
	})
}

// TestClientPortPlain: on a plaintext client URL, HTTP/1.1 and
// prior-knowledge HTTP/2 scrapes are served beside gRPC.
func TestClientPortPlain(t *testing.T) {
	c := newCluster(t, 1)
	m := c.Members[0]
	checkHTTPEndpoints(t, m.ClientURL, "1.1", "--http1.1")
	checkHTTPEndpoints(t, m.ClientURL, "2", "--http2-prior-knowledge")
	putGet(t, c.Client(t), "/plain/go")
	if out, err := etcdctl(t, c.Endpoints(), "", "put", "/plain/ctl", "x"); err != nil {
		t.Fatalf("etcdctl put: %v\n%s", err, out)
	}
}

// TestListenClientHTTPURLs: with --listen-client-http-urls, that URL
// serves HTTP and refuses gRPC, and the client URL serves gRPC only, as
// etcd 3.5+.
func TestListenClientHTTPURLs(t *testing.T) {
	httpURL := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	c := newCluster(t, 1, "--listen-client-http-urls="+httpURL)
	m := c.Members[0]
	checkHTTPEndpoints(t, httpURL, "1.1", "--http1.1")
	checkHTTPEndpoints(t, httpURL, "2", "--http2-prior-knowledge")
	putGet(t, c.Client(t), "/split/go")

	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{httpURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cl.Put(ctx, "/split/http", "v"); err == nil {
		t.Errorf("gRPC put on the HTTP-only URL succeeded")
	}
	if r, err := curl(t, m.ClientURL+"/metrics", "--http1.1"); err == nil && r.code == "200" {
		t.Errorf("HTTP /metrics on the gRPC-only client URL answered 200")
	}
	if !strings.Contains(m.LogTail(200), `"traffic":"http"`) || !strings.Contains(m.LogTail(200), `"traffic":"grpc"`) {
		t.Errorf("no grpc/http traffic lines in the log:\n%s", m.LogTail(40))
	}
}

// TestAutoTLSCluster: three members with --auto-tls and --peer-auto-tls
// form a cluster over self-signed certificates written under the data
// directory, and etcdctl (verification skipped) reads and writes; the
// member's own client (Lock) works too.
func TestAutoTLSCluster(t *testing.T) {
	o := clusterOptions("e2e-auto-tls", "--auto-tls", "--peer-auto-tls")
	o.Scheme, o.ClientTLS = "https", &tls.Config{InsecureSkipVerify: true}
	c := concordtest.StartOptions(t, 3, o)
	for _, m := range c.Members {
		for _, kind := range []string{"client", "peer"} {
			for _, f := range []string{"cert.pem", "key.pem"} {
				if _, err := os.Stat(filepath.Join(m.DataDir, "fixtures", kind, f)); err != nil {
					t.Errorf("%s: %v", m.Name, err)
				}
			}
		}
	}
	tlsArgs := []string{"--insecure-transport=false", "--insecure-skip-tls-verify"}
	for _, args := range [][]string{{"put", "/auto/k", "v"}, {"get", "/auto/k", "--print-value-only"}} {
		out, err := etcdctl(t, c.Endpoints(), "", append(tlsArgs, args...)...)
		if err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
		if args[0] == "get" && out != "v\n" {
			t.Fatalf("get: %q", out)
		}
	}
	checkHTTPEndpoints(t, c.Members[0].ClientURL, "2", "-k")
	lockRPC(t, c.Client(t), "/auto/lock")
}

// lockRPC takes and releases a lock through the Lock service (etcdctl 3.4
// locks on the client side, so it would not reach the member's own
// client that the service runs on).
func lockRPC(t *testing.T, cl *clientv3.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lc := lockpb.NewLockClient(cl.ActiveConnection())
	resp, err := lc.Lock(ctx, &lockpb.LockRequest{Name: []byte(name)})
	if err != nil {
		t.Fatalf("Lock %s: %v", name, err)
	}
	if _, err := lc.Unlock(ctx, &lockpb.UnlockRequest{Key: resp.Key}); err != nil {
		t.Fatalf("Unlock %s: %v", resp.Key, err)
	}
}

// TestAutoTLSClientCertAuth: with --auto-tls and --client-cert-auth
// (no CA) the member's own certificate is the one client certificate
// accepted: the member's own client (Lock) works with it, a client with
// another certificate is refused.
func TestAutoTLSClientCertAuth(t *testing.T) {
	var dataDir string
	own := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		fx := filepath.Join(dataDir, "fixtures", "client")
		pair, err := tls.LoadX509KeyPair(filepath.Join(fx, "cert.pem"), filepath.Join(fx, "key.pem"))
		return &pair, err
	}
	o := clusterOptions("e2e-auto-tls-cca", "--auto-tls", "--peer-auto-tls", "--client-cert-auth")
	o.Scheme = "https"
	o.ClientTLS = &tls.Config{InsecureSkipVerify: true, GetClientCertificate: own} //nolint:gosec // self-signed
	c := concordtest.New(t, 1, o)
	dataDir = c.Members[0].DataDir
	c.Launch(t)
	putGet(t, c.Client(t), "/auto-cca/k")
	lockRPC(t, c.Client(t), "/auto-cca/lock")
	p := newPKI(t)
	if err := tlsGet(c.Members[0].ClientURL, &tls.Config{InsecureSkipVerify: true, Certificates: p.clientTLS.Certificates}); err == nil { //nolint:gosec // self-signed
		t.Errorf("a client with another certificate was served")
	}
}

// tlsGet fetches /health from u with cfg; it returns the error of the
// handshake or request.
func tlsGet(u string, cfg *tls.Config) error {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := cl.Get(u + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// TestTLSRefusals: a revoked (CRL), expired or foreign-CA client
// certificate, and a TLS 1.3-only client against --tls-max-version=TLS1.2,
// are refused at the handshake and logged with the remote address; a
// good client is served.
func TestTLSRefusals(t *testing.T) {
	p := newPKI(t)
	revokedCert, _, revoked := p.issue("revoked", "revoked")
	_, _, expired := p.issueWith("expired", "root", time.Now().Add(-time.Hour))
	crl := p.crl("revoked.crl", revokedCert)
	other := newPKI(t)
	c := newClusterScheme(t, 1, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey,
		"--client-crl-file="+crl, "--tls-max-version=TLS1.2", "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
	m := c.Members[0]
	if err := tlsGet(m.ClientURL, p.clientTLS); err != nil {
		t.Fatalf("good client: %v", err)
	}
	for name, cfg := range map[string]*tls.Config{
		"revoked":     p.tlsConfig(revoked),
		"expired":     p.tlsConfig(expired),
		"foreign CA":  {Certificates: other.clientTLS.Certificates, RootCAs: p.Pool()},
		"no cert":     {RootCAs: p.Pool()},
		"TLS1.3 only": {Certificates: p.clientTLS.Certificates, RootCAs: p.Pool(), MinVersion: tls.VersionTLS13},
		"other cipher": {Certificates: p.clientTLS.Certificates, RootCAs: p.Pool(), MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}},
	} {
		if err := tlsGet(m.ClientURL, cfg); err == nil {
			t.Errorf("%s client was served", name)
		}
	}
	// The server logs each refusal with the client's address.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rejected := func(log string) int {
		n := 0
		for _, line := range strings.Split(log, "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == "rejected connection" {
				if a, _ := e["remote-addr"].(string); strings.HasPrefix(a, "127.0.0.1:") {
					n++
				}
			}
		}
		return n
	}
	for ctx.Err() == nil && rejected(m.LogTail(500)) < 6 {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	log := m.LogTail(500)
	if n := rejected(log); n < 6 {
		t.Errorf("%d rejected connection lines, want 6:\n%s", n, log)
	}
	if !strings.Contains(log, "revoked") {
		t.Errorf("no revocation in the log:\n%s", log)
	}
}

// TestPeerAllowedCN: with --peer-cert-allowed-cn the members (whose peer
// certificate has that CN) form a cluster, and a peer connection with
// another CN is refused at the handshake.
func TestPeerAllowedCN(t *testing.T) {
	p := newPKI(t)
	_, _, wrong := p.issue("intruder", "intruder")
	serverPair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newClusterScheme(t, 3, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.ca, "--peer-client-cert-auth",
		"--peer-cert-allowed-cn=etcd-server")
	putGet(t, c.Client(t), "/peer/cn")
	peer := c.Members[0].PeerURL
	if err := versionGet(peer, p.tlsConfig(serverPair)); err != nil {
		t.Errorf("peer with the allowed CN: %v", err)
	}
	if err := versionGet(peer, p.tlsConfig(wrong)); err == nil {
		t.Errorf("peer with CN intruder was served")
	}
}

// TestClientCertAllowedHostname: with --client-cert-allowed-hostname
// only client certificates naming that host are served, and the member's
// own client (Lock) presents --client-cert-file, not its server
// certificate, which here cannot authenticate a client at all.
func TestClientCertAllowedHostname(t *testing.T) {
	p := newPKI(t)
	serverCert, serverKey, _ := p.issueCert(certSpec{name: "server-only", cn: "etcd-server", serverOnly: true})
	okCert, okKey, okPair := p.issueCert(certSpec{name: "allowed", cn: "app", dns: []string{"app.concord.test"}})
	c := newClusterScheme(t, 1, "https", p.tlsConfig(okPair),
		"--cert-file="+serverCert, "--key-file="+serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--client-cert-allowed-hostname=app.concord.test", "--client-cert-file="+okCert, "--client-key-file="+okKey,
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey)
	m := c.Members[0]
	if err := tlsGet(m.ClientURL, p.tlsConfig(okPair)); err != nil {
		t.Errorf("allowed host name: %v", err)
	}
	if err := tlsGet(m.ClientURL, p.clientTLS); err == nil {
		t.Errorf("a certificate for localhost only was served")
	}
	lockRPC(t, c.Client(t), "/host/lock")
}

// TestPeerCertAllowedHostname: with --peer-cert-allowed-hostname a peer
// whose certificate does not name the host is refused on the peer port.
func TestPeerCertAllowedHostname(t *testing.T) {
	p := newPKI(t)
	_, _, other := p.issueCert(certSpec{name: "other-host", cn: "etcd-server", dns: []string{"other.concord.test"}})
	serverPair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	c := newClusterScheme(t, 1, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca,
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.ca, "--peer-client-cert-auth",
		"--peer-cert-allowed-hostname=localhost")
	peer := c.Members[0].PeerURL
	if err := versionGet(peer, p.tlsConfig(serverPair)); err != nil {
		t.Errorf("peer certificate for localhost: %v", err)
	}
	if err := versionGet(peer, p.tlsConfig(other)); err == nil {
		t.Errorf("peer certificate for other.concord.test was served")
	}
}

// TestPeerJoinAllowedCN: a member joining a --peer-cert-allowed-cn
// cluster whose peer client certificate (--peer-client-cert-file) has
// another CN is refused at the handshake and cannot join; restarted with
// an allowed client certificate it joins.
func TestPeerJoinAllowedCN(t *testing.T) {
	p := newPKI(t)
	badCert, badKey, _ := p.issue("intruder", "intruder")
	goodCert, goodKey, _ := p.issue("peer-client", "etcd-server")
	tlsFlags := []string{
		"--cert-file=" + p.serverCert, "--key-file=" + p.serverKey, "--trusted-ca-file=" + p.ca, "--client-cert-auth",
		"--peer-cert-file=" + p.serverCert, "--peer-key-file=" + p.serverKey, "--peer-trusted-ca-file=" + p.ca, "--peer-client-cert-auth",
		"--peer-cert-allowed-cn=etcd-server",
	}
	c := newClusterScheme(t, 1, "https", p.clientTLS, tlsFlags...)
	m1 := c.Members[0]
	m2 := c.NewMember(t, "m2", "127.0.0.2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Client(t).MemberAddAsLearner(ctx, []string{m2.PeerURL}); err != nil {
		t.Fatal(err)
	}
	base := append([]string{"--name=m2", "--data-dir=" + m2.DataDir,
		"--listen-client-urls=" + m2.ClientURL, "--advertise-client-urls=" + m2.ClientURL,
		"--listen-peer-urls=" + m2.PeerURL, "--initial-advertise-peer-urls=" + m2.PeerURL,
		"--initial-cluster=m1=" + m1.PeerURL + ",m2=" + m2.PeerURL, "--initial-cluster-state=existing",
		"--heartbeat-interval=50", "--election-timeout=500", "--log-level=info"}, tlsFlags...)
	m2.Args = append(append([]string{}, base...), "--peer-client-cert-file="+badCert, "--peer-client-key-file="+badKey)
	c.AddMember(t, m2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		refused := false
		for _, e := range logEntries(m1.LogTail(2000), "rejected connection") {
			refused = refused || strings.Contains(fmt.Sprint(e["error"]), "client certificate authentication failed")
		}
		if refused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m1 logged no refusal of m2's certificate:\n%s", m1.LogTail(30))
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-m2.Exited():
			// Refused by every peer, m2 gives up: also a failure to join.
			deadline = time.Now()
		}
	}
	if logEntry(m2.LogTail(2000), "published local member to cluster through raft") != nil {
		t.Fatalf("m2 joined with a refused certificate")
	}
	m2.Stop()
	m2.Args = append(append([]string{}, base...), "--peer-client-cert-file="+goodCert, "--peer-client-key-file="+goodKey)
	m2.Restart(t)
	c.WaitServing(t, m2)
}

// TestPeerClientSAN: as etcd's, a peer listener refuses a peer
// certificate that does not name the address the peer connects from,
// unless --peer-skip-client-san-verification.
func TestPeerClientSAN(t *testing.T) {
	p := newPKI(t)
	_, _, elsewhere := p.issueCert(certSpec{name: "elsewhere", cn: "etcd-server", ips: []net.IP{net.IPv4(127, 0, 0, 9)}, noDNS: true})
	flags := []string{"--cert-file=" + p.serverCert, "--key-file=" + p.serverKey, "--trusted-ca-file=" + p.ca,
		"--peer-cert-file=" + p.serverCert, "--peer-key-file=" + p.serverKey, "--peer-trusted-ca-file=" + p.ca, "--peer-client-cert-auth"}
	strict := newClusterScheme(t, 1, "https", p.clientTLS, flags...)
	if err := versionGet(strict.Members[0].PeerURL, p.tlsConfig(elsewhere)); err == nil {
		t.Errorf("a peer certificate for 127.0.0.9 only was served to 127.0.0.1")
	}
	lax := newClusterScheme(t, 1, "https", p.clientTLS, append(flags, "--peer-skip-client-san-verification")...)
	if err := versionGet(lax.Members[0].PeerURL, p.tlsConfig(elsewhere)); err != nil {
		t.Errorf("with --peer-skip-client-san-verification: %v", err)
	}
}

func versionGet(u string, cfg *tls.Config) error {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := cl.Get(u + "/version")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// TestBadTLSConfig: an unknown cipher suite, a missing or unparsable CRL
// file, an unreadable certificate and a minimum above the maximum TLS
// version stop the start with a clear message and a non-zero status,
// before the data directory exists.
func TestBadTLSConfig(t *testing.T) {
	p := newPKI(t)
	notCRL := filepath.Join(t.TempDir(), "not.crl")
	if err := os.WriteFile(notCRL, []byte("not a CRL"), 0o600); err != nil {
		t.Fatal(err)
	}
	certs := []string{"--cert-file=" + p.serverCert, "--key-file=" + p.serverKey}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown cipher", append(certs, "--cipher-suites=TLS_BOGUS_SUITE"), `unexpected TLS cipher suite "TLS_BOGUS_SUITE"`},
		{"missing CRL", append(certs, "--client-crl-file=/nonexistent/crl"), "/nonexistent/crl"},
		{"bad CRL", append(certs, "--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-crl-file="+notCRL), "CRL file"},
		{"missing cert", []string{"--cert-file=/nonexistent/cert.pem", "--key-file=" + p.serverKey}, "/nonexistent/cert.pem"},
		{"min above max", append(certs, "--tls-min-version=TLS1.3", "--tls-max-version=TLS1.2"), "min version (TLS1.3) is greater than max version (TLS1.2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "member.concord")
			addr := concordtest.FreeAddr(t, "127.0.0.1")
			args := append([]string{"--name=m1", "--data-dir=" + dir,
				"--listen-client-urls=https://" + addr, "--advertise-client-urls=https://" + addr,
				"--listen-peer-urls=http://" + concordtest.FreeAddr(t, "127.0.0.1")}, tc.args...)
			cmd := exec.Command(concordtest.Binary(t), args...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero status\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("data dir written: %v", err)
			}
		})
	}
}

// TestLifecycle: etcd's start-up log lines, --version's lines and the
// systemd READY=1 notification once the member serves clients.
func TestLifecycle(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	metrics := "http://" + concordtest.FreeAddr(t, "127.0.0.1")
	c := newCluster(t, 1, "--listen-metrics-urls="+metrics)
	m := c.Members[0]

	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notify socket: %q, %v", buf[:n], err)
	}
	// The log line after the notification may trail it.
	waitLog(t, m, "successfully notified init daemon")
	log := m.LogTail(500)
	for _, want := range []struct {
		msg    string
		fields map[string]string // "" matches any value
	}{
		{"serving peer traffic", map[string]string{"address": strings.TrimPrefix(m.PeerURL, "http://")}},
		{"serving metrics", map[string]string{"address": metrics}},
		{"published local member to cluster through raft", map[string]string{
			"local-member-id": "", "cluster-id": "", "publish-timeout": "",
			"local-member-attributes": "{Name:m1 ClientURLs:[" + m.ClientURL + "]}",
		}},
		{"ready to serve client requests", nil},
		{"serving client traffic insecurely; this is strongly discouraged!", map[string]string{"traffic": "grpc+http", "address": strings.TrimPrefix(m.ClientURL, "http://")}},
		{"successfully notified init daemon", nil},
	} {
		e := logEntry(log, want.msg)
		if e == nil {
			t.Errorf("no log line %q", want.msg)
			continue
		}
		for k, v := range want.fields {
			got, ok := e[k].(string)
			if !ok || (v != "" && got != v) {
				t.Errorf("%q: %s = %v, want %q", want.msg, k, e[k], v)
			}
		}
	}
	// READY=1 comes after the member is served.
	if i, j := strings.Index(log, "published local member"), strings.Index(log, "ready to serve client requests"); i < 0 || j < i {
		t.Errorf("ready line before publish:\n%s", log)
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}

	out, err := exec.Command(concordtest.Binary(t), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	prefixes := []string{"etcd Version: 3.6.0", "Git SHA: ", "Go Version: go", "Go OS/Arch: ", "Concord Version: "}
	if len(lines) != len(prefixes) {
		t.Fatalf("--version:\n%s", out)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("--version line %d = %q, want prefix %q", i+1, lines[i], p)
		}
	}
}

// logEntry returns the first JSON log line of log whose msg is msg, nil
// when there is none.
func logEntry(log, msg string) map[string]any {
	if es := logEntries(log, msg); len(es) > 0 {
		return es[0]
	}
	return nil
}

// logEntries returns the JSON log lines of log whose msg is msg.
func logEntries(log, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(log, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits up to 10s for a JSON log line of m whose msg is msg.
func waitLog(t *testing.T, m *concordtest.Member, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for logEntry(m.LogTail(1000), msg) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within 10s", msg)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-m.Exited():
			t.Fatalf("member exited before logging %q", msg)
		}
	}
}
