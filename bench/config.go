package bench

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the bench package.
var (
	// ErrInvalidOption is wrapped by every Validate error.
	ErrInvalidOption = errors.New("bench: invalid option")
	// ErrNoLeader means --target-leader found no member reporting itself leader.
	ErrNoLeader = errors.New("bench: no leader found among endpoints")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOption, fmt.Sprintf(format, a...))
}

// Config holds the connection options shared by every workload, the global
// flags of etcd's benchmark tool.
type Config struct {
	// Endpoints are the gRPC endpoints, host:port or scheme://host:port
	// (--endpoints, default 127.0.0.1:2379).
	Endpoints []string
	// Conns is the number of client connections (--conns, default 1);
	// Clients the number of concurrent requesters spread round-robin over
	// them (--clients, default 1).
	Conns   int
	Clients int
	// TargetLeader restricts Endpoints to the leader, found with the
	// Maintenance Status RPC before the run (--target-leader).
	TargetLeader bool
	// Username and Password authenticate every connection when Username is
	// set (--user name[:password]).
	Username string
	Password string
	// CACert, Cert and Key are PEM file paths for TLS (--cacert, --cert,
	// --key); InsecureSkipVerify skips server certificate checks.
	CACert             string
	Cert               string
	Key                string
	InsecureSkipVerify bool
	// DialTimeout bounds connection establishment; 0 means no bound
	// (--dial-timeout).
	DialTimeout time.Duration
	// AutoSyncInterval refreshes the endpoint list from the member list;
	// 0 disables it (--auto-sync-interval).
	AutoSyncInterval time.Duration
	// Precise prints figures with %g instead of %4.4f (--precise).
	Precise bool
	// Sample adds per-second figures to each summary (--sample).
	Sample bool
}

// DefaultConfig returns etcd benchmark's defaults: 127.0.0.1:2379, one
// connection, one client.
func DefaultConfig() Config {
	return Config{Endpoints: []string{"127.0.0.1:2379"}, Conns: 1, Clients: 1}
}

// Validate reports the first invalid field, wrapping ErrInvalidOption.
func (c Config) Validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return invalid("no endpoints")
	case c.Conns < 1:
		return invalid("--conns must be ≥ 1, got %d", c.Conns)
	case c.Clients < 1:
		return invalid("--clients must be ≥ 1, got %d", c.Clients)
	case (c.Cert == "") != (c.Key == ""):
		return invalid("--cert and --key go together")
	case c.DialTimeout < 0 || c.AutoSyncInterval < 0:
		return invalid("durations must not be negative")
	}
	return nil
}
