package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutOptions are the flags of the put workload (etcd benchmark put).
type PutOptions struct {
	// Total is the number of Put requests (--total, default 10000).
	Total int
	// KeySize and ValSize are in bytes (--key-size 8, --val-size 8).
	KeySize int
	ValSize int
	// KeySpaceSize is the number of distinct keys (--key-space-size, 1);
	// request i writes key i mod KeySpaceSize with SequentialKeys, a
	// uniformly random one otherwise (--sequential-keys).
	KeySpaceSize   int
	SequentialKeys bool
	// Prefix is prepended to every key (--prefix).
	Prefix string
	// Rate caps requests per second; 0 is no cap (--rate).
	Rate int
	// CompactInterval, when > 0, compacts every interval to the current
	// revision minus CompactIndexDelta (--compact-interval,
	// --compact-index-delta 1000).
	CompactInterval   time.Duration
	CompactIndexDelta int64
	// CheckHashKV prints the first endpoint's HashKV and DB size after the
	// run (--check-hashkv).
	CheckHashKV bool
}

// DefaultPutOptions returns etcd benchmark put's defaults.
func DefaultPutOptions() PutOptions {
	return PutOptions{Total: 10000, KeySize: 8, ValSize: 8, KeySpaceSize: 1, CompactIndexDelta: 1000}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o PutOptions) Validate() error {
	switch {
	case o.Total < 0:
		return invalid("--total must be ≥ 0, got %d", o.Total)
	case o.KeySpaceSize <= 0:
		return invalid("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	case o.KeySize < 1 || o.ValSize < 0:
		return invalid("--key-size must be ≥ 1 and --val-size ≥ 0")
	case o.Rate < 0:
		return invalid("--rate must be ≥ 0")
	}
	return nil
}

// RunPut issues o.Total Put requests over pool.Clients and returns one
// section named "put". Request failures are counted, not returned.
func RunPut(ctx context.Context, env Env, pool *Pool, o PutOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	val := string(randomBytes(env.Rand, o.ValSize))
	rec := NewRecorder("put", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)

	runCtx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	if o.CompactInterval > 0 {
		bg.Go(func() { compactLoop(runCtx, pool.Conns[0], o.CompactInterval, o.CompactIndexDelta) })
	}
	rec.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, newLimiter(o.Rate),
		func(i int) string {
			n := int64(i % o.KeySpaceSize)
			if !o.SequentialKeys {
				n = env.Rand.Int64N(int64(o.KeySpaceSize))
			}
			return EncodeKey(o.Prefix, n, o.KeySize)
		},
		func(ctx context.Context, _ int, c *clientv3.Client, key string) error {
			_, err := c.Put(ctx, key, val)
			return err
		}, into[string](rec))
	stats := rec.Stop()
	stop()
	bg.Wait()
	bar.finish()

	out := Outcome{Sections: []Section{{Stats: stats}}}
	if o.CheckHashKV {
		t, err := hashKVSummary(ctx, env, pool)
		if err != nil {
			return out, err
		}
		out.Trailer = t
	}
	return out, ctx.Err()
}

// compactLoop compacts every interval until ctx ends, keeping delta
// revisions; errors are ignored (the next tick retries).
func compactLoop(ctx context.Context, c *clientv3.Client, interval time.Duration, delta int64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := c.Get(ctx, "foo")
		if err != nil {
			continue
		}
		if rev := resp.Header.Revision - delta; rev > 0 {
			_, _ = c.Compact(ctx, rev)
		}
	}
}

func hashKVSummary(ctx context.Context, env Env, pool *Pool) (string, error) {
	ep := pool.Endpoints[0]
	st := env.Now()
	h, err := pool.Conns[0].HashKV(ctx, ep, 0)
	if err != nil {
		return "", fmt.Errorf("bench: hashkv of %s: %w", ep, err)
	}
	took := env.Now().Sub(st)
	s, err := pool.Conns[0].Status(ctx, ep)
	if err != nil {
		return "", fmt.Errorf("bench: status of %s: %w", ep, err)
	}
	return fmt.Sprintf("HashKV Summary:\n\tHashKV: %d\n\tEndpoint: %s\n\tTime taken to get hashkv: %v\n\tDB size: %d B\n",
		h.Hash, ep, took, s.DbSize), nil
}
