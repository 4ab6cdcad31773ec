package bench

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TxnPutOptions are the flags of txn-put (etcd benchmark txn-put).
type TxnPutOptions struct {
	// Total is the number of Txn requests (--total, 10000).
	Total int
	// KeySize and ValSize in bytes (--key-size 8, --val-size 8).
	KeySize int
	ValSize int
	// OpsPerTxn puts per transaction (--txn-ops, 1); transaction i writes
	// keys (i*OpsPerTxn + j) mod KeySpaceSize (--key-space-size, 1).
	OpsPerTxn    int
	KeySpaceSize int
	// Rate caps transactions per second; 0 is no cap (--rate).
	Rate int
}

// DefaultTxnPutOptions returns etcd benchmark txn-put's defaults.
func DefaultTxnPutOptions() TxnPutOptions {
	return TxnPutOptions{Total: 10000, KeySize: 8, ValSize: 8, OpsPerTxn: 1, KeySpaceSize: 1}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o TxnPutOptions) Validate() error {
	switch {
	case o.KeySpaceSize <= 0:
		return invalid("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	case o.OpsPerTxn < 1 || o.OpsPerTxn > o.KeySpaceSize:
		return invalid("expected --txn-ops between 1 and --key-space-size, got txn-ops(%d) key-space-size(%d)", o.OpsPerTxn, o.KeySpaceSize)
	case o.KeySize < 1 || o.ValSize < 0 || o.Total < 0 || o.Rate < 0:
		return invalid("--key-size must be ≥ 1; --val-size, --total, --rate ≥ 0")
	}
	return nil
}

// RunTxnPut issues o.Total transactions of o.OpsPerTxn puts each and
// returns one section named "txn-put".
func RunTxnPut(ctx context.Context, env Env, pool *Pool, o TxnPutOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	val := string(randomBytes(env.Rand, o.ValSize))
	rec := NewRecorder("txn-put", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)
	rec.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, newLimiter(o.Rate),
		func(i int) []clientv3.Op {
			ops := make([]clientv3.Op, o.OpsPerTxn)
			for j := range ops {
				ops[j] = clientv3.OpPut(EncodeKey("", int64((i*o.OpsPerTxn+j)%o.KeySpaceSize), o.KeySize), val)
			}
			return ops
		},
		func(ctx context.Context, _ int, c *clientv3.Client, ops []clientv3.Op) error {
			_, err := c.Txn(ctx).Then(ops...).Commit()
			return err
		}, into[[]clientv3.Op](rec))
	stats := rec.Stop()
	bar.finish()
	return Outcome{Sections: []Section{{Stats: stats}}}, ctx.Err()
}

// TxnMixedOptions are the flags of txn-mixed (etcd benchmark txn-mixed):
// a mix of single-put and single-range transactions.
type TxnMixedOptions struct {
	// Total is the number of transactions (--total, 10000).
	Total int
	// KeySize and ValSize in bytes for the writes (--key-size, --val-size).
	KeySize int
	ValSize int
	// KeySpaceSize: write i goes to key i mod KeySpaceSize (--key-space-size).
	KeySpaceSize int
	// Key and EndKey delimit the reads; reads use WithPrefix on Key unless
	// EndKey is set (etcd reads the whole keyspace: Key "" and
	// --end-key ""), with RangeLimit (--limit, 1000).
	Key        string
	EndKey     string
	RangeLimit int64
	// Consistency of reads: "l" or "s" (--consistency).
	Consistency string
	// ReadWriteRatio is reads per write (--rw-ratio, 1): each transaction
	// is a read with probability r/(1+r).
	ReadWriteRatio float64
	// Rate caps transactions per second; 0 is no cap (--rate).
	Rate int
}

// DefaultTxnMixedOptions returns etcd benchmark txn-mixed's defaults.
func DefaultTxnMixedOptions() TxnMixedOptions {
	return TxnMixedOptions{Total: 10000, KeySize: 8, ValSize: 8, KeySpaceSize: 1, RangeLimit: 1000, Consistency: "l", ReadWriteRatio: 1}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o TxnMixedOptions) Validate() error {
	switch {
	case o.KeySpaceSize <= 0:
		return invalid("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	case o.Consistency != "l" && o.Consistency != "s":
		return invalid("--consistency must be l or s, got %q", o.Consistency)
	case o.ReadWriteRatio < 0:
		return invalid("--rw-ratio must be ≥ 0")
	case o.KeySize < 1 || o.ValSize < 0 || o.Total < 0 || o.Rate < 0:
		return invalid("--key-size must be ≥ 1; --val-size, --total, --rate ≥ 0")
	}
	return nil
}

type mixedReq struct {
	write bool
	op    clientv3.Op
}

// RunTxnMixed runs the mix and returns two sections, "txn-mixed-read" and
// "txn-mixed-write", headed "Total Read Ops: N\nDetails:" and
// "Total Write Ops: N\nDetails:" as etcd prints them.
func RunTxnMixed(ctx context.Context, env Env, pool *Pool, o TxnMixedOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	fmt.Fprintln(env.Out, RangeOptions{Consistency: o.Consistency}.ConsistencyLine())
	val := string(randomBytes(env.Rand, o.ValSize))
	readOpts := []clientv3.OpOption{clientv3.WithLimit(o.RangeLimit)}
	if o.EndKey != "" {
		readOpts = append(readOpts, clientv3.WithRange(o.EndKey))
	} else {
		readOpts = append(readOpts, clientv3.WithPrefix())
	}
	if o.Consistency == "s" {
		readOpts = append(readOpts, clientv3.WithSerializable())
	}
	reads := NewRecorder("txn-mixed-read", env.Now, cfg.Sample)
	writes := NewRecorder("txn-mixed-write", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)
	var nReads, nWrites int
	p := o.ReadWriteRatio / (1 + o.ReadWriteRatio)
	reads.Start()
	writes.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, newLimiter(o.Rate),
		func(i int) mixedReq {
			if env.Rand.Float64() < p {
				nReads++
				return mixedReq{op: clientv3.OpGet(o.Key, readOpts...)}
			}
			nWrites++
			return mixedReq{write: true, op: clientv3.OpPut(EncodeKey("", int64(i%o.KeySpaceSize), o.KeySize), val)}
		},
		func(ctx context.Context, _ int, c *clientv3.Client, r mixedReq) error {
			_, err := c.Txn(ctx).Then(r.op).Commit()
			return err
		},
		func(r mixedReq, res Result) {
			if r.write {
				writes.Record(res)
			} else {
				reads.Record(res)
			}
		})
	rs, ws := reads.Stop(), writes.Stop()
	bar.finish()
	return Outcome{Sections: []Section{
		{Heading: fmt.Sprintf("Total Read Ops: %d\nDetails:", nReads), Stats: rs},
		{Heading: fmt.Sprintf("Total Write Ops: %d\nDetails:", nWrites), Stats: ws},
	}}, ctx.Err()
}
