package mvcc_test

import (
	"context"
	"fmt"
	"github.com/concord-kv/concord/storage"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/concord-kv/concord/mvcc"
)

// The apply loop's use of the store: one indexed batch per handoff, one
// write transaction per request, commit, then Publish.
func Example() {
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	s, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	b := db.NewIndexedBatch()
	tw := s.Write(b)
	tw.Put([]byte("foo"), []byte("bar"), 0)
	tw.Put([]byte("fop"), []byte("baz"), 0)
	rev := tw.End() // both puts share revision 2
	tw = s.Write(b)
	prev, _ := tw.Put([]byte("foo"), []byte("qux"), 0)
	tw.End()
	if err := b.Commit(pebble.Sync); err != nil {
		panic(err)
	}
	b.Close()
	s.Publish()

	fmt.Println("first txn revision", rev, "prev value", string(prev.Value))
	r, _ := s.Range(context.Background(), []byte("fo"), []byte("fp"), mvcc.RangeOptions{Limit: 1})
	for _, kv := range r.KVs {
		fmt.Printf("%s=%s create=%d mod=%d version=%d\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
	}
	fmt.Println("count", r.Count, "header revision", r.Rev)
	// Output:
	// first txn revision 2 prev value bar
	// foo=qux create=2 mod=3 version=2
	// count 2 header revision 3
}
