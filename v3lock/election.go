package v3lock

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/concord-kv/concord/internal/electionpb"
)

// ElectionServer implements v3electionpb.Election over a key-value client.
// It holds no state besides the client and is safe for concurrent use.
type ElectionServer struct {
	electionpb.UnimplementedElectionServer
	cli *clientv3.Client
}

// NewElectionServer returns the Election service that runs its recipes
// through cli. cli must stay open for as long as the service is served.
func NewElectionServer(cli *clientv3.Client) *ElectionServer {
	return &ElectionServer{cli: cli}
}

// Campaign blocks until the caller leads election req.Name, as etcd's
// v3election Campaign: it puts req.Value at "name/<lease hex>" bound to
// req.Lease (or re-proclaims it if the key already exists), waits until
// every older candidate key is deleted, and returns the LeaderKey (name,
// key, create revision, lease). If the RPC's context ends first the
// candidacy is withdrawn and the context's status is returned.
func (s *ElectionServer) Campaign(ctx context.Context, req *electionpb.CampaignRequest) (*electionpb.CampaignResponse, error) {
	ctx = outgoing(ctx)
	sess, err := orphanSession(ctx, s.cli, req.GetLease())
	if err != nil {
		return nil, toStatus(err)
	}
	e := concurrency.NewElection(sess, string(req.GetName()))
	if err := e.Campaign(ctx, string(req.GetValue())); err != nil {
		return nil, toStatus(err)
	}
	return &electionpb.CampaignResponse{
		Header: e.Header(),
		Leader: &electionpb.LeaderKey{
			Name:  req.GetName(),
			Key:   []byte(e.Key()),
			Rev:   e.Rev(),
			Lease: int64(sess.Lease()),
		},
	}, nil
}

// Proclaim overwrites the leader's value with req.Value, guarded on the
// leader key still having create revision req.Leader.Rev. It fails with
// "election: not leader" if leadership was lost, and with
// ErrMissingLeaderKey if req.Leader is unset.
func (s *ElectionServer) Proclaim(ctx context.Context, req *electionpb.ProclaimRequest) (*electionpb.ProclaimResponse, error) {
	ctx = outgoing(ctx)
	e, err := s.resume(ctx, req.GetLeader())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := e.Proclaim(ctx, string(req.GetValue())); err != nil {
		return nil, toStatus(err)
	}
	return &electionpb.ProclaimResponse{Header: e.Header()}, nil
}

// Leader returns the current leader's key-value of election req.Name (the
// key under "name/" with the lowest create revision) with the read's
// header, or fails with "election: no leader" if there is no candidate.
func (s *ElectionServer) Leader(ctx context.Context, req *electionpb.LeaderRequest) (*electionpb.LeaderResponse, error) {
	ctx = outgoing(ctx)
	sess, err := orphanSession(ctx, s.cli, observerLease)
	if err != nil {
		return nil, toStatus(err)
	}
	resp, err := concurrency.NewElection(sess, string(req.GetName())).Leader(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &electionpb.LeaderResponse{Header: resp.Header, Kv: resp.Kvs[0]}, nil
}

// Observe streams election req.Name's leader key-value: first the current
// one (waiting for a first candidate if there is none), then every value
// the leader proclaims, then the next leader's, in revision order. It runs
// until the client cancels the stream (then returns the context's status)
// or the inner watch breaks (then it ends the stream without error, as
// etcd does).
func (s *ElectionServer) Observe(req *electionpb.LeaderRequest, stream electionpb.Election_ObserveServer) error {
	ctx := outgoing(stream.Context())
	sess, err := orphanSession(ctx, s.cli, observerLease)
	if err != nil {
		return toStatus(err)
	}
	ch := concurrency.NewElection(sess, string(req.GetName())).Observe(ctx)
	for {
		select {
		case <-ctx.Done():
			return toStatus(ctx.Err())
		case resp, ok := <-ch:
			if !ok {
				return toStatus(ctx.Err())
			}
			if err := stream.Send(&electionpb.LeaderResponse{Header: resp.Header, Kv: resp.Kvs[0]}); err != nil {
				return err
			}
		}
	}
}

// Resign deletes the leader key if its create revision is still
// req.Leader.Rev, handing leadership to the next candidate. Resigning a
// leadership already lost succeeds without effect, as in etcd. It fails with
// ErrMissingLeaderKey if req.Leader is unset.
func (s *ElectionServer) Resign(ctx context.Context, req *electionpb.ResignRequest) (*electionpb.ResignResponse, error) {
	ctx = outgoing(ctx)
	e, err := s.resume(ctx, req.GetLeader())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := e.Resign(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &electionpb.ResignResponse{Header: e.Header()}, nil
}

// resume rebuilds the election a leader key l (from Campaign) names, on
// an orphan session of its lease; ErrMissingLeaderKey if l is nil.
func (s *ElectionServer) resume(ctx context.Context, l *electionpb.LeaderKey) (*concurrency.Election, error) {
	if l == nil {
		return nil, ErrMissingLeaderKey
	}
	sess, err := orphanSession(ctx, s.cli, l.GetLease())
	if err != nil {
		return nil, err
	}
	return concurrency.ResumeElection(sess, string(l.GetName()), string(l.GetKey()), l.GetRev()), nil
}
