package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/concord-kv/concord/lease"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/snapshot"
)

// writeEtcdFile builds the etcd database of s's state and writes it with
// its trailer to a file, as the Snapshot RPC streams it.
func writeEtcdFile(t testing.TB, s *source) (string, snapshot.Info) {
	t.Helper()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	dir := t.TempDir()
	edb, err := snapshot.BuildEtcd(snap, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "etcd.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := edb.WriteTo(f)
	if err != nil || n != edb.Info().TotalSize {
		t.Fatalf("WriteTo: %d bytes, %v; want %d", n, err, edb.Info().TotalSize)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	info := edb.Info()
	if err := edb.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("BuildEtcd left %v behind", ents)
	}
	return path, info
}

// dumpStore reads every key of kv at every revision from comp to cur.
func dumpStore(t testing.TB, kv *mvcc.Store, from int64) string {
	t.Helper()
	var sb strings.Builder
	for rev := from; rev <= kv.Rev(); rev++ {
		res, err := kv.Range(context.Background(), []byte{0}, []byte{0}, mvcc.RangeOptions{Rev: rev})
		if err != nil {
			fmt.Fprintf(&sb, "%d: %v\n", rev, err)
			continue
		}
		fmt.Fprintf(&sb, "%d:", rev)
		for _, x := range res.KVs {
			fmt.Fprintf(&sb, " %q=%q c%d m%d v%d l%d", x.Key, x.Value, x.CreateRevision, x.ModRevision, x.Version, x.Lease)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// TestEtcdRoundTrip: a state → BuildEtcd → an etcd file with etcd's
// buckets (checked with bbolt and mvccpb) → Restore → the same keys at
// every readable revision, the same compaction point and leases.
func TestEtcdRoundTrip(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	s.put(t, "after", "compaction", 0)
	path, built := writeEtcdFile(t, s)
	if built.Revision != s.kv.Rev() || built.Keys != s.kv.KeyCount() || built.TotalSize%512 != 32 {
		t.Fatalf("built %+v; want revision %d, %d keys, size 512n+32", built, s.kv.Rev(), s.kv.KeyCount())
	}

	// The file is a bbolt database with etcd's buckets and encodings.
	raw := corrupt(t, path, func(b []byte) []byte { return b[:len(b)-32] })
	db, err := bolt.Open(raw, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"key", "meta", "lease", "alarm", "cluster", "members", "members_removed", "auth", "authUsers", "authRoles"} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("no bucket %q", name)
			}
		}
		meta := tx.Bucket([]byte("meta"))
		if ci := meta.Get([]byte("consistent_index")); len(ci) != 8 || ci[7] != 99 {
			t.Errorf("consistent_index %x, want 99", ci)
		}
		if fc := meta.Get([]byte("finishedCompactRev")); len(fc) != 17 || fc[7] != 5 || fc[8] != '_' {
			t.Errorf("finishedCompactRev %x, want revision 5", fc)
		}
		if m := tx.Bucket([]byte("members")).Get([]byte("1")); string(m) != `{"id":1,"peerURLs":["http://10.0.0.1:2380"],"name":"m1"}` {
			t.Errorf("member 1: %s", m)
		}
		var last []byte
		n := 0
		err := tx.Bucket([]byte("key")).ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				t.Errorf("key %x: %v", k, err)
			}
			if len(k) == 18 && (k[17] != 't' || kv.ModRevision != 0) {
				t.Errorf("tombstone %x: %v", k, &kv)
			}
			last, n = k, n+1
			return nil
		})
		if len(last) < 8 || int64(last[7]) != s.kv.Rev() {
			t.Errorf("last key-bucket key %x, want revision %d", last, s.kv.Rev())
		}
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	// A database without trailer (copied from an etcd data dir) restores
	// with SkipHashCheck, as etcdutl's --skip-hash-check.
	if _, err := snapshot.Restore(raw, snapshot.RestoreOptions{DataDir: filepath.Join(t.TempDir(), "raw"), SkipHashCheck: true}); err != nil {
		t.Errorf("restore without trailer, hash check skipped: %v", err)
	}

	info, err := snapshot.ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != snapshot.FormatEtcd || info.Revision != s.kv.Rev() || info.TotalKey != int(s.kv.KeyCount()) || info.CompactRevision != 5 || info.TotalSize != built.TotalSize-32 {
		t.Fatalf("ReadInfo %+v", info)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if _, err := snapshot.Restore(path, snapshot.RestoreOptions{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	rdb := openRestored(t, dir)
	rkv, err := mvcc.Open(rdb, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rkv.Close()
	if rkv.Rev() != s.kv.Rev() || rkv.CompactRev() != 5 || rkv.KeyCount() != s.kv.KeyCount() {
		t.Errorf("restored revision %d compacted %d keys %d; want %d 5 %d", rkv.Rev(), rkv.CompactRev(), rkv.KeyCount(), s.kv.Rev(), s.kv.KeyCount())
	}
	if want, got := dumpStore(t, s.kv, 4), dumpStore(t, rkv, 4); want != got {
		t.Errorf("restored history\n got %s\nwant %s", got, want)
	}
	le, err := lease.New(lease.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := le.Load(rdb); err != nil {
		t.Fatal(err)
	}
	if ls := le.Leases(); len(ls) != 1 || ls[0] != 42 {
		t.Errorf("restored leases %+v", ls)
	}
	if m, ok, err := snapshot.ReadMarker(rdb); err != nil || !ok || m.SnapshotRevision != s.kv.Rev() {
		t.Errorf("marker %+v %v %v", m, ok, err)
	}
}

// TestEtcdBadFiles: a truncated, a corrupted and a wrong-format file each
// get an error naming what is wrong, and nothing is written.
func TestEtcdBadFiles(t *testing.T) {
	s := newSource(t)
	s.populate(t)
	path, _ := writeEtcdFile(t, s)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	half := st.Size() / 2 / 512 * 512
	cases := []struct {
		name string
		file string
		skip bool
		is   error
		text string
	}{
		{"truncated", corrupt(t, path, func(b []byte) []byte { return b[:len(b)-1000] }), false, snapshot.ErrCorrupt, "no sha256 trailer"},
		{"truncated at a sector", corrupt(t, path, func(b []byte) []byte { return b[:half+32] }), false, snapshot.ErrCorrupt, "truncated: the database needs"},
		{"truncated, hash check skipped", corrupt(t, path, func(b []byte) []byte { return b[:half] }), true, snapshot.ErrCorrupt, "truncated: the database needs"},
		{"corrupted", corrupt(t, path, func(b []byte) []byte { b[len(b)/2] ^= 0x55; return b }), false, snapshot.ErrHashMismatch, "expected sha256"},
		{"corrupted page, hash check skipped", corrupt(t, path, func(b []byte) []byte {
			for i := 4096 * 2; i < len(b)-32; i++ {
				b[i] = 0xa5
			}
			return b
		}), true, snapshot.ErrCorrupt, "bbolt"},
		{"wrong format", corrupt(t, path, func(b []byte) []byte { return []byte("PK\x03\x04 a zip file, not a snapshot") }), false, snapshot.ErrNotSnapshot, "not a snapshot file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.skip {
				if _, err := snapshot.ReadInfo(c.file); !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) {
					t.Errorf("ReadInfo: %v; want %v naming %q", err, c.is, c.text)
				}
			}
			dir := filepath.Join(t.TempDir(), "d")
			_, err := snapshot.Restore(c.file, snapshot.RestoreOptions{DataDir: dir, SkipHashCheck: c.skip})
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("Restore: %v; want %v naming %q", err, c.is, c.text)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("failed restore left %s: %v", dir, err)
			}
		})
	}
}

func TestRemoveTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"concord-snapshot-1.db.tmp", "concord-snapshot-2.db.tmp", "keep.db"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := snapshot.RemoveTempFiles(dir); n != 2 || err != nil {
		t.Fatalf("RemoveTempFiles: %d %v", n, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "keep.db" {
		t.Fatalf("left %v", ents)
	}
}

// BenchmarkBuildEtcd builds and writes the etcd database of 20 000
// versions of 8 KiB (160 MiB of values) and reports the MiB/s of each step.
func BenchmarkBuildEtcd(b *testing.B) {
	s := newSource(b)
	val := strings.Repeat("v", 8192)
	for i := 0; i < 20000; i += 100 {
		s.apply(b, func(bt *pebble.Batch) {
			for j := i; j < i+100; j++ {
				tw := s.kv.Write(bt)
				if _, err := tw.Put([]byte(fmt.Sprintf("/registry/k%08d", j)), []byte(val), 0); err != nil {
					b.Fatal(err)
				}
				tw.End()
			}
		})
	}
	dir := b.TempDir()
	var build, write time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		snap := s.db.NewSnapshot()
		edb, err := snapshot.BuildEtcd(snap, dir)
		snap.Close()
		if err != nil {
			b.Fatal(err)
		}
		built := time.Now()
		if _, err := edb.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
		build, write = build+built.Sub(start), write+time.Since(built)
		b.SetBytes(edb.Info().TotalSize)
		edb.Close()
	}
	mib := float64(b.N) * float64(20000*8192) / (1 << 20)
	b.ReportMetric(mib/build.Seconds(), "build-MiB/s")
	b.ReportMetric(mib/write.Seconds(), "write-MiB/s")
}
