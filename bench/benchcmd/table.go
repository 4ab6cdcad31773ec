package benchcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/concord-kv/concord/bench"
	"github.com/spf13/cobra"
)

func newTableCommand(o *options) *cobra.Command {
	t := bench.DefaultTableOptions()
	var (
		name, compareName string
		compare           []string
		verbose           bool
	)
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Reproduce the reference benchmark table (writes to leader / all members, linearizable / serializable reads)",
		Long: `table runs the seven rows of the project's reference benchmark table against
--endpoints: puts of --total sequential keys (--key-size 8, --val-size 256) to the
leader with 1 connection and 1 client, to the leader and to all members with
--conns/--clients (100/100 unless given), then linearizable and serializable
ranges of one key with 1/1 and --conns/--clients. It prints the table in the
seed's columns: op, target, requests, keys, key, value, conns, clients, average
latency (ms), QPS.

With --compare-endpoints the same table runs against a second cluster (same TLS
and user options) and a per-row comparison with QPS and latency ratios follows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t.Total = o.total
			if cmd.Flags().Changed("conns") {
				t.Conns = o.cfg.Conns
			}
			if cmd.Flags().Changed("clients") {
				t.Clients = o.cfg.Clients
			}
			cfg, env, err := o.prepare(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			a, err := bench.RunTable(ctx, env, cfg, t, name, verbose)
			if err != nil {
				return err
			}
			if len(compare) == 0 {
				if o.output == "json" {
					return writeJSON(cmd.OutOrStdout(), a.JSONForm())
				}
				bench.WriteTable(cmd.OutOrStdout(), a)
				return nil
			}
			cfgB := cfg
			cfgB.Endpoints = nil
			for _, ep := range compare {
				cfgB.Endpoints = append(cfgB.Endpoints, strings.TrimSpace(ep))
			}
			b, err := bench.RunTable(ctx, env, cfgB, t, compareName, verbose)
			if err != nil {
				return fmt.Errorf("compare cluster: %w", err)
			}
			if o.output == "json" {
				return writeJSON(cmd.OutOrStdout(), []bench.JSONTable{a.JSONForm(), b.JSONForm()})
			}
			bench.WriteComparison(cmd.OutOrStdout(), a, b)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&t.KeySize, "key-size", t.KeySize, "Key size in bytes")
	f.IntVar(&t.ValSize, "val-size", t.ValSize, "Value size in bytes")
	f.StringVar(&t.Prefix, "prefix", "", "Prefix for the keys written")
	f.StringVar(&name, "name", "cluster", "Label of the --endpoints cluster in the output")
	f.StringSliceVar(&compare, "compare-endpoints", nil, "Endpoints of a second cluster to run the same table against, for a side-by-side comparison")
	f.StringVar(&compareName, "compare-name", "compare", "Label of the --compare-endpoints cluster in the output")
	f.BoolVar(&verbose, "verbose", false, "Print every row's full summary (histogram, percentiles) as it completes")
	return cmd
}
