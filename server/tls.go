package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/client/pkg/v3/tlsutil"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/config"
)

// memberTLS is a member's client and peer TLS as etcd's
// transport.TLSInfo; nil means plaintext. newMemberTLS builds and checks
// it before anything is written; autoTLS then fills in the self-signed
// certificates of --auto-tls and --peer-auto-tls.
type memberTLS struct {
	client *transport.TLSInfo
	peer   *transport.TLSInfo
	// clientAuto and peerAuto are set when the certificates are to be
	// generated under the data directory (no certificate was given).
	clientAuto, peerAuto bool
}

// newMemberTLS turns cfg's TLS settings into TLSInfos and checks them as
// etcd does at start: the certificate and key pairs (server and, when
// given, --client-cert-file/--peer-client-cert-file) load, the trusted CA
// files parse, the CRL files read and parse, the cipher suites and TLS
// versions are known, and every https/unixs URL has a certificate (or
// auto TLS). It writes nothing.
func newMemberTLS(cfg *config.Config, lg *zap.Logger) (*memberTLS, error) {
	ciphers, err := tlsutil.GetCipherSuites(cfg.CipherSuites)
	if err != nil {
		return nil, fmt.Errorf("server: --cipher-suites: %w", err)
	}
	minV, err := tlsutil.GetTLSVersion(cfg.TLSMinVersion)
	if err != nil {
		return nil, fmt.Errorf("server: --tls-min-version: %w", err)
	}
	maxV, err := tlsutil.GetTLSVersion(cfg.TLSMaxVersion)
	if err != nil {
		return nil, fmt.Errorf("server: --tls-max-version: %w", err)
	}
	mt := &memberTLS{}
	build := func(kind string, t config.TLSInfo, allowedCNs []string) (*transport.TLSInfo, bool, error) {
		if t.CertFile == "" && t.KeyFile == "" {
			if t.AutoTLS {
				return nil, true, nil
			}
			return nil, false, nil
		}
		if t.AutoTLS {
			lg.Warn("ignoring "+kind+" auto TLS since certs given", zap.String("cert-file", t.CertFile))
		}
		info := &transport.TLSInfo{
			CertFile:            t.CertFile,
			KeyFile:             t.KeyFile,
			ClientCertFile:      t.ClientCertFile,
			ClientKeyFile:       t.ClientKeyFile,
			TrustedCAFile:       t.TrustedCAFile,
			ClientCertAuth:      t.ClientCertAuth,
			CRLFile:             t.CRLFile,
			SkipClientSANVerify: t.SkipClientSANVerify,
			AllowedCNs:          allowedCNs,
			AllowedHostnames:    t.AllowedHostname,
			CipherSuites:        ciphers,
			MinVersion:          minV,
			MaxVersion:          maxV,
			Logger:              lg,
		}
		if err := checkTLSInfo(kind, info); err != nil {
			return nil, false, err
		}
		return info, false, nil
	}
	if mt.client, mt.clientAuto, err = build("client", cfg.ClientTLS, cfg.ClientTLS.AllowedCN); err != nil {
		return nil, err
	}
	if mt.peer, mt.peerAuto, err = build("peer", cfg.PeerTLS, cfg.PeerTLS.AllowedCN); err != nil {
		return nil, err
	}
	needs := func(flag string, us []url.URL, ok bool, hint string) error {
		for _, u := range us {
			if isSecure(u) && !ok {
				return fmt.Errorf("server: %s %s needs a certificate (%s)", flag, u.String(), hint)
			}
		}
		return nil
	}
	clientOK := mt.client != nil || mt.clientAuto
	peerOK := mt.peer != nil || mt.peerAuto
	for _, e := range []error{
		needs("--listen-client-urls", cfg.ListenClientURLs, clientOK, "--cert-file/--key-file or --auto-tls"),
		needs("--listen-client-http-urls", cfg.ListenClientHTTPURLs, clientOK, "--cert-file/--key-file or --auto-tls"),
		needs("--listen-metrics-urls", cfg.ListenMetricsURLs, clientOK, "--cert-file/--key-file or --auto-tls"),
		needs("--listen-peer-urls", cfg.ListenPeerURLs, peerOK, "--peer-cert-file/--peer-key-file or --peer-auto-tls"),
	} {
		if e != nil {
			return nil, e
		}
	}
	return mt, nil
}

// checkTLSInfo loads everything info names, so that a bad file fails the
// start rather than the first handshake.
func checkTLSInfo(kind string, info *transport.TLSInfo) error {
	if _, err := info.ServerConfig(); err != nil {
		return fmt.Errorf("server: %s TLS: %w", kind, err)
	}
	if _, err := info.ClientConfig(); err != nil {
		return fmt.Errorf("server: %s TLS: %w", kind, err)
	}
	if info.CRLFile != "" {
		b, err := os.ReadFile(info.CRLFile)
		if err != nil {
			return fmt.Errorf("server: %s TLS: CRL file: %w", kind, err)
		}
		// The listener checks revocations with x509.ParseRevocationList,
		// which reads DER, as etcd's.
		if _, err := x509.ParseRevocationList(b); err != nil {
			return fmt.Errorf("server: %s TLS: CRL file %s: %w", kind, info.CRLFile, err)
		}
	}
	return nil
}

// autoTLS generates (or reuses) the self-signed certificates of
// --auto-tls under <dataDir>/fixtures/client and of --peer-auto-tls under
// <dataDir>/fixtures/peer, as etcd does, valid for the hosts of the
// listen URLs for --self-signed-cert-validity years. The generated
// TLSInfo keeps the flags' client-cert-auth, CA, CRL, allowed names,
// cipher suites and versions; with --client-cert-auth and no
// --trusted-ca-file the generated certificate is the trusted one.
func (mt *memberTLS) autoTLS(cfg *config.Config, dataDir string, lg *zap.Logger) error {
	gen := func(kind string, t config.TLSInfo, urls []url.URL, base *transport.TLSInfo) (*transport.TLSInfo, error) {
		var hosts []string
		for _, u := range urls {
			hosts = append(hosts, u.Hostname())
		}
		// Client auth usage too: the member presents the certificate
		// when it dials its own client URL and its peers.
		info, err := transport.SelfCert(lg, filepath.Join(dataDir, "fixtures", kind), hosts, cfg.SelfSignedCertValidity, x509.ExtKeyUsageClientAuth)
		if err != nil {
			return nil, fmt.Errorf("server: %s auto TLS: %w", kind, err)
		}
		info.TrustedCAFile = t.TrustedCAFile
		if kind == "client" && t.ClientCertAuth && t.TrustedCAFile == "" {
			// Nothing else could vouch for a client: the member's own
			// certificate is the one trusted, so its own client (Lock,
			// Election, the gateway) keeps working.
			info.TrustedCAFile = info.CertFile
		}
		info.ClientCertAuth = t.ClientCertAuth
		info.CRLFile = t.CRLFile
		info.SkipClientSANVerify = t.SkipClientSANVerify
		info.AllowedCNs = t.AllowedCN
		info.AllowedHostnames = t.AllowedHostname
		info.CipherSuites, info.MinVersion, info.MaxVersion = base.CipherSuites, base.MinVersion, base.MaxVersion
		info.Logger = lg
		if err := checkTLSInfo(kind, &info); err != nil {
			return nil, err
		}
		return &info, nil
	}
	// The cipher suites and versions were checked by newMemberTLS.
	ciphers, _ := tlsutil.GetCipherSuites(cfg.CipherSuites)
	minV, _ := tlsutil.GetTLSVersion(cfg.TLSMinVersion)
	maxV, _ := tlsutil.GetTLSVersion(cfg.TLSMaxVersion)
	base := &transport.TLSInfo{CipherSuites: ciphers, MinVersion: minV, MaxVersion: maxV}
	var err error
	if mt.clientAuto {
		urls := append(append([]url.URL{}, cfg.ListenClientURLs...), cfg.ListenClientHTTPURLs...)
		if mt.client, err = gen("client", cfg.ClientTLS, urls, base); err != nil {
			return err
		}
	}
	if mt.peerAuto {
		if mt.peer, err = gen("peer", cfg.PeerTLS, cfg.ListenPeerURLs, base); err != nil {
			return err
		}
	}
	return nil
}

// peerDialConfig is the TLS a member dials its peers with (nil:
// plaintext): the peer CA verifies them, and the member presents
// --peer-client-cert-file (else --peer-cert-file) when asked; with
// --peer-auto-tls peers are not verified, as etcd's.
func (mt *memberTLS) peerDialConfig() (*tls.Config, error) {
	if mt.peer == nil {
		return nil, nil
	}
	return mt.peer.ClientConfig()
}

// selfClientConfig is the TLS of the member's own client (Lock, Election,
// the gateway) to its first client URL: it presents --client-cert-file
// (else the server certificate), so it passes --client-cert-auth, and
// verifies the server against the trusted CA when there is one, without
// checking the host name (it dials its own loopback address, which the
// certificate need not name).
func (mt *memberTLS) selfClientConfig() (*tls.Config, error) {
	if mt.client == nil {
		return nil, errors.New("server: the client URL needs a certificate")
	}
	c, err := mt.client.ClientConfig()
	if err != nil {
		return nil, err
	}
	roots := c.RootCAs
	c.InsecureSkipVerify = true
	if roots != nil {
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("server: no server certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, b := range raw {
				cert, perr := x509.ParseCertificate(b)
				if perr != nil {
					return perr
				}
				certs[i] = cert
			}
			inter := x509.NewCertPool()
			for _, ic := range certs[1:] {
				inter.AddCert(ic)
			}
			_, verr := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return verr
		}
	}
	return c, nil
}
