package raftnode

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the raft and peer-network metrics etcd exports, with etcd's
// names, types, help texts and labels. Build them with NewMetrics; a nil
// *Metrics records nothing. Peer label values are member IDs in lowercase
// hex, as etcd prints them.
type Metrics struct {
	HasLeader              prometheus.Gauge
	IsLeader               prometheus.Gauge
	LeaderChanges          prometheus.Counter
	ProposalsCommitted     prometheus.Gauge // a gauge despite "_total", as in etcd
	ProposalsPending       prometheus.Gauge // driven by the server's request waiters
	ProposalsFailed        prometheus.Counter
	HeartbeatSendFailures  prometheus.Counter
	SlowReadIndexes        prometheus.Counter
	ReadIndexesFailed      prometheus.Counter
	WALFsyncDuration       prometheus.Histogram
	WALWriteBytes          prometheus.Gauge // a gauge despite "_total", as in etcd
	PeerSentBytes          *prometheus.CounterVec
	PeerReceivedBytes      *prometheus.CounterVec
	PeerSentFailures       *prometheus.CounterVec
	PeerReceivedFailures   *prometheus.CounterVec
	PeerRoundTripTime      *prometheus.HistogramVec
	ActivePeers            *prometheus.GaugeVec
	DisconnectedPeers      *prometheus.CounterVec
	SnapshotSendSuccess    *prometheus.CounterVec
	SnapshotSendFailures   *prometheus.CounterVec
	SnapshotReceiveSuccess *prometheus.CounterVec
	SnapshotReceiveFailure *prometheus.CounterVec
	SnapSaveDuration       prometheus.Histogram
	// WALWriteDuration is etcd_disk_wal_write_duration_seconds: each save
	// of a Ready's entries and hard state (one Pebble batch commit, its
	// fsync included when the Ready must sync), seconds.
	WALWriteDuration prometheus.Histogram
	// SnapshotSendInflights / SnapshotReceiveInflights are the raft
	// snapshots being streamed to / from a peer right now.
	SnapshotSendInflights    *prometheus.GaugeVec
	SnapshotReceiveInflights *prometheus.GaugeVec
	// SnapshotSendDuration / SnapshotReceiveDuration time each raft
	// snapshot stream that succeeded, seconds, ExponentialBuckets(0.1, 2, 10).
	SnapshotSendDuration    *prometheus.HistogramVec
	SnapshotReceiveDuration *prometheus.HistogramVec
	// SnapDBSaveDuration is etcd_snap_db_save_total_duration_seconds: the
	// spooling of a received snapshot's state to <DataDir>/snap, fsync
	// included, seconds, ExponentialBuckets(0.1, 2, 10); SnapDBFsyncDuration
	// (etcd_snap_db_fsync_duration_seconds) is that fsync alone.
	SnapDBSaveDuration  prometheus.Histogram
	SnapDBFsyncDuration prometheus.Histogram
	// SnapshotApplyInProgress is etcd_server_snapshot_apply_in_progress_total:
	// 1 while a received snapshot is being installed, else 0.
	SnapshotApplyInProgress prometheus.Gauge
	// SnapFsyncDuration (etcd_snap_fsync_duration_seconds) and
	// SnapMarshallingDuration (etcd_debugging_snap_save_marshalling_duration_seconds)
	// are never observed: etcd marshals a raft snapshot into a .snap file
	// and fsyncs it, and Concord writes no such file (a raft snapshot is a
	// held Pebble snapshot; an installed one is committed in the apply
	// loop's synced batch, timed by SnapSaveDuration).
	SnapFsyncDuration       prometheus.Histogram
	SnapMarshallingDuration prometheus.Histogram
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered, still usable). It returns an error if one is already
// registered there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		HasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "has_leader",
			Help: "Whether or not a leader exists. 1 is existence, 0 is not."}),
		IsLeader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "is_leader",
			Help: "Whether or not this member is a leader. 1 if is, 0 otherwise."}),
		LeaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "leader_changes_seen_total",
			Help: "The number of leader changes seen."}),
		ProposalsCommitted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_committed_total",
			Help: "The total number of consensus proposals committed."}),
		ProposalsPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_pending",
			Help: "The current number of pending proposals to commit."}),
		ProposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "proposals_failed_total",
			Help: "The total number of failed proposals seen."}),
		HeartbeatSendFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "heartbeat_send_failures_total",
			Help: "The total number of leader heartbeat send failures (likely overloaded from slow disk)."}),
		SlowReadIndexes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "slow_read_indexes_total",
			Help: "The total number of pending read indexes not in sync with leader's or timed out read index requests."}),
		ReadIndexesFailed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "read_indexes_failed_total",
			Help: "The total number of failed read indexes seen."}),
		WALFsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "wal_fsync_duration_seconds",
			Help: "The latency distributions of fsync called by WAL.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		WALWriteBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "disk", Name: "wal_write_bytes_total",
			Help: "Total number of bytes written in WAL."}),
		PeerSentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_sent_bytes_total",
			Help: "The total number of bytes sent to peers."}, []string{"To"}),
		PeerReceivedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_received_bytes_total",
			Help: "The total number of bytes received from peers."}, []string{"From"}),
		PeerSentFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_sent_failures_total",
			Help: "The total number of send failures from peers."}, []string{"To"}),
		PeerReceivedFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_received_failures_total",
			Help: "The total number of receive failures from peers."}, []string{"From"}),
		PeerRoundTripTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_round_trip_time_seconds",
			Help: "Round-Trip-Time histogram between peers", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"To"}),
		ActivePeers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "network", Name: "active_peers",
			Help: "The current number of active peer connections."}, []string{"Local", "Remote"}),
		DisconnectedPeers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "disconnected_peers_total",
			Help: "The total number of disconnected peers."}, []string{"Local", "Remote"}),
		SnapshotSendSuccess: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_send_success",
			Help: "Total number of successful snapshot sends"}, []string{"To"}),
		SnapshotSendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_send_failures",
			Help: "Total number of snapshot send failures"}, []string{"To"}),
		SnapshotReceiveSuccess: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_receive_success",
			Help: "Total number of successful snapshot receives"}, []string{"From"}),
		SnapshotReceiveFailure: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_receive_failures",
			Help: "Total number of snapshot receive failures"}, []string{"From"}),
		SnapSaveDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "debugging", Name: "snap_save_total_duration_seconds",
			Help: "The total latency distributions of save called by snapshot.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		WALWriteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "disk", Name: "wal_write_duration_seconds",
			Help: "The latency distributions of write called by WAL.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		SnapshotSendInflights: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_send_inflights_total",
			Help: "Total number of inflight snapshot sends"}, []string{"To"}),
		SnapshotReceiveInflights: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_receive_inflights_total",
			Help: "Total number of inflight snapshot receives"}, []string{"From"}),
		SnapshotSendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_send_total_duration_seconds",
			Help: "Total latency distributions of v3 snapshot sends", Buckets: prometheus.ExponentialBuckets(0.1, 2, 10)}, []string{"To"}),
		SnapshotReceiveDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "network", Name: "snapshot_receive_total_duration_seconds",
			Help: "Total latency distributions of v3 snapshot receives", Buckets: prometheus.ExponentialBuckets(0.1, 2, 10)}, []string{"From"}),
		SnapDBSaveDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "snap_db", Name: "save_total_duration_seconds",
			Help: "The total latency distributions of v3 snapshot save", Buckets: prometheus.ExponentialBuckets(0.1, 2, 10)}),
		SnapDBFsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "snap_db", Name: "fsync_duration_seconds",
			Help: "The latency distributions of fsyncing .snap.db file", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		SnapshotApplyInProgress: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "snapshot_apply_in_progress_total",
			Help: "1 if the server is applying the incoming snapshot. 0 if none."}),
		SnapFsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "snap", Name: "fsync_duration_seconds",
			Help: "The latency distributions of fsync called by snap.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		SnapMarshallingDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "etcd_debugging", Subsystem: "snap", Name: "save_marshalling_duration_seconds",
			Help: "The marshalling cost distributions of save called by snapshot.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.HasLeader, m.IsLeader, m.LeaderChanges, m.ProposalsCommitted, m.ProposalsPending, m.ProposalsFailed,
		m.HeartbeatSendFailures, m.SlowReadIndexes, m.ReadIndexesFailed, m.WALFsyncDuration, m.WALWriteBytes,
		m.PeerSentBytes, m.PeerReceivedBytes, m.PeerSentFailures, m.PeerReceivedFailures, m.PeerRoundTripTime,
		m.ActivePeers, m.DisconnectedPeers, m.SnapshotSendSuccess, m.SnapshotSendFailures,
		m.SnapshotReceiveSuccess, m.SnapshotReceiveFailure, m.SnapSaveDuration,
		m.WALWriteDuration, m.SnapshotSendInflights, m.SnapshotReceiveInflights, m.SnapshotSendDuration,
		m.SnapshotReceiveDuration, m.SnapDBSaveDuration, m.SnapDBFsyncDuration, m.SnapshotApplyInProgress,
		m.SnapFsyncDuration, m.SnapMarshallingDuration,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("raftnode: register metrics: %w", err)
		}
	}
	return m, nil
}

// idLabel formats a member ID as etcd does in metric labels.
func idLabel(id uint64) string { return fmt.Sprintf("%x", id) }

// The helpers below are nil-safe so callers need no checks.

func (m *Metrics) setLeader(has, is bool) {
	if m == nil {
		return
	}
	m.HasLeader.Set(b2f(has))
	m.IsLeader.Set(b2f(is))
}

func (m *Metrics) leaderChanged() {
	if m != nil {
		m.LeaderChanges.Inc()
	}
}

func (m *Metrics) committed(index uint64) {
	if m != nil {
		m.ProposalsCommitted.Set(float64(index))
	}
}

func (m *Metrics) proposalFailed() {
	if m != nil {
		m.ProposalsFailed.Inc()
	}
}

func (m *Metrics) heartbeatFailed() {
	if m != nil {
		m.HeartbeatSendFailures.Inc()
	}
}

func (m *Metrics) slowReadIndex() {
	if m != nil {
		m.SlowReadIndexes.Inc()
	}
}

func (m *Metrics) readIndexFailed() {
	if m != nil {
		m.ReadIndexesFailed.Inc()
	}
}

func (m *Metrics) walWrite(d time.Duration, bytes int, synced bool) {
	if m == nil {
		return
	}
	if synced {
		m.WALFsyncDuration.Observe(d.Seconds())
	}
	m.WALWriteDuration.Observe(d.Seconds())
	m.WALWriteBytes.Add(float64(bytes))
}

func (m *Metrics) sent(to uint64, n int) {
	if m != nil {
		m.PeerSentBytes.WithLabelValues(idLabel(to)).Add(float64(n))
	}
}

func (m *Metrics) sendFailed(to uint64) {
	if m != nil {
		m.PeerSentFailures.WithLabelValues(idLabel(to)).Inc()
	}
}

func (m *Metrics) received(from uint64, n int) {
	if m != nil {
		m.PeerReceivedBytes.WithLabelValues(idLabel(from)).Add(float64(n))
	}
}

func (m *Metrics) receiveFailed(from uint64) {
	if m != nil {
		m.PeerReceivedFailures.WithLabelValues(idLabel(from)).Inc()
	}
}

func (m *Metrics) rtt(to uint64, d time.Duration) {
	if m != nil {
		m.PeerRoundTripTime.WithLabelValues(idLabel(to)).Observe(d.Seconds())
	}
}

func (m *Metrics) peerActive(local, remote uint64, up bool) {
	if m == nil {
		return
	}
	l, r := idLabel(local), idLabel(remote)
	if up {
		m.ActivePeers.WithLabelValues(l, r).Inc()
		return
	}
	m.ActivePeers.WithLabelValues(l, r).Dec()
	m.DisconnectedPeers.WithLabelValues(l, r).Inc()
}

// snapshotSending marks a snapshot stream to a peer under way; call the
// returned func with its outcome when it ends.
func (m *Metrics) snapshotSending(to uint64) func(ok bool) {
	if m == nil {
		return func(bool) {}
	}
	start, l := time.Now(), idLabel(to)
	m.SnapshotSendInflights.WithLabelValues(l).Inc()
	return func(ok bool) {
		m.SnapshotSendInflights.WithLabelValues(l).Dec()
		if ok {
			m.SnapshotSendDuration.WithLabelValues(l).Observe(time.Since(start).Seconds())
		}
		m.snapshotSent(to, ok)
	}
}

// snapshotReceiving is snapshotSending for a stream from a peer.
func (m *Metrics) snapshotReceiving(from uint64) func(ok bool) {
	if m == nil {
		return func(bool) {}
	}
	start, l := time.Now(), idLabel(from)
	m.SnapshotReceiveInflights.WithLabelValues(l).Inc()
	return func(ok bool) {
		m.SnapshotReceiveInflights.WithLabelValues(l).Dec()
		if ok {
			m.SnapshotReceiveDuration.WithLabelValues(l).Observe(time.Since(start).Seconds())
		}
		m.snapshotReceived(from, ok)
	}
}

// snapDBSaved records the spooling of a received snapshot: total time and
// the fsync's.
func (m *Metrics) snapDBSaved(total, fsync time.Duration) {
	if m != nil {
		m.SnapDBSaveDuration.Observe(total.Seconds())
		m.SnapDBFsyncDuration.Observe(fsync.Seconds())
	}
}

// applyingSnapshot sets etcd_server_snapshot_apply_in_progress_total.
func (m *Metrics) applyingSnapshot(on bool) {
	if m != nil {
		m.SnapshotApplyInProgress.Set(b2f(on))
	}
}

func (m *Metrics) snapshotSent(to uint64, ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.SnapshotSendSuccess.WithLabelValues(idLabel(to)).Inc()
	} else {
		m.SnapshotSendFailures.WithLabelValues(idLabel(to)).Inc()
	}
}

func (m *Metrics) snapshotReceived(from uint64, ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.SnapshotReceiveSuccess.WithLabelValues(idLabel(from)).Inc()
	} else {
		m.SnapshotReceiveFailure.WithLabelValues(idLabel(from)).Inc()
	}
}

func (m *Metrics) snapSaved(d time.Duration) {
	if m != nil {
		m.SnapSaveDuration.Observe(d.Seconds())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
