package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/connectivity"
)

// Version is concordctl's own version, printed by "version".
var Version = "0.1.0"

// APIVersion is the etcd API level concordctl speaks, printed by "version"
// as etcdctl prints its API version.
const APIVersion = "3.6"

// Defaults of the global flags, as etcdctl's.
const (
	DefaultDialTimeout      = 2 * time.Second
	DefaultCommandTimeout   = 5 * time.Second
	DefaultKeepAliveTime    = 2 * time.Second
	DefaultKeepAliveTimeout = 6 * time.Second
)

// Env is what a command tree reads from and writes to outside its
// arguments. Zero fields fall back to the process's: os.Stdin, os.Stdout,
// os.Stderr, os.LookupEnv.
type Env struct {
	In     io.Reader
	Out    io.Writer
	Err    io.Writer
	Lookup func(key string) (string, bool)
	// Interrupt, when non-nil, replaces SIGINT/SIGTERM for the long-running
	// commands (watch, lock, elect, lease keep-alive): closing it stops them
	// as a signal would.
	Interrupt <-chan struct{}
	// RangeDeleteDelay is the pause "del <key> <range_end>" takes without
	// --range so the user can interrupt (etcdctl: 2s). Negative means none.
	RangeDeleteDelay time.Duration
}

// GlobalOptions are etcdctl's global flags.
type GlobalOptions struct {
	Endpoints          []string
	Debug              bool
	WriteOut           string
	Hex                bool
	DialTimeout        time.Duration
	CommandTimeout     time.Duration
	KeepAliveTime      time.Duration
	KeepAliveTimeout   time.Duration
	MaxRequestBytes    int
	MaxRecvBytes       int
	InsecureTransport  bool
	InsecureDiscovery  bool
	InsecureSkipVerify bool
	Cert, Key, CACert  string
	User, Password     string
	DiscoverySrv       string
	DiscoverySrvName   string
}

// app is the state one command tree shares: options, streams, env.
type app struct {
	g   GlobalOptions
	env Env
	// root is the root command; flags are looked up on it for "Changed".
	root *cobra.Command
}

// NewRootCommand returns concordctl's command tree. Execute it with
// SetArgs; errors come back as *ExitCodeError (use CodeOf for the exit code).
// Output goes to env.Out/env.Err (or cmd.SetOut/SetErr).
func NewRootCommand(env Env) *cobra.Command {
	if env.In == nil {
		env.In = os.Stdin
	}
	if env.Out == nil {
		env.Out = os.Stdout
	}
	if env.Err == nil {
		env.Err = os.Stderr
	}
	if env.Lookup == nil {
		env.Lookup = os.LookupEnv
	}
	if env.RangeDeleteDelay == 0 {
		env.RangeDeleteDelay = 2 * time.Second
	}
	a := &app{env: env}
	root := &cobra.Command{
		Use:           "concordctl",
		Short:         "A simple command line client for etcd3.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.applyEnv(cmd)
		},
	}
	a.root = root
	root.SetIn(env.In)
	root.SetOut(env.Out)
	root.SetErr(env.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		fmt.Fprintln(c.ErrOrStderr(), c.UsageString())
		return exitErr(ExitError, err)
	})
	pf := root.PersistentFlags()
	g := &a.g
	pf.StringSliceVar(&g.Endpoints, "endpoints", []string{"127.0.0.1:2379"}, "gRPC endpoints")
	pf.BoolVar(&g.Debug, "debug", false, "enable client-side debug logging")
	pf.StringVarP(&g.WriteOut, "write-out", "w", "simple", "set the output format (fields, json, protobuf, simple, table)")
	pf.BoolVar(&g.Hex, "hex", false, "print byte strings as hex encoded strings")
	pf.DurationVar(&g.DialTimeout, "dial-timeout", DefaultDialTimeout, "dial timeout for client connections")
	pf.DurationVar(&g.CommandTimeout, "command-timeout", DefaultCommandTimeout, "timeout for short running command (excluding dial timeout)")
	pf.DurationVar(&g.KeepAliveTime, "keepalive-time", DefaultKeepAliveTime, "keepalive time for client connections")
	pf.DurationVar(&g.KeepAliveTimeout, "keepalive-timeout", DefaultKeepAliveTimeout, "keepalive timeout for client connections")
	pf.IntVar(&g.MaxRequestBytes, "max-request-bytes", 0, "client-side request send limit in bytes (if 0, it defaults to 2.0 MiB (2 * 1024 * 1024).)")
	pf.IntVar(&g.MaxRecvBytes, "max-recv-bytes", 0, "client-side response receive limit in bytes (if 0, it defaults to \"math.MaxInt32\")")
	pf.BoolVar(&g.InsecureTransport, "insecure-transport", true, "disable transport security for client connections")
	pf.BoolVar(&g.InsecureDiscovery, "insecure-discovery", true, "accept insecure SRV records describing cluster endpoints")
	pf.BoolVar(&g.InsecureSkipVerify, "insecure-skip-tls-verify", false, "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)")
	pf.StringVar(&g.Cert, "cert", "", "identify secure client using this TLS certificate file")
	pf.StringVar(&g.Key, "key", "", "identify secure client using this TLS key file")
	pf.StringVar(&g.CACert, "cacert", "", "verify certificates of TLS-enabled secure servers using this CA bundle")
	pf.StringVar(&g.User, "user", "", "username[:password] for authentication (prompt if password is not supplied)")
	pf.StringVar(&g.Password, "password", "", "password for authentication (if this option is used, --user option shouldn't include password)")
	pf.StringVarP(&g.DiscoverySrv, "discovery-srv", "d", "", "domain name to query for SRV records describing cluster endpoints")
	pf.StringVar(&g.DiscoverySrvName, "discovery-srv-name", "", "service name to query when using DNS discovery")

	root.AddCommand(
		a.newGetCommand(),
		a.newPutCommand(),
		a.newDelCommand(),
		a.newTxnCommand(),
		a.newCompactionCommand(),
		a.newAlarmCommand(),
		a.newDefragCommand(),
		a.newEndpointCommand(),
		a.newMoveLeaderCommand(),
		a.newWatchCommand(),
		a.newVersionCommand(),
		a.newLeaseCommand(),
		a.newMemberCommand(),
		a.newSnapshotCommand(),
		a.newMakeMirrorCommand(),
		a.newLockCommand(),
		a.newElectCommand(),
		a.newAuthCommand(),
		a.newUserCommand(),
		a.newRoleCommand(),
		a.newCheckCommand(),
	)
	return root
}

// envName maps a flag name to its ETCDCTL_* variable, as etcd's
// flags.FlagToEnv: upper case, '-' becomes '_'.
func envName(flag string) string {
	return "ETCDCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every global flag not given on the command line from its
// ETCDCTL_* environment variable.
func (a *app) applyEnv(cmd *cobra.Command) error {
	var err error
	a.root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := a.env.Lookup(envName(f.Name))
		if !ok || v == "" {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = exitErrf(ExitError, "invalid value %q for %s: %v", v, envName(f.Name), serr)
		}
		// StringSlice appends after the first Set; mark it changed so a
		// later Set (none here) would replace.
		f.Changed = true
	})
	if err != nil {
		return err
	}
	if a.g.Debug {
		a.root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
			fmt.Fprintf(a.env.Err, "%s=%v\n", envName(f.Name), f.Value)
		})
	}
	return a.validateGlobal()
}

func (a *app) validateGlobal() error {
	pf := a.root.PersistentFlags()
	for _, n := range []string{"cert", "key", "cacert"} {
		if f := pf.Lookup(n); f.Changed && f.Value.String() == "" {
			return exitErrf(ExitBadArgs, "empty string is passed to --%s option", n)
		}
	}
	for i, ep := range a.g.Endpoints {
		a.g.Endpoints[i] = strings.TrimSpace(ep)
	}
	return nil
}

// printer returns the display for the chosen output format.
func (a *app) printer(cmd *cobra.Command) (*printer, error) {
	switch a.g.WriteOut {
	case "simple", "json", "fields", "protobuf", "table":
	default:
		return nil, exitErr(ExitBadFeature, errors.New("unsupported output format"))
	}
	return &printer{format: a.g.WriteOut, hex: a.g.Hex, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}, nil
}

// endpoints returns the endpoints to use: from DNS SRV discovery when -d is
// set, else --endpoints.
func (a *app) endpoints() ([]string, error) {
	if a.g.DiscoverySrv != "" {
		return discoverEndpoints(a.g.DiscoverySrv, a.g.DiscoverySrvName, a.g.InsecureDiscovery, a.env.Err)
	}
	return a.g.Endpoints, nil
}

// clientSpec builds the client configuration the global flags describe.
func (a *app) clientSpec() (*clientv3.ConfigSpec, error) {
	eps, err := a.endpoints()
	if err != nil {
		return nil, exitErr(ExitError, err)
	}
	spec := &clientv3.ConfigSpec{
		Endpoints:          eps,
		DialTimeout:        a.g.DialTimeout,
		KeepAliveTime:      a.g.KeepAliveTime,
		KeepAliveTimeout:   a.g.KeepAliveTimeout,
		MaxCallSendMsgSize: a.g.MaxRequestBytes,
		MaxCallRecvMsgSize: a.g.MaxRecvBytes,
		Secure: &clientv3.SecureConfig{
			Cert: a.g.Cert, Key: a.g.Key, Cacert: a.g.CACert,
			InsecureTransport:  a.g.InsecureTransport,
			InsecureSkipVerify: a.g.InsecureSkipVerify,
		},
	}
	if !a.g.InsecureDiscovery {
		spec.Secure.ServerName = a.g.DiscoverySrv
	}
	auth, err := a.authConfig()
	if err != nil {
		return nil, err
	}
	spec.Auth = auth
	return spec, nil
}

func (a *app) authConfig() (*clientv3.AuthConfig, error) {
	if a.g.User == "" {
		return nil, nil
	}
	if a.g.Password != "" {
		return &clientv3.AuthConfig{Username: a.g.User, Password: a.g.Password}, nil
	}
	if name, pw, ok := strings.Cut(a.g.User, ":"); ok {
		return &clientv3.AuthConfig{Username: name, Password: pw}, nil
	}
	pw, err := askPassword(a.env.In, a.env.Err, "Password: ")
	if err != nil {
		return nil, exitErr(ExitError, err)
	}
	return &clientv3.AuthConfig{Username: a.g.User, Password: pw}, nil
}

func (a *app) logger() *zap.Logger {
	if a.g.Debug {
		lg, err := zap.NewDevelopment()
		if err == nil {
			return lg
		}
	}
	return zap.NewNop()
}

// clientConfig turns a spec into a client config.
func (a *app) clientConfig(spec *clientv3.ConfigSpec) (*clientv3.Config, error) {
	cfg, err := clientv3.NewClientConfig(spec, a.logger())
	if err != nil {
		return nil, exitErr(ExitBadArgs, err)
	}
	cfg.Logger = a.logger()
	return cfg, nil
}

// client connects with the global flags' configuration.
func (a *app) client() (*clientv3.Client, error) {
	spec, err := a.clientSpec()
	if err != nil {
		return nil, err
	}
	return a.clientFromSpec(spec)
}

// clientFromSpec connects and waits, at most --dial-timeout, for a usable
// connection, so a dead endpoint fails fast with "context deadline
// exceeded" as etcdctl's blocking dial did.
func (a *app) clientFromSpec(spec *clientv3.ConfigSpec) (*clientv3.Client, error) {
	cfg, err := a.clientConfig(spec)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(*cfg)
	if err != nil {
		return nil, exitErr(ExitBadConnection, err)
	}
	if err := waitReady(cli, spec.DialTimeout); err != nil {
		cli.Close()
		return nil, exitErr(ExitError, err)
	}
	return cli, nil
}

// waitReady waits until the client's connection is ready or timeout passes
// (no wait when timeout is 0).
func waitReady(cli *clientv3.Client, timeout time.Duration) error {
	if timeout <= 0 {
		return nil
	}
	conn := cli.ActiveConnection()
	ctx, cancel := context.WithTimeout(cli.Ctx(), timeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, s) {
			return context.DeadlineExceeded
		}
	}
}

// commandCtx is the context of a short command: --command-timeout.
func (a *app) commandCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), a.g.CommandTimeout)
}

// interruptCtx is canceled on SIGINT/SIGTERM (or env.Interrupt).
func (a *app) interruptCtx() (context.Context, context.CancelFunc) {
	if a.env.Interrupt != nil {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-a.env.Interrupt:
				cancel()
			case <-ctx.Done():
			}
		}()
		return ctx, cancel
	}
	return signalContext()
}
