package benchcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/concord-kv/concord/bench"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// options are the global flags, shared by every subcommand.
type options struct {
	cfg    bench.Config
	user   string
	total  int
	output string
}

// NewRootCommand returns the concord-bench command tree: put, range,
// txn-put, txn-mixed, watch, watch-get, watch-latency, lease-keepalive,
// stm and table, with etcd benchmark's global flags (--endpoints, --conns,
// --clients, --total, --precise, --sample, --target-leader, --user,
// --cacert, --cert, --key, --insecure-skip-tls-verify, --dial-timeout,
// --auto-sync-interval) plus -w/--write-out simple|json.
func NewRootCommand() *cobra.Command {
	o := &options{cfg: bench.DefaultConfig()}
	root := &cobra.Command{
		Use:   "concord-bench",
		Short: "A load generator for etcd v3 API servers (Concord, etcd)",
		Long: `concord-bench drives a server speaking the etcd v3 API through the official Go
client and reports latency and throughput in the format of etcd's benchmark tool.
"concord-bench table" reproduces the project's reference benchmark table in one command.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringSliceVar(&o.cfg.Endpoints, "endpoints", o.cfg.Endpoints, "gRPC endpoints")
	f.IntVar(&o.cfg.Conns, "conns", o.cfg.Conns, "Total number of gRPC connections")
	f.IntVar(&o.cfg.Clients, "clients", o.cfg.Clients, "Total number of gRPC clients")
	f.IntVar(&o.total, "total", 10000, "Total number of requests (put, range, txn-put, txn-mixed, lease-keepalive, stm, table rows)")
	f.BoolVar(&o.cfg.Precise, "precise", false, "use full floating point precision")
	f.BoolVar(&o.cfg.Sample, "sample", false, "'true' to sample requests for every second")
	f.BoolVar(&o.cfg.TargetLeader, "target-leader", false, "connect only to the leader node")
	f.StringVar(&o.user, "user", "", "provide username[:password] and prompt if password is not supplied.")
	f.StringVar(&o.cfg.CACert, "cacert", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	f.StringVar(&o.cfg.Cert, "cert", "", "identify HTTPS client using this SSL certificate file")
	f.StringVar(&o.cfg.Key, "key", "", "identify HTTPS client using this SSL key file")
	f.BoolVar(&o.cfg.InsecureSkipVerify, "insecure-skip-tls-verify", false, "skip server certificate verification")
	f.DurationVar(&o.cfg.DialTimeout, "dial-timeout", 0, "dial timeout for client connections")
	f.DurationVar(&o.cfg.AutoSyncInterval, "auto-sync-interval", 0, "AutoSyncInterval is the interval to update endpoints with its latest members")
	f.StringVarP(&o.output, "write-out", "w", "simple", "set the output format (simple, json)")

	root.AddCommand(newPutCommand(o), newRangeCommand(o), newTxnPutCommand(o), newTxnMixedCommand(o),
		newWatchCommand(o), newWatchGetCommand(o), newWatchLatencyCommand(o), newLeaseKeepaliveCommand(o),
		newSTMCommand(o), newTableCommand(o))
	return root
}

// prepare validates the global flags, resolves --user (prompting for the
// password when it is not given) and returns the config and environment.
func (o *options) prepare(cmd *cobra.Command) (bench.Config, bench.Env, error) {
	if o.output != "simple" && o.output != "json" {
		return bench.Config{}, bench.Env{}, fmt.Errorf("%w: --write-out must be simple or json, got %q", bench.ErrInvalidOption, o.output)
	}
	cfg := o.cfg
	for i, ep := range cfg.Endpoints {
		cfg.Endpoints[i] = strings.TrimSpace(ep)
	}
	if o.user != "" {
		name, pass, ok := strings.Cut(o.user, ":")
		if !ok {
			p, err := readPassword(cmd)
			if err != nil {
				return cfg, bench.Env{}, fmt.Errorf("bad user information: %s %w", o.user, err)
			}
			pass = p
		}
		cfg.Username, cfg.Password = name, pass
	}
	if err := cfg.Validate(); err != nil {
		return cfg, bench.Env{}, err
	}
	env := bench.Env{Out: cmd.OutOrStdout(), Progress: terminal(cmd.ErrOrStderr())}
	if o.output == "json" {
		env.Out = cmd.ErrOrStderr() // keep stdout pure JSON
	}
	return cfg, env, nil
}

// readPassword prompts on stderr and reads a password from a terminal
// without echo, or a line from a non-terminal stdin.
func readPassword(cmd *cobra.Command) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	defer fmt.Fprintln(cmd.ErrOrStderr())
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		return string(b), err
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// terminal returns w when it is a terminal, so the progress bar is drawn
// only for people, never into files or pipes.
func terminal(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// run dials, runs one workload and prints its outcome.
func (o *options) run(cmd *cobra.Command, work func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error)) error {
	cfg, env, err := o.prepare(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	pool, err := bench.Dial(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	out, werr := work(ctx, env, pool, cfg)
	if perr := o.print(cmd, out, cfg.Precise); perr != nil {
		return perr
	}
	return werr
}

// print writes the outcome: in simple format each section's heading and
// etcd-shaped summary, then the trailer; in json format one JSON object
// for a single section or an array for several (the trailer goes to
// stderr).
func (o *options) print(cmd *cobra.Command, out bench.Outcome, precise bool) error {
	w := cmd.OutOrStdout()
	if o.output == "json" {
		if len(out.Sections) == 0 {
			return nil
		}
		var v any
		if len(out.Sections) == 1 {
			v = out.Sections[0].Stats.JSONForm()
		} else {
			var all []bench.JSONStats
			for _, s := range out.Sections {
				all = append(all, s.Stats.JSONForm())
			}
			v = all
		}
		if out.Trailer != "" {
			fmt.Fprint(cmd.ErrOrStderr(), out.Trailer)
		}
		return writeJSON(w, v)
	}
	for _, s := range out.Sections {
		if s.Heading != "" {
			fmt.Fprintln(w, s.Heading)
		}
		fmt.Fprintln(w, s.Stats.Text(precise))
	}
	fmt.Fprint(w, out.Trailer)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
