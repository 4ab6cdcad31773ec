package bench

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// STMOptions are the flags of the stm workload (etcd benchmark stm).
type STMOptions struct {
	// Isolation: "c" read committed, "r" repeatable reads (default), "s"
	// serializable, "ss" serializable snapshot (--isolation).
	Isolation string
	// Keys is the number of distinct keys (--keys, 1); each transaction
	// reads KeysPerTxn of them (--keys-per-txn, 1) and overwrites
	// WritePercent percent of those (--txn-wr-percent, 50).
	Keys         int
	KeysPerTxn   int
	WritePercent int
	// Total is the number of completed transactions (--total, 10000).
	Total int
	// Locker wraps each transaction: "stm" (none, default), "lock-client"
	// (concurrency.Mutex) or "lock-rpc" (the v3lock Lock/Unlock RPCs)
	// (--stm-locker).
	Locker string
	// ValSize is the size of written values in bytes (--val-size, 8).
	ValSize int
	// Rate caps transactions per second; 0 is no cap (--rate).
	Rate int
}

// DefaultSTMOptions returns etcd benchmark stm's defaults.
func DefaultSTMOptions() STMOptions {
	return STMOptions{Isolation: "r", Keys: 1, KeysPerTxn: 1, WritePercent: 50, Total: 10000, Locker: "stm", ValSize: 8}
}

func (o STMOptions) isolation() (concurrency.Isolation, bool) {
	switch o.Isolation {
	case "c":
		return concurrency.ReadCommitted, true
	case "r":
		return concurrency.RepeatableReads, true
	case "s":
		return concurrency.Serializable, true
	case "ss":
		return concurrency.SerializableSnapshot, true
	}
	return 0, false
}

// Validate checks o, wrapping ErrInvalidOption.
func (o STMOptions) Validate() error {
	if _, ok := o.isolation(); !ok {
		return invalid("--isolation must be c, r, s or ss, got %q", o.Isolation)
	}
	switch {
	case o.Keys <= 0:
		return invalid("expected positive --keys, got (%d)", o.Keys)
	case o.WritePercent < 0 || o.WritePercent > 100:
		return invalid("expected [0, 100] --txn-wr-percent, got (%d)", o.WritePercent)
	case o.KeysPerTxn < 0 || o.KeysPerTxn > o.Keys:
		return invalid("expected --keys-per-txn between 0 and %d, got (%d)", o.Keys, o.KeysPerTxn)
	case o.Locker != "stm" && o.Locker != "lock-client" && o.Locker != "lock-rpc":
		return invalid("unexpected stm locker %q", o.Locker)
	case o.Total < 0 || o.Rate < 0 || o.ValSize < 0:
		return invalid("--total, --rate and --val-size must be ≥ 0")
	}
	return nil
}

type stmTxn struct {
	keys []string
	vals []string // one per written key
}

type locker struct {
	lock, unlock func(context.Context) error
	close        func()
}

// RunSTM runs o.Total software transactions and returns one section "stm".
func RunSTM(ctx context.Context, env Env, pool *Pool, o STMOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	iso, _ := o.isolation()
	lockers := make([]locker, len(pool.Clients))
	defer func() {
		for _, l := range lockers {
			if l.close != nil {
				l.close()
			}
		}
	}()
	for i, c := range pool.Clients {
		l, err := newLocker(o.Locker, c)
		if err != nil {
			return Outcome{}, err
		}
		lockers[i] = l
	}
	writes := o.KeysPerTxn * o.WritePercent / 100
	rec := NewRecorder("stm", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Total)
	rec.Start()
	runRequests(ctx, env, bar, pool.Clients, o.Total, newLimiter(o.Rate),
		func(int) stmTxn {
			set := map[string]bool{}
			var t stmTxn
			for len(t.keys) < o.KeysPerTxn {
				k := EncodeKey("", env.Rand.Int64N(int64(o.Keys)), 16)
				if !set[k] {
					set[k] = true
					t.keys = append(t.keys, k)
				}
			}
			for range writes {
				t.vals = append(t.vals, string(randomBytes(env.Rand, o.ValSize)))
			}
			return t
		},
		func(ctx context.Context, w int, c *clientv3.Client, t stmTxn) error {
			l := lockers[w]
			if err := l.lock(ctx); err != nil {
				return err
			}
			_, err := concurrency.NewSTM(c, func(s concurrency.STM) error {
				for i, k := range t.keys {
					s.Get(k)
					if i < len(t.vals) {
						s.Put(k, t.vals[i])
					}
				}
				return nil
			}, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
			return errors.Join(err, l.unlock(ctx))
		}, into[stmTxn](rec))
	stats := rec.Stop()
	bar.finish()
	return Outcome{Sections: []Section{{Stats: stats}}}, ctx.Err()
}

// stmLockName is the lock every STM transaction takes with a locker.
const stmLockName = "stmlock"

func newLocker(kind string, c *clientv3.Client) (locker, error) {
	nop := func(context.Context) error { return nil }
	switch kind {
	case "lock-client":
		s, err := concurrency.NewSession(c)
		if err != nil {
			return locker{}, fmt.Errorf("bench: stm session: %w", err)
		}
		m := concurrency.NewMutex(s, stmLockName)
		return locker{lock: m.Lock, unlock: m.Unlock, close: func() { _ = s.Close() }}, nil
	case "lock-rpc":
		s, err := concurrency.NewSession(c)
		if err != nil {
			return locker{}, fmt.Errorf("bench: stm session: %w", err)
		}
		var key []byte
		return locker{
			lock: func(ctx context.Context) error {
				k, err := rpcLock(ctx, c, []byte(stmLockName), int64(s.Lease()))
				key = k
				return err
			},
			unlock: func(ctx context.Context) error { return rpcUnlock(ctx, c, key) },
			close:  func() { _ = s.Close() },
		}, nil
	}
	return locker{lock: nop, unlock: nop}, nil
}

// rawCodec sends and receives pre-encoded protobuf bytes, so the v3lock
// service (whose generated types live in etcd's server module, which
// Concord does not import) can be called with hand-encoded messages.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// rpcLock calls v3lockpb.Lock/Lock (LockRequest{name=1, lease=2}) and
// returns LockResponse.key (field 2).
func rpcLock(ctx context.Context, c *clientv3.Client, name []byte, lease int64) ([]byte, error) {
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, name)
	req = protowire.AppendTag(req, 2, protowire.VarintType)
	req = protowire.AppendVarint(req, uint64(lease))
	var resp []byte
	if err := c.ActiveConnection().Invoke(ctx, "/v3lockpb.Lock/Lock", &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		return nil, err
	}
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		resp = resp[n:]
		if num == 2 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(resp)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			return append([]byte(nil), v...), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, resp)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		resp = resp[m:]
	}
	return nil, nil
}

// rpcUnlock calls v3lockpb.Lock/Unlock (UnlockRequest{key=1}).
func rpcUnlock(ctx context.Context, c *clientv3.Client, key []byte) error {
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, key)
	var resp []byte
	return c.ActiveConnection().Invoke(ctx, "/v3lockpb.Lock/Unlock", &req, &resp, grpc.ForceCodec(rawCodec{}))
}
