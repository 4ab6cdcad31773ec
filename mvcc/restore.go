package mvcc

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/concord-kv/concord/storage"
)

// ErrInvalidBump is returned by BumpRevision for a negative bump.
var ErrInvalidBump = errors.New("mvcc: revision bump must not be negative")

// BumpRevision raises the stored current revision by bump and, with
// markCompacted, records a compaction at the new revision, as etcdutl's
// snapshot restore --bump-revision/--mark-compacted: revisions handed out
// after a restore never repeat ones clients saw before it, and watchers
// resuming from an older revision are told it was compacted, so they
// re-list. It is an offline operation on state read from r (a restored
// database) and written to w (usually one batch committed before any Store
// is opened on it); it returns the new current revision.
func BumpRevision(r pebble.Reader, w pebble.Writer, bump int64, markCompacted bool) (int64, error) {
	if bump < 0 {
		return 0, ErrInvalidBump
	}
	cur, err := storage.GetUint64(r, metaRev)
	if err != nil {
		return 0, fmt.Errorf("mvcc: read current revision: %w", err)
	}
	rev := int64(cur)
	if rev == 0 {
		rev = 1
	}
	rev += bump
	if err := putInt64(w, metaRev, rev); err != nil {
		return 0, fmt.Errorf("mvcc: write current revision: %w", err)
	}
	if markCompacted {
		if err := putInt64(w, metaCompactRev, rev); err != nil {
			return 0, fmt.Errorf("mvcc: write compacted revision: %w", err)
		}
	}
	return rev, nil
}
