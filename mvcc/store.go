package mvcc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/storage"
)

var (
	// ErrCompacted is returned when a read asks for a revision below the
	// compacted revision, or Compact asks for a revision at or below it.
	// The text is etcd's; the API layer maps it to rpctypes.ErrGRPCCompacted.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev is returned when a read or Compact asks for a revision
	// above the current revision. The text is etcd's; the API layer maps it
	// to rpctypes.ErrGRPCFutureRev.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
	// ErrClosed is returned by operations on a closed Store.
	ErrClosed = errors.New("mvcc: store closed")
)

// DefaultCompactionBatchLimit is the number of revision-log records the
// compactor handles per Pebble batch (etcd's --compaction-batch-limit).
const DefaultCompactionBatchLimit = 1000

// Options configure Open.
type Options struct {
	// Logger receives compactor progress and errors; nil means no logging.
	Logger *zap.Logger
	// CompactionBatchLimit bounds the revision-log records removed per
	// compactor batch; 0 means DefaultCompactionBatchLimit.
	CompactionBatchLimit int
	// Registerer receives etcd's store-level mvcc metrics (see metrics.go:
	// etcd_debugging_mvcc_current_revision, _compact_revision, _keys_total,
	// _total_put_size_in_bytes, the db compaction series,
	// etcd_mvcc_hash_rev_duration_seconds, _db_open_read_transactions);
	// nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock the metrics' durations are measured with; nil
	// means time.Now.
	Now func() time.Time
	// LatestCacheBytes bounds the cache of recently written keys' newest
	// versions that spares a put its key-index seek: 0 means
	// DefaultLatestCacheBytes, negative disables the cache.
	LatestCacheBytes int
}

// Store is the multi-version key-value store over one Pebble engine. See
// the package documentation for which goroutine may call what.
type Store struct {
	db         *pebble.DB
	lg         *zap.Logger
	batchLimit int
	metrics    metrics

	// Published state: written by Publish/Reload (apply goroutine), read by
	// anyone.
	rev        atomic.Int64
	compactRev atomic.Int64
	keyCount   atomic.Int64

	// Writer state, including changes written to the current batch but not
	// yet published. Owned by the apply goroutine; unguarded.
	wRev        int64
	wCompactRev int64
	wKeyCount   int64
	latest      *latestCache

	// cmu is held by the compactor for the whole of each batch (read, build,
	// commit) and by Reload/PauseCompaction; never by Write or Compact, so
	// the apply loop does not wait for compactor batches. It guards:
	cmu sync.Mutex
	// finMain/finSub: every revision-log record <= (finMain, finSub) has
	// been compacted (meta 'f').
	finMain, finSub int64
	paused          bool
	// compactStart is when the physical compaction under way began (its
	// first batch); zero when none is under way.
	compactStart time.Time

	// finished is the highest main revision whose records are all
	// compacted (derived from finMain/finSub; -1 if none).
	finished atomic.Int64

	// wmu guards waiters, the channels returned by Compact.
	wmu     sync.Mutex
	waiters []compactWaiter

	kick      chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

type compactWaiter struct {
	rev int64
	ch  chan struct{}
}

// Open loads the current and compacted revisions from db's meta keys (an
// empty store is at revision 1, never compacted) and starts the compactor
// goroutine, which resumes any unfinished physical compaction. Close stops
// it; db stays open and is the caller's.
func Open(db *pebble.DB, opts Options) (*Store, error) {
	s := &Store{
		db:         db,
		lg:         opts.Logger,
		batchLimit: opts.CompactionBatchLimit,
		latest:     newLatestCache(cacheBudget(opts.LatestCacheBytes)),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	if s.lg == nil {
		s.lg = zap.NewNop()
	}
	if s.batchLimit <= 0 {
		s.batchLimit = DefaultCompactionBatchLimit
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.registerMetrics(opts.Registerer, opts.Now); err != nil {
		return nil, err
	}
	go s.runCompactor()
	s.kickCompactor()
	return s, nil
}

func cacheBudget(n int) int {
	if n == 0 {
		return DefaultLatestCacheBytes
	}
	return n
}

// Close stops the compactor goroutine and waits for it. Unfinished
// physical compaction resumes at the next Open. Channels returned by
// Compact that have not been closed stay open.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
	})
	return nil
}

// load reads the meta keys into both the writer and the published state
// and the compactor progress. Callers hold cmu or have not started the
// compactor.
func (s *Store) load() error {
	rev, err := storage.GetUint64(s.db, metaRev)
	if err != nil {
		return fmt.Errorf("mvcc: read current revision: %w", err)
	}
	if rev == 0 {
		rev = 1
	}
	compact := int64(-1)
	v, c, err := s.db.Get(metaCompactRev)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("mvcc: read compacted revision: %w", err)
	default:
		if len(v) != 8 {
			c.Close()
			return fmt.Errorf("mvcc: compacted revision: %w", storage.ErrCorrupt)
		}
		compact = int64(binary.BigEndian.Uint64(v))
		c.Close()
	}
	keys, err := storage.GetUint64(s.db, metaKeyCount)
	if err != nil {
		return fmt.Errorf("mvcc: read key count: %w", err)
	}
	finMain, finSub := int64(0), int64(math.MaxInt64)
	v, c, err = s.db.Get(metaFinished)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return fmt.Errorf("mvcc: read compaction progress: %w", err)
	default:
		if len(v) != 16 {
			c.Close()
			return fmt.Errorf("mvcc: compaction progress: %w", storage.ErrCorrupt)
		}
		finMain = int64(binary.BigEndian.Uint64(v))
		finSub = int64(binary.BigEndian.Uint64(v[8:]))
		c.Close()
	}
	s.wRev, s.wCompactRev, s.wKeyCount = int64(rev), compact, int64(keys)
	s.rev.Store(s.wRev)
	s.compactRev.Store(s.wCompactRev)
	s.keyCount.Store(s.wKeyCount)
	s.setProgressLocked(finMain, finSub)
	return nil
}

// Rev returns the current published revision: the revision of the last
// change whose batch was committed and published (1 for an empty store).
// Safe from any goroutine.
func (s *Store) Rev() int64 { return s.rev.Load() }

// CompactRev returns the published compacted revision, or -1 if the store
// was never compacted (as etcd's compactMainRev). Safe from any goroutine.
func (s *Store) CompactRev() int64 { return s.compactRev.Load() }

// KeyCount returns the number of live keys at the published revision
// (etcd_debugging_mvcc_keys_total). Safe from any goroutine.
func (s *Store) KeyCount() int64 { return s.keyCount.Load() }

// Publish makes everything written through Write and Compact into the
// apply loop's batch visible to readers. The apply loop calls it right
// after that batch committed. If the batch is abandoned instead, the apply
// loop must call Reload before writing again.
func (s *Store) Publish() {
	s.rev.Store(s.wRev)
	s.keyCount.Store(s.wKeyCount)
	if prev := s.compactRev.Swap(s.wCompactRev); prev != s.wCompactRev {
		s.kickCompactor()
	}
}

// Reload re-reads the revisions, key count and compaction progress from
// the committed state, discarding writer state of any uncommitted batch.
// The apply loop calls it after a raft snapshot replaced the state range
// (see PauseCompaction) or after abandoning a batch. It resumes the
// compactor if it was paused.
func (s *Store) Reload() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.paused = false
	s.latest.clear()
	if err := s.load(); err != nil {
		return err
	}
	s.notifyWaiters()
	s.kickCompactor()
	return nil
}

// PauseCompaction waits for the compactor's in-flight batch, if any, and
// stops it from starting another until Reload. The code that installs a
// raft snapshot calls it before replacing the state range, so that no
// compactor batch based on the old state lands in the new one.
func (s *Store) PauseCompaction() {
	s.cmu.Lock()
	s.paused = true
	s.cmu.Unlock()
}

func (s *Store) kickCompactor() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func putInt64(w pebble.Writer, key []byte, v int64) error {
	return storage.PutUint64(w, key, uint64(v))
}
