package api

import (
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// Watch serves etcd's bidirectional Watch stream. With the "hasleader"
// metadata the stream ends with etcd's "no leader" error as soon as the
// member loses its leader.
func (s *Server) Watch(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	if s.cfg.Watch == nil {
		return errors.New("concord: watch not configured")
	}
	ctx := stream.Context()
	ws := s.cfg.Watch.NewStream(stream.Send)
	defer ws.Close()
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				// The client closed its sending side (the JSON gateway does
				// after the request body); as etcd, keep sending events.
				return
			}
			if err != nil {
				recvErr <- err
				return
			}
			switch {
			case req.GetCreateRequest() != nil:
				ws.Create(req.GetCreateRequest())
			case req.GetCancelRequest() != nil:
				ws.Cancel(req.GetCancelRequest().WatchId)
			case req.GetProgressRequest() != nil:
				ws.RequestProgress()
			}
		}
	}()
	var leaderLost <-chan struct{}
	if requireLeader(ctx) {
		lost := make(chan struct{})
		leaderLost = lost
		go func() {
			for {
				ch := s.cfg.Raft.LeaderChanged()
				if s.cfg.Raft.Status().Leader == 0 {
					close(lost)
					return
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	select {
	case err := <-recvErr:
		return err
	case <-ws.Done():
		return ws.Err()
	case <-leaderLost:
		return rpctypes.ErrGRPCNoLeader
	case <-ctx.Done():
		return ctx.Err()
	}
}
