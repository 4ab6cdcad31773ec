package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/soheilhy/cmux"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/concord-kv/concord/config"
)

// What a client endpoint serves. etcd serves gRPC and HTTP on every
// --listen-client-urls URL, unless --listen-client-http-urls is set: then
// those URLs serve HTTP only and the client URLs gRPC only.
const (
	serveGRPC = 1 << iota
	serveHTTP
)

// endpoint is one bound client, HTTP-only or metrics listener; serve
// starts serving it (client listeners wait until the member has
// published itself, as etcd's do) and close stops it.
type endpoint struct {
	url     url.URL
	traffic string // "grpc+http", "grpc" or "http", etcd's log field
	serve   func()
	close   func()
}

// bindURL binds u's address: a TCP port for http and https, a socket file
// (host and path) for unix and unixs. TLS is added by the caller.
func bindURL(u url.URL) (net.Listener, error) {
	var l net.Listener
	var err error
	switch u.Scheme {
	case "unix", "unixs":
		l, err = net.Listen("unix", u.Host+u.Path)
	default:
		l, err = net.Listen("tcp", u.Host)
	}
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", u.String(), err)
	}
	return l, nil
}

// isSecure reports whether u's scheme is https or unixs.
func isSecure(u url.URL) bool { return u.Scheme == "https" || u.Scheme == "unixs" }

// isGRPC reports whether r is a gRPC call: HTTP/2 with a content type of
// application/grpc (or application/grpc+proto, ...), the test grpc-go's
// own ServeHTTP documentation gives.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// routeHandler sends gRPC calls to gs (nil: a gRPC call is answered as any
// other request by h) and everything else to h (nil: 404).
func routeHandler(gs *grpc.Server, h http.Handler) http.Handler {
	if h == nil {
		h = http.NotFoundHandler()
	}
	if gs == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, withConnTLS(r)) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = withConnTLS(r)
		if isGRPC(r) {
			gs.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// newHTTPServer is the http.Server of a client endpoint: HTTP/1.1 and
// HTTP/2 (ALPN h2 over TLS, prior knowledge in plaintext), at most
// maxStreams concurrent HTTP/2 streams per connection (as the gRPC
// server's --max-concurrent-streams).
func newHTTPServer(h http.Handler, maxStreams uint32, lg *zap.Logger) *http.Server {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	streams := int(maxStreams)
	if streams <= 0 {
		streams = 1 << 31
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         p,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: streams},
		ErrorLog:          log.New(zapWriter{lg}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if st := connTLS(c); st != nil {
				return context.WithValue(ctx, tlsStateKey{}, st)
			}
			return ctx
		},
	}
}

// zapWriter turns net/http's error log lines into zap debug lines.
type zapWriter struct{ lg *zap.Logger }

func (z zapWriter) Write(p []byte) (int, error) {
	z.lg.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// tlsListener wraps the bound l in TLS from info, handshaking each
// connection before Accept returns it; a failed handshake (no or a bad
// certificate, a CN or host name not allowed, a revoked certificate) is
// closed and logged as etcd's "rejected connection" with the remote
// address.
func tlsListener(l net.Listener, info transport.TLSInfo, lg *zap.Logger) (net.Listener, error) {
	info = withRejectLog(info, lg)
	tl, err := transport.NewTLSListener(l, &info)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("server: TLS on %s: %w", l.Addr(), err)
	}
	return tl, nil
}

// withRejectLog returns info with a HandshakeFailure that logs etcd's
// "rejected connection" warning: the remote address, the server name the
// client asked for, the certificate's common name and DNS names when it
// sent one, and the reason.
func withRejectLog(info transport.TLSInfo, lg *zap.Logger) transport.TLSInfo {
	info.HandshakeFailure = func(c *tls.Conn, err error) {
		st := c.ConnectionState()
		fields := []zap.Field{zap.String("remote-addr", c.RemoteAddr().String()), zap.String("server-name", st.ServerName)}
		if len(st.PeerCertificates) > 0 {
			cert := st.PeerCertificates[0]
			fields = append(fields, zap.String("common-name", cert.Subject.CommonName), zap.Strings("dns-names", cert.DNSNames))
		}
		lg.Warn("rejected connection", append(fields, zap.Error(err))...)
	}
	return info
}

// newClientEndpoint binds u and prepares it to serve what (serveGRPC,
// serveHTTP or both) with gs and h. For https/unixs the listener first
// completes the TLS handshake (ALPN h2, or HTTP/1.1 for clients that
// offer only it); then, for both:
//
//   - cmux sends HTTP/1 to the HTTP server, HTTP/2 connections whose first
//     request has content type application/grpc to gs.Serve (grpc-go's
//     own transport: several times the throughput of ServeHTTP, see
//     BenchmarkClientTransport), and other HTTP/2 (Prometheus, curl,
//     curl --http2-prior-knowledge) to the HTTP server, which also routes
//     any later gRPC call on such a connection to gs.ServeHTTP. etcd does
//     the same for plaintext; for TLS it sends everything through
//     ServeHTTP.
//   - gRPC only: gs.Serve on the listener; HTTP only: the HTTP server.
//
// info is the client TLS, used for secure schemes (nil: such a URL is an
// error).
func newClientEndpoint(lg *zap.Logger, u url.URL, what int, info *transport.TLSInfo, gs *grpc.Server, h http.Handler, maxStreams uint32) (*endpoint, error) {
	if isSecure(u) && info == nil {
		return nil, fmt.Errorf("server: %s needs a certificate (--cert-file/--key-file or --auto-tls)", u.String())
	}
	l, err := bindURL(u)
	if err != nil {
		return nil, err
	}
	if isSecure(u) {
		if l, err = tlsListener(l, *info, lg); err != nil {
			return nil, err
		}
	}
	var g *grpc.Server
	if what&serveGRPC != 0 {
		g = gs
	}
	var hh http.Handler
	if what&serveHTTP != 0 {
		hh = h
	}
	ep := &endpoint{url: u}
	switch {
	case g != nil && hh == nil:
		ep.serve = func() { go func() { _ = g.Serve(l) }() }
		ep.close = func() { _ = l.Close() }
	case g == nil:
		hs := newHTTPServer(hh, maxStreams, lg)
		ep.serve = func() { go func() { _ = hs.Serve(l) }() }
		ep.close = func() { _ = hs.Close(); _ = l.Close() }
	default:
		m := cmux.New(l)
		http1L := m.Match(cmux.HTTP1Fast())
		// grpc-go clients wait for the server's SETTINGS before their
		// first call, so the matcher must send one.
		grpcL := m.MatchWithWriters(cmux.HTTP2MatchHeaderFieldPrefixSendSettings("content-type", "application/grpc"))
		h2L := settingsAckListener{m.Match(cmux.Any())}
		hs := newHTTPServer(routeHandler(g, hh), maxStreams, lg)
		ep.serve = func() {
			go func() { _ = g.Serve(grpcL) }()
			go func() { _ = hs.Serve(http1L) }()
			go func() { _ = hs.Serve(h2L) }()
			go func() { _ = m.Serve() }()
		}
		ep.close = func() { _ = hs.Close(); _ = l.Close() }
	}
	return ep, nil
}

// tlsStateKey is the context key of a connection's TLS state, for
// requests that net/http sees on a connection cmux wrapped.
type tlsStateKey struct{}

// connTLS returns the TLS state of c, a *tls.Conn or a cmux connection
// over one; nil for plaintext.
func connTLS(c net.Conn) *tls.ConnectionState {
	if mc, ok := c.(*cmux.MuxConn); ok {
		c = mc.Conn
	}
	if sc, ok := c.(settingsAckConnHolder); ok {
		c = sc.inner()
		if mc, ok := c.(*cmux.MuxConn); ok {
			c = mc.Conn
		}
	}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}

// settingsAckConnHolder is a connection wrapping another.
type settingsAckConnHolder interface{ inner() net.Conn }

// withConnTLS gives r the TLS state of its connection when net/http did
// not see it (the connection reached it through cmux), so handlers and
// gRPC's ServeHTTP see the client's certificate as on a direct TLS
// connection.
func withConnTLS(r *http.Request) *http.Request {
	if r.TLS == nil {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = st
		}
	}
	return r
}

// tlsConnCreds are the gRPC server's transport credentials: connections
// arrive already handshaken by the listener (or plaintext), and this
// reports their TLS state to grpc-go as the peer's AuthInfo, as grpc-go's
// own TLS credentials would.
type tlsConnCreds struct{}

// plainAuthInfo is the AuthInfo of a plaintext connection.
type plainAuthInfo struct{ credentials.CommonAuthInfo }

func (plainAuthInfo) AuthType() string { return "insecure" }

func (tlsConnCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if st := connTLS(c); st != nil {
		return c, credentials.TLSInfo{State: *st, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c, plainAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (tlsConnCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("server: tlsConnCreds are server credentials")
}

func (tlsConnCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (c tlsConnCreds) Clone() credentials.TransportCredentials { return c }

func (tlsConnCreds) OverrideServerName(string) error { return nil } //nolint:staticcheck // interface method

// newMetricsEndpoint binds a --listen-metrics-urls URL serving h
// (/metrics and the health endpoints) over HTTP/1.1 and HTTP/2, with the
// client TLS settings for https, as etcd does.
func newMetricsEndpoint(lg *zap.Logger, u url.URL, info *transport.TLSInfo, h http.Handler) (*endpoint, error) {
	if isSecure(u) && info == nil {
		return nil, fmt.Errorf("server: %s needs a certificate (--cert-file/--key-file or --auto-tls)", u.String())
	}
	l, err := bindURL(u)
	if err != nil {
		return nil, err
	}
	if isSecure(u) {
		if l, err = tlsListener(l, *info, lg); err != nil {
			return nil, err
		}
	}
	hs := newHTTPServer(h, 0, lg)
	return &endpoint{
		url:   u,
		serve: func() { go func() { _ = hs.Serve(l) }() },
		close: func() { _ = hs.Close(); _ = l.Close() },
	}, nil
}

// settingsAckListener hands out the plaintext HTTP/2 connections that
// cmux's gRPC matcher read and did not take. The matcher answered each
// with a SETTINGS frame of its own, which the client acknowledges; the
// HTTP/2 server, which counts the ACKs of the SETTINGS it sent, would take
// that extra ACK as a protocol error, so each connection drops it.
type settingsAckListener struct{ net.Listener }

func (l settingsAckListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &settingsAckConn{Conn: c, preface: len(http2Preface)}, nil
}

// http2Preface is the client connection preface of RFC 9113 §3.4.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// settingsAckConn passes through the client's byte stream (the preface,
// then frames: a 9-byte header of 24-bit length, type and flags, then the
// payload) without the first SETTINGS frame with the ACK flag.
type settingsAckConn struct {
	net.Conn
	in      []byte // read from Conn, not yet parsed
	out     []byte // parsed, to hand to the reader
	preface int    // preface bytes still to pass
	payload int    // bytes of the current frame's payload still to pass
	dropped bool   // the ACK was removed; the rest passes untouched
	err     error  // the underlying read error, after in and out drain
}

func (c *settingsAckConn) inner() net.Conn { return c.Conn }

func (c *settingsAckConn) Read(p []byte) (int, error) {
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.dropped && len(c.in) == 0 {
			return c.Conn.Read(p)
		}
		if c.parse() {
			continue
		}
		if c.err != nil {
			// A stream that ends inside a frame header: hand it over as
			// it is, then the error.
			if len(c.in) > 0 {
				c.out, c.in = c.in, nil
				continue
			}
			return 0, c.err
		}
		buf := make([]byte, 16<<10)
		n, err := c.Conn.Read(buf)
		c.in = append(c.in, buf[:n]...)
		c.err = err
	}
}

// parse moves what it can from in to out; it reports whether it moved
// anything.
func (c *settingsAckConn) parse() bool {
	moved := false
	pass := func(n int) {
		c.out = append(c.out, c.in[:n]...)
		c.in = c.in[n:]
		moved = true
	}
	for len(c.in) > 0 {
		switch {
		case c.dropped:
			pass(len(c.in))
		case c.preface > 0:
			n := min(c.preface, len(c.in))
			c.preface -= n
			pass(n)
		case c.payload > 0:
			n := min(c.payload, len(c.in))
			c.payload -= n
			pass(n)
		case len(c.in) >= 9:
			length := int(c.in[0])<<16 | int(c.in[1])<<8 | int(c.in[2])
			const typeSettings, flagAck = 0x4, 0x1
			if c.in[3] == typeSettings && c.in[4]&flagAck != 0 && length == 0 {
				c.in = c.in[9:]
				c.dropped = true
				moved = true
				continue
			}
			c.payload = length
			pass(9)
		default:
			return moved
		}
	}
	return moved
}

// bindClients binds the client endpoints: --listen-client-urls (gRPC and
// HTTP; gRPC only when --listen-client-http-urls is set) and
// --listen-client-http-urls (HTTP only), to be served by serveClients,
// and binds and serves --listen-metrics-urls at once. closers stops them
// all; on error what was bound is closed.
func bindClients(lg *zap.Logger, cfg *config.Config, mtls *memberTLS, gs *grpc.Server, h http.Handler) (eps []*endpoint, closers []func(), err error) {
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
			eps, closers = nil, nil
		}
	}()
	what := serveGRPC | serveHTTP
	if len(cfg.ListenClientHTTPURLs) > 0 {
		what = serveGRPC
	}
	add := func(u url.URL, what int) error {
		ep, err := newClientEndpoint(lg, u, what, mtls.client, gs, h, cfg.MaxConcurrentStreams)
		if err != nil {
			return err
		}
		ep.traffic = traffic(what)
		eps = append(eps, ep)
		closers = append(closers, ep.close)
		return nil
	}
	for _, u := range cfg.ListenClientURLs {
		if err := add(u, what); err != nil {
			return nil, closers, err
		}
	}
	for _, u := range cfg.ListenClientHTTPURLs {
		if err := add(u, serveHTTP); err != nil {
			return nil, closers, err
		}
	}
	for _, u := range cfg.ListenMetricsURLs {
		ep, err := newMetricsEndpoint(lg, u, mtls.client, h)
		if err != nil {
			return nil, closers, err
		}
		closers = append(closers, ep.close)
		ep.serve()
		lg.Info("serving metrics", zap.String("address", u.String()))
	}
	return eps, closers, nil
}

// traffic names what an endpoint serves, as etcd's log field "traffic".
func traffic(what int) string {
	switch what {
	case serveGRPC:
		return "grpc"
	case serveHTTP:
		return "http"
	}
	return "grpc+http"
}

// serveClients starts serving the client endpoints, logging etcd's "ready
// to serve client requests" and one "serving client traffic securely" (or
// "insecurely") line per endpoint.
func serveClients(lg *zap.Logger, eps []*endpoint) {
	lg.Info("ready to serve client requests")
	for _, ep := range eps {
		fields := []zap.Field{zap.String("traffic", ep.traffic), zap.String("address", ep.url.String())}
		if isSecure(ep.url) {
			lg.Info("serving client traffic securely", fields...)
		} else {
			lg.Info("serving client traffic insecurely; this is strongly discouraged!", fields...)
		}
		ep.serve()
	}
}

// servePeers binds and serves h on every --listen-peer-urls URL, over TLS
// for https/unixs with the peer TLS. Like etcd's, a TCP peer listener
// with client certificates also checks that a peer's certificate names
// the address it connects from, unless
// --peer-skip-client-san-verification. It returns the servers' closers;
// on error the ones bound so far.
func servePeers(lg *zap.Logger, cfg *config.Config, mtls *memberTLS, h http.Handler) ([]func(), error) {
	var closers []func()
	for _, u := range cfg.ListenPeerURLs {
		var l net.Listener
		var err error
		switch {
		case u.Scheme == "https":
			info := withRejectLog(*mtls.peer, lg)
			l, err = transport.NewListenerWithOpts(u.Host, u.Scheme, transport.WithTLSInfo(&info))
			if err != nil {
				err = fmt.Errorf("server: listen on %s: %w", u.String(), err)
			}
		case u.Scheme == "unixs":
			if l, err = bindURL(u); err == nil {
				l, err = tlsListener(l, *mtls.peer, lg)
			}
		default:
			l, err = bindURL(u)
		}
		if err != nil {
			return closers, err
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(zapWriter{lg}, "", 0)}
		go func() { _ = hs.Serve(l) }()
		closers = append(closers, func() { _ = hs.Close(); _ = l.Close() })
		lg.Info("serving peer traffic", zap.String("address", u.String()))
	}
	return closers, nil
}

// publishTimeout bounds one publish proposal, as etcd's request timeout:
// 5s plus twice the election timeout.
func publishTimeout(cfg *config.Config) time.Duration {
	return 5*time.Second + 2*cfg.ElectionTimeout
}
