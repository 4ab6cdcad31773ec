package mvcc

import (
	"github.com/concord-kv/concord/storage"
	"log"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// quietLogger drops Pebble's informational logs (WAL replay chatter) and
// keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(f string, args ...any) { log.Printf("pebble: "+f, args...) }
func (quietLogger) Fatalf(f string, args ...any) { log.Fatalf("pebble: "+f, args...) }

// openPebble opens Pebble in directory "db" of fs, configured as
// storage.Open does but quiet.
func openPebble(fs vfs.FS) (*pebble.DB, error) {
	return storage.Open("db", storage.Options{FS: fs, CacheBytes: 8 << 20, Logger: quietLogger{}})
}

// testEnv is a store on an in-memory Pebble that tests may close and
// reopen.
type testEnv struct {
	t    testing.TB
	fs   vfs.FS
	db   *pebble.DB
	s    *Store
	opts Options
}

func newTestEnv(t testing.TB, opts Options) *testEnv {
	t.Helper()
	e := &testEnv{t: t, fs: vfs.NewMem(), opts: opts}
	e.openDB()
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) openDB() {
	e.t.Helper()
	db, err := openPebble(e.fs)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	e.openStore()
}

func (e *testEnv) openStore() {
	e.t.Helper()
	s, err := Open(e.db, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
}

func (e *testEnv) close() {
	if e.s != nil {
		e.s.Close()
		e.s = nil
	}
	if e.db != nil {
		e.db.Close()
		e.db = nil
	}
}

// reopen closes the store (and with db, Pebble too) and opens them again.
func (e *testEnv) reopen(db bool) {
	e.t.Helper()
	e.s.Close()
	e.s = nil
	if db {
		if err := e.db.Close(); err != nil {
			e.t.Fatal(err)
		}
		e.db = nil
		e.openDB()
		return
	}
	e.openStore()
}

// txn runs fn in one write transaction in its own batch, commits and
// publishes; it returns the transaction's revision and events.
func (e *testEnv) txn(fn func(tw *TxnWrite)) (int64, []*mvccpb.Event) {
	e.t.Helper()
	b := e.db.NewIndexedBatch()
	defer b.Close()
	tw := e.s.Write(b)
	fn(tw)
	ch := tw.Changes()
	rev := tw.End()
	if err := b.Commit(pebble.NoSync); err != nil {
		e.t.Fatal(err)
	}
	e.s.Publish()
	return rev, ch
}

func (e *testEnv) put(k, v string) int64 {
	e.t.Helper()
	rev, _ := e.txn(func(tw *TxnWrite) {
		if _, err := tw.Put([]byte(k), []byte(v), 0); err != nil {
			e.t.Fatal(err)
		}
	})
	return rev
}

func (e *testEnv) del(k, end string) int64 {
	e.t.Helper()
	rev, _ := e.txn(func(tw *TxnWrite) {
		if _, err := tw.DeleteRange([]byte(k), []byte(end)); err != nil {
			e.t.Fatal(err)
		}
	})
	return rev
}

// compact records a compaction in its own batch, commits and publishes.
func (e *testEnv) compact(rev int64) (<-chan struct{}, error) {
	b := e.db.NewIndexedBatch()
	defer b.Close()
	done, err := e.s.Compact(b, rev)
	if err != nil {
		return nil, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		e.t.Fatal(err)
	}
	e.s.Publish()
	return done, nil
}

// countPrefix counts the Pebble keys with the given one-byte prefix.
func countPrefix(t testing.TB, r pebble.Reader, prefix byte) int {
	t.Helper()
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitCompacted waits until the compactor finished everything <= rev
// (also for compactions recorded before a reopen, whose Compact channels
// are gone).
func waitCompacted(s *Store, rev int64) {
	ch := make(chan struct{})
	s.wmu.Lock()
	s.waiters = append(s.waiters, compactWaiter{rev: rev, ch: ch})
	s.wmu.Unlock()
	s.notifyWaiters()
	s.kickCompactor()
	<-ch
}
