package raftnode

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// BenchmarkLogStoreSave measures one synced Ready write (one 256-byte entry
// plus hard state) on the OS filesystem (real fsync) and in memory.
func BenchmarkLogStoreSave(b *testing.B) {
	for _, fsName := range []string{"disk", "mem"} {
		b.Run(fsName, func(b *testing.B) {
			var fs vfs.FS = vfs.NewMem()
			dir := "db"
			if fsName == "disk" {
				fs, dir = vfs.Default, b.TempDir()
			}
			db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: quietLogger{}})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s, err := openLogStore(db, 0)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 256)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				idx := uint64(i + 1)
				e := &pb.Entry{Index: new(idx), Term: new(uint64(1)), Data: data}
				hs := &pb.HardState{Term: new(uint64(1)), Commit: new(idx)}
				if _, err := s.save(hs, []*pb.Entry{e}, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProposeCommitApply measures end-to-end throughput of a 3-member
// cluster over HTTP on loopback with in-memory Pebble: b.N proposals from
// 16 concurrent clients until all are applied on the leader.
func BenchmarkProposeCommitApply(b *testing.B) {
	c := newCluster(b, 3, nil)
	leader := c.waitLeader()
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if err := leader.node.Propose(ctx, []byte(fmt.Sprintf("k%d=v", i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	last := fmt.Sprintf("k%d", next.Load())
	c.waitFor("all proposals applied", func() bool {
		leader.app.mu.Lock()
		defer leader.app.mu.Unlock()
		return len(leader.app.kv) >= int(next.Load()) && leader.app.kv[last] == "v"
	})
}
