package watch

import (
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// errDuplicateWatchID is etcd's cancel reason for a client-chosen watch ID
// already in use on the stream.
const errDuplicateWatchID = "mvcc: duplicate watch ID provided on the WatchStream"

// progressWatchID is the watch ID of a response to WatchProgressRequest
// (etcd's clientv3.InvalidWatchID).
const progressWatchID = -1

// maxEventsPerSend bounds the events one watcher gets per turn of the
// sender, so the watchers of one stream are served fairly.
const maxEventsPerSend = 256

type chunk struct {
	evs []*mvccpb.Event
	rev int64 // header revision to report with these events
}

// watcher is one watch on a stream.
type watcher struct {
	id                       int64
	key, end                 []byte
	prevKV, noPut, noDelete  bool
	progressNotify, fragment bool
	stream                   *Stream

	nextRev int64        // first revision not yet queued; Hub.mu
	catch   atomic.Int64 // first revision the catch-up still has to read

	// Stream.mu:
	pending       []chunk
	npending      int
	sentSinceTick bool
}

func (w *watcher) catchRev() int64     { return w.catch.Load() }
func (w *watcher) setCatchRev(r int64) { w.catch.Store(r) }

func (w *watcher) matchesFilters(ev *mvccpb.Event) bool {
	if ev.Type == mvccpb.Event_PUT && w.noPut {
		return false
	}
	if ev.Type == mvccpb.Event_DELETE && w.noDelete {
		return false
	}
	return true
}

func (w *watcher) matches(ev *mvccpb.Event) bool {
	return w.matchesFilters(ev) && rangeMatch(ev.Kv.Key, w.key, w.end)
}

// shape drops prev_kv unless the watcher asked for it; events are shared
// between watchers and never modified.
func (w *watcher) shape(ev *mvccpb.Event) *mvccpb.Event {
	if w.prevKV || ev.PrevKv == nil {
		return ev
	}
	return &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
}

// SendFunc sends one response on the client's stream; only the stream's
// sender goroutine calls it.
type SendFunc func(*pb.WatchResponse) error

// Stream is one client Watch stream with its watchers.
type Stream struct {
	hub  *Hub
	send SendFunc

	mu             sync.Mutex // guards the fields below and watchers' pending
	watchers       map[int64]*watcher
	turn           []*watcher // round-robin order of watchers with pending events
	ctrl           []*pb.WatchResponse
	progressWanted bool
	nextID         int64
	closed         bool
	npending       int // events queued over all watchers of the stream

	signal chan struct{} // buffered(1): the sender has work
	done   chan struct{}
	err    error // why the sender stopped
}

// NewStream registers a stream whose responses go through send, and starts
// its sender goroutine.
func (h *Hub) NewStream(send SendFunc) *Stream {
	s := &Stream{hub: h, send: send, watchers: map[int64]*watcher{}, signal: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	h.streams[s] = struct{}{}
	h.mu.Unlock()
	h.cfg.Metrics.streams(1)
	go s.run()
	return s
}

// Done is closed when the sender stopped (Close, or a send failed).
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err is the send error that stopped the stream, if any.
func (s *Stream) Err() error {
	<-s.done
	return s.err
}

// Close removes every watcher and tells the sender to stop; it does not
// wait for a send blocked on a slow client (cancel the client stream for that).
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ws := make([]*watcher, 0, len(s.watchers))
	for _, w := range s.watchers {
		ws = append(ws, w)
	}
	s.watchers = map[int64]*watcher{}
	s.mu.Unlock()
	for _, w := range ws {
		s.hub.remove(w)
	}
	s.hub.mu.Lock()
	delete(s.hub.streams, s)
	s.hub.mu.Unlock()
	s.hub.cfg.Metrics.watchers(-len(ws))
	s.hub.cfg.Metrics.streams(-1)
	s.wakeSender() // the sender sees closed and exits once any send in flight returns
}

func (s *Stream) wakeSender() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Create handles a WatchCreateRequest as etcd: the created response comes
// first, then events from start_revision (or from now); a start revision
// below the compaction point gets a cancel with compact_revision.
func (s *Stream) Create(r *pb.WatchCreateRequest) {
	w := &watcher{
		key: r.Key, end: r.RangeEnd, prevKV: r.PrevKv,
		progressNotify: r.ProgressNotify, fragment: r.Fragment, stream: s,
	}
	if len(w.key) == 0 {
		w.key = []byte{0}
	}
	for _, f := range r.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}
	if r.StartRevision > 0 {
		w.nextRev = r.StartRevision
	}
	// The created response is queued and the watcher registered under the
	// hub lock, so no event can be published between the two: the client
	// sees "created" first and then every event after it.
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	rev := h.lastRev
	id := r.WatchId
	if id == 0 {
		for s.watchers[s.nextID] != nil {
			s.nextID++
		}
		id = s.nextID
		s.nextID++
	} else if s.watchers[id] != nil {
		s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: h.cfg.Header(rev), WatchId: id, Created: true, Canceled: true, CancelReason: errDuplicateWatchID})
		s.wakeSender()
		return
	}
	w.id = id
	s.watchers[id] = w
	s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: h.cfg.Header(rev), WatchId: id, Created: true})
	h.cfg.Metrics.watchers(1)
	h.addLocked(w)
	s.wakeSender()
}

// Cancel handles a WatchCancelRequest: the watcher stops and a canceled
// response is sent; unknown IDs are ignored as etcd does.
func (s *Stream) Cancel(id int64) { s.CancelWithReason(id, "") }

// Refuse answers a create request the server will not serve (such as one
// the caller has no permission for) as etcd: a response with watch ID -1,
// created and canceled, carrying reason as cancel_reason.
func (s *Stream) Refuse(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: s.hub.cfg.Header(s.hub.Rev()), WatchId: progressWatchID, Created: true, Canceled: true, CancelReason: reason})
	s.wakeSender()
}

// Range is the key range of one watcher of a stream: [Key, End), End
// empty for the key alone.
type Range struct {
	ID       int64
	Key, End []byte
}

// Ranges returns the key ranges of the stream's watchers (in no order).
func (s *Stream) Ranges() []Range {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Range, 0, len(s.watchers))
	for _, w := range s.watchers {
		out = append(out, Range{ID: w.id, Key: w.key, End: w.end})
	}
	return out
}

// CancelWithReason stops watcher id with a canceled response carrying
// reason as cancel_reason (empty: none); unknown IDs are ignored.
func (s *Stream) CancelWithReason(id int64, reason string) {
	s.mu.Lock()
	w := s.watchers[id]
	if w == nil {
		s.mu.Unlock()
		return
	}
	s.dropLocked(w)
	s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: s.hub.cfg.Header(s.hub.Rev()), WatchId: id, Canceled: true, CancelReason: reason})
	s.mu.Unlock()
	s.hub.remove(w)
	s.hub.cfg.Metrics.watchers(-1)
	s.wakeSender()
}

func (s *Stream) dropLocked(w *watcher) {
	delete(s.watchers, w.id)
	s.hub.cfg.Metrics.pending(-w.npending)
	s.npending -= w.npending
	w.pending, w.npending = nil, 0
}

// RequestProgress handles a WatchProgressRequest: once every watcher of
// the stream is synced and has sent all its events, a response with
// watch_id -1 and the published revision is sent (never before the events
// it vouches for: etcd #15220).
func (s *Stream) RequestProgress() {
	s.mu.Lock()
	s.progressWanted = true
	s.mu.Unlock()
	s.wakeSender()
}

func (s *Stream) signalProgress() { s.wakeSender() }

// cancelCompacted cancels w because the revisions it needs are compacted.
func (s *Stream) cancelCompacted(w *watcher, compactRev int64) {
	s.mu.Lock()
	if s.watchers[w.id] != w {
		s.mu.Unlock()
		return
	}
	s.dropLocked(w)
	// As etcd: no cancel reason and a zero header revision; clients
	// recognise the case by compact_revision.
	s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: s.hub.cfg.Header(0), WatchId: w.id, Canceled: true, CompactRevision: compactRev})
	s.mu.Unlock()
	s.hub.cfg.Metrics.watchers(-1)
	s.wakeSender()
}

// enqueue appends live events; false if w would exceed max pending (the
// caller then moves w to catch-up). Called with Hub.mu held.
func (s *Stream) enqueue(w *watcher, evs []*mvccpb.Event, rev int64, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers[w.id] != w {
		return true // being removed
	}
	if s.npending+len(evs) > max {
		w.setCatchRev(w.nextRev)
		return false
	}
	s.appendLocked(w, chunk{evs: evs, rev: rev})
	s.wakeSender()
	return true
}

// enqueueCatchUp appends events read from storage.
func (s *Stream) enqueueCatchUp(w *watcher, evs []*mvccpb.Event, rev int64) {
	shaped := make([]*mvccpb.Event, len(evs))
	for i, ev := range evs {
		shaped[i] = w.shape(ev)
	}
	s.mu.Lock()
	if s.watchers[w.id] == w {
		s.appendLocked(w, chunk{evs: shaped, rev: rev})
	}
	s.mu.Unlock()
	s.wakeSender()
}

func (s *Stream) appendLocked(w *watcher, c chunk) {
	if w.npending == 0 {
		s.turn = append(s.turn, w)
	}
	w.pending = append(w.pending, c)
	w.npending += len(c.evs)
	s.npending += len(c.evs)
	s.hub.cfg.Metrics.pending(len(c.evs))
}

// pendingLen is the number of events queued on the stream.
func (s *Stream) pendingLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.npending
}

// progressTick queues a periodic progress notification for an idle
// synced watcher. Called with Hub.mu held.
func (s *Stream) progressTick(w *watcher, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers[w.id] != w || w.npending > 0 {
		return
	}
	if w.sentSinceTick {
		w.sentSinceTick = false
		return
	}
	s.ctrl = append(s.ctrl, &pb.WatchResponse{Header: s.hub.cfg.Header(rev), WatchId: w.id})
	s.wakeSender()
}

// run is the sender goroutine.
func (s *Stream) run() {
	defer close(s.done)
	for range s.signal {
		for {
			resps, more := s.next()
			if resps == nil && !more {
				break
			}
			for _, r := range resps {
				if err := s.send(r); err != nil {
					s.err = err
					return
				}
			}
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
	}
}

// next takes the next responses to send: control responses first, then
// one watcher's events (round robin), then a pending progress response.
func (s *Stream) next() ([]*pb.WatchResponse, bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false
	}
	if len(s.ctrl) > 0 {
		r := s.ctrl[0]
		s.ctrl[0] = nil // popped slots must not keep responses alive
		s.ctrl = s.ctrl[1:]
		s.mu.Unlock()
		return []*pb.WatchResponse{r}, true
	}
	if len(s.turn) > 0 {
		w := s.turn[0]
		s.turn[0] = nil
		s.turn = s.turn[1:]
		var evs []*mvccpb.Event
		var rev int64
		for len(w.pending) > 0 && (len(evs) == 0 || len(evs)+len(w.pending[0].evs) <= maxEventsPerSend) {
			c := w.pending[0]
			w.pending[0] = chunk{} // or the backing array keeps the events alive
			w.pending = w.pending[1:]
			evs = append(evs, c.evs...)
			rev = c.rev
		}
		w.npending -= len(evs)
		s.npending -= len(evs)
		s.hub.cfg.Metrics.pending(-len(evs))
		if w.npending > 0 {
			s.turn = append(s.turn, w)
		}
		w.sentSinceTick = true
		low := s.npending < s.hub.cfg.MaxPending/2
		id, frag := w.id, w.fragment
		s.mu.Unlock()
		if low {
			s.hub.kick()
		}
		s.hub.cfg.Metrics.events(len(evs))
		return s.responses(id, rev, evs, frag), true
	}
	wanted := s.progressWanted
	s.mu.Unlock()
	if !wanted {
		return nil, false
	}
	// Progress: every watcher synced and drained (lock order hub, stream).
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.turn) > 0 || len(s.ctrl) > 0 {
		return nil, true
	}
	for _, w := range s.watchers {
		if !s.hub.isSyncedLocked(w) {
			return nil, false // the catch-up signals when it syncs one
		}
	}
	s.progressWanted = false
	return []*pb.WatchResponse{{Header: s.hub.cfg.Header(s.hub.lastRev), WatchId: progressWatchID}}, true
}

// responses builds the response(s) for one watcher's events, fragmenting
// when the watcher allows it and they exceed MaxResponseBytes.
func (s *Stream) responses(id, rev int64, evs []*mvccpb.Event, fragment bool) []*pb.WatchResponse {
	if !fragment {
		return []*pb.WatchResponse{{Header: s.hub.cfg.Header(rev), WatchId: id, Events: evs}}
	}
	var out []*pb.WatchResponse
	var cur []*mvccpb.Event
	size := 0
	for _, ev := range evs {
		n := proto.Size(ev)
		if len(cur) > 0 && size+n > s.hub.cfg.MaxResponseBytes {
			out = append(out, &pb.WatchResponse{Header: s.hub.cfg.Header(rev), WatchId: id, Events: cur, Fragment: true})
			cur, size = nil, 0
		}
		cur = append(cur, ev)
		size += n
	}
	out = append(out, &pb.WatchResponse{Header: s.hub.cfg.Header(rev), WatchId: id, Events: cur})
	return out
}
