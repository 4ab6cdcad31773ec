package mvcc

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/concord-kv/concord/storage"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// benchStore opens a store on a real directory with Pebble configured as
// storage.Open does (64 MiB block cache, 4 MiB memtables), but quiet.
// Note that Pebble reserves the memtables' size inside the block cache:
// with 64 MiB memtables a 64 MiB cache would hold no blocks at all.
func benchStore(b *testing.B) (*pebble.DB, *Store) {
	return benchStoreOpts(b, Options{})
}

func benchStoreOpts(b *testing.B, opts Options) (*pebble.DB, *Store) {
	b.Helper()
	db, err := storage.Open(b.TempDir(), storage.Options{Logger: quietLogger{}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(db, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.Close()
		db.Close()
	})
	return db, s
}

// BenchmarkPut: 8-byte keys (1M distinct, so most puts update an existing
// key after the first million), 256-byte values, one transaction per op,
// the batch committed (without fsync) and published every N ops, as the
// apply loop does per raft Ready.
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			db, s := benchStore(b)
			b.SetBytes(8 + 256)
			b.ReportAllocs()
			b.ResetTimer()
			benchPuts(b, db, s, b.N, n, func(i int) int { return (i * 7919) % (1 << 20) })
		})
	}
}

// benchPuts writes n puts of 8-byte keys (the i-th is key(i), big endian)
// with 256-byte values, one transaction each, committing (without fsync)
// and publishing every batch puts, as the apply loop does per raft Ready.
func benchPuts(b *testing.B, db *pebble.DB, s *Store, n, batch int, key func(int) int) {
	value := make([]byte, 256)
	k := make([]byte, 8)
	bt := db.NewIndexedBatch()
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint64(k, uint64(key(i)))
		tw := s.Write(bt)
		if _, err := tw.Put(k, value, 0); err != nil {
			b.Fatal(err)
		}
		tw.End()
		if (i+1)%batch == 0 || i == n-1 {
			if err := bt.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			bt.Close()
			s.Publish()
			bt = db.NewIndexedBatch()
		}
	}
	bt.Close()
}

// BenchmarkPutOverwrite: the seed benchmark's write pattern, puts of
// random keys from a space of 10 000 that all exist already (so every put
// reads the key's newest version), batches of 16, with the latest-version
// cache at its default size and disabled.
func BenchmarkPutOverwrite(b *testing.B) {
	for _, c := range []struct {
		name  string
		bytes int
	}{{"cache", 0}, {"nocache", -1}} {
		b.Run(c.name, func(b *testing.B) {
			db, s := benchStoreOpts(b, Options{LatestCacheBytes: c.bytes})
			const space = 10000
			// Every key exists, several times over, in memtables and SSTables.
			benchPuts(b, db, s, 5*space, 16, func(i int) int { return i % space })
			b.SetBytes(8 + 256)
			b.ReportAllocs()
			b.ResetTimer()
			benchPuts(b, db, s, b.N, 16, func(i int) int { return (i * 7919) % space })
		})
	}
}

// BenchmarkRange reads one key, and a 1000-key prefix (materialised,
// streamed, count only), at the current revision of a store holding
// 100,000 keys with 3 versions each, 256-byte values.
func BenchmarkRange(b *testing.B) {
	db, s := benchStore(b)
	value := make([]byte, 256)
	const nkeys = 100000
	for round := 0; round < 3; round++ {
		batch := db.NewIndexedBatch()
		for i := 0; i < nkeys; i++ {
			tw := s.Write(batch)
			if _, err := tw.Put([]byte(fmt.Sprintf("/registry/pods/ns%03d/pod%05d", i/1000, i)), value, 0); err != nil {
				b.Fatal(err)
			}
			tw.End()
			if i%1000 == 999 {
				if err := batch.Commit(pebble.NoSync); err != nil {
					b.Fatal(err)
				}
				batch.Close()
				s.Publish()
				batch = db.NewIndexedBatch()
			}
		}
		batch.Close()
	}
	ctx := context.Background()
	// Settle the LSM (steady state, not a backlog of L0 files).
	if err := db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	single := func(working int) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				j := (i * 7919) % working
				k := []byte(fmt.Sprintf("/registry/pods/ns%03d/pod%05d", j/1000, j))
				r, err := s.Range(ctx, k, nil, RangeOptions{})
				if err != nil || len(r.KVs) != 1 {
					b.Fatalf("%v %v", r, err)
				}
			}
		}
	}
	// hot: 1,000 keys; cold: all 100,000 keys, visited in a scattered
	// order (about 90 MB of versions, compressed on disk).
	b.Run("single-hot", single(1000))

	b.Run("single-cold", single(nkeys))
	b.Run("prefix1000", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ns := i % 10 // 10 prefixes, about 9 MB: cache-resident
			k := []byte(fmt.Sprintf("/registry/pods/ns%03d/", ns))
			end := []byte(fmt.Sprintf("/registry/pods/ns%03d0", ns))
			r, err := s.Range(ctx, k, end, RangeOptions{})
			if err != nil || len(r.KVs) != 1000 {
				b.Fatalf("%d %v", len(r.KVs), err)
			}
		}
	})
	b.Run("prefix1000-stream", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ns := i % 10 // 10 prefixes, about 9 MB: cache-resident
			k := []byte(fmt.Sprintf("/registry/pods/ns%03d/", ns))
			end := []byte(fmt.Sprintf("/registry/pods/ns%03d0", ns))
			_, n, err := s.RangeStream(ctx, k, end, RangeOptions{}, func(*mvccpb.KeyValue) error { return nil })
			if err != nil || n != 1000 {
				b.Fatalf("%d %v", n, err)
			}
		}
	})
	b.Run("prefix1000-count", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ns := i % 10 // 10 prefixes, about 9 MB: cache-resident
			k := []byte(fmt.Sprintf("/registry/pods/ns%03d/", ns))
			end := []byte(fmt.Sprintf("/registry/pods/ns%03d0", ns))
			r, err := s.Range(ctx, k, end, RangeOptions{CountOnly: true})
			if err != nil || r.Count != 1000 {
				b.Fatalf("%v %v", r, err)
			}
		}
	})
}
