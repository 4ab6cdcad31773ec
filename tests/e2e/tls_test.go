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
// client certificate, written as PEM files; issue makes more.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	clientTLS                                        *tls.Config

	t      *testing.T
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir(), serial: 1}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "concord-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(caDER)
	p.ca = p.write("ca.pem", "CERTIFICATE", caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.serverCert, p.serverKey, _ = p.issue("etcd", "etcd-server")
	var pair tls.Certificate
	p.clientCert, p.clientKey, pair = p.issue("client", "root")
	p.clientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: p.pool}
	return p
}

func (p *pki) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue signs a certificate with common name cn for server and client
// use, valid for localhost and 127.0.0.1-9, written as name.pem and
// name-key.pem; it returns the files and the loaded pair.
func (p *pki) issue(name, cn string) (certFile, keyFile string, pair tls.Certificate) {
	return p.issueCert(certSpec{name: name, cn: cn})
}

// issueWith is issue with the certificate's expiry.
func (p *pki) issueWith(name, cn string, notAfter time.Time) (certFile, keyFile string, pair tls.Certificate) {
	return p.issueCert(certSpec{name: name, cn: cn, notAfter: notAfter})
}

// certSpec describes a certificate for issueCert.
type certSpec struct {
	name, cn string
	// dns are the DNS names; nil is {"localhost"}.
	dns []string
	// notAfter is the expiry; zero is a day from now.
	notAfter time.Time
	// serverOnly leaves out the client-auth key usage.
	serverOnly bool
}

// issueCert signs the certificate spec describes, valid for 127.0.0.1-9.
func (p *pki) issueCert(spec certSpec) (certFile, keyFile string, pair tls.Certificate) {
	p.t.Helper()
	p.serial++
	if spec.dns == nil {
		spec.dns = []string{"localhost"}
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Now().Add(24 * time.Hour)
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if spec.serverOnly {
		eku = eku[:1]
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: spec.cn},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: spec.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: eku,
		DNSNames:    spec.dns,
	}
	for i := 1; i <= 9; i++ {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(127, 0, 0, byte(i)))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = p.write(spec.name+".pem", "CERTIFICATE", der), p.write(spec.name+"-key.pem", "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// crl writes a DER revocation list (the form etcd's --client-crl-file
// reads) revoking the certificates in files, and returns its path.
func (p *pki) crl(name string, files ...string) string {
	p.t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			p.t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			p.t.Fatal(err)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.caCert, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, der, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// tlsConfig is a client configuration trusting the CA and presenting
// pair.
func (p *pki) tlsConfig(pair tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: p.pool}
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
