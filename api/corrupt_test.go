package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

// TestPeerHashKV serves the peer hash endpoint over a store with two
// revisions and reads it back as the corruption checks do: the answer
// equals the local HashKV, a future revision maps back to ErrFutureRev.
func TestPeerHashKV(t *testing.T) {
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	b := db.NewIndexedBatch()
	tw := kv.Write(b)
	if _, err := tw.Put([]byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	tw.End()
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	kv.Publish()

	srv := httptest.NewServer(PeerHashKVHandler(7, 9, kv, zap.NewNop()))
	defer srv.Close()
	cl := srv.Client()
	h, err := fetchHash(context.Background(), cl, srv.URL, []byte(`{"revision":2}`))
	if err != nil {
		t.Fatal(err)
	}
	want, hashRev, compactRev, err := kv.HashKV(2)
	if err != nil {
		t.Fatal(err)
	}
	if h.MemberID != 7 || h.Hash != want || h.HashRevision != hashRev || h.CompactRevision != compactRev || h.Revision != 2 {
		t.Fatalf("peer hash %+v, want hash %d rev %d compact %d", h, want, hashRev, compactRev)
	}
	if _, err := fetchHash(context.Background(), cl, srv.URL, []byte(`{"revision":50}`)); !errors.Is(err, mvcc.ErrFutureRev) {
		t.Fatalf("future revision: %v", err)
	}
	resp, err := cl.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}
