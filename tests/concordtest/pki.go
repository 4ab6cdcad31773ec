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
	"testing"
	"time"
)

// PKI is a throwaway certificate authority for TLS clusters, written as
// PEM files in a test's temporary directory: a server certificate valid
// for localhost and 127.0.0.1 to 127.0.0.9 (the addresses New gives
// members) and a client certificate with common name "root", both signed
// by CA and valid for both server and client authentication, for a day.
type PKI struct {
	CA                    string // CA certificate (PEM file path)
	ServerCert, ServerKey string // server certificate and its EC private key
	ClientCert, ClientKey string // client certificate and its EC private key
	// ClientTLS presents the client certificate and trusts CA: the
	// Options.ClientTLS of a cluster started with ServerArgs.
	ClientTLS *tls.Config
}

// NewPKI creates a PKI under t.TempDir(); it fails t when a key or a
// certificate cannot be made or written.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "concord-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(name, cn string, serial int64) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
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
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p := &PKI{CA: write("ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = issue("etcd", "etcd-server", 2)
	p.ClientCert, p.ClientKey = issue("client", "root", 3)
	pair, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p.ClientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}
	return p
}

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
