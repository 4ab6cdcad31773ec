package watch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/mvcc"
)

// History is the event source for catch-up: mvcc.Store satisfies it.
type History interface {
	Rev() int64
	CompactRev() int64
	Events(ctx context.Context, from, to int64, key, end []byte, prevKV bool, fn func(*mvccpb.Event) error) error
}

// Config configures a Hub.
type Config struct {
	History History
	Logger  *zap.Logger
	// MaxPending bounds the events queued on one stream (over all its
	// watchers, as etcd bounds a stream's channel) before a watcher that
	// would exceed it is moved to catch-up from storage (default 1024).
	MaxPending int
	// CatchUpChunk bounds the events read from storage per watcher per turn
	// (default and maximum MaxPending/2).
	CatchUpChunk int
	// ProgressInterval is --watch-progress-notify-interval (default 10m).
	ProgressInterval time.Duration
	// MaxResponseBytes is the size above which a fragmenting watcher's
	// response is split (default 1.5 MiB, etcd's --max-request-bytes).
	MaxResponseBytes int
	// Header fills the cluster fields of a response header.
	Header func(rev int64) *pb.ResponseHeader
	// Metrics may be nil.
	Metrics *Metrics
}

// Hub tracks the watchers of one member.
type Hub struct {
	cfg Config
	lg  *zap.Logger

	mu       sync.Mutex // guards lastRev, synced, unsynced, streams, wake
	lastRev  int64
	synced   map[*watcher]struct{}
	unsynced map[*watcher]struct{}
	streams  map[*Stream]struct{}
	wake     chan struct{} // buffered(1): catch-up has work

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewHub starts a hub whose published revision is cfg.History.Rev().
func NewHub(cfg Config) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 1024
	}
	if cfg.CatchUpChunk == 0 || cfg.CatchUpChunk > cfg.MaxPending/2 {
		cfg.CatchUpChunk = max(1, cfg.MaxPending/2)
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = 10 * time.Minute
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 1572864
	}
	if cfg.Header == nil {
		cfg.Header = func(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, lg: cfg.Logger, lastRev: cfg.History.Rev(),
		synced: map[*watcher]struct{}{}, unsynced: map[*watcher]struct{}{}, streams: map[*Stream]struct{}{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
	}
	h.wg.Add(2)
	go h.runCatchUp()
	go h.runProgress()
	return h
}

// Close stops the hub's goroutines.
func (h *Hub) Close() {
	h.cancel()
	h.wg.Wait()
}

// Rev is the last revision handed to Notify.
func (h *Hub) Rev() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastRev
}

func (h *Hub) kick() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Notify hands the events of revisions up to rev, in order, to synced
// watchers. Called by the apply loop after publishing rev; never blocks.
func (h *Hub) Notify(rev int64, events []*mvccpb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastRev = rev
	if len(events) == 0 {
		return
	}
	demoted := false
	// Events without prev_kv are made once per batch and shared by every
	// watcher that did not ask for prev_kv.
	var bare []*mvccpb.Event
	for w := range h.synced {
		var mine []*mvccpb.Event
		for i, ev := range events {
			if ev.Kv.ModRevision < w.nextRev || !w.matches(ev) {
				continue
			}
			if !w.prevKV && ev.PrevKv != nil {
				if bare == nil {
					bare = make([]*mvccpb.Event, len(events))
				}
				if bare[i] == nil {
					bare[i] = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
				}
				ev = bare[i]
			}
			mine = append(mine, ev)
		}
		if len(mine) == 0 {
			continue
		}
		if !w.stream.enqueue(w, mine, rev, h.cfg.MaxPending) {
			// Too far behind: deliver the rest from storage.
			delete(h.synced, w)
			h.unsynced[w] = struct{}{}
			demoted = true
			h.cfg.Metrics.slow(1)
			continue
		}
		w.nextRev = rev + 1
	}
	if demoted {
		h.kick()
	}
}

// Restored re-syncs every watcher from storage after a raft snapshot
// replaced the state: events they miss are read back from history (or
// they are canceled with compact_revision if it is gone).
func (h *Hub) Restored(rev int64) {
	h.mu.Lock()
	for w := range h.synced {
		delete(h.synced, w)
		w.setCatchRev(w.nextRev)
		h.unsynced[w] = struct{}{}
		h.cfg.Metrics.slow(1)
	}
	h.lastRev = rev
	h.mu.Unlock()
	h.kick()
}

// addLocked registers w, synced if it starts after the published
// revision, else for catch-up. Hub.mu is held; the created response is
// queued in the same critical section.
func (h *Hub) addLocked(w *watcher) {
	if w.nextRev == 0 {
		w.nextRev = h.lastRev + 1
	}
	w.setCatchRev(w.nextRev)
	if w.nextRev > h.lastRev {
		h.synced[w] = struct{}{}
		return
	}
	h.unsynced[w] = struct{}{}
	h.cfg.Metrics.slow(1)
	h.kick()
}

func (h *Hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.synced, w)
	if _, ok := h.unsynced[w]; ok {
		delete(h.unsynced, w)
		h.cfg.Metrics.slow(-1)
	}
	h.mu.Unlock()
}

// isSynced reports whether w is synced (Hub.mu held by the caller).
func (h *Hub) isSyncedLocked(w *watcher) bool {
	_, ok := h.synced[w]
	return ok
}

// runCatchUp serves unsynced watchers round robin, a bounded chunk each
// turn, so that one far-behind watcher delays no other.
func (h *Hub) runCatchUp() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		}
		for {
			h.mu.Lock()
			target := h.lastRev
			var work []*watcher
			for w := range h.unsynced {
				work = append(work, w)
			}
			h.mu.Unlock()
			if len(work) == 0 {
				break
			}
			progressed := false
			for _, w := range work {
				if h.ctx.Err() != nil {
					return
				}
				if h.catchUp(w, target) {
					progressed = true
				}
			}
			if !progressed {
				break // every remaining watcher waits for its client to read; a drain kicks us
			}
		}
	}
}

var errChunkFull = errors.New("watch: chunk full")

// catchUp moves w forward by at most one chunk towards target; reports
// whether it made progress.
func (h *Hub) catchUp(w *watcher, target int64) bool {
	if w.stream.pendingLen() >= h.cfg.MaxPending/2 {
		return false
	}
	from := w.catchRev()
	if from <= target {
		if c := h.cfg.History.CompactRev(); from < c {
			h.remove(w)
			w.stream.cancelCompacted(w, c)
			return true
		}
		var evs []*mvccpb.Event
		last := from - 1
		err := h.cfg.History.Events(h.ctx, from, target, w.key, w.end, w.prevKV, func(ev *mvccpb.Event) error {
			if len(evs) >= h.cfg.CatchUpChunk && ev.Kv.ModRevision != last {
				return errChunkFull
			}
			last = ev.Kv.ModRevision
			if w.matchesFilters(ev) {
				evs = append(evs, ev)
			}
			return nil
		})
		switch {
		case errors.Is(err, errChunkFull):
		case errors.Is(err, mvcc.ErrCompacted):
			h.remove(w)
			w.stream.cancelCompacted(w, h.cfg.History.CompactRev())
			return true
		case err != nil:
			if h.ctx.Err() == nil {
				h.lg.Warn("watch catch-up failed", zap.Int64("watch-id", w.id), zap.Error(err))
			}
			return false
		default:
			last = target
		}
		w.setCatchRev(last + 1)
		if len(evs) > 0 {
			w.stream.enqueueCatchUp(w, evs, last)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.unsynced[w]; !ok {
		return true
	}
	if w.catchRev() > h.lastRev {
		delete(h.unsynced, w)
		h.synced[w] = struct{}{}
		w.nextRev = w.catchRev()
		h.cfg.Metrics.slow(-1)
		w.stream.signalProgress()
	}
	return true
}

// runProgress sends the periodic progress notifications.
func (h *Hub) runProgress() {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		rev := h.lastRev
		for w := range h.synced {
			if w.progressNotify {
				w.stream.progressTick(w, rev)
			}
		}
		h.mu.Unlock()
	}
}

// rangeMatch reports whether key is in the watcher's range (etcd's rules:
// empty end = the key alone, end "\x00" = all keys >= key).
func rangeMatch(key, start, end []byte) bool {
	if len(end) == 0 {
		return bytes.Equal(key, start)
	}
	if bytes.Compare(key, start) < 0 {
		return false
	}
	if len(end) == 1 && end[0] == 0 {
		return true
	}
	return bytes.Compare(key, end) < 0
}
