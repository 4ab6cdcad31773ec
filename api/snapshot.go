package api

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/snapshot"
)

// snapshotChunkBytes is the size of each Blob of a Snapshot stream, as
// etcd's 32 KiB.
const snapshotChunkBytes = 32 << 10

// Snapshot serves etcd's Maintenance.Snapshot: the replicated state of one
// Pebble snapshot of this member as an etcd backend database (a bbolt
// file with etcd's buckets, package snapshot's BuildEtcd, built in a
// temporary file under Config.SnapshotDir and removed after), followed by
// its SHA-256, so that etcdctl snapshot save and etcdutl snapshot
// status/restore accept it. It is sent as Blob chunks of 32 KiB with
// RemainingBytes counting the bytes still to come after each chunk (0 on
// the last) and Version set to the API version; like etcd's, the chunks
// carry no response header. Errors: Unimplemented without Config.DB; the stream's error
// if the client goes away; storage errors as Unknown.
func (s *Server) Snapshot(_ *pb.SnapshotRequest, stream grpc.ServerStreamingServer[pb.SnapshotResponse]) error {
	if s.cfg.DB == nil {
		return status.Error(codes.Unimplemented, "concord: snapshot needs the storage engine")
	}
	start := time.Now()
	snap := s.cfg.DB.NewSnapshot()
	edb, err := snapshot.BuildEtcd(snap, s.cfg.SnapshotDir)
	snap.Close()
	if err != nil {
		return toGRPC(err)
	}
	defer edb.Close()
	info := edb.Info()
	s.lg.Info("sending database snapshot to client", zap.Int64("total-bytes", info.TotalSize), zap.Int64("revision", info.Revision),
		zap.Duration("build-took", time.Since(start)))
	w := &snapshotSender{stream: stream, remaining: info.TotalSize, version: s.cfg.Version, buf: make([]byte, 0, snapshotChunkBytes)}
	if _, err := edb.WriteTo(w); err != nil {
		return toGRPC(err)
	}
	if err := w.flush(); err != nil {
		return toGRPC(err)
	}
	s.cfg.Metrics.observeSnapshot(time.Since(start))
	s.lg.Info("sent database snapshot to client", zap.Int64("total-bytes", info.TotalSize), zap.Duration("took", time.Since(start)))
	return nil
}

// snapshotSender cuts what is written to it into SnapshotResponse chunks.
type snapshotSender struct {
	stream    grpc.ServerStreamingServer[pb.SnapshotResponse]
	remaining int64
	version   string
	buf       []byte
}

func (w *snapshotSender) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+c]
		p, n = p[c:], n+c
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush sends the buffered bytes, if any, as one chunk.
func (w *snapshotSender) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.remaining -= int64(len(w.buf))
	if w.remaining < 0 {
		w.remaining = 0
	}
	err := w.stream.Send(&pb.SnapshotResponse{
		RemainingBytes: uint64(w.remaining),
		Blob:           w.buf,
		Version:        w.version,
	})
	// A sent message must not be modified (stats handlers may read it
	// later): the next chunk gets a new buffer.
	w.buf = make([]byte, 0, snapshotChunkBytes)
	return err
}
