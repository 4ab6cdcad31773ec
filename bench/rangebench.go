package bench

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RangeOptions are the flags of the range workload (etcd benchmark range).
type RangeOptions struct {
	// Key and End delimit the range as in etcd's RangeRequest: End "" reads
	// the single Key (unless Prefix), End "\x00" every key ≥ Key.
	Key string
	End string
	// Prefix reads every key with Key as prefix (--prefix).
	Prefix bool
	// Total is the number of Range requests (--total, 10000).
	Total int
	// Consistency is "l" (linearizable, default) or "s" (serializable).
	Consistency string
	// Rate caps requests per second; 0 is no cap (--rate).
	Rate int
	// Limit caps returned keys; 0 is no cap (--limit).
	Limit int64
	// CountOnly and KeysOnly trim the response (--count-only, --keys-only).
	CountOnly bool
	KeysOnly  bool
}

// DefaultRangeOptions returns etcd benchmark range's defaults.
func DefaultRangeOptions() RangeOptions {
	return RangeOptions{Total: 10000, Consistency: "l"}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o RangeOptions) Validate() error {
	switch {
	case o.Key == "" && !o.Prefix:
		return invalid("range needs a key")
	case o.Consistency != "l" && o.Consistency != "s":
		return invalid("--consistency must be l or s, got %q", o.Consistency)
	case o.CountOnly && o.KeysOnly:
		return invalid("`--keys-only` and `--count-only` cannot be set at the same time")
	case o.Total < 0 || o.Rate < 0 || o.Limit < 0:
		return invalid("--total, --rate and --limit must be ≥ 0")
	}
	return nil
}

// ConsistencyLine is the line etcd's range prints before running:
// "bench with linearizable range" or "bench with serializable range".
func (o RangeOptions) ConsistencyLine() string {
	if o.Consistency == "s" {
		return "bench with serializable range"
	}
	return "bench with linearizable range"
}

func (o RangeOptions) opOptions() []clientv3.OpOption {
	var opts []clientv3.OpOption
	if o.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(o.Limit))
	}
	if o.CountOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if o.KeysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if o.Consistency == "s" {
		opts = append(opts, clientv3.WithSerializable())
	}
	switch {
	case o.Prefix:
		opts = append(opts, clientv3.WithPrefix())
	case o.End != "":
		opts = append(opts, clientv3.WithRange(o.End))
	}
	return opts
}

// RunRange issues o.Total Range requests and returns one section named
// "range". It writes o.ConsistencyLine() to env.Out first.
func RunRange(ctx context.Context, env Env, pool *Pool, o RangeOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	fmt.Fprintln(env.Out, o.ConsistencyLine())
	opts := o.opOptions()
	rec := NewRecorder("range", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)
	rec.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, newLimiter(o.Rate),
		func(int) struct{} { return struct{}{} },
		func(ctx context.Context, _ int, c *clientv3.Client, _ struct{}) error {
			_, err := c.Get(ctx, o.Key, opts...)
			return err
		}, into[struct{}](rec))
	stats := rec.Stop()
	bar.finish()
	return Outcome{Sections: []Section{{Stats: stats}}}, ctx.Err()
}
