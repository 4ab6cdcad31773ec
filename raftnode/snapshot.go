package raftnode

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/concord-kv/concord/storage"
)

// Snapshot.Data tokens. A snapshot raft hands around never carries state:
// on the sender it names a held Pebble snapshot, on the receiver the spool
// file holding the streamed state.
const (
	tokenHeld  = 'H' // followed by an 8-byte big-endian registry ID
	tokenSpool = 'S' // followed by the spool file path
)

// maxPairLen bounds one streamed key or value (bytes).
const maxPairLen = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func heldToken(id uint64) []byte {
	b := make([]byte, 9)
	b[0] = tokenHeld
	binary.BigEndian.PutUint64(b[1:], id)
	return b
}

func heldID(data []byte) (uint64, bool) {
	if len(data) != 9 || data[0] != tokenHeld {
		return 0, false
	}
	return binary.BigEndian.Uint64(data[1:]), true
}

func spoolToken(path string) []byte { return append([]byte{tokenSpool}, path...) }

func spoolPath(data []byte) (string, bool) {
	if len(data) < 2 || data[0] != tokenSpool {
		return "", false
	}
	return string(data[1:]), true
}

// heldSnapshots are the Pebble snapshots given to raft by Storage.Snapshot
// and not yet streamed.
type heldSnapshots struct {
	mu   sync.Mutex // guards next and m
	next uint64
	m    map[uint64]*pebble.Snapshot
}

func newHeldSnapshots() *heldSnapshots { return &heldSnapshots{m: map[uint64]*pebble.Snapshot{}} }

// hold opens a Pebble snapshot and describes it as a raft snapshot whose
// index is the applied index read from it. floor is the log's truncation
// point: a state older than it cannot serve (never expected).
func (h *heldSnapshots) hold(db *pebble.DB, floor uint64) (*pb.Snapshot, error) {
	snap := db.NewSnapshot()
	applied, err := storage.ReadAppliedIndex(snap)
	if err != nil {
		snap.Close()
		return nil, fmt.Errorf("raftnode: snapshot applied index: %w", err)
	}
	cs, err := ReadConfState(snap)
	if err != nil {
		snap.Close()
		return nil, err
	}
	if applied.Index == 0 || applied.Index < floor {
		snap.Close()
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	h.mu.Lock()
	h.next++
	id := h.next
	h.m[id] = snap
	h.mu.Unlock()
	return &pb.Snapshot{
		Data: heldToken(id),
		Metadata: &pb.SnapshotMetadata{
			ConfState: cs,
			Index:     new(applied.Index),
			Term:      new(applied.Term),
		},
	}, nil
}

// take removes and returns the held snapshot id (nil if unknown); the
// caller closes it.
func (h *heldSnapshots) take(id uint64) *pebble.Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[id]
	delete(h.m, id)
	return s
}

func (h *heldSnapshots) releaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, s := range h.m {
		s.Close()
		delete(h.m, id)
	}
}

func (h *heldSnapshots) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

// SnapshotInstall is a received snapshot waiting for the apply loop. The
// apply loop calls WriteTo on a fresh batch, commits it with pebble.Sync,
// reloads whatever it caches from the state range, then calls Done.
type SnapshotInstall struct {
	meta *pb.SnapshotMetadata
	path string
	hard *pb.HardState
	done chan error
	once sync.Once
}

// Metadata is the snapshot's index, term and ConfState. The state it
// installs holds the same applied index and ConfState.
func (s *SnapshotInstall) Metadata() *pb.SnapshotMetadata { return s.meta }

// WriteTo adds the whole install to b: delete [storage.StateStart,
// storage.StateEnd), set every received pair, and the raft side (log
// dropped, truncation point and hard state moved to the snapshot). The
// batch holds the full state in memory. Errors: reading the spool file, or
// ErrCorrupt for a damaged one.
func (s *SnapshotInstall) WriteTo(b *pebble.Batch) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("raftnode: open received snapshot: %w", err)
	}
	defer f.Close()
	if err := b.DeleteRange(storage.StateStart, storage.StateEnd, nil); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	var k, v []byte
	for {
		k, err = readChunk(br, k)
		if err != nil {
			return fmt.Errorf("%w: received snapshot: %v", ErrCorrupt, err)
		}
		if len(k) == 0 {
			break
		}
		if v, err = readChunk(br, v); err != nil {
			return fmt.Errorf("%w: received snapshot: %v", ErrCorrupt, err)
		}
		if !inState(k) {
			return fmt.Errorf("%w: received snapshot key %x outside the state range", ErrCorrupt, k)
		}
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
	}
	return writeInstall(b, s.meta, s.hard)
}

// Done reports the outcome of committing the install batch and lets the raft
// goroutine continue. A non-nil err stops the node (the member cannot go on
// without the state). Only the first call counts.
func (s *SnapshotInstall) Done(err error) {
	s.once.Do(func() { s.done <- err })
}

func inState(k []byte) bool {
	return string(k) >= string(storage.StateStart) && string(k) < string(storage.StateEnd)
}

// writeChunk writes a uvarint length and p.
func writeChunk(w *bufio.Writer, p []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(p)))]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// readChunk reads what writeChunk wrote, reusing buf.
func readChunk(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxPairLen {
		return nil, fmt.Errorf("chunk of %d bytes exceeds %d", n, maxPairLen)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(r, buf)
	return buf, err
}

// writeState streams the state range of snap as pairs, then a zero-length
// key, the pair count and a CRC-32C of the pair bytes.
func writeState(w *bufio.Writer, snap *pebble.Snapshot) error {
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: storage.StateStart, UpperBound: storage.StateEnd})
	if err != nil {
		return err
	}
	defer it.Close()
	crc := crc32.New(crcTable)
	cw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var count uint64
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := writeChunk(cw, it.Key()); err != nil {
			return err
		}
		if err := writeChunk(cw, v); err != nil {
			return err
		}
		count++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	var tr [1 + binary.MaxVarintLen64 + 4]byte
	n := 1 // a zero uvarint: the end marker
	n += binary.PutUvarint(tr[n:], count)
	binary.BigEndian.PutUint32(tr[n:], crc.Sum32())
	if _, err := w.Write(tr[:n+4]); err != nil {
		return err
	}
	return w.Flush()
}

// spoolState copies a stream written by writeState to w (pairs and a
// zero-length end key), checking its count and CRC.
func spoolState(r *bufio.Reader, w *bufio.Writer) error {
	crc := crc32.New(crcTable)
	var k, v []byte
	var count uint64
	var err error
	var hdr [binary.MaxVarintLen64]byte
	for {
		k, err = readChunk(r, k)
		if err != nil {
			return err
		}
		if len(k) == 0 {
			break
		}
		if v, err = readChunk(r, v); err != nil {
			return err
		}
		if !inState(k) {
			return fmt.Errorf("key %x outside the state range", k)
		}
		for _, p := range [][]byte{k, v} {
			h := hdr[:binary.PutUvarint(hdr[:], uint64(len(p)))]
			crc.Write(h)
			crc.Write(p)
		}
		if err := writeChunk(w, k); err != nil {
			return err
		}
		if err := writeChunk(w, v); err != nil {
			return err
		}
		count++
	}
	want, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return err
	}
	if want != count || binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
		return errors.New("snapshot stream count or checksum mismatch")
	}
	if err := writeChunk(w, nil); err != nil {
		return err
	}
	return w.Flush()
}

func spoolDir(dataDir string) string { return filepath.Join(dataDir, "snap") }

// cleanSpoolDir removes spool files left by a previous run.
func cleanSpoolDir(dataDir string) error {
	dir := spoolDir(dataDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftnode: read %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".spool") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("raftnode: remove stale snapshot: %w", err)
			}
		}
	}
	return nil
}
