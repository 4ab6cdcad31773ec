package benchcmd

import (
	"context"

	"github.com/concord-kv/concord/bench"
	"github.com/spf13/cobra"
)

func newPutCommand(o *options) *cobra.Command {
	p := bench.DefaultPutOptions()
	cmd := &cobra.Command{
		Use:   "put",
		Short: "Benchmark put",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.Total = o.total
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunPut(ctx, env, pool, p, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&p.KeySize, "key-size", p.KeySize, "Key size of put request")
	f.IntVar(&p.ValSize, "val-size", p.ValSize, "Value size of put request")
	f.IntVar(&p.Rate, "rate", 0, "Maximum puts per second (0 is no limit)")
	f.IntVar(&p.KeySpaceSize, "key-space-size", p.KeySpaceSize, "Maximum possible keys")
	f.BoolVar(&p.SequentialKeys, "sequential-keys", false, "Use sequential keys")
	f.StringVar(&p.Prefix, "prefix", "", "Prefix for keys")
	f.DurationVar(&p.CompactInterval, "compact-interval", 0, `Interval to compact database (do not duplicate this with etcd's 'auto-compaction-retention' flag) (e.g. --compact-interval=5m compacts every 5-minute)`)
	f.Int64Var(&p.CompactIndexDelta, "compact-index-delta", p.CompactIndexDelta, "Delta between current revision and compact revision (e.g. current revision 10000, compact at 9000)")
	f.BoolVar(&p.CheckHashKV, "check-hashkv", false, "'true' to check hashkv")
	return cmd
}

func newRangeCommand(o *options) *cobra.Command {
	r := bench.DefaultRangeOptions()
	cmd := &cobra.Command{
		Use:   "range key [end-range]",
		Short: "Benchmark range",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Total = o.total
			if len(args) > 0 {
				r.Key = args[0]
			}
			if len(args) > 1 {
				r.End = args[1]
			}
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunRange(ctx, env, pool, r, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&r.Rate, "rate", 0, "Maximum range requests per second (0 is no limit)")
	f.StringVar(&r.Consistency, "consistency", r.Consistency, "Linearizable(l) or Serializable(s)")
	f.Int64Var(&r.Limit, "limit", 0, "Maximum number of results to return from range request (0 is no limit)")
	f.BoolVar(&r.CountOnly, "count-only", false, "Only returns the count of keys")
	f.BoolVar(&r.KeysOnly, "keys-only", false, "Only returns the keys")
	f.BoolVar(&r.Prefix, "prefix", false, "Range over all keys with the given key as prefix")
	return cmd
}

func newTxnPutCommand(o *options) *cobra.Command {
	t := bench.DefaultTxnPutOptions()
	cmd := &cobra.Command{
		Use:   "txn-put",
		Short: "Benchmark txn-put",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t.Total = o.total
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunTxnPut(ctx, env, pool, t, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&t.KeySize, "key-size", t.KeySize, "Key size of txn put")
	f.IntVar(&t.ValSize, "val-size", t.ValSize, "Value size of txn put")
	f.IntVar(&t.OpsPerTxn, "txn-ops", t.OpsPerTxn, "Number of puts per txn")
	f.IntVar(&t.Rate, "rate", 0, "Maximum txns per second (0 is no limit)")
	f.IntVar(&t.KeySpaceSize, "key-space-size", t.KeySpaceSize, "Maximum possible keys")
	return cmd
}

func newTxnMixedCommand(o *options) *cobra.Command {
	t := bench.DefaultTxnMixedOptions()
	cmd := &cobra.Command{
		Use:   "txn-mixed [key]",
		Short: "Benchmark a mixed load of txn-put & txn-range.",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t.Total = o.total
			if len(args) == 1 {
				t.Key = args[0]
			}
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunTxnMixed(ctx, env, pool, t, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&t.KeySize, "key-size", t.KeySize, "Key size of mixed txn")
	f.IntVar(&t.ValSize, "val-size", t.ValSize, "Value size of mixed txn")
	f.IntVar(&t.Rate, "rate", 0, "Maximum txns per second (0 is no limit)")
	f.StringVar(&t.EndKey, "end-key", "", "Read operation range end key. By default, we do full range query with the default limit of 1000.")
	f.Int64Var(&t.RangeLimit, "limit", t.RangeLimit, "Read operation range result limit")
	f.IntVar(&t.KeySpaceSize, "key-space-size", t.KeySpaceSize, "Maximum possible keys")
	f.StringVar(&t.Consistency, "consistency", t.Consistency, "Linearizable(l) or Serializable(s)")
	f.Float64Var(&t.ReadWriteRatio, "rw-ratio", t.ReadWriteRatio, "Read/write ops ratio")
	return cmd
}

func newLeaseKeepaliveCommand(o *options) *cobra.Command {
	l := bench.DefaultLeaseKeepaliveOptions()
	return &cobra.Command{
		Use:   "lease-keepalive",
		Short: "Benchmark lease keepalive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l.Total = o.total
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunLeaseKeepalive(ctx, env, pool, l, cfg)
			})
		},
	}
}

func newSTMCommand(o *options) *cobra.Command {
	s := bench.DefaultSTMOptions()
	cmd := &cobra.Command{
		Use:   "stm",
		Short: "Benchmark STM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s.Total = o.total
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunSTM(ctx, env, pool, s, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Isolation, "isolation", s.Isolation, "Read Committed (c), Repeatable Reads (r), Serializable (s), or Snapshot (ss)")
	f.IntVar(&s.Keys, "keys", s.Keys, "Total unique keys accessible by the benchmark")
	f.IntVar(&s.KeysPerTxn, "keys-per-txn", s.KeysPerTxn, "Number of keys to access per transaction")
	f.IntVar(&s.WritePercent, "txn-wr-percent", s.WritePercent, "Percentage of keys to overwrite per transaction")
	f.StringVar(&s.Locker, "stm-locker", s.Locker, "Wrap STM transaction with a custom locking mechanism (stm, lock-client, lock-rpc)")
	f.IntVar(&s.ValSize, "val-size", s.ValSize, "Value size of each STM put request")
	f.IntVar(&s.Rate, "rate", 0, "Maximum STM transactions per second (0 is no limit)")
	return cmd
}
