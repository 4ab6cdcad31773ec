package api

import (
	"context"
	"errors"
	"io"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/concord-kv/concord/auth"
	"github.com/concord-kv/concord/watch"
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
	ac := &watchAuth{s: s, ws: ws}
	ac.ai, ac.err = s.callerFrom(ctx)
	if st := s.cfg.Auth; st != nil {
		go ac.recheck(ctx, st)
	}
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
				ac.create(req.GetCreateRequest())
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

// watchAuth applies access control to one Watch stream: a create request
// needs read permission on its range (else etcd's canceled response with
// the refusal as cancel_reason), and whenever the auth state changes every
// watcher of the stream is checked again and canceled, with the reason,
// if its caller may no longer read its range.
type watchAuth struct {
	s  *Server
	ws *watch.Stream
	// ai and err are the caller resolved when the stream opened.
	ai  *auth.AuthInfo
	err error

	// mu orders creates against re-checks, so a watcher created while the
	// auth state changes is either checked against the new state or seen
	// by the re-check that follows the change.
	mu sync.Mutex
}

// reason is the cancel_reason etcd sends for a refused watch.
func watchRefusal(err error) string {
	switch {
	case errors.Is(err, auth.ErrInvalidAuthToken):
		return rpctypes.ErrGRPCInvalidAuthToken.Error()
	case errors.Is(err, auth.ErrAuthOldRevision):
		return rpctypes.ErrGRPCAuthOldRevision.Error()
	case errors.Is(err, auth.ErrUserEmpty):
		return rpctypes.ErrGRPCUserEmpty.Error()
	}
	return rpctypes.ErrGRPCPermissionDenied.Error()
}

func (a *watchAuth) create(r *pb.WatchCreateRequest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.s.cfg.Auth; st != nil && st.Enabled() {
		err := a.err
		if err == nil {
			key := r.Key
			if len(key) == 0 {
				key = []byte{0}
			}
			err = st.IsRangePermitted(orEmpty(a.ai), key, r.RangeEnd)
		}
		if err != nil {
			a.ws.Refuse(watchRefusal(err))
			return
		}
	}
	a.ws.Create(r)
}

// recheck cancels the watchers whose caller lost read permission on their
// range, after every change of the auth state, until ctx ends or the
// stream stops.
func (a *watchAuth) recheck(ctx context.Context, st *auth.Store) {
	ch := st.Changed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.ws.Done():
			return
		case <-ch:
		}
		ch = st.Changed()
		a.mu.Lock()
		if st.Enabled() {
			ai := &auth.AuthInfo{Revision: st.Revision()}
			if a.ai != nil {
				ai.Username = a.ai.Username
			}
			for _, w := range a.ws.Ranges() {
				if err := st.IsRangePermitted(ai, w.Key, w.End); err != nil {
					a.ws.CancelWithReason(w.ID, watchRefusal(err))
				}
			}
		}
		a.mu.Unlock()
	}
}
