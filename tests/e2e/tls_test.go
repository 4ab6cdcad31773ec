package e2e

import (
	"crypto/tls"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

// pki is concordtest's throwaway CA under the short names these tests
// use.
type pki struct {
	*concordtest.PKI
	ca, serverCert, serverKey, clientCert, clientKey string
	clientTLS                                        *tls.Config
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := concordtest.NewPKI(t)
	return &pki{PKI: p, ca: p.CA, serverCert: p.ServerCert, serverKey: p.ServerKey,
		clientCert: p.ClientCert, clientKey: p.ClientKey, clientTLS: p.ClientTLS}
}

// certSpec is concordtest.CertSpec with these tests' field names.
type certSpec struct {
	name, cn   string
	dns        []string
	notAfter   time.Time
	serverOnly bool
	ips        []net.IP
	noDNS      bool
}

func (p *pki) issue(name, cn string) (certFile, keyFile string, pair tls.Certificate) {
	return p.Issue(name, cn)
}

func (p *pki) issueWith(name, cn string, notAfter time.Time) (certFile, keyFile string, pair tls.Certificate) {
	return p.IssueWith(name, cn, notAfter)
}

func (p *pki) issueCert(s certSpec) (certFile, keyFile string, pair tls.Certificate) {
	return p.IssueCert(concordtest.CertSpec{Name: s.name, CN: s.cn, DNS: s.dns, NotAfter: s.notAfter,
		ServerOnly: s.serverOnly, IPs: s.ips, NoDNS: s.noDNS})
}

func (p *pki) crl(name string, files ...string) string { return p.CRL(name, files...) }

func (p *pki) tlsConfig(pair tls.Certificate) *tls.Config { return p.TLSConfig(pair) }

// TestTLSCluster starts 3 members with the TLS flag set of the seeds'
// systemd units (client and peer TLS, client certificates required) and
// drives them with etcdctl --cacert/--cert/--key, as seed 002 does.
func TestTLSCluster(t *testing.T) {
	p := newPKI(t)
	c := newClusterScheme(t, 3, "https", p.clientTLS,
		"--cert-file="+p.serverCert, "--key-file="+p.serverKey, "--trusted-ca-file="+p.ca, "--client-cert-auth",
		"--peer-cert-file="+p.serverCert, "--peer-key-file="+p.serverKey, "--peer-trusted-ca-file="+p.ca, "--peer-client-cert-auth")
	eps := c.Endpoints()
	tlsArgs := []string{"--cacert=" + p.ca, "--cert=" + p.clientCert, "--key=" + p.clientKey}
	run := func(args ...string) string {
		t.Helper()
		out, err := etcdctl(t, eps, "", append(tlsArgs, args...)...)
		if err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := run("put", "/registry/secure", "yes"); out != "OK\n" {
		t.Fatalf("put: %q", out)
	}
	if out := run("get", "/registry/secure", "--print-value-only"); out != "yes\n" {
		t.Fatalf("get: %q", out)
	}
	out := run("endpoint", "health", "--cluster", "-w", "table")
	if n := len(regexp.MustCompile(`\|\s+true\s+\|`).FindAllString(out, -1)); n != 3 {
		t.Fatalf("endpoint health --cluster:\n%q", out)
	}
	out = run("endpoint", "status", "--cluster", "-w", "table")
	if strings.Count(out, "https://127.0.0.") != 3 {
		t.Fatalf("endpoint status --cluster:\n%s", out)
	}
	out = run("member", "list", "-w", "table")
	if n := len(regexp.MustCompile(`\|\s+started\s+\|`).FindAllString(out, -1)); n != 3 {
		t.Fatalf("member list:\n%s", out)
	}
	// Without a client certificate the server refuses the connection.
	if out, err := etcdctl(t, eps, "", "--cacert="+p.ca, "--dial-timeout=1s", "--command-timeout=2s", "get", "x"); err == nil {
		t.Fatalf("get without client certificate succeeded: %s", out)
	}
}
