package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/raftnode"
	"github.com/concord-kv/concord/snapshot"
	"github.com/concord-kv/concord/storage"
)

// source is a member's engine with state written the way the apply loop
// writes it.
type source struct {
	db *pebble.DB
	kv *mvcc.Store
}

func newSource(t testing.TB) *source {
	t.Helper()
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close(); db.Close() })
	return &source{db: db, kv: kv}
}

// apply runs fn in one indexed batch, commits it and publishes.
func (s *source) apply(t testing.TB, fn func(b *pebble.Batch)) {
	t.Helper()
	b := s.db.NewIndexedBatch()
	fn(b)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
	s.kv.Publish()
}

func (s *source) put(t testing.TB, key, val string, leaseID int64) {
	s.apply(t, func(b *pebble.Batch) {
		tw := s.kv.Write(b)
		if _, err := tw.Put([]byte(key), []byte(val), leaseID); err != nil {
			t.Fatal(err)
		}
		tw.End()
	})
}

// populate writes keys, a delete, a compaction, a lease with a key, two
// members, an applied index and a ConfState.
func (s *source) populate(t testing.TB) {
	t.Helper()
	for i := 0; i < 20; i++ {
		s.put(t, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i), 0)
	}
	s.put(t, "k00", "v0-again", 0)
	s.put(t, "nul\x00key", "binary\x00value", 0)
	s.apply(t, func(b *pebble.Batch) {
		tw := s.kv.Write(b)
		if _, err := tw.DeleteRange([]byte("k19"), nil); err != nil {
			t.Fatal(err)
		}
		tw.End()
	})
	var compacted <-chan struct{}
	s.apply(t, func(b *pebble.Batch) {
		var err error
		if compacted, err = s.kv.Compact(b, 5); err != nil {
			t.Fatal(err)
		}
	})
	<-compacted // the compactor's progress is state too
	le, err := lease.New(lease.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, func(b *pebble.Batch) {
		if _, err := le.Grant(b, 42, 600); err != nil {
			t.Fatal(err)
		}
		if err := le.Attach(b, 42, []byte("leased")); err != nil {
			t.Fatal(err)
		}
	})
	s.put(t, "leased", "x", 42)
	cl := membership.NewCluster(7)
	s.apply(t, func(b *pebble.Batch) {
		for _, id := range []uint64{1, 2} {
			if err := cl.Add(b, &membership.Member{ID: id, Name: fmt.Sprint("m", id), PeerURLs: []string{fmt.Sprintf("http://10.0.0.%d:2380", id)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := storage.WriteAppliedIndex(b, storage.AppliedIndex{Index: 99, Term: 3}); err != nil {
			t.Fatal(err)
		}
		if err := raftnode.WriteConfState(b, &raftpb.ConfState{Voters: []uint64{1, 2}}); err != nil {
			t.Fatal(err)
		}
	})
	// Node-local keys are not part of a snapshot.
	if err := s.db.Set([]byte{storage.PrefixLocal, 'i', 'x'}, []byte("local"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// statePairs returns every pair of r's state range.
func statePairs(t testing.TB, r pebble.Reader) map[string]string {
	t.Helper()
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: storage.StateStart, UpperBound: storage.StateEnd})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	m := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		m[string(it.Key())] = string(it.Value())
	}
	return m
}

func writeFile(t testing.TB, s *source) (string, snapshot.Info) {
	t.Helper()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	path := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := snapshot.Write(f, snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, info
}

func openRestored(t testing.TB, dataDir string) *pebble.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(dataDir, snapshot.DBDir), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	path, info := writeFile(t, s)

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot.Info{
		Hash: info.Hash, Revision: s.kv.Rev(), TotalKey: len(statePairs(t, s.db)), TotalSize: st.Size(),
		Version: config.Version, CompactRevision: s.kv.CompactRev(), Keys: s.kv.KeyCount(), FormatVersion: snapshot.FormatVersion, Format: snapshot.FormatConcord,
	}
	if info != want {
		t.Fatalf("Write info\n got %+v\nwant %+v", info, want)
	}
	// etcd's clients accept a streamed snapshot only with this size.
	if info.TotalSize%512 != 32 {
		t.Fatalf("size %d is not a multiple of 512 plus 32", info.TotalSize)
	}
	if want.Revision != 25 || want.CompactRevision != 5 || want.Keys != 21 {
		t.Fatalf("source state: rev %d compact %d keys %d, want 25 5 21", want.Revision, want.CompactRevision, want.Keys)
	}
	got, err := snapshot.ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("ReadInfo\n got %+v\nwant %+v", got, want)
	}

	dir := filepath.Join(t.TempDir(), "restored.concord")
	rinfo, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: dir, Name: "n1", InitialCluster: "n1=http://127.0.0.1:2380"})
	if err != nil {
		t.Fatal(err)
	}
	if rinfo != want {
		t.Fatalf("Restore info without bump\n got %+v\nwant %+v", rinfo, want)
	}
	db := openRestored(t, dir)

	// Every state pair but membership, applied index and ConfState.
	wantPairs := statePairs(t, s.db)
	for k := range wantPairs {
		if k[0] == storage.PrefixMembers {
			delete(wantPairs, k)
		}
	}
	delete(wantPairs, string([]byte{storage.PrefixMeta, 'a'}))
	delete(wantPairs, string([]byte{storage.PrefixMeta, 'C'}))
	gotPairs := statePairs(t, db)
	if len(gotPairs) != len(wantPairs) {
		t.Errorf("restored %d pairs, want %d", len(gotPairs), len(wantPairs))
	}
	for k, v := range wantPairs {
		if gotPairs[k] != v {
			t.Errorf("restored %q = %q, want %q", k, gotPairs[k], v)
		}
	}
	// The keys left out are those the owning packages read.
	if ai, err := storage.ReadAppliedIndex(db); err != nil || ai != (storage.AppliedIndex{}) {
		t.Errorf("restored applied index %+v, %v; want zero", ai, err)
	}
	if cs, err := raftnode.ReadConfState(db); err != nil || len(cs.Voters) != 0 {
		t.Errorf("restored ConfState %v, %v; want empty", cs, err)
	}
	cl := membership.NewCluster(7)
	if err := cl.Load(db); err != nil || len(cl.Members()) != 0 {
		t.Errorf("restored members %v, %v; want none", cl.Members(), err)
	}
	if _, _, err := db.Get([]byte{storage.PrefixLocal, 'i', 'x'}); !errors.Is(err, pebble.ErrNotFound) {
		t.Errorf("node-local key restored: %v", err)
	}
	m, ok, err := snapshot.ReadMarker(db)
	if err != nil || !ok {
		t.Fatalf("marker: %v %v", ok, err)
	}
	if m.Name != "n1" || m.SnapshotRevision != 25 || m.Revision != 25 || m.Compacted {
		t.Errorf("marker %+v", m)
	}

	// The MVCC store and lessor read the same state.
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if kv.Rev() != want.Revision || kv.CompactRev() != want.CompactRevision || kv.KeyCount() != want.Keys {
		t.Errorf("restored store rev %d compact %d keys %d", kv.Rev(), kv.CompactRev(), kv.KeyCount())
	}
	for _, rev := range []int64{0, 5, 20} {
		a, err := s.kv.Range(context.Background(), []byte{0}, []byte{0xff}, mvcc.RangeOptions{Rev: rev})
		if err != nil {
			t.Fatal(err)
		}
		b, err := kv.Range(context.Background(), []byte{0}, []byte{0xff}, mvcc.RangeOptions{Rev: rev})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a.KVs) != fmt.Sprint(b.KVs) {
			t.Errorf("range at %d differs:\n%v\n%v", rev, a.KVs, b.KVs)
		}
	}
	le, err := lease.New(lease.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := le.Load(db); err != nil {
		t.Fatal(err)
	}
	if granted, _, keys, err := le.TimeToLive(42, time.Now()); err != nil || granted != 600 || len(keys) != 1 || string(keys[0]) != "leased" {
		t.Errorf("restored lease 42: ttl %d keys %q err %v", granted, keys, err)
	}
}

func TestSnapshotEmptyState(t *testing.T) {
	s := newSource(t)
	path, info := writeFile(t, s)
	if info.Revision != 1 || info.CompactRevision != -1 || info.TotalKey != 0 || info.Keys != 0 {
		t.Fatalf("empty info %+v", info)
	}
	got, err := snapshot.ReadInfo(path)
	if err != nil || got != info {
		t.Fatalf("ReadInfo %+v %v, want %+v", got, err, info)
	}
	dir := filepath.Join(t.TempDir(), "d")
	if _, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: dir, BumpRevision: 10, MarkCompacted: true}); err != nil {
		t.Fatal(err)
	}
	kv, err := mvcc.Open(openRestored(t, dir), mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if kv.Rev() != 11 || kv.CompactRev() != 11 {
		t.Fatalf("rev %d compact %d, want 11 11", kv.Rev(), kv.CompactRev())
	}
}

func TestSnapshotSameStateSameHash(t *testing.T) {
	a, b := newSource(t), newSource(t)
	a.populate(t)
	b.populate(t)
	_, ia := writeFile(t, a)
	_, ib := writeFile(t, b)
	if ia.Hash != ib.Hash {
		t.Fatalf("hashes %x %x differ for equal states", ia.Hash, ib.Hash)
	}
	b.put(t, "another", "v", 0)
	if _, ib = writeFile(t, b); ia.Hash == ib.Hash {
		t.Fatal("hash unchanged after a put")
	}
}

func TestSnapshotBumpAndMarkCompacted(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	path, info := writeFile(t, s)
	dir := filepath.Join(t.TempDir(), "bumped")
	rinfo, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: dir, BumpRevision: 1000, MarkCompacted: true})
	if err != nil {
		t.Fatal(err)
	}
	if rinfo.Revision != info.Revision+1000 || rinfo.CompactRevision != info.Revision+1000 {
		t.Fatalf("restore info %+v", rinfo)
	}
	db := openRestored(t, dir)
	if m, ok, err := snapshot.ReadMarker(db); err != nil || !ok || m.Revision != info.Revision+1000 || !m.Compacted || m.SnapshotRevision != info.Revision {
		t.Fatalf("marker %+v %v %v", m, ok, err)
	}
	kv, err := mvcc.Open(db, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	newRev := info.Revision + 1000
	if kv.Rev() != newRev || kv.CompactRev() != newRev {
		t.Fatalf("rev %d compact %d, want %d %d", kv.Rev(), kv.CompactRev(), newRev, newRev)
	}
	// Reads at old revisions are compacted; the current state is intact.
	if _, err := kv.Range(context.Background(), []byte("k"), nil, mvcc.RangeOptions{Rev: info.Revision}); !errors.Is(err, mvcc.ErrCompacted) {
		t.Fatalf("range at the snapshot's revision: %v, want ErrCompacted", err)
	}
	r, err := kv.Range(context.Background(), []byte{0}, []byte{0xff}, mvcc.RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != info.Keys || r.Rev != newRev {
		t.Fatalf("current range: %d keys at %d, want %d at %d", r.Count, r.Rev, info.Keys, newRev)
	}
	// The next write takes the revision after the bumped one.
	b := db.NewIndexedBatch()
	tw := kv.Write(b)
	if _, err := tw.Put([]byte("after"), []byte("restore"), 0); err != nil {
		t.Fatal(err)
	}
	if rev := tw.End(); rev != newRev+1 {
		t.Fatalf("first write after restore at %d, want %d", rev, newRev+1)
	}
	b.Close()
}

func TestSnapshotRestoreOptions(t *testing.T) {
	s := newSource(t)
	path, _ := writeFile(t, s)
	for _, tc := range []struct {
		name string
		opts snapshot.RestoreOptions
	}{
		{"no data dir", snapshot.RestoreOptions{}},
		{"negative bump", snapshot.RestoreOptions{DataDir: "x", BumpRevision: -1}},
		{"mark without bump", snapshot.RestoreOptions{DataDir: "x", MarkCompacted: true}},
	} {
		if _, err := snapshot.Restore(path, tc.opts); !errors.Is(err, snapshot.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", tc.name, err)
		}
	}
	// A non-empty data dir is refused and left alone.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: dir}); !errors.Is(err, snapshot.ErrDataDirExists) {
		t.Fatalf("non-empty dir: %v, want ErrDataDirExists", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("non-empty dir changed: %v", ents)
	}
	// An empty one is used.
	empty := t.TempDir()
	if _, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: empty}); err != nil {
		t.Fatalf("empty dir: %v", err)
	}
}

// corrupt returns a copy of the file at path with fn applied to its bytes.
func corrupt(t *testing.T, path string, fn func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(out, fn(append([]byte(nil), b...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSnapshotHashMismatch(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	path, info := writeFile(t, s)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte inside the value "binary\x00value": the structure
	// stays valid, only the content changes.
	at := bytes.Index(raw, []byte("binary\x00value"))
	if at < 0 {
		t.Fatal("value not found in file")
	}
	for _, tc := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"value byte", func(b []byte) []byte { b[at] ^= 0x20; return b }},
		{"trailer byte", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"header revision", func(b []byte) []byte { b[len("CONCORD-SNAPSHOT")+3+len(config.Version)+7]++; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := corrupt(t, path, tc.fn)
			if _, err := snapshot.ReadInfo(bad); !errors.Is(err, snapshot.ErrHashMismatch) {
				t.Fatalf("ReadInfo: %v, want ErrHashMismatch", err)
			}
			dir := filepath.Join(t.TempDir(), "d")
			if _, err := snapshot.Restore(bad, snapshot.RestoreOptions{DataDir: dir}); !errors.Is(err, snapshot.ErrHashMismatch) {
				t.Fatalf("Restore: %v, want ErrHashMismatch", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed restore left %s: %v", dir, err)
			}
			// --skip-hash-check restores the (damaged) content.
			if _, err := snapshot.Restore(bad, snapshot.RestoreOptions{DataDir: dir, SkipHashCheck: true}); err != nil {
				t.Fatalf("Restore with SkipHashCheck: %v", err)
			}
		})
	}
	// Structural damage fails even with SkipHashCheck; the hash check
	// names it as a mismatch.
	for _, tc := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }},
		{"extra bytes", func(b []byte) []byte { return append(b[:len(b)-32], append([]byte{0, 0}, b[len(b)-32:]...)...) }},
		{"pair count", func(b []byte) []byte {
			p := len("CONCORD-SNAPSHOT") + 3 + len(config.Version) + 24
			binary.BigEndian.PutUint64(b[p:], uint64(info.TotalKey+1))
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := corrupt(t, path, tc.fn)
			if _, err := snapshot.ReadInfo(bad); !errors.Is(err, snapshot.ErrHashMismatch) {
				t.Fatalf("ReadInfo: %v, want ErrHashMismatch", err)
			}
			dir := filepath.Join(t.TempDir(), "d")
			if _, err := snapshot.Restore(bad, snapshot.RestoreOptions{DataDir: dir, SkipHashCheck: true}); err == nil {
				t.Fatal("Restore of a structurally damaged file succeeded")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed restore left %s: %v", dir, err)
			}
		})
	}
}

func TestSnapshotNotConcord(t *testing.T) {
	dir := t.TempDir()
	// The start of a bbolt file (page header, then the meta magic) is read
	// as an etcd snapshot: etcd_test.go tests those.
	for name, content := range map[string][]byte{
		"empty": nil, "short": []byte("hello"), "text": bytes.Repeat([]byte("not a snapshot\n"), 10),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := snapshot.ReadInfo(p)
		if !errors.Is(err, snapshot.ErrNotSnapshot) {
			t.Errorf("%s: %v, want ErrNotSnapshot", name, err)
		}
		if _, err := snapshot.Restore(p, snapshot.RestoreOptions{DataDir: filepath.Join(dir, name+".restored")}); !errors.Is(err, snapshot.ErrNotSnapshot) {
			t.Errorf("%s: Restore: %v, want ErrNotSnapshot", name, err)
		}
	}
	if _, err := snapshot.ReadInfo(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A future format version is named as such.
	s := newSource(t)
	path, _ := writeFile(t, s)
	bad := corrupt(t, path, func(b []byte) []byte { b[len("CONCORD-SNAPSHOT")+1] = 9; return b })
	if _, err := snapshot.ReadInfo(bad); !errors.Is(err, snapshot.ErrUnsupportedVersion) {
		t.Errorf("format 9: %v, want ErrUnsupportedVersion", err)
	}
}

func TestSnapshotEncoderDetectsChange(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	// The DB itself, not a Pebble snapshot: a write between scan and write
	// is detected.
	e, err := snapshot.NewEncoder(s.db)
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, "late", "write", 0)
	if _, err := e.WriteTo(io.Discard); !errors.Is(err, snapshot.ErrChanged) {
		t.Fatalf("WriteTo after a change: %v, want ErrChanged", err)
	}
	// On a Pebble snapshot the same write is invisible.
	snap := s.db.NewSnapshot()
	defer snap.Close()
	e, err = snapshot.NewEncoder(snap)
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, "later", "write", 0)
	var buf bytes.Buffer
	n, err := e.WriteTo(&buf)
	if err != nil || n != e.Info().TotalSize || int64(buf.Len()) != n {
		t.Fatalf("WriteTo: n %d len %d size %d err %v", n, buf.Len(), e.Info().TotalSize, err)
	}
}

func BenchmarkSnapshotWrite(b *testing.B) {
	s := newSource(b)
	val := bytes.Repeat([]byte("v"), 256)
	for i := 0; i < 100; i++ {
		s.apply(b, func(bt *pebble.Batch) {
			for j := 0; j < 100; j++ {
				tw := s.kv.Write(bt)
				if _, err := tw.Put([]byte(fmt.Sprintf("key-%03d-%03d", i, j)), val, 0); err != nil {
					b.Fatal(err)
				}
				tw.End()
			}
		})
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		info, err := snapshot.Write(io.Discard, snap)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(info.TotalSize)
	}
}
