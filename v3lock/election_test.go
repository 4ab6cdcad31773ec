package v3lock_test

import (
	"context"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/internal/electionpb"
)

type campaignResult struct {
	resp *electionpb.CampaignResponse
	err  error
}

// observe collects an Observe stream into a channel, closed when the
// stream ends.
func observe(t *testing.T, ctx context.Context, c electionpb.ElectionClient, name string) <-chan *electionpb.LeaderResponse {
	t.Helper()
	stream, err := c.Observe(ctx, &electionpb.LeaderRequest{Name: []byte(name)})
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	ch := make(chan *electionpb.LeaderResponse, 16)
	go func() {
		defer close(ch)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			ch <- resp
		}
	}()
	return ch
}

func wantObserved(t *testing.T, obs <-chan *electionpb.LeaderResponse, key, value string) {
	t.Helper()
	resp, ok := <-obs
	if !ok {
		t.Fatalf("observe stream ended; want %q=%q", key, value)
	}
	if got := resp.GetKv(); string(got.GetKey()) != key || string(got.GetValue()) != value {
		t.Fatalf("observed %q=%q, want %q=%q", got.GetKey(), got.GetValue(), key, value)
	}
	if resp.GetHeader().GetRevision() < resp.GetKv().GetModRevision() {
		t.Fatalf("observed header revision %d before the kv's mod revision %d", resp.GetHeader().GetRevision(), resp.GetKv().GetModRevision())
	}
}

func wantLeader(t *testing.T, ctx context.Context, c electionpb.ElectionClient, name, key, value string, lease clientv3.LeaseID) {
	t.Helper()
	resp, err := c.Leader(ctx, &electionpb.LeaderRequest{Name: []byte(name)})
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	if kv := resp.GetKv(); string(kv.GetKey()) != key || string(kv.GetValue()) != value || kv.GetLease() != int64(lease) {
		t.Fatalf("leader = %q=%q lease %x, want %q=%q lease %x", kv.GetKey(), kv.GetValue(), kv.GetLease(), key, value, int64(lease))
	}
}

// TestElectionSequence runs an election through its life: no leader, a
// first campaigner wins, an observer sees every proclamation in order, a
// second campaigner blocks until the first resigns, stale leader keys are
// refused.
func TestElectionSequence(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := electionpb.NewElectionClient(tg.conn)
			name := "election-seq-" + tg.name
			a, b := grant(t, ctx), grant(t, ctx)

			_, err := c.Leader(ctx, &electionpb.LeaderRequest{Name: []byte(name)})
			wantStatus(t, err, codes.Unknown, "election: no leader")

			octx, ocancel := context.WithCancel(ctx)
			defer ocancel()
			obs := observe(t, octx, c, name)

			ra, err := c.Campaign(ctx, &electionpb.CampaignRequest{Name: []byte(name), Lease: int64(a), Value: []byte("a1")})
			if err != nil {
				t.Fatalf("campaign a: %v", err)
			}
			la := ra.GetLeader()
			keyA := fmt.Sprintf("%s/%x", name, int64(a))
			if string(la.GetName()) != name || string(la.GetKey()) != keyA || la.GetLease() != int64(a) || la.GetRev() != ra.GetHeader().GetRevision() {
				t.Fatalf("campaign a leader key = %v (header rev %d), want name %q key %q lease %x rev = header rev",
					la, ra.GetHeader().GetRevision(), name, keyA, int64(a))
			}
			wantObserved(t, obs, keyA, "a1")
			wantLeader(t, ctx, c, name, keyA, "a1", a)

			wch := env.cli.Watch(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithRev(la.GetRev()+1))
			bres := make(chan campaignResult, 1)
			go func() {
				resp, err := c.Campaign(ctx, &electionpb.CampaignRequest{Name: []byte(name), Lease: int64(b), Value: []byte("b1")})
				bres <- campaignResult{resp, err}
			}()
			keyB := waitEvent(t, wch, mvccpb.PUT, keyA) // b is a candidate now
			select {
			case r := <-bres:
				t.Fatalf("campaign b returned while a leads: %v, %v", r.resp, r.err)
			default:
			}

			if _, err := c.Proclaim(ctx, &electionpb.ProclaimRequest{Leader: la, Value: []byte("a2")}); err != nil {
				t.Fatalf("proclaim a2: %v", err)
			}
			wantObserved(t, obs, keyA, "a2")
			wantLeader(t, ctx, c, name, keyA, "a2", a)

			if _, err := c.Resign(ctx, &electionpb.ResignRequest{Leader: la}); err != nil {
				t.Fatalf("resign a: %v", err)
			}
			r := <-bres
			if r.err != nil {
				t.Fatalf("campaign b: %v", r.err)
			}
			lb := r.resp.GetLeader()
			if string(lb.GetKey()) != keyB || lb.GetLease() != int64(b) {
				t.Fatalf("campaign b leader key = %v, want key %q lease %x", lb, keyB, int64(b))
			}
			wantObserved(t, obs, keyB, "b1")
			wantLeader(t, ctx, c, name, keyB, "b1", b)

			// a's leader key is stale now.
			_, err = c.Proclaim(ctx, &electionpb.ProclaimRequest{Leader: la, Value: []byte("a3")})
			wantStatus(t, err, codes.Unknown, "election: not leader")
			if _, err := c.Resign(ctx, &electionpb.ResignRequest{Leader: la}); err != nil {
				t.Fatalf("resign with a stale leader key: %v", err)
			}
			wantLeader(t, ctx, c, name, keyB, "b1", b)

			// Requests without a leader key.
			_, err = c.Proclaim(ctx, &electionpb.ProclaimRequest{Value: []byte("x")})
			wantStatus(t, err, codes.Unknown, `"leader" field must be provided`)
			_, err = c.Resign(ctx, &electionpb.ResignRequest{})
			wantStatus(t, err, codes.Unknown, `"leader" field must be provided`)

			if _, err := c.Resign(ctx, &electionpb.ResignRequest{Leader: lb}); err != nil {
				t.Fatalf("resign b: %v", err)
			}
			_, err = c.Leader(ctx, &electionpb.LeaderRequest{Name: []byte(name)})
			wantStatus(t, err, codes.Unknown, "election: no leader")

			ocancel()
			for range obs { // the stream ends once cancelled
			}
		})
	}
}

// TestCampaignCancelled: a candidate whose Campaign is cancelled withdraws
// its key.
func TestCampaignCancelled(t *testing.T) {
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := electionpb.NewElectionClient(tg.conn)
			name := "election-cancel-" + tg.name
			a, b := grant(t, ctx), grant(t, ctx)
			ra, err := c.Campaign(ctx, &electionpb.CampaignRequest{Name: []byte(name), Lease: int64(a), Value: []byte("a")})
			if err != nil {
				t.Fatalf("campaign a: %v", err)
			}
			wch := env.cli.Watch(ctx, name+"/", clientv3.WithPrefix(), clientv3.WithRev(ra.GetLeader().GetRev()+1))
			bctx, cancel := context.WithCancel(ctx)
			bres := make(chan error, 1)
			go func() {
				_, err := c.Campaign(bctx, &electionpb.CampaignRequest{Name: []byte(name), Lease: int64(b), Value: []byte("b")})
				bres <- err
			}()
			keyB := waitEvent(t, wch, mvccpb.PUT, string(ra.GetLeader().GetKey()))
			cancel()
			if err := <-bres; status.Code(err) != codes.Canceled {
				t.Fatalf("cancelled campaign b = %v, want Canceled", err)
			}
			if got := waitEvent(t, wch, mvccpb.DELETE, ""); got != keyB {
				t.Fatalf("deleted %q, want b's candidate key %q", got, keyB)
			}
		})
	}
}
