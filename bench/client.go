package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Pool is the set of connections a run uses: Conns distinct clients and
// Clients requesters mapped onto them round-robin (requester i uses
// connection i mod Conns), as etcd's benchmark does.
type Pool struct {
	// Endpoints are the endpoints actually dialled (the leader alone with
	// TargetLeader).
	Endpoints []string
	Conns     []*clientv3.Client
	Clients   []*clientv3.Client

	cfg    Config
	logger *zap.Logger
}

// Dial validates cfg, resolves the leader when cfg.TargetLeader is set
// (ErrNoLeader if none answers as leader) and opens cfg.Conns clients.
// The caller closes the Pool.
func Dial(ctx context.Context, cfg Config, logger *zap.Logger) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	p := &Pool{Endpoints: cfg.Endpoints, cfg: cfg, logger: logger}
	if cfg.TargetLeader {
		ep, err := FindLeader(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		p.Endpoints = []string{ep}
	}
	for range cfg.Conns {
		c, err := p.NewClient(ctx)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.Conns = append(p.Conns, c)
	}
	for i := range cfg.Clients {
		p.Clients = append(p.Clients, p.Conns[i%len(p.Conns)])
	}
	return p, nil
}

// NewClient opens one more client to the pool's endpoints with the pool's
// TLS and credentials; the caller closes it.
func (p *Pool) NewClient(ctx context.Context) (*clientv3.Client, error) {
	return newClient(ctx, p.cfg, p.Endpoints, p.logger)
}

// Warm sends one serializable Get on every connection so that connection
// set-up (TCP, HTTP/2, auth) is not counted in the first requests of a
// measured run.
func (p *Pool) Warm(ctx context.Context) error {
	for _, c := range p.Conns {
		if _, err := c.Get(ctx, "\x00", clientv3.WithSerializable(), clientv3.WithCountOnly()); err != nil {
			return fmt.Errorf("bench: warm-up: %w", err)
		}
	}
	return nil
}

// Close closes every connection.
func (p *Pool) Close() error {
	var errs []error
	for _, c := range p.Conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func newClient(ctx context.Context, cfg Config, endpoints []string, logger *zap.Logger) (*clientv3.Client, error) {
	cc := clientv3.Config{
		Endpoints:        endpoints,
		DialTimeout:      cfg.DialTimeout,
		AutoSyncInterval: cfg.AutoSyncInterval,
		Username:         cfg.Username,
		Password:         cfg.Password,
		Logger:           logger,
		Context:          ctx,
	}
	tc, err := tlsConfig(cfg, endpoints)
	if err != nil {
		return nil, err
	}
	cc.TLS = tc
	c, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %v: %w", endpoints, err)
	}
	return c, nil
}

// tlsConfig builds the client TLS configuration, nil when no TLS option is
// set and no endpoint uses https.
func tlsConfig(cfg Config, endpoints []string) (*tls.Config, error) {
	secure := cfg.CACert != "" || cfg.Cert != "" || cfg.InsecureSkipVerify
	for _, ep := range endpoints {
		if strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://") {
			secure = true
		}
	}
	if !secure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // operator's explicit choice
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("bench: read --cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, invalid("--cacert %s holds no PEM certificate", cfg.CACert)
		}
		tc.RootCAs = pool
	}
	if cfg.Cert != "" {
		kp, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("bench: load --cert/--key: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return tc, nil
}

// FindLeader asks every endpoint of cfg for its Status and returns the
// first one whose member ID equals the leader ID it reports, as etcd
// benchmark's --target-leader does. It returns ErrNoLeader (joined with
// the endpoints' errors) when none does.
func FindLeader(ctx context.Context, cfg Config, logger *zap.Logger) (string, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	c, err := newClient(ctx, cfg, cfg.Endpoints, logger)
	if err != nil {
		return "", err
	}
	defer c.Close()
	errs := []error{ErrNoLeader}
	for _, ep := range cfg.Endpoints {
		resp, err := c.Status(ctx, ep)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		if resp.Leader != 0 && resp.Header.GetMemberId() == resp.Leader {
			return ep, nil
		}
	}
	return "", errors.Join(errs...)
}
