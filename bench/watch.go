package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrWatchClosed means a watch channel closed before delivering what the
// workload waited for (the watch was cancelled or the server failed).
var ErrWatchClosed = errors.New("bench: watch channel closed early")

// WatchOptions are the flags of the watch workload (etcd benchmark watch):
// Streams × WatchPerStream watchers spread over WatchedKeyTotal keys, then
// PutTotal puts to those keys while the watchers count the events.
type WatchOptions struct {
	Streams         int // --streams, 10
	WatchPerStream  int // --watch-per-stream, 100
	WatchedKeyTotal int // --watched-key-total, 1
	PutRate         int // --put-rate, 0 = no cap
	PutTotal        int // --put-total, 1000
	KeySize         int // --key-size, 32
	KeySpaceSize    int // --key-space-size, 1
	SequentialKeys  bool
}

// DefaultWatchOptions returns etcd benchmark watch's defaults.
func DefaultWatchOptions() WatchOptions {
	return WatchOptions{Streams: 10, WatchPerStream: 100, WatchedKeyTotal: 1, PutTotal: 1000, KeySize: 32, KeySpaceSize: 1}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o WatchOptions) Validate() error {
	switch {
	case o.KeySpaceSize <= 0:
		return invalid("expected positive --key-space-size, got (%d)", o.KeySpaceSize)
	case o.Streams < 1 || o.WatchPerStream < 1 || o.WatchedKeyTotal < 1:
		return invalid("--streams, --watch-per-stream and --watched-key-total must be ≥ 1")
	case o.KeySize < 1 || o.PutTotal < 0 || o.PutRate < 0:
		return invalid("--key-size must be ≥ 1; --put-total, --put-rate ≥ 0")
	}
	return nil
}

// RunWatch runs the watch workload and returns two sections: "watch-make"
// (headed "Watch creation summary:"), the time from sending each watch to
// its creation being confirmed, and "watch-put" (headed "Watch events
// received summary:"), one result per event received, whose Requests/sec
// is the event delivery rate. Puts that fail end the run with their error.
func RunWatch(ctx context.Context, env Env, pool *Pool, o WatchOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	watched := make([]string, o.WatchedKeyTotal)
	for i := range watched {
		n := int64(i % o.KeySpaceSize)
		if !o.SequentialKeys {
			n = env.Rand.Int64N(int64(o.KeySpaceSize))
		}
		watched[i] = EncodeKey("", n, o.KeySize)
	}

	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	streams := make([]clientv3.Watcher, o.Streams)
	for i := range streams {
		streams[i] = clientv3.NewWatcher(pool.Clients[i%len(pool.Clients)])
	}
	defer func() {
		for _, s := range streams {
			_ = s.Close()
		}
	}()

	// Phase 1: create the watchers; watcher i watches watched[i mod keys].
	numWatchers := map[string]int{}
	for i := range o.Streams * o.WatchPerStream {
		numWatchers[watched[i%len(watched)]]++
	}
	creation := NewRecorder("watch-make", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Streams*o.WatchPerStream)
	chans := make([][]clientv3.WatchChan, o.Streams)
	var wg sync.WaitGroup
	creation.Start()
	for si, s := range streams {
		wg.Go(func() {
			for j := range o.WatchPerStream {
				key := watched[(si*o.WatchPerStream+j)%len(watched)]
				st := env.Now()
				wch := s.Watch(wctx, key, clientv3.WithCreatedNotify())
				resp, ok := <-wch
				err := resp.Err()
				if !ok {
					err = ErrWatchClosed
				}
				creation.Record(Result{Start: st, End: env.Now(), Err: err})
				bar.add(1)
				if err == nil {
					chans[si] = append(chans[si], wch)
				}
			}
		})
	}
	wg.Wait()
	makeStats := creation.Stop()
	bar.finish()
	out := Outcome{Sections: []Section{{Heading: "Watch creation summary:", Stats: makeStats}}}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if makeStats.Errors > 0 {
		return out, fmt.Errorf("bench: %d watches failed to start: %w", makeStats.Errors, ErrWatchClosed)
	}

	// Phase 2: put and count the events.
	eventsTotal := 0
	for i := range o.PutTotal {
		eventsTotal += numWatchers[watched[i%len(watched)]]
	}
	events := NewRecorder("watch-put", env.Now, cfg.Sample)
	bar = startProgress(env.Progress, eventsTotal)
	var left atomic.Int64
	left.Store(int64(eventsTotal))
	events.Start()
	if eventsTotal == 0 {
		cancelWatches()
	}
	for _, cs := range chans {
		for _, wch := range cs {
			wg.Go(func() {
				for resp := range wch {
					st := env.Now()
					for range resp.Events {
						events.Record(Result{Start: st, End: env.Now()})
						bar.add(1)
						if left.Add(-1) == 0 {
							cancelWatches()
						}
					}
				}
			})
		}
	}
	var putErr error
	var putErrOnce sync.Once
	runRequests(wctx, env, nil, pool.Clients, o.PutTotal, newLimiter(o.PutRate),
		func(i int) string { return watched[i%len(watched)] },
		func(ctx context.Context, _ int, c *clientv3.Client, key string) error {
			_, err := c.Put(ctx, key, "data")
			return err
		},
		func(_ string, r Result) {
			if r.Err != nil && wctx.Err() == nil {
				putErrOnce.Do(func() { putErr = r.Err; cancelWatches() })
			}
		})
	wg.Wait()
	evStats := events.Stop()
	bar.finish()
	out.Sections = append(out.Sections, Section{Heading: "Watch events received summary:", Stats: evStats})
	if putErr != nil {
		return out, fmt.Errorf("bench: watch put: %w", putErr)
	}
	if l := left.Load(); l > 0 {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		return out, fmt.Errorf("bench: %d of %d events missing: %w", l, eventsTotal, ErrWatchClosed)
	}
	return out, nil
}

// WatchGetOptions are the flags of watch-get (etcd benchmark watch-get):
// serializable Gets measured while Watchers unsynced watchers catch up on
// Events old events each.
type WatchGetOptions struct {
	Watchers int // --watchers, 10000
	Streams  int // --streams, 1
	Events   int // --events, 8
}

// DefaultWatchGetOptions returns etcd benchmark watch-get's defaults.
func DefaultWatchGetOptions() WatchGetOptions {
	return WatchGetOptions{Watchers: 10000, Streams: 1, Events: 8}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o WatchGetOptions) Validate() error {
	if o.Watchers < 1 || o.Streams < 1 || o.Events < 1 {
		return invalid("--watchers, --streams and --events must be ≥ 1")
	}
	return nil
}

// RunWatchGet writes Events revisions of key "watchkey", starts Watchers
// watchers from the first of them over Streams streams, and meanwhile
// issues serializable Gets of "abc" on a separate connection until every
// watcher has seen every event. It returns one section "watch-get" headed
// "Get during watch summary:".
func RunWatchGet(ctx context.Context, env Env, pool *Pool, o WatchGetOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	var watchRev int64
	for i := range o.Events {
		resp, err := pool.Clients[0].Put(ctx, "watchkey", fmt.Sprint(i))
		if err != nil {
			return Outcome{}, fmt.Errorf("bench: watch-get setup: %w", err)
		}
		if i == 0 {
			watchRev = resp.Header.Revision
		}
	}
	getClient, err := pool.NewClient(ctx)
	if err != nil {
		return Outcome{}, err
	}
	defer getClient.Close()
	streams := make([]clientv3.Watcher, o.Streams)
	for i := range streams {
		streams[i] = clientv3.NewWatcher(pool.Clients[i%len(pool.Clients)])
	}
	defer func() {
		for _, s := range streams {
			_ = s.Close()
		}
	}()

	rec := NewRecorder("watch-get", env.Now, cfg.Sample)
	bar := startProgress(env.Progress, o.Watchers*o.Events)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	getCtx, stopGets := context.WithCancel(ctx)
	var getter sync.WaitGroup
	rec.Start()
	getter.Go(func() {
		for {
			st := env.Now()
			_, err := getClient.Get(getCtx, "abc", clientv3.WithSerializable())
			if getCtx.Err() != nil {
				return
			}
			rec.Record(Result{Start: st, End: env.Now(), Err: err})
		}
	})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range o.Watchers {
		wg.Go(func() {
			wch := streams[i%len(streams)].Watch(wctx, "watchkey", clientv3.WithRev(watchRev))
			seen := 0
			for seen < o.Events {
				resp, ok := <-wch
				if !ok {
					failed.Add(1)
					return
				}
				seen += len(resp.Events)
				bar.add(len(resp.Events))
			}
		})
	}
	wg.Wait()
	stopGets()
	getter.Wait()
	stats := rec.Stop()
	bar.finish()
	out := Outcome{Sections: []Section{{Heading: "Get during watch summary:", Stats: stats}}}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if n := failed.Load(); n > 0 {
		return out, fmt.Errorf("bench: %d watchers ended early: %w", n, ErrWatchClosed)
	}
	return out, nil
}

// WatchLatencyOptions are the flags of watch-latency (etcd benchmark
// watch-latency).
type WatchLatencyOptions struct {
	Streams           int  // --streams, 10
	WatchersPerStream int  // --watchers-per-stream, 10
	PrevKV            bool // --prevkv
	PutTotal          int  // --put-total, 1000
	PutRate           int  // --put-rate, 100
	KeySize           int  // --key-size, 32
	ValSize           int  // --val-size, 32
}

// DefaultWatchLatencyOptions returns etcd benchmark watch-latency's defaults.
func DefaultWatchLatencyOptions() WatchLatencyOptions {
	return WatchLatencyOptions{Streams: 10, WatchersPerStream: 10, PutTotal: 1000, PutRate: 100, KeySize: 32, ValSize: 32}
}

// Validate checks o, wrapping ErrInvalidOption.
func (o WatchLatencyOptions) Validate() error {
	switch {
	case o.Streams < 1 || o.WatchersPerStream < 1:
		return invalid("--streams and --watchers-per-stream must be ≥ 1")
	case o.KeySize < 1 || o.ValSize < 0 || o.PutTotal < 0 || o.PutRate < 0:
		return invalid("--key-size must be ≥ 1; --val-size, --put-total, --put-rate ≥ 0")
	}
	return nil
}

// RunWatchLatency puts one random key PutTotal times at PutRate per second
// from one connection while Streams × WatchersPerStream watchers watch it.
// It returns "watch-latency-put" (headed "Put summary:"), the puts'
// latencies, and "watch-latency-watch" (headed "Watch events summary:"),
// for each watcher and put the time from the put's response to the
// watcher receiving its event (zero when the event arrived first), as
// etcd measures it.
func RunWatchLatency(ctx context.Context, env Env, pool *Pool, o WatchLatencyOptions, cfg Config) (Outcome, error) {
	if err := o.Validate(); err != nil {
		return Outcome{}, err
	}
	env = env.withDefaults()
	key := string(randomBytes(env.Rand, o.KeySize))
	value := string(randomBytes(env.Rand, o.ValSize))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streams := make([]clientv3.Watcher, o.Streams)
	for i := range streams {
		streams[i] = clientv3.NewWatcher(pool.Clients[i%len(pool.Clients)])
	}
	defer func() {
		for _, s := range streams {
			_ = s.Close()
		}
	}()
	opts := []clientv3.OpOption{clientv3.WithCreatedNotify()}
	if o.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	var wchs []clientv3.WatchChan
	for _, s := range streams {
		for range o.WatchersPerStream {
			wch := s.Watch(wctx, key, opts...)
			if resp, ok := <-wch; !ok || resp.Err() != nil {
				return Outcome{}, fmt.Errorf("bench: watch-latency setup: %w", errors.Join(ErrWatchClosed, resp.Err()))
			}
			wchs = append(wchs, wch)
		}
	}
	putClient, err := pool.NewClient(ctx)
	if err != nil {
		return Outcome{}, err
	}
	defer putClient.Close()

	bar := startProgress(env.Progress, o.PutTotal*len(wchs))
	eventTimes := make([][]time.Time, len(wchs))
	var wg sync.WaitGroup
	for i, wch := range wchs {
		eventTimes[i] = make([]time.Time, 0, o.PutTotal)
		wg.Go(func() {
			for len(eventTimes[i]) < o.PutTotal {
				resp, ok := <-wch
				if !ok {
					return
				}
				now := env.Now()
				for range resp.Events {
					eventTimes[i] = append(eventTimes[i], now)
				}
				bar.add(len(resp.Events))
			}
		})
	}
	puts := NewRecorder("watch-latency-put", env.Now, cfg.Sample)
	putTimes := make([]time.Time, 0, o.PutTotal)
	lim := newLimiter(o.PutRate)
	puts.Start()
	var putErr error
	for range o.PutTotal {
		if putErr = lim.wait(ctx); putErr != nil {
			break
		}
		st := env.Now()
		if _, putErr = putClient.Put(ctx, key, value); putErr != nil {
			break
		}
		end := env.Now()
		puts.Record(Result{Start: st, End: end})
		putTimes = append(putTimes, end)
	}
	if putErr != nil {
		cancel()
	}
	wg.Wait()
	putStats := puts.Stop()
	bar.finish()
	out := Outcome{Sections: []Section{{Heading: "\nPut summary:", Stats: putStats}}}
	if putErr != nil {
		return out, fmt.Errorf("bench: watch-latency put: %w", putErr)
	}
	lat := NewRecorder("watch-latency-watch", env.Now, cfg.Sample)
	lat.Start()
	missing := 0
	for i := range wchs {
		missing += len(putTimes) - len(eventTimes[i])
		for j, end := range eventTimes[i] {
			start := putTimes[j]
			if end.Before(start) {
				start = end
			}
			lat.Record(Result{Start: start, End: end})
		}
	}
	out.Sections = append(out.Sections, Section{Heading: "\nWatch events summary:", Stats: lat.Stop()})
	if missing > 0 {
		return out, fmt.Errorf("bench: %d watch events missing: %w", missing, ErrWatchClosed)
	}
	return out, nil
}
