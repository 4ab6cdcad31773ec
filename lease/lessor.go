package lease

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/storage"
)

// MaxLeaseTTL is the largest TTL in seconds a lease may be granted with
// (etcd's lease.MaxLeaseTTL and clientv3's MaxLeaseTTL).
const MaxLeaseTTL = 9000000000

// Defaults of Config; etcd's values.
const (
	// DefaultCheckpointInterval is how often the leader checkpoints a
	// lease's remaining TTL (etcd's --experimental-lease-checkpoint-interval).
	DefaultCheckpointInterval = 5 * time.Minute
	// DefaultMaxCheckpointBatch bounds one Checkpoints result (etcd's
	// maxLeaseCheckpointBatchSize).
	DefaultMaxCheckpointBatch = 1000
	// DefaultExpiredRetry is how long after reporting an expired lease
	// Expired reports it again if it is still neither revoked nor renewed
	// (etcd's expiredLeaseRetryInterval).
	DefaultExpiredRetry = 3 * time.Second
	// DefaultRevokeRate is etcd's leaseRevokeRate: revocations per second.
	DefaultRevokeRate = 1000
)

// Errors. The texts are etcd's lessor errors with the package prefix; the
// API layer maps them to rpctypes (ErrGRPCLeaseNotFound,
// ErrGRPCLeaseExist, ErrGRPCLeaseTTLTooLarge, ErrGRPCNotLeader).
var (
	// ErrLeaseNotFound: no lease with that ID (or, from Renew, the lease has
	// expired and its revocation is pending).
	ErrLeaseNotFound = errors.New("lease: lease not found")
	// ErrLeaseExists: Grant of an ID already in use.
	ErrLeaseExists = errors.New("lease: lease already exists")
	// ErrLeaseTTLTooLarge: Grant with a TTL above MaxLeaseTTL.
	ErrLeaseTTLTooLarge = errors.New("lease: too large lease TTL")
	// ErrNoLeaseID: Grant with ID 0, which means "no lease"; the API layer
	// picks an ID before proposing.
	ErrNoLeaseID = errors.New("lease: lease ID 0 is reserved")
	// ErrNotPrimary: Renew on a member that is not the leader (etcd's "not
	// a primary lessor"); the API layer forwards the keep-alive.
	ErrNotPrimary = errors.New("lease: not a primary lessor")
	// ErrInvalidConfig: Config.Validate found a bad field.
	ErrInvalidConfig = errors.New("lease: invalid config")
)

// Config configures a Lessor. The zero value of a field means its default
// where one is given.
type Config struct {
	// MinTTL is the smallest TTL in seconds a lease is granted with; a
	// shorter request is raised to it. etcd uses 1.5 × election timeout
	// rounded up to a second: see MinTTLFor. 0 means no minimum.
	MinTTL int64
	// Checkpointing makes the leader checkpoint remaining TTLs (Checkpoints)
	// and a new leader start leases from them (Promote), so TTLs survive
	// leader changes (etcd's LeaseCheckpoint gate, off in etcd, on by
	// default in Concord). ApplyCheckpoint persists checkpoints either way:
	// it is part of the replicated state.
	Checkpointing bool
	// CheckpointInterval is the period of a lease's checkpoints; leases
	// whose remaining TTL is not above it are not checkpointed
	// periodically. 0 means DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// MaxCheckpointBatch bounds the length of one Checkpoints result; 0
	// means DefaultMaxCheckpointBatch.
	MaxCheckpointBatch int
	// ExpiredRetry is how long Expired waits before reporting an expired
	// lease again (a lost revoke proposal); 0 means DefaultExpiredRetry.
	ExpiredRetry time.Duration
	// RevokeRate is the number of lease revocations per second the leader
	// proposes at most (etcd's leaseRevokeRate); Promote spreads expiries
	// that pile up so that no more than 3/4 of it fall due in a second. 0
	// means DefaultRevokeRate.
	RevokeRate int
	// Now is the clock read on the apply path (Grant) to start a new
	// lease's expiry on the leader; nil means time.Now.
	Now func() time.Time
	// Logger; nil means zap.NewNop().
	Logger *zap.Logger
	// Metrics; nil records nothing.
	Metrics *Metrics
}

// DefaultConfig returns a fresh Config with Concord's defaults:
// checkpointing on, etcd's intervals, no minimum TTL (the server sets
// MinTTL from its raft timing).
func DefaultConfig() Config {
	return Config{
		Checkpointing:      true,
		CheckpointInterval: DefaultCheckpointInterval,
		MaxCheckpointBatch: DefaultMaxCheckpointBatch,
		ExpiredRetry:       DefaultExpiredRetry,
		RevokeRate:         DefaultRevokeRate,
	}
}

// Validate reports the first invalid field, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.MinTTL < 0:
		return fmt.Errorf("%w: MinTTL %d < 0", ErrInvalidConfig, c.MinTTL)
	case c.MinTTL > MaxLeaseTTL:
		return fmt.Errorf("%w: MinTTL %d > MaxLeaseTTL", ErrInvalidConfig, c.MinTTL)
	case c.CheckpointInterval < 0:
		return fmt.Errorf("%w: CheckpointInterval %v < 0", ErrInvalidConfig, c.CheckpointInterval)
	case c.MaxCheckpointBatch < 0:
		return fmt.Errorf("%w: MaxCheckpointBatch %d < 0", ErrInvalidConfig, c.MaxCheckpointBatch)
	case c.ExpiredRetry < 0:
		return fmt.Errorf("%w: ExpiredRetry %v < 0", ErrInvalidConfig, c.ExpiredRetry)
	case c.RevokeRate < 0:
		return fmt.Errorf("%w: RevokeRate %d < 0", ErrInvalidConfig, c.RevokeRate)
	}
	return nil
}

// MinTTLFor is etcd's minimum lease TTL in seconds for a raft timing:
// ceil(((3 × electionTicks) / 2) × heartbeat), the integer division as
// etcd's. For the defaults (10 ticks, 100ms) it is 2.
func MinTTLFor(electionTicks int, heartbeat time.Duration) int64 {
	d := time.Duration((3*electionTicks)/2) * heartbeat
	return int64(math.Ceil(d.Seconds()))
}

// Checkpoint is one lease's remaining TTL to commit through raft, as
// etcd's LeaseCheckpoint {ID, Remaining_TTL}. RemainingTTL is in seconds,
// rounded up; 0 clears the checkpoint (the next leader uses the full TTL).
type Checkpoint struct {
	ID           int64
	RemainingTTL int64
}

// lease is one lease. The replicated fields (id, ttl, remaining, keys)
// change on the apply path only; the leader-side fields are meaningful
// only while the Lessor is primary. All fields are guarded by Lessor.mu.
type lease struct {
	id        int64
	ttl       int64               // granted TTL, seconds (after MinTTL)
	remaining int64               // checkpointed remaining TTL, seconds; 0 = none
	keys      map[string]struct{} // attached keys

	// Leader side.
	expiry   time.Time    // when the lease expires
	reported bool         // Expired has reported it since its expiry was last set
	cpClear  bool         // the next checkpoint clears (renewed since the last one)
	cpSent   bool         // a non-zero checkpoint was emitted since the last clear
	at       [2]time.Time // queue keys: qExpiry, qCheckpoint
	pos      [2]int       // queue positions; -1 when absent
}

func newLease(id, ttl, remaining int64) *lease {
	return &lease{id: id, ttl: ttl, remaining: remaining, keys: map[string]struct{}{}, pos: [2]int{-1, -1}}
}

// Lessor is the lease state machine. See the package documentation for
// which goroutine calls what; all methods are safe for concurrent use.
type Lessor struct {
	cfg Config
	lg  *zap.Logger
	m   *Metrics

	mu      sync.Mutex // guards everything below and every *lease
	leases  map[int64]*lease
	primary bool  // this member is the leader and tracks expiry
	expq    queue // leader only: leases by next report time
	cpq     queue // leader only: leases by next checkpoint time
}

// New returns an empty, non-primary Lessor; call Load to restore persisted
// leases. It fails with ErrInvalidConfig if cfg does not validate.
func New(cfg Config) (*Lessor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.MaxCheckpointBatch == 0 {
		cfg.MaxCheckpointBatch = DefaultMaxCheckpointBatch
	}
	if cfg.ExpiredRetry == 0 {
		cfg.ExpiredRetry = DefaultExpiredRetry
	}
	if cfg.RevokeRate == 0 {
		cfg.RevokeRate = DefaultRevokeRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Lessor{
		cfg:    cfg,
		lg:     cfg.Logger,
		m:      cfg.Metrics,
		leases: map[int64]*lease{},
		expq:   queue{which: qExpiry},
		cpq:    queue{which: qCheckpoint},
	}, nil
}

// Load replaces the in-memory view with the leases and attachments stored
// in r (after a restart or a raft snapshot install). The Lessor is left
// non-primary: a leader calls Promote afterwards. Errors wrap
// storage.ErrCorrupt for undecodable records; on error the previous view
// is kept.
func (le *Lessor) Load(r pebble.Reader) error {
	leases := map[int64]*lease{}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: leaseStart, UpperBound: leaseEnd})
	if err != nil {
		return fmt.Errorf("lease: load: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("lease: load: %w", err)
		}
		id, ttl, rem, err := decodeLease(it.Key(), v)
		if err != nil {
			it.Close()
			return err
		}
		leases[id] = newLease(id, ttl, rem)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("lease: load: %w", err)
	}
	it, err = r.NewIter(&pebble.IterOptions{LowerBound: attachStart, UpperBound: attachEnd})
	if err != nil {
		return fmt.Errorf("lease: load: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		id, key, err := decodeAttach(it.Key())
		if err != nil {
			it.Close()
			return err
		}
		l := leases[id]
		if l == nil {
			it.Close()
			return fmt.Errorf("lease: load: attachment of key %q to missing lease %d: %w", key, id, storage.ErrCorrupt)
		}
		l.keys[string(key)] = struct{}{}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("lease: load: %w", err)
	}

	le.mu.Lock()
	defer le.mu.Unlock()
	le.demoteLocked()
	le.leases = leases
	le.lg.Info("loaded leases", zap.Int("leases", len(leases)))
	return nil
}

// Grant creates lease id with ttl seconds, raised to Config.MinTTL, and
// records it in w; it returns the granted TTL. As etcd's Lessor.Grant:
// ErrNoLeaseID for id 0, ErrLeaseTTLTooLarge for ttl > MaxLeaseTTL,
// ErrLeaseExists if id is in use. On the leader the lease expires
// Config.Now() + TTL from now on. Apply loop only.
func (le *Lessor) Grant(w pebble.Writer, id, ttl int64) (int64, error) {
	if id == 0 {
		return 0, ErrNoLeaseID
	}
	if ttl > MaxLeaseTTL {
		return 0, ErrLeaseTTLTooLarge
	}
	ttl = max(ttl, le.cfg.MinTTL)

	le.mu.Lock()
	defer le.mu.Unlock()
	if _, ok := le.leases[id]; ok {
		return 0, ErrLeaseExists
	}
	if err := w.Set(leaseKey(id), encodeLease(ttl, 0), nil); err != nil {
		return 0, fmt.Errorf("lease: grant %d: %w", id, err)
	}
	l := newLease(id, ttl, 0)
	le.leases[id] = l
	if le.primary {
		le.startLocked(l, le.cfg.Now(), ttl)
	}
	le.m.grant(ttl)
	return ttl, nil
}

// Revoke deletes lease id and its attachment records in w and returns the
// keys that were attached to it, sorted, for the apply loop to delete in
// the same revision and batch (as etcd's Lessor.Revoke, which deletes them
// in one txn in sorted order). ErrLeaseNotFound if there is no such lease.
// Apply loop only.
func (le *Lessor) Revoke(w pebble.Writer, id int64) ([][]byte, error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil {
		return nil, ErrLeaseNotFound
	}
	if err := w.Delete(leaseKey(id), nil); err != nil {
		return nil, fmt.Errorf("lease: revoke %d: %w", id, err)
	}
	if len(l.keys) > 0 {
		if err := w.DeleteRange(attachPrefix(id), attachPrefixEnd(id), nil); err != nil {
			return nil, fmt.Errorf("lease: revoke %d: %w", id, err)
		}
	}
	keys := sortedKeys(l)
	le.expq.remove(l)
	le.cpq.remove(l)
	delete(le.leases, id)
	le.m.revoke()
	return keys, nil
}

// Attach records in w that key is attached to lease id, so that revoking
// the lease deletes it. Attaching an attached key is a no-op.
// ErrLeaseNotFound if there is no such lease. Apply loop only: a Put with
// a lease calls Detach for the key's old lease, then Attach.
func (le *Lessor) Attach(w pebble.Writer, id int64, key []byte) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil {
		return ErrLeaseNotFound
	}
	if _, ok := l.keys[string(key)]; ok {
		return nil
	}
	if err := w.Set(attachKey(id, key), nil, nil); err != nil {
		return fmt.Errorf("lease: attach %q to %d: %w", key, id, err)
	}
	l.keys[string(key)] = struct{}{}
	return nil
}

// Detach removes in w the attachment of key to lease id. Detaching from a
// missing lease or a key that is not attached is a no-op (the apply loop
// deletes the keys of a lease it has just revoked). Apply loop only.
func (le *Lessor) Detach(w pebble.Writer, id int64, key []byte) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil {
		return nil
	}
	if _, ok := l.keys[string(key)]; !ok {
		return nil
	}
	if err := w.Delete(attachKey(id, key), nil); err != nil {
		return fmt.Errorf("lease: detach %q from %d: %w", key, id, err)
	}
	delete(l.keys, string(key))
	return nil
}

// ApplyCheckpoint records in w that lease id had remaining seconds left
// when the leader checkpointed it (etcd's Lessor.Checkpoint with
// checkpoint persistence); 0 clears the checkpoint and negative values
// count as 0. A checkpoint for a lease revoked since it was proposed is a
// no-op, as in etcd. It does not move the current leader's expiry: a
// later Promote uses it. Apply loop only.
func (le *Lessor) ApplyCheckpoint(w pebble.Writer, id, remaining int64) error {
	remaining = max(remaining, 0)
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil || l.remaining == remaining {
		return nil
	}
	if err := w.Set(leaseKey(id), encodeLease(l.ttl, remaining), nil); err != nil {
		return fmt.Errorf("lease: checkpoint %d: %w", id, err)
	}
	l.remaining = remaining
	return nil
}

// Exists reports whether lease id exists (apply.LeaseChecker).
func (le *Lessor) Exists(id int64) bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.leases[id] != nil
}

// Leases returns the IDs of all leases in ascending order (LeaseLeases).
func (le *Lessor) Leases() []int64 {
	le.mu.Lock()
	ids := make([]int64, 0, len(le.leases))
	for id := range le.leases {
		ids = append(ids, id)
	}
	le.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// TimeToLive answers LeaseTimeToLive for lease id at now: the granted TTL
// and the remaining TTL in seconds, and the attached keys sorted. On the
// leader the remaining TTL is the time to the lease's expiry, truncated to
// whole seconds as etcd reports it and never below 0; elsewhere it is what
// a new leader would start the lease with (its checkpoint if
// checkpointing is on and one exists, else the granted TTL).
// ErrLeaseNotFound if there is no such lease.
func (le *Lessor) TimeToLive(id int64, now time.Time) (granted, remaining int64, keys [][]byte, err error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	l := le.leases[id]
	if l == nil {
		return 0, 0, nil, ErrLeaseNotFound
	}
	if le.primary {
		remaining = max(int64(l.expiry.Sub(now)/time.Second), 0)
	} else {
		remaining = le.startTTLLocked(l)
	}
	return l.ttl, remaining, sortedKeys(l), nil
}

// IsPrimary reports whether the Lessor tracks expiry (between Promote and
// Demote).
func (le *Lessor) IsPrimary() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.primary
}

// Promote makes the Lessor primary (this member became leader at now):
// every lease expires at now + its checkpointed remaining TTL if
// checkpointing is on and one exists, else now + its full TTL. etcd resets
// every lease to its full TTL here unless its checkpoint gate is on; that
// is etcd issue #9888. As etcd does, expiries that pile up are pushed
// back (never forward) so that at most 3/4 × Config.RevokeRate fall due in
// any second, leaving their holders time to renew while the revocations
// ahead of them commit. To give clients extra time to find the new leader
// (etcd's extend), pass a later now. Promoting a primary Lessor restarts
// every expiry the same way.
func (le *Lessor) Promote(now time.Time) {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.primary = true
	for _, l := range le.leases {
		le.startLocked(l, now, le.startTTLLocked(l))
	}
	le.spreadLocked()
	le.lg.Info("promoted lessor", zap.Int("leases", len(le.leases)), zap.Bool("checkpointing", le.cfg.Checkpointing))
}

// Demote stops tracking expiry (this member is no longer leader): Expired
// and Checkpoints return nothing and Renew fails with ErrNotPrimary until
// the next Promote.
func (le *Lessor) Demote() {
	le.mu.Lock()
	defer le.mu.Unlock()
	le.demoteLocked()
}

// Renew is a keep-alive on the leader at now: the lease expires TTL
// seconds after now; it returns the TTL (LeaseKeepAliveResponse.TTL).
// ErrNotPrimary if not leader; ErrLeaseNotFound if there is no such lease,
// or (wrapped) if it has already expired, since its revocation is then
// under way (etcd answers the same once the revoke commits). With
// checkpointing on, a lease holding a checkpoint (or with one in flight)
// gets a clearing checkpoint (RemainingTTL 0) from the next Checkpoints,
// so a later leader never starts it short of the renewed TTL.
func (le *Lessor) Renew(id int64, now time.Time) (int64, error) {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary {
		return 0, ErrNotPrimary
	}
	l := le.leases[id]
	if l == nil {
		return 0, ErrLeaseNotFound
	}
	if !l.expiry.After(now) {
		return 0, fmt.Errorf("%w: lease %d expired, revoke pending", ErrLeaseNotFound, id)
	}
	l.expiry = now.Add(time.Duration(l.ttl) * time.Second)
	l.reported = false
	le.expq.set(l, l.expiry)
	if le.cfg.Checkpointing {
		if l.remaining > 0 || l.cpSent {
			// A checkpoint applied or in flight would start a
			// later leader short of the renewed TTL: clear it.
			l.cpClear = true
			le.cpq.set(l, now)
		} else if l.pos[qCheckpoint] < 0 {
			le.scheduleCheckpointLocked(l, now)
		}
	}
	le.m.renew()
	return l.ttl, nil
}

// Expired returns, in order of expiry, up to max (all if max <= 0) leases
// whose expiry is at or before now, for the leader to propose their
// revocation. A lease is reported once; if it is still neither revoked nor
// renewed Config.ExpiredRetry later (a lost proposal), it is reported
// again. Nil when not primary.
func (le *Lessor) Expired(now time.Time, max int) []int64 {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary {
		return nil
	}
	var ids []int64
	first := 0
	for max <= 0 || len(ids) < max {
		l := le.expq.peek()
		if l == nil || l.at[qExpiry].After(now) {
			break
		}
		ids = append(ids, l.id)
		if !l.reported {
			l.reported = true
			first++
		}
		le.expq.set(l, now.Add(le.cfg.ExpiredRetry))
	}
	le.m.expire(first)
	return ids
}

// Checkpoints returns, at now, up to Config.MaxCheckpointBatch remaining
// TTLs due for checkpointing, for the leader to propose (as etcd's
// LeaseCheckpointRequest): each lease whose remaining TTL exceeds
// Config.CheckpointInterval is due once per interval, and a lease renewed
// while holding a checkpoint is due at once with RemainingTTL 0. Expired
// leases are skipped. Nil when not primary or checkpointing is off.
func (le *Lessor) Checkpoints(now time.Time) []Checkpoint {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.primary || !le.cfg.Checkpointing {
		return nil
	}
	var cps []Checkpoint
	for len(cps) < le.cfg.MaxCheckpointBatch {
		l := le.cpq.peek()
		if l == nil || l.at[qCheckpoint].After(now) {
			break
		}
		le.cpq.remove(l)
		left := l.expiry.Sub(now)
		if left <= 0 {
			l.cpClear = false
			continue
		}
		if l.cpClear {
			cps = append(cps, Checkpoint{ID: l.id})
			l.cpClear, l.cpSent = false, false
		} else {
			cps = append(cps, Checkpoint{ID: l.id, RemainingTTL: int64((left + time.Second - 1) / time.Second)})
			l.cpSent = true
		}
		le.scheduleCheckpointLocked(l, now)
	}
	return cps
}

// spreadLocked delays expiries so that, walking the leases in expiry
// order, consecutive expiries are at least 1s / (3/4 × RevokeRate) apart.
func (le *Lessor) spreadLocked() {
	perSec := max(3*le.cfg.RevokeRate/4, 1)
	if len(le.leases) <= perSec {
		return // cannot exceed the rate in any second
	}
	ls := make([]*lease, 0, len(le.leases))
	for _, l := range le.leases {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *lease) int {
		if c := a.expiry.Compare(b.expiry); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	gap := time.Second / time.Duration(perSec)
	next := ls[0].expiry
	for _, l := range ls {
		if l.expiry.Before(next) {
			l.expiry = next
			le.expq.set(l, l.expiry)
		}
		next = l.expiry.Add(gap)
	}
}

// startTTLLocked is the TTL in seconds a new leader starts l with.
func (le *Lessor) startTTLLocked(l *lease) int64 {
	if le.cfg.Checkpointing && l.remaining > 0 {
		return min(l.remaining, l.ttl)
	}
	return l.ttl
}

// startLocked starts l's expiry at now + ttl seconds on the leader.
func (le *Lessor) startLocked(l *lease, now time.Time, ttl int64) {
	l.expiry = now.Add(time.Duration(ttl) * time.Second)
	l.reported = false
	l.cpClear, l.cpSent = false, false
	le.expq.set(l, l.expiry)
	le.cpq.remove(l)
	if le.cfg.Checkpointing {
		le.scheduleCheckpointLocked(l, now)
	}
}

// scheduleCheckpointLocked queues l's next periodic checkpoint one
// interval after now if it will still be alive then (etcd's
// scheduleCheckpointIfNeeded).
func (le *Lessor) scheduleCheckpointLocked(l *lease, now time.Time) {
	if l.expiry.Sub(now) > le.cfg.CheckpointInterval {
		le.cpq.set(l, now.Add(le.cfg.CheckpointInterval))
	}
}

func (le *Lessor) demoteLocked() {
	le.primary = false
	le.expq.clear()
	le.cpq.clear()
	for _, l := range le.leases {
		l.expiry = time.Time{}
		l.reported = false
		l.cpClear, l.cpSent = false, false
	}
}

// sortedKeys returns l's attached keys in byte order.
func sortedKeys(l *lease) [][]byte {
	keys := make([][]byte, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}
