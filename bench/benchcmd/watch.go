package benchcmd

import (
	"context"

	"github.com/concord-kv/concord/bench"
	"github.com/spf13/cobra"
)

func newWatchCommand(o *options) *cobra.Command {
	w := bench.DefaultWatchOptions()
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Benchmark watch",
		Long: `Benchmark watch tests the performance of processing watch requests and
sending events to watchers. It tests the sending performance by
changing the value of the watched keys with concurrent put
requests.

Each of --streams streams carries --watch-per-stream watchers, spread
over --watched-key-total keys; then --put-total puts go to those keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunWatch(ctx, env, pool, w, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&w.Streams, "streams", w.Streams, "Total watch streams")
	f.IntVar(&w.WatchPerStream, "watch-per-stream", w.WatchPerStream, "Total watchers per stream")
	f.IntVar(&w.WatchedKeyTotal, "watched-key-total", w.WatchedKeyTotal, "Total number of keys to be watched")
	f.IntVar(&w.PutRate, "put-rate", 0, "Number of keys to put per second")
	f.IntVar(&w.PutTotal, "put-total", w.PutTotal, "Number of put requests")
	f.IntVar(&w.KeySize, "key-size", w.KeySize, "Key size of watch request")
	f.IntVar(&w.KeySpaceSize, "key-space-size", w.KeySpaceSize, "Maximum possible keys")
	f.BoolVar(&w.SequentialKeys, "sequential-keys", false, "Use sequential keys")
	return cmd
}

func newWatchGetCommand(o *options) *cobra.Command {
	w := bench.DefaultWatchGetOptions()
	cmd := &cobra.Command{
		Use:   "watch-get",
		Short: "Benchmark watch with get",
		Long:  `Benchmark for serialized key gets with many unsynced watchers`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunWatchGet(ctx, env, pool, w, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&w.Watchers, "watchers", w.Watchers, "Total number of watchers")
	f.IntVar(&w.Streams, "streams", w.Streams, "Total number of watcher streams")
	f.IntVar(&w.Events, "events", w.Events, "Number of events per watcher")
	return cmd
}

func newWatchLatencyCommand(o *options) *cobra.Command {
	w := bench.DefaultWatchLatencyOptions()
	cmd := &cobra.Command{
		Use:   "watch-latency",
		Short: "Benchmark watch latency",
		Long: `Benchmarks the latency for watches by measuring
the latency between writing to a key and receiving the
associated watch response.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, func(ctx context.Context, env bench.Env, pool *bench.Pool, cfg bench.Config) (bench.Outcome, error) {
				return bench.RunWatchLatency(ctx, env, pool, w, cfg)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&w.Streams, "streams", w.Streams, "Total watch streams")
	f.IntVar(&w.WatchersPerStream, "watchers-per-stream", w.WatchersPerStream, "Total watchers per stream")
	f.BoolVar(&w.PrevKV, "prevkv", false, "PrevKV enabled on watch requests")
	f.IntVar(&w.PutTotal, "put-total", w.PutTotal, "Total number of put requests")
	f.IntVar(&w.PutRate, "put-rate", w.PutRate, "Number of keys to put per second")
	f.IntVar(&w.KeySize, "key-size", w.KeySize, "Key size of watch response")
	f.IntVar(&w.ValSize, "val-size", w.ValSize, "Value size of watch response")
	return cmd
}
