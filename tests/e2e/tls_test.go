package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1-9 and a
// client certificate, written as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	clientTLS                                        *tls.Config
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "concord-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(name, cn string, serial int64) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:    []string{"localhost"},
		}
		for i := 1; i <= 9; i++ {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(127, 0, 0, byte(i)))
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p := &pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue("etcd", "etcd-server", 2)
	p.clientCert, p.clientKey = issue("client", "root", 3)
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p.clientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}
	return p
}

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
