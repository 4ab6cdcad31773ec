package concordtest

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
	"sync"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority for TLS clusters, written as
// PEM files in a test's temporary directory: a server certificate valid
// for localhost and 127.0.0.1 to 127.0.0.9 (the addresses New gives
// members) and a client certificate with common name "root", both signed
// by CA and valid for both server and client authentication, for a day.
// Issue signs more.
type PKI struct {
	CA                    string // CA certificate (PEM file path)
	ServerCert, ServerKey string // server certificate and its EC private key
	ClientCert, ClientKey string // client certificate and its EC private key
	// ClientTLS presents the client certificate and trusts CA: the
	// Options.ClientTLS of a cluster started with ServerArgs.
	ClientTLS *tls.Config

	t      testing.TB
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	mu     sync.Mutex // guards serial
	serial int64      // of the last certificate signed
}

// NewPKI creates a PKI under t.TempDir(); it fails t when a key or a
// certificate cannot be made or written.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{t: t, dir: t.TempDir(), serial: 1}
	var err error
	p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "concord-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	p.CA = p.write("ca.pem", "CERTIFICATE", caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.ServerCert, p.ServerKey, _ = p.Issue("etcd", "etcd-server")
	var pair tls.Certificate
	p.ClientCert, p.ClientKey, pair = p.Issue("client", "root")
	p.ClientTLS = p.TLSConfig(pair)
	return p
}

func (p *PKI) write(name, typ string, der []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// Issue signs a certificate with common name cn for server and client
// use, valid for localhost and 127.0.0.1-9 for a day, written as name.pem
// and name-key.pem; it returns the files and the loaded pair.
func (p *PKI) Issue(name, cn string) (certFile, keyFile string, pair tls.Certificate) {
	p.t.Helper()
	return p.IssueCert(CertSpec{Name: name, CN: cn})
}

// IssueWith is Issue with the certificate's expiry (in the past for an
// expired certificate).
func (p *PKI) IssueWith(name, cn string, notAfter time.Time) (certFile, keyFile string, pair tls.Certificate) {
	p.t.Helper()
	return p.IssueCert(CertSpec{Name: name, CN: cn, NotAfter: notAfter})
}

// CertSpec describes a certificate for IssueCert.
type CertSpec struct {
	Name string // files Name.pem and Name-key.pem
	CN   string // subject common name
	// DNS are the DNS names; nil is {"localhost"}.
	DNS []string
	// NotAfter is the expiry; zero is a day from now.
	NotAfter time.Time
	// ServerOnly leaves out the client-auth extended key usage.
	ServerOnly bool
	// IPs are the IP addresses; nil is 127.0.0.1 to 127.0.0.9.
	IPs []net.IP
	// NoDNS leaves out the DNS names (DNS is then ignored).
	NoDNS bool
}

// IssueCert signs the certificate spec describes and returns its files
// and the loaded pair.
func (p *PKI) IssueCert(spec CertSpec) (certFile, keyFile string, pair tls.Certificate) {
	p.t.Helper()
	if spec.NoDNS {
		spec.DNS = nil
	} else if spec.DNS == nil {
		spec.DNS = []string{"localhost"}
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = time.Now().Add(24 * time.Hour)
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if spec.ServerOnly {
		eku = eku[:1]
	}
	p.mu.Lock()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: spec.CN},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: spec.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: eku,
		DNSNames:    spec.DNS,
	}
	tmpl.IPAddresses = spec.IPs
	for i := 1; i <= 9 && spec.IPs == nil; i++ {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(127, 0, 0, byte(i)))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	certFile, keyFile = p.write(spec.Name+".pem", "CERTIFICATE", der), p.write(spec.Name+"-key.pem", "EC PRIVATE KEY", kder)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// CRL writes a DER revocation list (the form etcd's --client-crl-file
// reads) named name, revoking the certificates in the PEM files, and
// returns its path.
func (p *PKI) CRL(name string, files ...string) string {
	p.t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			p.t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			p.t.Fatalf("concordtest: %s holds no PEM block", f)
		}
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

// TLSConfig is a client configuration trusting CA and presenting pair.
func (p *PKI) TLSConfig(pair tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: p.pool}
}

// Pool returns a certificate pool holding CA alone.
func (p *PKI) Pool() *x509.CertPool { return p.pool }

// ServerArgs returns the TLS flags of the seeds' systemd units for a
// member using p: client and peer TLS with the server certificate, and
// client certificates signed by CA required on both (--client-cert-auth,
// --peer-client-cert-auth).
func (p *PKI) ServerArgs() []string {
	return []string{
		"--cert-file=" + p.ServerCert, "--key-file=" + p.ServerKey, "--trusted-ca-file=" + p.CA, "--client-cert-auth",
		"--peer-cert-file=" + p.ServerCert, "--peer-key-file=" + p.ServerKey, "--peer-trusted-ca-file=" + p.CA, "--peer-client-cert-auth",
	}
}
