package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/storage"
)

var (
	// ErrDataDirExists is returned by Restore when the target data
	// directory exists and is not empty (etcdutl refuses the same).
	ErrDataDirExists = errors.New("snapshot: data-dir exists and is not empty")
	// ErrInvalidOptions is returned by Restore for options it cannot use.
	ErrInvalidOptions = errors.New("snapshot: invalid restore options")
)

// MarkerKey is the node-local key Restore writes into a restored data
// directory: its presence tells the server that the directory holds state
// but no member identity, and that it must bootstrap a new raft cluster
// from --initial-cluster on first start. The server deletes it when it
// writes the member's identity. Its value is a JSON Marker.
var MarkerKey = []byte{storage.PrefixLocal, 'R'}

// DBDir is the directory, inside a member's data directory, that holds the
// Pebble engine (as the server opens it).
const DBDir = "db"

// Marker is the value stored at MarkerKey: what the directory was restored
// from and with which settings, for operators and logs.
type Marker struct {
	// Name, InitialCluster, InitialClusterToken and
	// InitialAdvertisePeerURLs are the restore flags (etcd's).
	Name                     string `json:"name,omitempty"`
	InitialCluster           string `json:"initial_cluster,omitempty"`
	InitialClusterToken      string `json:"initial_cluster_token,omitempty"`
	InitialAdvertisePeerURLs string `json:"initial_advertise_peer_urls,omitempty"`
	// SnapshotRevision is the revision recorded in the snapshot file;
	// Revision the one after the bump.
	SnapshotRevision int64 `json:"snapshot_revision"`
	Revision         int64 `json:"revision"`
	// Compacted says the new revision was marked compacted.
	Compacted bool `json:"compacted"`
	// RestoredAt is when the restore ran (UTC, RFC 3339).
	RestoredAt string `json:"restored_at,omitempty"`
}

// ReadMarker reads the restore marker of r; ok is false if there is none.
func ReadMarker(r pebble.Reader) (m Marker, ok bool, err error) {
	v, c, err := r.Get(MarkerKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("snapshot: read restore marker: %w", err)
	}
	defer c.Close()
	if err := json.Unmarshal(v, &m); err != nil {
		return Marker{}, true, fmt.Errorf("snapshot: restore marker: %w: %v", storage.ErrCorrupt, err)
	}
	return m, true, nil
}

// RestoreOptions configure Restore; they follow etcdutl snapshot restore's
// flags.
type RestoreOptions struct {
	// DataDir is the member data directory to create (--data-dir); it must
	// not exist or be empty. The engine goes in DataDir/db.
	DataDir string
	// WALDir puts Pebble's write-ahead log elsewhere (--wal-dir), as the
	// server's --wal-dir; empty keeps it inside the engine directory.
	WALDir string
	// Name, InitialCluster, InitialClusterToken and
	// InitialAdvertisePeerURLs are recorded in the marker; the member
	// derives its identity from its own flags when it starts.
	Name                     string
	InitialCluster           string
	InitialClusterToken      string
	InitialAdvertisePeerURLs string
	// SkipHashCheck restores even if the SHA-256 trailer does not match
	// (--skip-hash-check).
	SkipHashCheck bool
	// BumpRevision raises the revision by this much (--bump-revision), so
	// that revisions handed out after the restore never repeat ones seen
	// before it. Must not be negative.
	BumpRevision int64
	// MarkCompacted records a compaction at the bumped revision
	// (--mark-compacted), so that watchers resuming from an older revision
	// get ErrCompacted and re-list.
	MarkCompacted bool
	// Now is the clock for the marker's RestoredAt; nil means time.Now.
	Now func() time.Time
}

// restoreBatchBytes is how much state Restore puts in one Pebble batch.
const restoreBatchBytes = 4 << 20

// Restore creates a new member data directory from the snapshot file at
// path: a Pebble engine (storage.Open) holding the snapshot's state except
// the membership records, the applied index and the ConfState (the new
// cluster's members come from --initial-cluster; applied index 0 makes raft
// apply the bootstrap conf changes), with the revision bumped as opts say,
// and MarkerKey set. It returns the Info of the file with Revision and
// CompactRevision as restored. On any error, what Restore created is
// removed. Errors: ErrInvalidOptions, ErrDataDirExists, and those of
// ReadInfo (ErrHashMismatch only without SkipHashCheck).
func Restore(path string, opts RestoreOptions) (Info, error) {
	if opts.DataDir == "" {
		return Info{}, fmt.Errorf("%w: empty data dir", ErrInvalidOptions)
	}
	if opts.BumpRevision < 0 {
		return Info{}, fmt.Errorf("%w: %w", ErrInvalidOptions, mvcc.ErrInvalidBump)
	}
	if opts.MarkCompacted && opts.BumpRevision == 0 {
		// etcdutl: "--mark-compacted required --bump-revision > 0".
		return Info{}, fmt.Errorf("%w: --mark-compacted requires --bump-revision > 0", ErrInvalidOptions)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	format, size, err := sniff(path)
	if err != nil {
		return Info{}, err
	}
	if format == FormatEtcd {
		return restoreEtcd(path, size, opts, now)
	}
	fr, err := openFile(path)
	if err != nil {
		return Info{}, err
	}
	defer fr.close()

	cleanup, err := makeDataDir(opts.DataDir, opts.WALDir)
	if err != nil {
		return Info{}, err
	}
	info, err := restoreInto(fr, opts, now)
	if err != nil {
		cleanup()
		return Info{}, err
	}
	return info, nil
}

// makeDataDir creates dir (and walDir) for a restore, refusing non-empty
// ones, and returns a function that removes what it created.
func makeDataDir(dir, walDir string) (cleanup func(), err error) {
	var created []string
	cleanup = func() {
		for i := len(created) - 1; i >= 0; i-- {
			os.RemoveAll(created[i])
		}
	}
	for _, d := range []string{dir, walDir} {
		if d == "" {
			continue
		}
		ents, err := os.ReadDir(d)
		switch {
		case err == nil && len(ents) > 0:
			cleanup()
			return nil, fmt.Errorf("%w: %s", ErrDataDirExists, d)
		case err == nil:
			// An empty directory is reused; remove only what goes in it.
			if d == dir {
				created = append(created, filepath.Join(dir, DBDir))
			} else {
				created = append(created, d)
			}
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(d, 0o700); err != nil {
				cleanup()
				return nil, fmt.Errorf("snapshot: create %s: %w", d, err)
			}
			created = append(created, d)
		default:
			cleanup()
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	return cleanup, nil
}

// skipOnRestore says whether k is left out of a restored engine: the
// membership records, the applied index and the ConfState.
func skipOnRestore(k []byte) bool {
	return k[0] == storage.PrefixMembers || bytes.Equal(k, keyAppliedIndex) || bytes.Equal(k, keyConfState)
}

func restoreInto(fr *fileReader, opts RestoreOptions, now func() time.Time) (Info, error) {
	db, err := storage.Open(filepath.Join(opts.DataDir, DBDir), storage.Options{WALDir: opts.WALDir, CacheBytes: 8 << 20, Logger: quietLogger{}})
	if err != nil {
		return Info{}, err
	}
	defer db.Close()
	b := db.NewBatch()
	defer func() { b.Close() }()
	for {
		k, v, ok, err := fr.next()
		if err != nil {
			return Info{}, fr.damaged(err)
		}
		if !ok {
			break
		}
		if skipOnRestore(k) {
			continue
		}
		if err := b.Set(k, v, nil); err != nil {
			return Info{}, fmt.Errorf("snapshot: restore: %w", err)
		}
		if b.Len() >= restoreBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return Info{}, fmt.Errorf("snapshot: restore: %w", err)
			}
			b.Close()
			b = db.NewBatch()
		}
	}
	info, err := fr.finish(!opts.SkipHashCheck)
	if err != nil {
		return Info{}, fr.damaged(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	return finishRestore(db, info, opts, now)
}

// finishRestore bumps the revision of the restored engine db as opts say,
// writes the restore marker, syncs and flushes; info is the file's, with
// Revision and CompactRevision as restored.
func finishRestore(db *pebble.DB, info Info, opts RestoreOptions, now func() time.Time) (Info, error) {
	b := db.NewBatch()
	defer b.Close()
	rev, err := mvcc.BumpRevision(db, b, opts.BumpRevision, opts.MarkCompacted)
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	m := Marker{
		Name:                     opts.Name,
		InitialCluster:           opts.InitialCluster,
		InitialClusterToken:      opts.InitialClusterToken,
		InitialAdvertisePeerURLs: opts.InitialAdvertisePeerURLs,
		SnapshotRevision:         info.Revision,
		Revision:                 rev,
		Compacted:                opts.MarkCompacted,
		RestoredAt:               now().UTC().Format(time.RFC3339),
	}
	mv, err := json.Marshal(m)
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: restore marker: %w", err)
	}
	if err := b.Set(MarkerKey, mv, nil); err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: %w", err)
	}
	if err := db.Flush(); err != nil {
		return Info{}, fmt.Errorf("snapshot: restore: flush: %w", err)
	}
	info.Revision = rev
	if opts.MarkCompacted {
		info.CompactRevision = rev
	}
	return info, nil
}

// quietLogger drops Pebble's informational lines (WAL recovery notes on
// opening a new engine), which mean nothing to someone running a restore,
// and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) { pebble.DefaultLogger.Errorf(format, args...) }

func (quietLogger) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }
