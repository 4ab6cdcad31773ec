package server

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/raftnode"
)

// StatusPath is the built-in status page (Concord only, not in etcd),
// served on the client HTTP handler and on --listen-metrics-urls; "/"
// redirects to it. StatusJSONPath is the data the page refreshes itself
// from every two seconds.
const (
	StatusPath     = "/ui"
	StatusJSONPath = "/ui/status.json"
)

//go:embed status.html
var statusHTML []byte

// maxLeaderChanges is how many recent leader changes the status keeps.
const maxLeaderChanges = 20

// statusLatencies are the histograms whose percentiles the status shows,
// by their etcd names; every series of a histogram (all label values) is
// summed. grpc_server_handling_seconds exists with --metrics=extensive.
var statusLatencies = []struct{ name, what string }{
	{"grpc_server_handling_seconds", "gRPC requests (--metrics=extensive)"},
	{"etcd_server_range_duration_seconds", "ranges"},
	{"etcd_server_apply_duration_seconds", "applies"},
	{"etcd_disk_wal_fsync_duration_seconds", "raft log fsync"},
	{"etcd_disk_backend_commit_duration_seconds", "backend commit"},
	{"etcd_network_peer_round_trip_time_seconds", "peer round trip"},
}

// statusPage builds the status of this member and of the members it can
// reach. The leader log is filled by watchLeader; everything else is read
// when asked.
type statusPage struct {
	name      string
	member    uint64
	clusterID uint64
	version   string
	node      *raftnode.Node
	cluster   *membership.Cluster
	kv        *mvcc.Store
	alarms    *alarm.Store
	gather    prometheus.Gatherer
	self      *clientv3.Client // reaches the members' client URLs
	dbSize    func() (int64, int64)
	timeout   time.Duration // per member Status call

	mu      sync.Mutex     // guards leaders
	leaders []leaderChange // oldest first, at most maxLeaderChanges
}

// leaderChange is one change of the leader this member saw.
type leaderChange struct {
	Time   time.Time `json:"time"`
	Leader string    `json:"leader"` // member ID in hex; "" when none
	Term   uint64    `json:"term"`
}

// status is the JSON of StatusJSONPath. IDs are hex strings (as etcdctl
// prints them), sizes bytes, latencies seconds.
type status struct {
	Time           time.Time      `json:"time"`
	Name           string         `json:"name"`
	MemberID       string         `json:"memberID"`
	ClusterID      string         `json:"clusterID"`
	Version        string         `json:"version"`
	Leader         string         `json:"leader"`
	LeaderName     string         `json:"leaderName"`
	RaftState      string         `json:"raftState"`
	RaftTerm       uint64         `json:"raftTerm"`
	CommitIndex    uint64         `json:"commitIndex"`
	AppliedIndex   uint64         `json:"appliedIndex"`
	DBSize         int64          `json:"dbSize"`
	DBSizeInUse    int64          `json:"dbSizeInUse"`
	Keys           int64          `json:"keys"`
	Revision       int64          `json:"revision"`
	CompactRev     int64          `json:"compactRevision"`
	LeaderChanges  []leaderChange `json:"leaderChanges"`
	LeaderChangesN float64        `json:"leaderChangesSeen"`
	Alarms         []statusAlarm  `json:"alarms"`
	Members        []memberStatus `json:"members"`
	Latencies      []latency      `json:"latencies"`
}

type statusAlarm struct {
	MemberID string `json:"memberID"`
	Alarm    string `json:"alarm"`
}

// memberStatus is one member of the member list with its answer to
// Maintenance.Status (from its first client URL), or the error.
type memberStatus struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	PeerURLs         []string `json:"peerURLs"`
	ClientURLs       []string `json:"clientURLs"`
	IsLearner        bool     `json:"isLearner"`
	IsLeader         bool     `json:"isLeader"`
	Reachable        bool     `json:"reachable"`
	Error            string   `json:"error,omitempty"`
	Version          string   `json:"version,omitempty"`
	RaftTerm         uint64   `json:"raftTerm,omitempty"`
	RaftIndex        uint64   `json:"raftIndex,omitempty"`
	RaftAppliedIndex uint64   `json:"raftAppliedIndex,omitempty"`
	DBSize           int64    `json:"dbSize,omitempty"`
	DBSizeInUse      int64    `json:"dbSizeInUse,omitempty"`
}

// latency is a histogram's count and its 50th, 90th and 99th percentiles
// in seconds, interpolated within buckets as PromQL's histogram_quantile;
// over the member's lifetime. Percentiles are omitted when Count is 0.
type latency struct {
	Name  string   `json:"name"`
	What  string   `json:"what"`
	Count uint64   `json:"count"`
	P50   *float64 `json:"p50,omitempty"`
	P90   *float64 `json:"p90,omitempty"`
	P99   *float64 `json:"p99,omitempty"`
}

// register mounts the page and its JSON on mux, and "/" (exactly) as a
// redirect to the page.
func (p *statusPage) register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(statusHTML)
	})
	mux.HandleFunc("GET "+StatusJSONPath, func(w http.ResponseWriter, r *http.Request) {
		st := p.status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.Handle("GET /{$}", http.RedirectHandler(StatusPath, http.StatusFound))
}

// watchLeader records every leader change until ctx ends.
func (p *statusPage) watchLeader(ctx context.Context) {
	last := uint64(0)
	for {
		ch := p.node.LeaderChanged()
		if st := p.node.Status(); st.Leader != last {
			last = st.Leader
			p.mu.Lock()
			p.leaders = append(p.leaders, leaderChange{Time: time.Now().UTC(), Leader: hexID(st.Leader), Term: st.Term})
			if len(p.leaders) > maxLeaderChanges {
				p.leaders = slices.Delete(p.leaders, 0, len(p.leaders)-maxLeaderChanges)
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func hexID(id uint64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf("%x", id)
}

// status assembles the page's data; the members' statuses are asked in
// parallel, each within p.timeout.
func (p *statusPage) status(ctx context.Context) *status {
	rs := p.node.Status()
	size, inUse := p.dbSize()
	st := &status{
		Time: time.Now().UTC(), Name: p.name, MemberID: hexID(p.member), ClusterID: hexID(p.clusterID),
		Version: p.version, Leader: hexID(rs.Leader), RaftState: rs.RaftState.String(), RaftTerm: rs.Term,
		CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex, DBSize: size, DBSizeInUse: min(size, inUse),
		Keys: p.kv.KeyCount(), Revision: p.kv.Rev(), CompactRev: p.kv.CompactRev(),
		Alarms: []statusAlarm{}, Members: []memberStatus{},
	}
	p.mu.Lock()
	st.LeaderChanges = slices.Clone(p.leaders)
	p.mu.Unlock()
	slices.Reverse(st.LeaderChanges) // newest first
	for _, a := range p.alarms.Get(pb.AlarmType_NONE) {
		st.Alarms = append(st.Alarms, statusAlarm{MemberID: hexID(a.MemberID), Alarm: a.Alarm.String()})
	}
	families, _ := p.gather.Gather()
	st.Latencies, st.LeaderChangesN = latencies(families)

	members := p.cluster.Members()
	st.Members = make([]memberStatus, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		ms := &st.Members[i]
		*ms = memberStatus{ID: hexID(m.ID), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs,
			IsLearner: m.IsLearner, IsLeader: m.ID == rs.Leader}
		if ms.ClientURLs == nil {
			ms.ClientURLs = []string{}
		}
		if m.ID == rs.Leader {
			st.LeaderName = m.Name
		}
		if len(m.ClientURLs) == 0 {
			ms.Error = "not started (no client URL published)"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, p.timeout)
			defer cancel()
			resp, err := p.self.Status(cctx, m.ClientURLs[0])
			if err != nil {
				ms.Error = err.Error()
				return
			}
			ms.Reachable, ms.Version, ms.RaftTerm = true, resp.Version, resp.RaftTerm
			ms.RaftIndex, ms.RaftAppliedIndex = resp.RaftIndex, resp.RaftAppliedIndex
			ms.DBSize, ms.DBSizeInUse = resp.DbSize, resp.DbSizeInUse
		}()
	}
	wg.Wait()
	return st
}

// latencies computes statusLatencies from the gathered families, and
// returns etcd_server_leader_changes_seen_total beside.
func latencies(families []*dto.MetricFamily) ([]latency, float64) {
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	var changes float64
	if f := byName["etcd_server_leader_changes_seen_total"]; f != nil && len(f.Metric) > 0 {
		changes = f.Metric[0].GetCounter().GetValue()
	}
	out := []latency{}
	for _, l := range statusLatencies {
		lat := latency{Name: l.name, What: l.what}
		f := byName[l.name]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			out = append(out, lat) // no series yet (or not enabled)
			continue
		}
		bounds, counts, total := mergeHistograms(f.Metric)
		lat.Count = total
		if total > 0 {
			lat.P50 = quantile(0.50, bounds, counts, total)
			lat.P90 = quantile(0.90, bounds, counts, total)
			lat.P99 = quantile(0.99, bounds, counts, total)
		}
		out = append(out, lat)
	}
	return out, changes
}

// mergeHistograms sums the cumulative bucket counts of series sharing
// their bucket bounds (those of the first series).
func mergeHistograms(ms []*dto.Metric) (bounds []float64, counts []uint64, total uint64) {
	for _, m := range ms {
		h := m.GetHistogram()
		if bounds == nil {
			for _, b := range h.Bucket {
				bounds = append(bounds, b.GetUpperBound())
			}
			counts = make([]uint64, len(bounds))
		}
		if len(h.Bucket) != len(bounds) {
			continue
		}
		for i, b := range h.Bucket {
			counts[i] += b.GetCumulativeCount()
		}
		total += h.GetSampleCount()
	}
	return bounds, counts, total
}

// quantile is histogram_quantile(q) over cumulative bucket counts: linear
// within the bucket holding the rank, the lower bound of the first bucket
// 0; a rank in the +Inf bucket answers the highest finite bound.
func quantile(q float64, bounds []float64, counts []uint64, total uint64) *float64 {
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, b := range bounds {
		if math.IsInf(b, 1) {
			break
		}
		if float64(counts[i]) >= rank {
			in := counts[i] - below
			v := b
			if in > 0 {
				v = lower + (b-lower)*(rank-float64(below))/float64(in)
			}
			return &v
		}
		lower, below = b, counts[i]
	}
	if len(bounds) == 0 {
		return nil
	}
	return &lower
}
