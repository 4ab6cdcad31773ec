package watch

import (
	"fmt"
	"github.com/concord-kv/concord/storage"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/concord-kv/concord/mvcc"
)

type store struct {
	t   *testing.T
	db  *pebble.DB
	kv  *mvcc.Store
	hub *Hub
	all []*mvccpb.Event // every event, in order
}

func newStore(t *testing.T, maxPending int) *store {
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &store{t: t, db: db, kv: kv}
	s.hub = NewHub(Config{History: kv, MaxPending: maxPending, CatchUpChunk: 7, ProgressInterval: time.Hour})
	t.Cleanup(func() { s.hub.Close(); kv.Close(); db.Close() })
	return s
}

// write applies one revision of puts/deletes and notifies the hub, as the
// apply loop does.
func (s *store) write(f func(tw *mvcc.TxnWrite)) {
	b := s.db.NewIndexedBatch()
	tw := s.kv.Write(b)
	f(tw)
	evs := tw.Changes()
	tw.End()
	if err := b.Commit(pebble.NoSync); err != nil {
		s.t.Fatal(err)
	}
	s.kv.Publish()
	s.all = append(s.all, evs...)
	s.hub.Notify(s.kv.Rev(), evs)
}

// collector receives a stream's responses on a channel.
type collector struct {
	ch chan *pb.WatchResponse
}

func newCollector() *collector { return &collector{ch: make(chan *pb.WatchResponse, 1<<16)} }

func (c *collector) send(r *pb.WatchResponse) error {
	c.ch <- r
	return nil
}

func (c *collector) next(t *testing.T) *pb.WatchResponse {
	t.Helper()
	select {
	case r := <-c.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response within 10s")
		return nil
	}
}

func key(i int) []byte { return []byte(fmt.Sprintf("k%02d", i)) }

// TestWatchModel: every watcher's stream equals the history filtered by its
// range and start revision, in order, without duplicates or gaps, whether
// it was synced, started in the past, or fell behind (tiny MaxPending).
func TestWatchModel(t *testing.T) {
	s := newStore(t, 5)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		s.write(func(tw *mvcc.TxnWrite) { tw.Put(key(rng.Intn(20)), []byte(fmt.Sprint(i)), 0) })
	}
	type spec struct {
		key, end []byte
		start    int64
	}
	specs := []spec{
		{key(3), nil, 0},                  // one key, from now
		{[]byte("k"), []byte("l"), 1},     // prefix, whole history
		{key(5), key(10), 20},             // range, from the past
		{[]byte{0}, []byte{0}, 40},        // everything, from revision 40
		{key(7), []byte{0}, 0},            // >= key, from now
		{[]byte("k1"), []byte("k2"), 200}, // future start
	}
	col := newCollector()
	st := s.hub.NewStream(col.send)
	defer st.Close()
	begin := s.kv.Rev()
	for _, sp := range specs {
		st.Create(&pb.WatchCreateRequest{Key: sp.key, RangeEnd: sp.end, StartRevision: sp.start, PrevKv: true})
	}
	for i := 0; i < 300; i++ {
		s.write(func(tw *mvcc.TxnWrite) {
			switch rng.Intn(4) {
			case 0:
				tw.DeleteRange(key(rng.Intn(20)), nil)
			case 1:
				tw.Put(key(rng.Intn(20)), []byte("a"), 0)
				tw.Put(key(20+rng.Intn(5)), []byte("b"), 0)
			default:
				tw.Put(key(rng.Intn(20)), []byte(fmt.Sprint(i)), 0)
			}
		})
	}
	final := s.kv.Rev()
	got := map[int64][]*mvccpb.Event{}
	created := 0
	want := func(id int64) []*mvccpb.Event {
		sp := specs[id]
		from := sp.start
		if from == 0 {
			from = begin + 1
		}
		var out []*mvccpb.Event
		for _, ev := range s.all {
			if ev.Kv.ModRevision >= from && rangeMatch(ev.Kv.Key, sp.key, sp.end) {
				out = append(out, ev)
			}
		}
		return out
	}
	done := func() bool {
		for id := range specs {
			if len(got[int64(id)]) < len(want(int64(id))) {
				return false
			}
		}
		return true
	}
	for created < len(specs) || !done() {
		r := col.next(t)
		if r.Created {
			created++
			continue
		}
		if r.Canceled {
			t.Fatalf("watch %d canceled: %s", r.WatchId, r.CancelReason)
		}
		// Whole revisions: a response never ends in the middle of one.
		got[r.WatchId] = append(got[r.WatchId], r.Events...)
	}
	for id := range specs {
		w, g := want(int64(id)), got[int64(id)]
		if len(g) != len(w) {
			t.Fatalf("watch %d: got %d events, want %d", id, len(g), len(w))
		}
		for i := range w {
			if g[i].Kv.ModRevision != w[i].Kv.ModRevision || string(g[i].Kv.Key) != string(w[i].Kv.Key) || g[i].Type != w[i].Type {
				t.Fatalf("watch %d event %d: got %s@%d, want %s@%d", id, i, g[i].Kv.Key, g[i].Kv.ModRevision, w[i].Kv.Key, w[i].Kv.ModRevision)
			}
			if w[i].PrevKv != nil && (g[i].PrevKv == nil || g[i].PrevKv.ModRevision != w[i].PrevKv.ModRevision) {
				t.Fatalf("watch %d event %d: prev_kv %v, want %v", id, i, g[i].PrevKv, w[i].PrevKv)
			}
		}
	}
	// Progress comes only once everything up to its revision was sent.
	st.RequestProgress()
	for {
		r := col.next(t)
		if r.WatchId == progressWatchID {
			if r.Header.Revision != final {
				t.Fatalf("progress revision %d, want %d", r.Header.Revision, final)
			}
			break
		}
		if len(r.Events) > 0 {
			t.Fatalf("events after all were delivered: %v", r.Events)
		}
	}
}

// TestSlowWatcherNeverBlocksWrites: a stream whose client never reads
// does not block Notify, and its watcher is caught up from storage later.
func TestSlowWatcherNeverBlocksWrites(t *testing.T) {
	s := newStore(t, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	var received []*mvccpb.Event
	got := make(chan struct{}, 1)
	st := s.hub.NewStream(func(r *pb.WatchResponse) error {
		<-release
		mu.Lock()
		received = append(received, r.Events...)
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
		return nil
	})
	defer st.Close()
	st.Create(&pb.WatchCreateRequest{Key: []byte("a")})
	for i := 0; i < 2000; i++ {
		s.write(func(tw *mvcc.TxnWrite) { tw.Put([]byte("a"), []byte(fmt.Sprint(i)), 0) })
	}
	if n := st.pendingLen(); n > 10 {
		t.Fatalf("pending grew to %d events beyond MaxPending 10", n)
	}
	close(release)
	for {
		<-got
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n == 2000 {
			break
		}
		if n > 2000 {
			t.Fatalf("duplicates: %d events", n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, ev := range received {
		if string(ev.Kv.Value) != fmt.Sprint(i) {
			t.Fatalf("event %d has value %s", i, ev.Kv.Value)
		}
	}
}

func TestCompactedStartRevisionCancels(t *testing.T) {
	s := newStore(t, 100)
	for i := 0; i < 10; i++ {
		s.write(func(tw *mvcc.TxnWrite) { tw.Put([]byte("a"), []byte("v"), 0) })
	}
	b := s.db.NewIndexedBatch()
	if _, err := s.kv.Compact(b, 8); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	s.kv.Publish()
	col := newCollector()
	st := s.hub.NewStream(col.send)
	defer st.Close()
	st.Create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 3})
	if r := col.next(t); !r.Created {
		t.Fatalf("first response not created: %v", r)
	}
	r := col.next(t)
	if !r.Canceled || r.CompactRevision != 8 {
		t.Fatalf("want cancel with compact_revision 8, got %v", r)
	}
	// Duplicate client-chosen IDs are refused.
	st.Create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 7})
	st.Create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 7})
	col.next(t)
	if r := col.next(t); !r.Canceled || r.CancelReason != errDuplicateWatchID {
		t.Fatalf("duplicate watch id: %v", r)
	}
}
