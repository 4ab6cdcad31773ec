package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Env is what a workload needs from its surroundings.
type Env struct {
	// Out receives informational lines a command prints before its
	// summary (e.g. "bench with linearizable range"); nil discards them.
	Out io.Writer
	// Progress receives the progress bar; nil (not a terminal) draws none.
	Progress io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the random source for keys and values; nil means a source
	// seeded from the clock. It is used from one goroutine at a time.
	Rand *rand.Rand
}

func (e Env) withDefaults() Env {
	if e.Out == nil {
		e.Out = io.Discard
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Rand == nil {
		seed := uint64(e.Now().UnixNano())
		e.Rand = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	return e
}

// Section is one summary a workload produces: a heading printed before it
// (may be empty) and its statistics.
type Section struct {
	Heading string
	Stats   Stats
}

// Outcome is what a workload returns: its summaries in print order and any
// text that follows them (e.g. the HashKV summary of put --check-hashkv).
type Outcome struct {
	Sections []Section
	Trailer  string
}

// limiter paces calls to at most rate per second with a burst of one, as
// golang.org/x/time/rate.NewLimiter(rate, 1) does. A nil limiter never
// waits. Its fields are guarded by mu.
type limiter struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time
}

func newLimiter(perSecond int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{interval: time.Second / time.Duration(perSecond)}
}

// wait blocks until the caller's slot or until ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progress draws "n / total [=====>    ] pct% elapsed" on a terminal. A nil
// *progress does nothing. n is atomic; the painter goroutine owns the writes.
type progress struct {
	w     io.Writer
	total int64
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func startProgress(w io.Writer, total int) *progress {
	if w == nil || total <= 0 {
		return nil
	}
	p := &progress{w: w, total: int64(total), start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go p.paint()
	return p
}

func (p *progress) add(n int) {
	if p != nil {
		p.n.Add(int64(n))
	}
}

func (p *progress) paint() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.draw()
		case <-p.stop:
			p.draw()
			fmt.Fprintln(p.w)
			return
		}
	}
}

func (p *progress) draw() {
	const width = 40
	n := min(p.n.Load(), p.total)
	filled := int(n * width / p.total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	fmt.Fprintf(p.w, "\r%d / %d [%s] %6.2f%% %s", n, p.total, bar,
		float64(n)*100/float64(p.total), time.Since(p.start).Round(time.Second))
}

// finish stops the painter after a last full redraw and a newline.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// EncodeKey returns the benchmark key number n: the zig-zag varint of n
// (encoding/binary.PutVarint) in a zero-padded buffer of size bytes,
// truncated when size is shorter than the varint, after prefix. This is
// the key shape etcd's benchmark writes.
func EncodeKey(prefix string, n int64, size int) string {
	var v [binary.MaxVarintLen64]byte
	l := binary.PutVarint(v[:], n)
	k := make([]byte, size)
	copy(k, v[:l])
	return prefix + string(k)
}

// randomBytes returns n bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// runRequests runs total requests over clients: a producer goroutine calls
// next(i) for i in [0, total) (so next may use env.Rand) and hands the
// value to the first free worker; worker w uses clients[w], waits on lim,
// times do(ctx, w, clients[w], value) and hands the request and its Result to record (from many
// goroutines). It returns when every worker is done; a cancelled ctx stops
// the producer early.
func runRequests[T any](ctx context.Context, env Env, bar *progress, clients []*clientv3.Client, total int, lim *limiter,
	next func(i int) T, do func(ctx context.Context, worker int, c *clientv3.Client, req T) error, record func(req T, res Result),
) {
	reqs := make(chan T, len(clients))
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() {
			for req := range reqs {
				if lim.wait(ctx) != nil {
					continue // drain after cancellation
				}
				st := env.Now()
				err := do(ctx, w, c, req)
				record(req, Result{Start: st, End: env.Now(), Err: err})
				bar.add(1)
			}
		})
	}
	wg.Go(func() {
		defer close(reqs)
		for i := range total {
			select {
			case reqs <- next(i):
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Wait()
}

// into returns a record function for runRequests that ignores the request.
func into[T any](rec *Recorder) func(T, Result) {
	return func(_ T, r Result) { rec.Record(r) }
}
