package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
)

// PeerHashKVPath is the peer URL path where a member answers HashKV for
// its peers' corruption checks, as etcd's peer endpoint: POST a JSON
// HashKVRequest, get a JSON HashKVResponse, or 400 with the error text.
const PeerHashKVPath = "/members/hashkv"

// ErrCorruptPeers: the initial corruption check found a peer whose hash of
// the same history differs (etcd refuses to start with "<id> found data
// inconsistency with peers").
var ErrCorruptPeers = errors.New("found data inconsistency with peers")

// PeerHashKVHandler serves PeerHashKVPath on the peer listener.
func PeerHashKVHandler(memberID, clusterID uint64, kv *mvcc.Store, lg *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		var req pb.HashKVRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "error decoding request: "+err.Error(), http.StatusBadRequest)
			return
		}
		h, hashRev, compactRev, err := kv.HashKV(req.Revision)
		if err != nil {
			lg.Warn("failed to get hashKV", zap.Int64("requested-revision", req.Revision), zap.Error(err))
			http.Error(w, toGRPC(err).Error(), http.StatusBadRequest)
			return
		}
		resp := &pb.HashKVResponse{
			Header: &pb.ResponseHeader{ClusterId: clusterID, MemberId: memberID, Revision: kv.Rev()},
			Hash:   h, CompactRevision: compactRev, HashRevision: hashRev,
		}
		w.Header().Set("X-Etcd-Cluster-ID", fmt.Sprintf("%x", clusterID))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// HashChecker compares this member's key-value hash with its peers', the
// work of etcd's corruption checks. Peers are asked on their peer URLs
// (PeerHashKVPath) with PeerTLS.
type HashChecker struct {
	MemberID uint64
	KV       *mvcc.Store
	Cluster  *membership.Cluster
	// PeerTLS is the peer dialing TLS config (nil: plain http).
	PeerTLS *tls.Config
	// Timeout bounds each peer's answer.
	Timeout time.Duration
	Logger  *zap.Logger
}

func (c *HashChecker) client() *http.Client {
	return &http.Client{Timeout: c.Timeout, Transport: &http.Transport{TLSClientConfig: c.PeerTLS}}
}

func (c *HashChecker) local(rev int64) (alarm.Hash, error) {
	h, hashRev, compactRev, err := c.KV.HashKV(rev)
	if err != nil {
		return alarm.Hash{}, err
	}
	return alarm.Hash{MemberID: c.MemberID, Hash: h, Revision: c.KV.Rev(), CompactRevision: compactRev, HashRevision: hashRev}, nil
}

// peerHashes asks every other member for its hash at rev, trying each of
// its peer URLs in turn.
func (c *HashChecker) peerHashes(ctx context.Context, rev int64) []alarm.PeerHash {
	cl := c.client()
	defer cl.CloseIdleConnections()
	body, _ := json.Marshal(&pb.HashKVRequest{Revision: rev})
	var out []alarm.PeerHash
	for _, m := range c.Cluster.Members() {
		if m.ID == c.MemberID {
			continue
		}
		ph := alarm.PeerHash{MemberID: m.ID, Err: errors.New("no peer URLs")}
		for _, u := range m.PeerURLs {
			h, err := fetchHash(ctx, cl, strings.TrimSuffix(u, "/")+PeerHashKVPath, body)
			if err == nil {
				ph = alarm.PeerHash{MemberID: m.ID, Hash: h}
				break
			}
			ph.Err = err
			c.Logger.Warn("failed hash kv request", zap.String("local-member-id", fmt.Sprintf("%x", c.MemberID)),
				zap.Int64("requested-revision", rev), zap.String("remote-peer-endpoint", u), zap.Error(err))
		}
		out = append(out, ph)
	}
	return out
}

func fetchHash(ctx context.Context, cl *http.Client, url string, body []byte) (alarm.Hash, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return alarm.Hash{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return alarm.Hash{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return alarm.Hash{}, err
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(b))
		switch {
		case strings.Contains(msg, mvcc.ErrCompacted.Error()) || strings.Contains(msg, "required revision has been compacted"):
			return alarm.Hash{}, fmt.Errorf("%w (%s)", mvcc.ErrCompacted, msg)
		case strings.Contains(msg, "future revision"):
			return alarm.Hash{}, fmt.Errorf("%w (%s)", mvcc.ErrFutureRev, msg)
		}
		return alarm.Hash{}, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	var r pb.HashKVResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return alarm.Hash{}, fmt.Errorf("decode hashkv response: %w", err)
	}
	return alarm.Hash{MemberID: r.GetHeader().GetMemberId(), Hash: r.Hash, Revision: r.GetHeader().GetRevision(),
		CompactRevision: r.CompactRevision, HashRevision: r.HashRevision}, nil
}

// Initial is etcd's initial corruption check (--experimental-initial-
// corrupt-check, feature gate InitialCorruptCheck), run by a member with
// data before it joins raft: its hash at its current revision is compared
// with each reachable peer's hash at that revision. A mismatch at the same
// compacted revision fails with ErrCorruptPeers; peers that cannot answer
// are skipped with a warning.
func (c *HashChecker) Initial(ctx context.Context) error {
	id := fmt.Sprintf("%x", c.MemberID)
	c.Logger.Info("starting initial corruption check", zap.String("local-member-id", id), zap.Duration("timeout", c.Timeout))
	local, err := c.local(0)
	if err != nil {
		return fmt.Errorf("api: initial corruption check: %w", err)
	}
	mismatch := 0
	for _, f := range alarm.CompareInitial(local, c.peerHashes(ctx, local.HashRevision)) {
		fields := []zap.Field{zap.String("local-member-id", id), zap.String("remote-peer-id", fmt.Sprintf("%x", f.Member)),
			zap.Int64("local-member-revision", local.HashRevision), zap.Int64("local-member-compact-revision", local.CompactRevision),
			zap.Uint32("local-member-hash", local.Hash)}
		c.Logger.Warn(f.Msg, fields...)
		if f.Corrupt {
			mismatch++
		}
	}
	if mismatch > 0 {
		return fmt.Errorf("%s %w", id, ErrCorruptPeers)
	}
	c.Logger.Info("initial corruption checking passed; no corruption", zap.String("local-member-id", id))
	return nil
}

// raiseCorrupt proposes a CORRUPT alarm for member (0: the whole cluster).
func (s *Server) raiseCorrupt(ctx context.Context, member uint64) {
	req := &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: member, Alarm: pb.AlarmType_CORRUPT}}
	if _, err := s.propose(asMember(ctx), req); err != nil {
		s.lg.Warn("failed to raise the CORRUPT alarm", zap.String("corrupted-member-id", fmt.Sprintf("%x", member)), zap.Error(err))
	}
}

// hashChecker is the checker over this server's own state.
func (s *Server) hashChecker() *HashChecker {
	return &HashChecker{MemberID: s.cfg.MemberID, KV: s.cfg.KV, Cluster: s.cfg.Cluster, PeerTLS: s.cfg.PeerTLS, Timeout: s.cfg.RequestTimeout, Logger: s.lg}
}

// PeriodicCorruptCheck is one pass of etcd's periodic corruption check
// (--corrupt-check-time), run on the leader only: it hashes its history,
// asks the peers for their hashes at the same revision, waits for a read
// barrier, hashes again, and raises CORRUPT through raft for the first
// member found inconsistent (see alarm.ComparePeriodic).
func (s *Server) PeriodicCorruptCheck(ctx context.Context) error {
	if !s.cfg.Raft.Status().IsLeader {
		return nil
	}
	c := s.hashChecker()
	before, err := c.local(0)
	if err != nil {
		return err
	}
	peers := c.peerHashes(ctx, before.HashRevision)
	if err := s.linearizableBarrier(ctx); err != nil {
		return err
	}
	after, err := c.local(0)
	if err != nil {
		return err
	}
	checked := 0
	for _, p := range peers {
		if p.Err == nil {
			checked++
		}
	}
	for _, f := range alarm.ComparePeriodic(s.cfg.MemberID, before, after, peers) {
		s.lg.Warn(f.Msg, zap.String("member-id", fmt.Sprintf("%x", f.Member)), zap.Int64("leader-revision", after.Revision),
			zap.Int64("leader-compact-revision", after.CompactRevision), zap.Uint32("leader-hash", before.Hash))
		if f.Corrupt {
			s.raiseCorrupt(ctx, f.Member)
		}
	}
	s.lg.Info("finished peer corruption check", zap.Int("number-of-peers-checked", checked))
	return nil
}

// CompactHashCheck is one pass of etcd's compaction hash check
// (--experimental-compact-hash-check-enabled, feature gate
// CompactHashCheck), run on the leader only: once per compacted revision,
// the leader's hash of the compacted history is compared with the peers'
// (alarm.CompareCompaction); members outside the majority get CORRUPT.
// last is the compacted revision already checked; the result is the one
// to pass next time.
func (s *Server) CompactHashCheck(ctx context.Context, last int64) int64 {
	if !s.cfg.Raft.Status().IsLeader {
		return last
	}
	rev := s.cfg.KV.CompactRev()
	if rev <= 0 || rev == last {
		return last
	}
	c := s.hashChecker()
	local, err := c.local(rev)
	if err != nil {
		return last
	}
	findings, done := alarm.CompareCompaction(s.cfg.MemberID, local, c.peerHashes(ctx, rev))
	for _, f := range findings {
		if f.Corrupt {
			s.lg.Error(f.Msg, zap.String("member-id", fmt.Sprintf("%x", f.Member)), zap.Int64("revision", rev), zap.Uint32("leader-hash", local.Hash))
			s.raiseCorrupt(ctx, f.Member)
		} else {
			s.lg.Warn(f.Msg, zap.String("member-id", fmt.Sprintf("%x", f.Member)), zap.Int64("revision", rev))
		}
	}
	if !done {
		s.lg.Warn("skipped revision in compaction hash check; was not able to check all peers", zap.Int64("revision", rev))
		return last
	}
	if len(findings) == 0 {
		s.lg.Info("successfully checked hash on whole cluster", zap.Int64("revision", rev))
	}
	return rev
}

// RunCorruptionChecks runs the periodic checks until ctx ends: the peer
// hash check every periodic (0: never) and the compaction hash check every
// compactEvery when compactHash is set. Each pass is a no-op on followers.
func (s *Server) RunCorruptionChecks(ctx context.Context, periodic time.Duration, compactHash bool, compactEvery time.Duration) {
	var pc, cc <-chan time.Time
	if periodic > 0 {
		t := time.NewTicker(periodic)
		defer t.Stop()
		pc = t.C
		s.lg.Info("enabled corruption checking", zap.Duration("interval", periodic))
	}
	if compactHash && compactEvery > 0 {
		t := time.NewTicker(compactEvery)
		defer t.Stop()
		cc = t.C
		s.lg.Info("enabled compaction hash check", zap.Duration("interval", compactEvery))
	}
	if pc == nil && cc == nil {
		return
	}
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-pc:
			if err := s.PeriodicCorruptCheck(ctx); err != nil && ctx.Err() == nil {
				s.lg.Warn("failed to check hash KV", zap.Error(err))
			}
		case <-cc:
			last = s.CompactHashCheck(ctx, last)
		}
	}
}
