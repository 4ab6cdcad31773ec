package raftnode

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Errors returned by Node methods; classify them with errors.Is.
var (
	// ErrStopped is returned by calls on a Node after Stop (or after the
	// raft goroutine failed on a storage error).
	ErrStopped = errors.New("raftnode: stopped")
	// ErrNoLeader is returned by Propose, ProposeConfChange and ReadIndex
	// when this member knows no leader (etcd answers such requests with
	// "etcdserver: no leader").
	ErrNoLeader = errors.New("raftnode: no leader")
	// ErrProposalDropped is returned when raft refused a proposal although
	// a leader is known (for example during a leadership transfer, or a
	// second conf change while one is pending).
	ErrProposalDropped = errors.New("raftnode: proposal dropped")
	// ErrInvalidConfig is wrapped by Start for a Config that cannot work.
	ErrInvalidConfig = errors.New("raftnode: invalid config")
	// ErrCorrupt is returned when a stored raft record cannot be decoded.
	ErrCorrupt = errors.New("raftnode: corrupt raft storage")
	// ErrClusterIDMismatch is the transport's error for a peer that belongs
	// to another cluster.
	ErrClusterIDMismatch = errors.New("raftnode: cluster ID mismatch")
	// ErrLeaderTransfer is returned by TransferLeadership when the target is
	// not a voting member.
	ErrLeaderTransfer = errors.New("raftnode: cannot transfer leadership")
)

// Peer is one member as the transport and bootstrap see it.
type Peer struct {
	// ID is the member ID (non-zero).
	ID uint64
	// URLs are the member's peer URLs ("http://10.0.0.1:2380"); the
	// transport uses the first that answers.
	URLs []string
	// Context is opaque to raftnode: on bootstrap it becomes the Context of
	// the ConfChangeAddNode entry for this member (the server passes the
	// marshalled member record).
	Context []byte
}

// Config configures Start. Zero numeric fields take the defaults named on
// each field (etcd's defaults).
type Config struct {
	// ID is this member's ID; ClusterID the cluster's, sent in and checked
	// against every peer request.
	ID        uint64
	ClusterID uint64
	// Peers are all current members with their peer URLs, this member
	// included (its own entry is ignored by the transport). With Bootstrap
	// they are also the initial voters.
	Peers []Peer
	// Bootstrap starts a new cluster: the log is seeded with one
	// ConfChangeAddNode per peer, sorted by ID, so every member writes the
	// same first entries. Ignored (with a log line) when the Pebble engine
	// already holds raft state.
	Bootstrap bool
	// ElectionTicks (default 10) and HeartbeatTicks (default 1) are in
	// ticks of TickInterval (default 100ms): etcd's --election-timeout and
	// --heartbeat-interval divided by the heartbeat interval.
	ElectionTicks, HeartbeatTicks int
	TickInterval                  time.Duration
	// SnapshotCount (default 10000) is the number of applied entries after
	// which the log is truncated; SnapshotCatchUpEntries (default 5000) the
	// entries kept behind the applied index for slow followers.
	SnapshotCount, SnapshotCatchUpEntries uint64
	// MaxSizePerMsg (bytes, default 1 MiB) bounds one MsgApp; MaxInflightMsgs
	// (default 256) bounds the MsgApps in flight per follower.
	MaxSizePerMsg   uint64
	MaxInflightMsgs int
	// DB is the member's Pebble engine (shared with the apply loop).
	DB *pebble.DB
	// DataDir holds received snapshots while they are installed
	// (<DataDir>/snap/).
	DataDir string
	// PeerTLS is used to dial peers; nil dials plain HTTP.
	PeerTLS *tls.Config
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Metrics; nil records nothing.
	Metrics *Metrics

	// tickC replaces the ticker in tests when non-nil.
	tickC <-chan time.Time
}

const (
	defaultElectionTicks          = 10
	defaultHeartbeatTicks         = 1
	defaultTickInterval           = 100 * time.Millisecond
	defaultSnapshotCount          = 10000
	defaultSnapshotCatchUpEntries = 5000
	defaultMaxSizePerMsg          = 1 << 20
	defaultMaxInflightMsgs        = 256
)

// withDefaults returns a copy with zero fields defaulted.
func (c Config) withDefaults() Config {
	if c.ElectionTicks == 0 {
		c.ElectionTicks = defaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = defaultHeartbeatTicks
	}
	if c.TickInterval == 0 {
		c.TickInterval = defaultTickInterval
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = defaultSnapshotCount
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = defaultSnapshotCatchUpEntries
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = defaultMaxSizePerMsg
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = defaultMaxInflightMsgs
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// validate reports the first problem of a defaulted Config.
func (c *Config) validate() error {
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: member ID is 0", ErrInvalidConfig)
	case c.DB == nil:
		return fmt.Errorf("%w: no Pebble engine", ErrInvalidConfig)
	case c.DataDir == "":
		return fmt.Errorf("%w: no data dir", ErrInvalidConfig)
	case c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("%w: election ticks %d must exceed heartbeat ticks %d", ErrInvalidConfig, c.ElectionTicks, c.HeartbeatTicks)
	case c.TickInterval < 0:
		return fmt.Errorf("%w: negative tick interval", ErrInvalidConfig)
	}
	for _, p := range c.Peers {
		if p.ID == 0 {
			return fmt.Errorf("%w: peer with ID 0", ErrInvalidConfig)
		}
	}
	if c.Bootstrap && len(c.Peers) == 0 {
		return fmt.Errorf("%w: bootstrap without peers", ErrInvalidConfig)
	}
	return nil
}
